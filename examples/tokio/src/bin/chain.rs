// SPDX-License-Identifier: MIT
//! A chain of spawned tasks with one busy leaf, for the task-ancestry view.
//!
//! main spawns `task_a`, which spawns `task_b`, which spawns `task_c`. A and B only await the
//! JoinHandle of their child, so they stay alive and idle. C loops: 2 ms of CPU in `f`, then
//! `yield_now().await`, so it is polled about 500 times a second and never completes.
//!
//! Truth: about one CPU, nearly all in `chain::f` under task C's poll, whose ancestry is
//! C <- B <- A <- main; A and B use no CPU. Two worker threads (one of them mostly idle).
//! Prints nothing. Usage: chain [SECONDS] (runs until killed without SECONDS, or with 0).

use std::time::Duration;

#[inline(never)]
fn f(seed: u64) -> u64 {
    tokio_demo::spin_for(seed, Duration::from_millis(2))
}

async fn task_c() {
    let mut x = 0;
    loop {
        x = f(x);
        tokio::task::yield_now().await;
    }
}

async fn task_b() {
    tokio::spawn(task_c()).await.ok();
}

async fn task_a() {
    tokio::spawn(task_b()).await.ok();
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let limit = tokio_demo::run_time();
    tokio::spawn(task_a());
    tokio_demo::run_until(limit).await;
}
