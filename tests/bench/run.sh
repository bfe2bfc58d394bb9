#!/usr/bin/env bash
# make bench: the cost of profiling a CPU-bound target.
#
# For each frequency, the same single-threaded workload (examples/spin) runs once alone and once
# under `asyncprof run`, alternately, and the throughputs are compared as a ratio in this run.
# The profiler's own CPU time (while recording, and in all with start-up) and peak RSS come from
# its report.json (getrusage of itself: GNU time would add the reaped target). On a 2-CPU machine the profiler's
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

traced() { # HZ: prints "rate recording_cpu_s duration_s max_rss_kb total_cpu_s"
	"$BUILD/asyncprof" run -F "$1" -o "$work/out" -- "$spin" "$SECONDS_PER_RUN" "$work/rate" \
		>/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
	echo "$(cat "$work/rate") $(jq -r '"\(.profiler.recording_cpu_s) \(.duration_s) \(.profiler.max_rss_kb) \(.profiler.cpu_s)"' "$work/out/report.json")"
}

echo "spin workload, ${SECONDS_PER_RUN}s per run, $ROUNDS rounds of (alone, profiled) per frequency"
printf '%-6s %13s %14s %8s %13s %13s %11s\n' "Hz" "alone units/s" "profiled units/s" "ratio" \
	"profiler CPU%" "start-up CPU s" "peak RSS MB"
for hz in 99 999; do
	bsum=0 tsum=0 cpu=0 wall=0 rss=0 startup=0
	for _ in $(seq "$ROUNDS"); do
		b=$(baseline)
		read -r t c w r total < <(traced "$hz")
		bsum=$(echo "$bsum + $b" | bc -l)
		tsum=$(echo "$tsum + $t" | bc -l)
		cpu=$(echo "$cpu + $c" | bc -l)
		wall=$(echo "$wall + $w" | bc -l)
		startup=$(echo "$startup + $total - $c" | bc -l)
		[ "$r" -gt "$rss" ] && rss=$r
	done
	printf '%-6s %13.0f %16.0f %8.4f %13.2f %14.2f %11.1f\n' "$hz" \
		"$(echo "$bsum / $ROUNDS" | bc -l)" "$(echo "$tsum / $ROUNDS" | bc -l)" \
		"$(echo "$tsum / $bsum" | bc -l)" "$(echo "100 * $cpu / $wall" | bc -l)" \
		"$(echo "$startup / $ROUNDS" | bc -l)" "$(echo "$rss / 1024" | bc -l)"
done
echo "ratio: profiled / alone throughput of the target (1.0 = no cost)."
echo "profiler CPU%: its own CPU time while recording, as a share of one CPU; start-up (BPF load,"
echo "symbols) and writing the results are counted apart, in seconds."

# ---- Runtimes: the cost of each mode --------------------------------------------------------
runtime_rate() { # PROGRAM SECONDS MODE|alone [BUDGET]: prints the workload's rate (it writes it)
	local prog=$1 secs=$2 mode=$3 budget=${4:-2}
	if [ "$mode" = alone ]; then
		"$prog" "$secs" "$work/rate" >/dev/null
	else
		"$BUILD/asyncprof" run --mode "$mode" --budget "$budget" -o "$work/out" -- \
			"$prog" "$secs" "$work/rate" >/dev/null 2>"$work/err" ||
			{ cat "$work/err" >&2; exit 1; }
	fi
	cat "$work/rate"
}

