// SPDX-License-Identifier: MIT
//! What the programs in src/bin share: the command line (`NAME [SECONDS] [OUTFILE]`) and the
//! CPU work. The work helpers are always inlined, so profiles charge their time to the named
//! function of the program that calls them, which is what the tests look for.

use std::fs::File;
use std::io::Write;
use std::time::{Duration, Instant};

/// How long to run: the first argument in seconds; `None` (run until killed) when it is
/// absent or 0. A malformed argument exits with status 2.
pub fn run_time() -> Option<Duration> {
    let arg = match std::env::args().nth(1) {
        Some(arg) => arg,
        None => return None,
    };
    match arg.parse::<f64>() {
        Ok(s) if s == 0.0 => None,
        Ok(s) if s > 0.0 && s.is_finite() => Some(Duration::from_secs_f64(s)),
        _ => {
            eprintln!("{}: SECONDS must be a number >= 0, not '{}'", program_name(), arg);
            std::process::exit(2);
        }
    }
}

/// Completes after `limit`, or never when there is no limit.
pub async fn run_until(limit: Option<Duration>) {
    match limit {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

/// Writes a benchmark result, one number per line, to the file named by the second argument
/// or to stdout; exits with status 1 if the file cannot be written.
pub fn report_rate(per_second: f64) {
    let line = format!("{:.1}\n", per_second);
    let written = match std::env::args().nth(2) {
        Some(path) => File::create(&path).and_then(|mut f| f.write_all(line.as_bytes())),
        None => std::io::stdout().write_all(line.as_bytes()),
    };
    if let Err(e) = written {
        eprintln!("{}: cannot write result: {}", program_name(), e);
        std::process::exit(1);
    }
}

fn program_name() -> String {
    std::env::args().next().unwrap_or_default()
}

/// One round of an integer mix the optimizer cannot fold across iterations.
#[inline(always)]
fn mix(x: u64, i: u64) -> u64 {
    (x ^ (x >> 31)).wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(i)
}

/// Hides a value from the optimizer so the work producing it is kept (std::hint::black_box
/// is not stable in rustc 1.63).
#[inline(always)]
pub fn keep(x: u64) -> u64 {
    // SAFETY: reads a local through a valid reference.
    unsafe { std::ptr::read_volatile(&x) }
}

/// A fixed amount of work, `rounds` mixes: what benchmarks count, since it takes longer when
/// the profiler slows the program down.
#[inline(always)]
pub fn hash_rounds(seed: u64, rounds: u64) -> u64 {
    let mut x = seed;
    for i in 0..rounds {
        x = mix(x, i);
    }
    keep(x)
}

/// Burns CPU for `budget` of wall time: what programs with a known time split use, since it
/// takes the same time on any machine.
#[inline(always)]
pub fn spin_for(seed: u64, budget: Duration) -> u64 {
    let start = Instant::now();
    let mut x = seed;
    let mut i = 0u64;
    loop {
        // Checking the clock every 4096 rounds keeps it out of the profile.
        for _ in 0..4096 {
            x = mix(x, i);
            i += 1;
        }
        if start.elapsed() >= budget {
            return keep(x);
        }
    }
}
