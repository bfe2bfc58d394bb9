#!/usr/bin/env bash
# make demo: profiles the bundled two-thread example for 5 seconds and says where the results are.
set -euo pipefail
BUILD=${BUILD:?}
out=${DEMO_OUT:-asyncprof-demo}
rm -rf "$out"
echo "== asyncprof run -d 5 -o $out -- $BUILD/examples/cpu_split 6"
echo "   (thread 'hot' burns 75% of the CPU in leaf() via caller_a/caller_b; 'cold' 25%)"
"$BUILD/asyncprof" run -d 5 -o "$out" -- "$BUILD/examples/cpu_split" 6
echo
echo "flame graph: $(realpath "$out/cpu.svg")  (open it in a browser: click to zoom, Ctrl-F to search)"
echo "pprof:       go tool pprof -top $out/cpu.pb.gz"
