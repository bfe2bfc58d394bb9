// SPDX-License-Identifier: MIT
//! A hello-world HTTP/1 server on hyper 0.14 and Tokio's multi-threaded runtime (two workers),
//! for load generators such as wrk. hyper spawns each connection as a task of its generic type
//! `NewSvcTask<...>`, and its connection state machine (`Connection::poll`, `ProtoServer::poll`,
//! `Dispatcher::poll`, ...) is inlined into that task's poll: what a profiler has to name and
//! unwind right.
//!
//! Each request runs `render_page`, a fixed amount of CPU work (about 20,000 rounds of a hash),
//! and returns its result. Usage: hyper_hello PORTFILE [SECONDS]: listens on 127.0.0.1 on a port
//! the system picks, writes that port to PORTFILE (once it accepts connections), and serves
//! until killed, or for SECONDS; then prints "requests N" on stdout.

use hyper::service::{make_service_fn, service_fn};
use hyper::{Body, Request, Response, Server};
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

static REQUESTS: AtomicU64 = AtomicU64::new(0);

#[inline(never)]
fn render_page(path: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for round in 0..20_000u64 {
        for b in path.bytes() {
            h = (h ^ b as u64 ^ round).wrapping_mul(0x100_0000_01b3);
        }
    }
    format!("Hello from {} ({:016x})\n", path, h)
}

async fn hello(req: Request<Body>) -> Result<Response<Body>, Infallible> {
    REQUESTS.fetch_add(1, Ordering::Relaxed);
    Ok(Response::new(Body::from(render_page(req.uri().path()))))
}

fn usage() -> ! {
    eprintln!("usage: hyper_hello PORTFILE [SECONDS]");
    std::process::exit(2);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 2 || args.len() > 3 {
        usage();
    }
    let limit = match args.get(2).map(|s| s.parse::<f64>()) {
        None => None,
        Some(Ok(s)) if s > 0.0 && s.is_finite() => Some(Duration::from_secs_f64(s)),
        Some(_) => usage(),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let make_svc =
            make_service_fn(|_conn| async { Ok::<_, Infallible>(service_fn(hello)) });
        let server = Server::bind(&([127, 0, 0, 1], 0).into()).serve(make_svc);
        let port = server.local_addr().port();
        // Written whole under another name, then renamed: a reader never sees half a port.
        let tmp = format!("{}.tmp", args[1]);
        std::fs::write(&tmp, format!("{}\n", port)).expect("write the port file");
        std::fs::rename(&tmp, &args[1]).expect("rename the port file");
        match limit {
            Some(d) => {
                tokio::select! {
                    r = server => r.expect("server"),
                    _ = tokio::time::sleep(d) => {}
                }
            }
            None => server.await.expect("server"),
        }
    });
    println!("requests {}", REQUESTS.load(Ordering::Relaxed));
    // Open connections would keep the runtime's shutdown waiting for the load generator.
    std::process::exit(0);
}
