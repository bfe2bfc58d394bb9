#!/bin/bash
# snapshot.sh ASYNCPROF BUILD OUT: records every example once with fixed durations and modes and
# keeps each recording's folded stacks and report.json in OUT/NAME (for compare_snapshots.py:
# a change that must not alter the outputs is checked by a snapshot before and one after).
set -uo pipefail
AP=$1 BUILD=$2 OUT=$3
E=$BUILD/examples
mkdir -p "$OUT"

# rec NAME ASYNCPROF-OPTIONS -- COMMAND...
rec() {
	local name=$1
	shift
	rm -rf "$OUT/$name.d"
	if "$AP" run -d 4 -o "$OUT/$name.d" "$@" >"$OUT/$name.stdout" 2>"$OUT/$name.stderr"; then
		mkdir -p "$OUT/$name"
		cp "$OUT/$name.d"/*.folded "$OUT/$name.d"/report.json "$OUT/$name/"
		echo "ok $name"
	else
		echo "FAILED $name (see $OUT/$name.stderr)"
	fi
	rm -rf "$OUT/$name.d"
}

rec cpu_split -- "$E/cpu_split" 6
rec rust_cpu -- "$E/rust_cpu" 6
rec spin -- "$E/spin" 6 /dev/null
rec pingpong -- "$E/pingpong" 6 /dev/null
rec offcpu_sleep --off-cpu -- "$E/offcpu_sleep" 6 /dev/null
for m in sample lifecycle; do
	rec coro-$m --mode $m -- "$E/coro" 6
	rec interp-$m --mode $m -- "$E/interp" 6
	rec minirt_app-$m --mode $m -- "$E/minirt_app" 6
done
for b in chain timer_wait long_poll sched_latency poll_heavy realistic coverage handlers; do
	for m in sample lifecycle full; do
		rec tokio-$b-$m --mode $m -- "$E/tokio/$b" 6
	done
done
rec hyper-sample -- "$E/hyper/hyper_hello"
for b in hog prodcons pingpong leaky service; do
	for m in sample lifecycle; do
		rec go-$b-$m --mode $m -- "$E/go/$b-go1.23" 6
	done
done
