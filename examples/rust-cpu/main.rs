// SPDX-License-Identifier: MIT
//! A Rust release program with a known call tree, built without frame pointers, for the
//! profiler's tests: main -> workloads::run::<Checksum> -> Checksum::step -> mix_block
//! (about two thirds of the CPU) and main -> workloads::run::<Sorter> -> Sorter::step
//! (about one third). Usage: rust_cpu [SECONDS] (runs until killed without SECONDS).

mod workloads {
    pub trait Workload {
        fn step(&mut self, round: u64) -> u64;
    }

    pub struct Checksum {
        pub data: Vec<u64>,
    }

    pub struct Sorter {
        pub data: Vec<u32>,
    }

    #[inline(never)]
    pub fn mix_block(data: &[u64], seed: u64) -> u64 {
        let mut h = seed;
        for &v in data {
            h = (h ^ v).wrapping_mul(0x100000001b3).rotate_left(17);
        }
        h
    }

    impl Workload for Checksum {
        #[inline(never)]
        fn step(&mut self, round: u64) -> u64 {
            let mut acc = 0u64;
            for i in 0..2 {
                acc = acc.wrapping_add(mix_block(&self.data, round + i));
            }
            acc
        }
    }

    impl Workload for Sorter {
        #[inline(never)]
        fn step(&mut self, round: u64) -> u64 {
            let mut x = round as u32 | 1;
            for v in self.data.iter_mut() {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                *v = x;
            }
            self.data.sort_unstable();
            self.data[self.data.len() / 2] as u64
        }
    }

    #[inline(never)]
    pub fn run<W: Workload>(w: &mut W, rounds: u64) -> u64 {
        let mut acc = 0u64;
        for r in 0..rounds {
            acc = acc.wrapping_add(w.step(r));
        }
        acc
    }
}

use std::time::{Duration, Instant};
use workloads::{Checksum, Sorter};

fn main() {
    let seconds: f64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0.0);
    let deadline = if seconds > 0.0 {
        Some(Instant::now() + Duration::from_secs_f64(seconds))
    } else {
        None
    };
    let mut checksum = Checksum { data: (0..4096).collect() };
    let mut sorter = Sorter { data: vec![0; 4096] };
    let mut acc = 0u64;
    loop {
        // Balance by time: the checksum phase runs twice as long as the sort phase.
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_millis(20) {
            acc = acc.wrapping_add(workloads::run(&mut checksum, 50));
        }
        let t1 = Instant::now();
        while t1.elapsed() < Duration::from_millis(10) {
            acc = acc.wrapping_add(workloads::run(&mut sorter, 5));
        }
        if let Some(d) = deadline {
            if Instant::now() >= d {
                break;
            }
        }
    }
    println!("{}", acc);
}
