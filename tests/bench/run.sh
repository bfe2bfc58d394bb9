#!/usr/bin/env bash
# make bench: the cost of profiling a CPU-bound target.
#
# For each frequency, the same single-threaded workload (examples/spin) runs once alone and once
# under `asyncprof run`, alternately, and the throughputs are compared as a ratio in this run.
# The profiler's own CPU time and peak RSS come from GNU time. On a 2-CPU machine the profiler's
# user-space work lands on the other CPU, so the ratio is the cost imposed on the target itself:
# the BPF program that runs on each sample in the target's context.
set -euo pipefail
BUILD=${BUILD:?}
SECONDS_PER_RUN=${BENCH_SECONDS:-10}
ROUNDS=${BENCH_ROUNDS:-2}
spin="$BUILD/examples/spin"
work=$(mktemp -d /tmp/asyncprof-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

baseline() {
	"$spin" "$SECONDS_PER_RUN" "$work/rate"
	cat "$work/rate"
}

traced() { # HZ: prints "rate cpu_seconds wall_seconds max_rss_kb"
	/usr/bin/time -f '%U %S %e %M' -o "$work/time" \
		"$BUILD/asyncprof" run -F "$1" -o "$work/out" -- "$spin" "$SECONDS_PER_RUN" "$work/rate" \
		>/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
	read -r user sys wall rss <"$work/time"
	echo "$(cat "$work/rate") $(echo "$user + $sys" | bc -l) $wall $rss"
}

printf '%-6s %14s %14s %8s %14s %12s\n' "Hz" "base units/s" "traced units/s" "ratio" "profiler CPU%" "peak RSS MB"
for hz in 99 999; do
	bsum=0 tsum=0 cpu=0 wall=0 rss=0
	for _ in $(seq "$ROUNDS"); do
		b=$(baseline)
		read -r t c w r < <(traced "$hz")
		bsum=$(echo "$bsum + $b" | bc -l)
		tsum=$(echo "$tsum + $t" | bc -l)
		cpu=$(echo "$cpu + $c" | bc -l)
		wall=$(echo "$wall + $w" | bc -l)
		[ "$r" -gt "$rss" ] && rss=$r
	done
	samples=$(jq .samples "$work/out/report.json")
	printf '%-6s %14.0f %14.0f %8.4f %14.2f %12.1f   (%s samples in the last run)\n' "$hz" \
		"$(echo "$bsum / $ROUNDS" | bc -l)" "$(echo "$tsum / $ROUNDS" | bc -l)" \
		"$(echo "$tsum / $bsum" | bc -l)" "$(echo "100 * $cpu / $wall" | bc -l)" \
		"$(echo "$rss / 1024" | bc -l)" "$samples"
done
echo "ratio = traced / baseline throughput (1.0 = no cost); profiler CPU% = its user+sys time"
echo "over its wall time, startup included, as a share of one CPU."
