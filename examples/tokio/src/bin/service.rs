// SPDX-License-Identifier: MIT
//! The demo: a simulated request service with a tree of tasks, timers, channels and the
//! blocking pool, without any real I/O.
//!
//! Task tree (all `tokio::spawn`, two worker threads):
//!   main
//!   +- stats_collector        receives one digest per closed connection over an mpsc channel
//!   +- accept_loop            "accepts" a connection every 10 ms (a tokio interval)
//!      +- handle_connection   3 requests; for each: `parse_request` (400 us CPU), two
//!         |                   db_query subtasks answering over an mpsc channel, then 2 ms
//!         |                   of sleep (writing the response); at the end `write_access_log`
//!         |                   on the blocking pool (spawn_blocking, awaited)
//!         +- db_query         3 ms sleep (the database), then `compute_checksum` (100 us CPU)
//!
//! Truth, per connection (every 10 ms, each lives about 16 ms, so one or two are open):
//! 1.2 ms in `service::parse_request`, 0.6 ms in `service::compute_checksum` (both on the
//! workers), 0.3 ms of CPU in `service::write_access_log` plus a 1 ms sleep in it (on a
//! blocking-pool thread). That is about 12%, 6% and 3% of one CPU; the rest is idle.
//! Prints nothing. Usage: service [SECONDS] (runs until killed without SECONDS, or with 0).

use std::time::Duration;
use tokio::sync::mpsc::{channel, Receiver, Sender};
use tokio::time::{interval, sleep};

const ACCEPT_EVERY: Duration = Duration::from_millis(10);
const REQUESTS_PER_CONNECTION: u64 = 3;
const QUERIES_PER_REQUEST: u64 = 2;

#[inline(never)]
fn parse_request(connection: u64, request: u64) -> u64 {
    tokio_demo::spin_for(connection << 8 | request, Duration::from_micros(400))
}

#[inline(never)]
fn compute_checksum(key: u64) -> u64 {
    tokio_demo::spin_for(key, Duration::from_micros(100))
}

#[inline(never)]
fn write_access_log(connection: u64, digest: u64) -> u64 {
    let line = tokio_demo::spin_for(connection ^ digest, Duration::from_micros(300));
    // Stands for the write and fsync of the log file.
    std::thread::sleep(Duration::from_millis(1));
    line
}

async fn db_query(key: u64, reply: Sender<u64>) {
    sleep(Duration::from_millis(3)).await;
    reply.send(compute_checksum(key)).await.ok();
}

async fn handle_connection(connection: u64, stats: Sender<u64>) {
    let mut digest = 0;
    for request in 0..REQUESTS_PER_CONNECTION {
        let key = parse_request(connection, request);
        let (reply, mut rows) = channel(QUERIES_PER_REQUEST as usize);
        for q in 0..QUERIES_PER_REQUEST {
            tokio::spawn(db_query(key + q, reply.clone()));
        }
        drop(reply);
        while let Some(row) = rows.recv().await {
            digest ^= row;
        }
        sleep(Duration::from_millis(2)).await;
    }
    let logged = tokio::task::spawn_blocking(move || write_access_log(connection, digest));
    digest ^= logged.await.unwrap_or(0);
    stats.send(digest).await.ok();
}

async fn accept_loop(stats: Sender<u64>) {
    let mut accept = interval(ACCEPT_EVERY);
    let mut connection = 0;
    loop {
        accept.tick().await;
        connection += 1;
        tokio::spawn(handle_connection(connection, stats.clone()));
    }
}

async fn stats_collector(mut served: Receiver<u64>) {
    let mut digest = 0u64;
    while let Some(d) = served.recv().await {
        digest = tokio_demo::keep(digest ^ d);
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let limit = tokio_demo::run_time();
    let (stats, served) = channel(64);
    tokio::spawn(stats_collector(served));
    tokio::spawn(accept_loop(stats));
    tokio_demo::run_until(limit).await;
}
