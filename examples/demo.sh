#!/usr/bin/env bash
# make demo: attaches to the bundled Tokio service for 5 seconds and says where the results are.
set -euo pipefail
BUILD=${BUILD:?}
out=${DEMO_OUT:-asyncprof-demo}
rm -rf "$out"
"$BUILD/examples/tokio/service" 10 &
svc=$!
trap 'kill $svc 2>/dev/null || true' EXIT
sleep 0.5
echo "== asyncprof attach --runtime tokio --mode lifecycle -p $svc -d 5 -o $out"
echo "   (examples/tokio/src/bin/service.rs: accept_loop spawns handle_connection tasks, which"
echo "    spawn db_query tasks; CPU in parse_request and compute_checksum, timers, channels)"
"$BUILD/asyncprof" attach --runtime tokio --mode lifecycle -p "$svc" -d 5 -o "$out"
echo
echo "flame graphs: $(realpath "$out/cpu.svg") (CPU, with task ancestry)"
echo "              $(realpath "$out/wait.svg") (where tasks waited)"
echo "              open them in a browser: click to zoom, Ctrl-F to search"
echo "pprof:        go tool pprof -traces $out/cpu.pb.gz"
echo "tasks:        jq '.tasks[:5]' $out/report.json"
