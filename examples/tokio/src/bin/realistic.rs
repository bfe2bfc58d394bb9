// SPDX-License-Identifier: MIT
//! Benchmark shaped like a service: short CPU bursts between timer waits, with channel traffic.
//!
//! 32 `request_worker` tasks loop: `handle_request` (a fixed 150,000 rounds of integer mixing,
//! about 300 us on a 3 GHz core), send the result to the `aggregator` task over a bounded mpsc
//! channel, then sleep 3 ms. The demand, 32 x 0.3 ms every 3.3 ms, is about 2.9 CPUs, so the
//! two workers stay nearly busy while polls, timers and wake-ups stay frequent: a slowdown of
//! the CPU work or of the runtime shows in the rate.
//!
//! At the end it writes the requests completed per second, one number, to OUTFILE or stdout.
//! Usage: realistic SECONDS [OUTFILE] (without SECONDS, or with 0, runs until killed and
//! writes nothing).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{channel, Receiver, Sender};

const WORKERS: u64 = 32;
const ROUNDS: u64 = 150_000;
const THINK: Duration = Duration::from_millis(3);

static COMPLETED: AtomicU64 = AtomicU64::new(0);

#[inline(never)]
fn handle_request(seed: u64) -> u64 {
    tokio_demo::hash_rounds(seed, ROUNDS)
}

async fn request_worker(id: u64, results: Sender<u64>) {
    let mut x = id;
    loop {
        x = handle_request(x);
        if results.send(x).await.is_err() {
            return;
        }
        tokio::time::sleep(THINK).await;
    }
}

async fn aggregator(mut results: Receiver<u64>) {
    let mut digest = 0u64;
    while let Some(r) = results.recv().await {
        digest = tokio_demo::keep(digest ^ r);
        COMPLETED.fetch_add(1, Ordering::Relaxed);
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let limit = tokio_demo::run_time();
    let start = Instant::now();
    let (tx, rx) = channel(256);
    tokio::spawn(aggregator(rx));
    for id in 0..WORKERS {
        tokio::spawn(request_worker(id, tx.clone()));
    }
    drop(tx);
    tokio_demo::run_until(limit).await;
    let done = COMPLETED.load(Ordering::Relaxed);
    tokio_demo::report_rate(done as f64 / start.elapsed().as_secs_f64());
}
