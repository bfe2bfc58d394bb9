// SPDX-License-Identifier: MIT
//! One task that mostly waits on a timer, for the wait (off-CPU) view.
//!
//! `worker` loops: 10 ms of CPU in `cpu_work`, then `helper_wait().await`, an async fn whose
//! only await is a 40 ms `tokio::time::sleep` (tokio rounds timers up to the next millisecond,
//! so a wait lasts 40-41 ms).
//!
//! Truth: a 50 ms cycle, about 20% of the task's life running `timer_wait::cpu_work` and
//! about 80% pending at the await in `helper_wait` (task stack: worker -> helper_wait ->
//! Sleep). Nothing else runs; two worker threads. Prints nothing.
//! Usage: timer_wait [SECONDS] (runs until killed without SECONDS, or with 0).

use std::time::Duration;

#[inline(never)]
fn cpu_work(seed: u64) -> u64 {
    tokio_demo::spin_for(seed, Duration::from_millis(10))
}

async fn helper_wait() {
    tokio::time::sleep(Duration::from_millis(40)).await
}

async fn worker() {
    let mut x = 0;
    loop {
        x = cpu_work(x);
        helper_wait().await;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let limit = tokio_demo::run_time();
    tokio::spawn(worker());
    tokio_demo::run_until(limit).await;
}
