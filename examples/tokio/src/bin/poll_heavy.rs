// SPDX-License-Identifier: MIT
//! Benchmark with the most task polls per second: the worst case for per-poll probes.
//!
//! 1000 `spinner` tasks loop on `yield_now().await`, so every poll is a few hundred
//! nanoseconds of runtime overhead and no work; two worker threads keep both CPUs busy.
//! Each task adds its poll count to a shared counter every 256 polls (a per-poll atomic
//! would make the two CPUs fight over one cache line).
//!
//! At the end it writes the polls per second of all tasks, one number, to OUTFILE or stdout.
//! Usage: poll_heavy SECONDS [OUTFILE] (without SECONDS, or with 0, runs until killed and
//! writes nothing).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

const TASKS: usize = 1000;
const FLUSH_EVERY: u64 = 256;

static POLLS: AtomicU64 = AtomicU64::new(0);

async fn spinner() {
    let mut polls = 0u64;
    loop {
        tokio::task::yield_now().await;
        polls += 1;
        if polls == FLUSH_EVERY {
            POLLS.fetch_add(polls, Ordering::Relaxed);
            polls = 0;
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let limit = tokio_demo::run_time();
    let start = Instant::now();
    for _ in 0..TASKS {
        tokio::spawn(spinner());
    }
    tokio_demo::run_until(limit).await;
    let polls = POLLS.load(Ordering::Relaxed);
    tokio_demo::report_rate(polls as f64 / start.elapsed().as_secs_f64());
}
