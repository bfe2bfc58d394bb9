// SPDX-License-Identifier: MIT
//! A task that is runnable but cannot run because every worker is blocked, for the
//! scheduling-latency view.
//!
//! A std thread, `drive`, is the clock. Every 500 ms it wakes the two `blocker` tasks at once
//! through their channels; as the wakes come from outside the runtime, they go to the global
//! queue and unpark both idle workers, so each worker takes one blocker, whose poll then holds
//! it for 100 ms in `block_worker` (`std::thread::sleep`). 20 ms later `drive` wakes `ticker`
//! through its channel: the ticker is runnable from then on, but no worker is free until the
//! blockers return, about 80 ms later.
//!
//! Truth: every 500 ms the ticker waits about 80 ms (100 ms block - 20 ms delay, plus wake-up
//! noise well under 1 ms) between its wake (`wake_by_val` from the std thread) and its poll.
//! Both workers are off-CPU in `sched_latency::block_worker` for 100 ms of every 500 ms.
//! With a SECONDS limit it prints at exit, on stdout, what the ticker measured itself:
//! `ticker_latency_ms mean=M max=X ticks=N` (M, X in ms with one decimal).
//! Usage: sched_latency [SECONDS] (runs until killed without SECONDS, or with 0).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

const PERIOD: Duration = Duration::from_millis(500);
const TICK_DELAY: Duration = Duration::from_millis(20);
const BLOCK: Duration = Duration::from_millis(100);

#[derive(Default)]
struct Latency {
    ticks: u32,
    total: Duration,
    max: Duration,
}

#[inline(never)]
fn block_worker() {
    std::thread::sleep(BLOCK);
}

async fn blocker(mut go: UnboundedReceiver<()>) {
    while go.recv().await.is_some() {
        block_worker();
    }
}

async fn ticker(mut ticks: UnboundedReceiver<Instant>, latency: Arc<Mutex<Latency>>) {
    while let Some(sent) = ticks.recv().await {
        let waited = sent.elapsed();
        let mut l = latency.lock().unwrap();
        l.ticks += 1;
        l.total += waited;
        l.max = l.max.max(waited);
    }
}

/// Runs on its own thread so its wakes come from outside the runtime.
fn drive(blockers: [UnboundedSender<()>; 2], ticker: UnboundedSender<Instant>) {
    loop {
        std::thread::sleep(PERIOD - TICK_DELAY);
        for b in &blockers {
            if b.send(()).is_err() {
                return;
            }
        }
        std::thread::sleep(TICK_DELAY);
        if ticker.send(Instant::now()).is_err() {
            return;
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let limit = tokio_demo::run_time();
    let latency = Arc::new(Mutex::new(Latency::default()));
    let (go_a, rx_a) = unbounded_channel();
    let (go_b, rx_b) = unbounded_channel();
    let (tick, rx_tick) = unbounded_channel();

    tokio::spawn(blocker(rx_a));
    tokio::spawn(blocker(rx_b));
    tokio::spawn(ticker(rx_tick, latency.clone()));
    std::thread::Builder::new()
        .name("drive".into())
        .spawn(move || drive([go_a, go_b], tick))
        .expect("cannot start the drive thread");
    tokio_demo::run_until(limit).await;

    let l = latency.lock().unwrap();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mean = if l.ticks > 0 { ms(l.total) / l.ticks as f64 } else { 0.0 };
    println!("ticker_latency_ms mean={:.1} max={:.1} ticks={}", mean, ms(l.max), l.ticks);
}