# Every mode with the default budget (2%), and the event modes with --budget 0 (always on): each
# pair is a run alone and a run profiled, in alternating order (alone first in a row's odd pairs,
# profiled first in its even ones, so that a drift of the machine over a pair does not favour
# either side). Two figures: the median of the pairs' ratios, robust to the odd pair on a VM whose
# CPUs' speed varies over time (on this project's, a copy of a program on one CPU ran 0.98 to 1.41
# times as fast as a copy on the other within a minute, and a program alone ran 30% slower from
# one run to the next and stayed so for minutes), and the ratio of the sums.
# The budgeted rows of a workload are interleaved, a pair of each in turn (their order rotating),
# so that a phase of the machine lasting minutes falls on all of them, a few pairs of each, not
# on most pairs of one row: in one bench with the rows one after the other, Go 1.19's lifecycle
# row had 12 pairs in a row at 0.90 to 0.99 and its full row, right after, 0.99 by the median.
# Go's ping-pong varies most from run to run (pairs of 10 s runs spread 0.82 to 1.39 in one bench
# while Tokio's spread 4%): its table runs twice as many pairs of runs half as long, in the same
# time, so a pair's two runs are closer in time and the median rests on more of them. A shorter
# run pays the budget's first two windows (about 40 ms on, at 80% of the target's CPU) over
# fewer seconds: the Go rows carry that bias (about 0.7% at 5 s against 0.35% at 10 s).
MODE_ROUNDS=${BENCH_MODE_ROUNDS:-8}
SAMPLE_ROUNDS=${BENCH_SAMPLE_ROUNDS:-4} # the reference the event modes build on: fewer pairs
GO_SECONDS=${BENCH_GO_SECONDS:-$((SECONDS_PER_RUN / 2))}
GO_MODE_ROUNDS=${BENCH_GO_MODE_ROUNDS:-$((MODE_ROUNDS * 2))}
GO_SAMPLE_ROUNDS=${BENCH_GO_SAMPLE_ROUNDS:-$((SAMPLE_ROUNDS * 2))}
median() { # VALUES...: prints their median
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
		print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# pair PROGRAM SECONDS CONFIG: one more pair of CONFIG (MODE:BUDGET), added to mode_table's sums.
pair() {
	local prog=$1 secs=$2 config=$3 mode=${3%:*} budget=${3#*:} a p r
	npairs[$config]=$((npairs[$config] + 1))
	if [ $((npairs[$config] % 2)) -eq 1 ]; then
		a=$(runtime_rate "$prog" "$secs" alone)
		p=$(runtime_rate "$prog" "$secs" "$mode" "$budget")
	else
		p=$(runtime_rate "$prog" "$secs" "$mode" "$budget")
		a=$(runtime_rate "$prog" "$secs" alone)
	fi
	r="$work/out/report.json"
	ratios[$config]+="$(echo "$p / $a" | bc -l) "
	asum[$config]=$(echo "${asum[$config]} + $a" | bc -l)
	psum[$config]=$(echo "${psum[$config]} + $p" | bc -l)
	own_cpu[$config]=$(echo "${own_cpu[$config]} + $(jq .profiler.recording_cpu_s "$r")" | bc -l)
	rec_wall[$config]=$(echo "${rec_wall[$config]} + $(jq .duration_s "$r")" | bc -l)
	on[$config]=$(echo "${on[$config]} + $(jq '.duty.fraction // 1' "$r")" | bc -l)
	cost[$config]=$(echo "${cost[$config]} + $(jq '.duty.cost_pct // 0' "$r")" | bc -l)
}

mode_table() { # DIR SECONDS PAIRS SAMPLE_PAIRS PROGRAM...: a row per program, mode and budget,
	# programs in $BUILD/examples/DIR, runs of SECONDS, PAIRS pairs per event-mode row
	local dir=$1 secs=$2 mode_pairs=$3 sample_pairs=$4 bin config i n want est
	local budgeted=(sample:2 lifecycle:2 full:2) configs=(sample:2 lifecycle:2 full:2 lifecycle:0 full:0)
	local -A npairs ratios asum psum own_cpu rec_wall on cost target
	shift 4
	printf '%-16s %-10s %6s %13s %13s %8s %8s %13s %8s %10s\n' workload mode budget "alone /s" \
		"profiled /s" median "sums" "profiler CPU%" "on %" "est. cost%"
	for bin in "$@"; do
		for config in "${configs[@]}"; do
			npairs[$config]=0 ratios[$config]="" asum[$config]=0 psum[$config]=0
			own_cpu[$config]=0 rec_wall[$config]=0 on[$config]=0 cost[$config]=0
			target[$config]=$mode_pairs
		done
		target[sample:2]=$sample_pairs
		# always on (--budget 0) costs tens of times more than the noise: fewer pairs
		target[lifecycle:0]=$ROUNDS target[full:0]=$ROUNDS
		# Round i: a pair of each budgeted row due one (a row of fewer pairs spread evenly over
		# the rounds), the rows in an order that rotates.
		for i in $(seq "$mode_pairs"); do
			for n in 0 1 2; do
				config=${budgeted[$(((i + n) % 3))]}
				want=$((i * target[$config] / mode_pairs))
				[ "${npairs[$config]}" -lt "$want" ] &&
					pair "$BUILD/examples/$dir/$bin" "$secs" "$config"
			done
		done
		for config in lifecycle:0 full:0; do
			for i in $(seq "${target[$config]}"); do
				pair "$BUILD/examples/$dir/$bin" "$secs" "$config"
			done
		done
		for config in "${configs[@]}"; do
			n=${npairs[$config]}
			est=-
			[ "${config%:*}" = sample ] || [ "${config#*:}" = 0 ] ||
				est=$(printf '%.2f' "$(echo "${cost[$config]} / $n" | bc -l)")
			# shellcheck disable=SC2086 # the ratios: one word each
			printf '%-16s %-10s %6s %13.0f %13.0f %8.4f %8.4f %13.2f %8.1f %10s\n' "$bin" \
				"${config%:*}" "${config#*:}%" "$(echo "${asum[$config]} / $n" | bc -l)" \
				"$(echo "${psum[$config]} / $n" | bc -l)" "$(median ${ratios[$config]})" \
				"$(echo "${psum[$config]} / ${asum[$config]}" | bc -l)" \
				"$(echo "100 * ${own_cpu[$config]} / ${rec_wall[$config]}" | bc -l)" \
				"$(echo "100 * ${on[$config]} / $n" | bc -l)" "$est"
			# shellcheck disable=SC2086
			printf '%-16s %-10s %6s   pairs: %s\n' "" "" "" "$(printf '%.3f ' ${ratios[$config]})"
		done
	done
	echo "median: of the pairs' ratios, profiled / alone; sums: the profiled rates' sum over the"
	echo "rates' alone; on %: the share of the recording the event probes were on (duty cycling;"
	echo "100: always); est. cost%: what the budget estimated the probes cost over the recording"
	echo "(report.json's duty.cost_pct, in % of the target's CPU, counted as at least one CPU)"
}

echo
echo "Tokio workloads, ${SECONDS_PER_RUN}s per run, $MODE_ROUNDS pairs per event-mode row ($SAMPLE_ROUNDS in sample mode, $ROUNDS with --budget 0)"
mode_table tokio "$SECONDS_PER_RUN" "$MODE_ROUNDS" "$SAMPLE_ROUNDS" poll_heavy realistic

echo
echo "Go channel ping-pong (two goroutines, unbuffered channels), ${GO_SECONDS}s per run, $GO_MODE_ROUNDS pairs per event-mode row ($GO_SAMPLE_ROUNDS in sample mode, $ROUNDS with --budget 0)"
mode_table go "$GO_SECONDS" "$GO_MODE_ROUNDS" "$GO_SAMPLE_ROUNDS" pingpong-go1.19 pingpong-go1.23

# ---- asyncprof markers (probes/asyncprof.h): what a marker costs the marked program ------------
# marker_bench alternates one loop built with the markers and the same loop built without them
# (-DASYNCPROF_DISABLE), keeping each one's fastest round; an iteration runs 4 markers (task run,
# frame push, frame pop, task stop) around a few nanoseconds of work.
markers() { # untraced|traced ROUNDS ITERATIONS: prints "plain_ns marked_ns per_marker_ns"
	local bench="$BUILD/examples/marker_bench"
	if [ "$1" = untraced ]; then
		"$bench" untraced "$2" "$3" "$work/markers"
	else
		"$BUILD/asyncprof" run --runtime usdt -o "$work/out" -- "$bench" traced "$2" "$3" \
			"$work/markers" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
	fi
	cat "$work/markers"
}

echo
echo "asyncprof markers: ns per loop iteration (4 markers each), without and with the markers"
printf '%-22s %14s %14s %14s\n' "" "no markers" "markers" "ns per marker"
read -r plain marked per < <(markers untraced 20 5000000)
printf '%-22s %14.3f %14.3f %14.3f\n' "no tracer attached" "$plain" "$marked" "$per"
read -r plain marked per < <(markers traced 3 100000)
printf '%-22s %14.3f %14.3f %14.1f\n' "asyncprof attached" "$plain" "$marked" "$per"
echo "no tracer: each marker is one load and a branch not taken (the difference is below what the"
echo "timer resolves); attached: each is a uprobe hit, its BPF program, and for run and stop an"
echo "event to the profiler."

# ---- Off-CPU: the cost per context switch -----------------------------------------------------
# examples/pingpong: two threads pinned to CPU 0 pass a byte back and forth over pipes, so each
# round trip is two blocks and two context switches there, every block far shorter than the
# threshold: the worst case for --off-cpu, whose kernel side runs on every switch of the
# target's threads (in the target's context). The profiler itself runs on the other CPU. The
# ratio compares round trips per CPU-second of the target (its own cost, whatever else shares
# CPU 0 on a busy machine); wall-clock round trips per second are shown too. "CPU only" is
# asyncprof run without --off-cpu (99 Hz sampling), for reference; ASYNCPROF_OFFCPU_HOOKS forces
# the hooks older kernels get; --off-cpu-min 0 profiles every block (what the threshold saves).
pingpong_rates() { # alone | ENV-ASSIGNMENT|- ASYNCPROF-ARGS...: prints "wall/s cpu/s"
	local pp="$BUILD/examples/pingpong" env
	if [ "$1" = alone ]; then
		"$pp" "$SECONDS_PER_RUN" "$work/rate" 0
	else
		env=$1
		shift
		[ "$env" = - ] && env=
		env $env "$BUILD/asyncprof" run "$@" -o "$work/out" -- "$pp" "$SECONDS_PER_RUN" \
			"$work/rate" 0 >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
	fi
	cat "$work/rate"
}

echo
echo "pingpong (two threads on one CPU), ${SECONDS_PER_RUN}s per run, $ROUNDS rounds"
printf '%-36s %11s %11s %14s %8s %10s %16s\n' configuration "alone /s" "profiled /s" \
	"alone /CPU-s" ratio "prof. CPU%" "events/s (drops)"
offcpu_configs=(
	"CPU only|-"
	"--off-cpu (task work)|- --off-cpu"
	"--off-cpu, tp_btf + sys_exit hooks|ASYNCPROF_OFFCPU_HOOKS=tp_btf --off-cpu"
	"--off-cpu, raw_tp + sys_exit hooks|ASYNCPROF_OFFCPU_HOOKS=raw_tp --off-cpu"
	"--off-cpu --off-cpu-min 0|- --off-cpu --off-cpu-min 0"
)
for config in "${offcpu_configs[@]}"; do
	name=${config%%|*}
	read -r -a args <<<"${config#*|}"
	aw=0 ac=0 pw=0 pc=0 cpu=0 wall=0 events=0 drops=0
	for _ in $(seq "$ROUNDS"); do
		read -r w c < <(pingpong_rates alone)
		aw=$(echo "$aw + $w" | bc -l)
		ac=$(echo "$ac + $c" | bc -l)
		read -r w c < <(pingpong_rates "${args[@]}")
		pw=$(echo "$pw + $w" | bc -l)
		pc=$(echo "$pc + $c" | bc -l)
		r="$work/out/report.json"
		cpu=$(echo "$cpu + $(jq .profiler.recording_cpu_s "$r")" | bc -l)
		wall=$(echo "$wall + $(jq .duration_s "$r")" | bc -l)
		events=$((events + $(jq '.offcpu.events // 0' "$r")))
		drops=$((drops + $(jq '.offcpu.drops // 0' "$r")))
	done
	printf '%-36s %11.0f %11.0f %14.0f %8.4f %10.2f %9.0f (%.0f)\n' "$name" \
		"$(echo "$aw / $ROUNDS" | bc -l)" "$(echo "$pw / $ROUNDS" | bc -l)" \
		"$(echo "$ac / $ROUNDS" | bc -l)" "$(echo "$pc / $ac" | bc -l)" \
		"$(echo "100 * $cpu / $wall" | bc -l)" "$(echo "$events / $wall" | bc -l)" \
		"$(echo "$drops / $wall" | bc -l)"
done
echo "ratio: profiled / alone round trips per CPU-second of the target (1.0 = no cost)."
