// SPDX-License-Identifier: MIT
//! Long-lived tasks that spawn short ones, and a task that blocks its worker: for task names,
//! ancestry across an attach, and long polls.
//!
//! `listener` spawns three `session` tasks that live as long as the program and sends each a
//! request every 10 ms over its channel. A session spawns one `lookup` task per request, which
//! burns 2 ms of CPU in `lookup_work` and completes, and awaits it. `compactor` blocks its
//! worker thread in every poll: 60 ms of `std::thread::sleep` in `compact`, then a 150 ms tokio
//! sleep.
//!
//! Truth: lookups use about 60% of one CPU, all under `[task] handlers::session ; [spawn]
//! handlers.rs:<the spawn line> ; [task] handlers::lookup`; every poll of the compactor lasts
//! about 60 ms, no other poll more than a few. Two worker threads. Prints nothing.
//! Usage: handlers [SECONDS] (runs until killed without SECONDS, or with 0).

use std::time::Duration;
use tokio::sync::mpsc;

#[inline(never)]
fn lookup_work(key: u64) -> u64 {
    tokio_demo::spin_for(key, Duration::from_millis(2))
}

async fn lookup(key: u64) -> u64 {
    lookup_work(key)
}

async fn session(mut requests: mpsc::Receiver<u64>) {
    let mut last = 0;
    while let Some(key) = requests.recv().await {
        last = tokio::spawn(lookup(key ^ last)).await.unwrap_or(0);
    }
}

async fn listener() {
    let mut sessions = Vec::new();
    for _ in 0..3 {
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(session(rx));
        sessions.push(tx);
    }
    let mut key = 0u64;
    loop {
        for tx in &sessions {
            key += 1;
            if tx.send(key).await.is_err() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[inline(never)]
fn compact() {
    std::thread::sleep(Duration::from_millis(60));
}

async fn compactor() {
    loop {
        compact();
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let limit = tokio_demo::run_time();
    tokio::spawn(listener());
    tokio::spawn(compactor());
    tokio_demo::run_until(limit).await;
}
