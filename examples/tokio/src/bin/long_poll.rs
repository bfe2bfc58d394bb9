// SPDX-License-Identifier: MIT
//! A task that blocks its worker thread inside a poll, for long-poll detection.
//!
//! `slow_poller` wakes every 300 ms (a `tokio::time::interval`), calls `stall_worker`, which
//! sleeps 60 ms with `std::thread::sleep` inside the poll, then awaits a 100 ms tokio sleep.
//! Four `quick_task`s meanwhile run 100 us of CPU in `quick_work` every 5 ms.
//!
//! Truth: every 300 ms one poll of slow_poller lasts about 60 ms (off-CPU, in the
//! nanosleep syscall under `long_poll::stall_worker`); every other poll of any task lasts
//! well under 1 ms. The quick tasks use about 7% of one CPU; two worker threads, so they
//! keep running on the other worker during a stall. With a SECONDS limit it prints at exit, on
//! stdout, the longest stall it measured itself: `stall_max_us N` (a 60 ms sleep lasts longer
//! on a busy machine, where the thread waits for a CPU after it).
//! Usage: long_poll [SECONDS] (runs until killed without SECONDS, or with 0).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::time::{interval, sleep};

static STALL_MAX_US: AtomicU64 = AtomicU64::new(0);

#[inline(never)]
fn stall_worker() {
    let start = Instant::now();

    std::thread::sleep(Duration::from_millis(60));
    STALL_MAX_US.fetch_max(start.elapsed().as_micros() as u64, Ordering::Relaxed);
}

#[inline(never)]
fn quick_work(seed: u64) -> u64 {
    tokio_demo::spin_for(seed, Duration::from_micros(100))
}

async fn slow_poller() {
    let mut period = interval(Duration::from_millis(300));
    loop {
        period.tick().await;
        stall_worker();
        sleep(Duration::from_millis(100)).await;
    }
}

async fn quick_task(seed: u64) {
    let mut x = seed;
    loop {
        x = quick_work(x);
        sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let limit = tokio_demo::run_time();
    tokio::spawn(slow_poller());
    for seed in 0..4 {
        tokio::spawn(quick_task(seed));
    }
    tokio_demo::run_until(limit).await;
    if limit.is_some() {
        println!("stall_max_us {}", STALL_MAX_US.load(Ordering::Relaxed));
    }
}
