// SPDX-License-Identifier: MIT
//! The other ways Tokio runs code, for the profiler's coverage tests: a current-thread
//! runtime, a LocalSet with `spawn_local`, and the blocking pool.
//!
//! On a current-thread runtime driven by the main thread through a LocalSet:
//! - `local_task` (spawn_local, holds an Rc so it cannot leave the thread) loops: 2 ms of CPU
//!   in `local_work`, then a 8 ms sleep;
//! - `ct_task` (tokio::spawn onto the current-thread scheduler) loops: 1 ms in `ct_work`, then
//!   a 9 ms sleep;
//! - `blocking_driver` loops: `spawn_blocking` of 3 ms of CPU in `blocking_work`, awaited,
//!   then a 7 ms sleep.
//!
//! Truth: the main thread (comm "coverage") spends about 20% of its time in
//! `coverage::local_work` and about 10% in `coverage::ct_work`; one blocking-pool thread
//! ("tokio-runtime-w") spends about 30% in `coverage::blocking_work` (sleeps round up to whole
//! milliseconds, so each share comes out a little lower). The three budgets differ so that
//! LLVM cannot merge the three functions into one. Prints nothing.
//! Usage: coverage [SECONDS] (runs until killed without SECONDS, or with 0).

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;
use tokio::task::{spawn_blocking, spawn_local, LocalSet};
use tokio::time::sleep;

#[inline(never)]
fn local_work(seed: u64) -> u64 {
    tokio_demo::spin_for(seed, Duration::from_millis(2))
}

#[inline(never)]
fn ct_work(seed: u64) -> u64 {
    tokio_demo::spin_for(seed, Duration::from_millis(1))
}

#[inline(never)]
fn blocking_work(seed: u64) -> u64 {
    tokio_demo::spin_for(seed, Duration::from_millis(3))
}

async fn local_task() {
    let state = Rc::new(Cell::new(0));
    loop {
        state.set(local_work(state.get()));
        sleep(Duration::from_millis(8)).await;
    }
}

async fn ct_task() {
    let mut x = 0;
    loop {
        x = ct_work(x);
        sleep(Duration::from_millis(9)).await;
    }
}

async fn blocking_driver() {
    let mut x = 0;
    loop {
        x = spawn_blocking(move || blocking_work(x)).await.unwrap_or(x);
        sleep(Duration::from_millis(7)).await;
    }
}

fn main() {
    let limit = tokio_demo::run_time();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("cannot build the runtime");
    LocalSet::new().block_on(&rt, async {
        spawn_local(local_task());
        tokio::spawn(ct_task());
        tokio::spawn(blocking_driver());
        tokio_demo::run_until(limit).await;
    });
}
