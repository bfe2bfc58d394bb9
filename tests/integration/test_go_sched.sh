# Go scheduling latency: with GOMAXPROCS=1 and a CPU-hogging goroutine, a worker it keeps
# waking waits for the P until the hog is preempted. The worker measures that wait itself
# (examples/go/hog); report.json must show the same latency for it (lifecycle mode, from
# ready/newproc1 to execute), on Go 1.19 and 1.23. Its time runnable (items x its mean wait)
# is in report.json in both modes: the sum of the latencies, or sampled from the goroutine
# snapshots in the default mode, which has no scheduler probe.
source "$(dirname "$0")/lib.sh"

for v in 1.19 1.23; do
	out="$WORK/$v"
	"$ASYNCPROF" run --mode lifecycle -o "$out" -- "$EXAMPLES/go/hog-go$v" 4 "$WORK/truth" \
		>"$WORK/stdout" 2>"$WORK/stderr" || { cat "$WORK/stderr"; fail "go$v: run failed"; }
	check_outputs "$out"
	expect_exact "$out/report.json" "go$v hog"
	read -r items mean_ms max_ms median_ms <"$WORK/truth"
	[ "$items" -gt 50 ] || fail "go$v: the worker got only $items items"
	worker=$(jq -c '[.tasks[] | select(.name == "main.worker")][0].sched_latency_ns' "$out/report.json")
	[ "$worker" != null ] || fail "go$v: no main.worker task with latencies in report.json"
	count=$(jq '.count' <<<"$worker")
	p50_us=$(jq '.p50 / 1e3 | floor' <<<"$worker")
	max_us=$(jq '.max / 1e3 | floor' <<<"$worker")
	truth_max_us=$(echo "$max_ms * 1000 / 1" | bc)
	# One latency per item received, plus the first run and the final wake.
	expect_between "go$v: latencies recorded for main.worker (items $items)" "$count" "$items" $((items + 5))
	expect_between "go$v: worker max latency, % of its own measure" $((max_us * 100 / truth_max_us)) 85 110
	# The median is the worker's own (a mean that a busy machine's outliers pull up is not).
	truth_median_us=$(echo "$median_ms * 1000 / 1" | bc)
	expect_between "go$v: worker median latency, % of its own median ($truth_median_us us)" \
		$((p50_us * 100 / truth_median_us)) 75 125
	# The terminal summary lists it among the most delayed.
	grep -A2 'top tasks by scheduling latency' "$WORK/stdout" | grep -q 'main.worker' ||
		fail "go$v: main.worker not at the top of the latency summary"
	truth_runnable_ms=$(echo "$items * $mean_ms / 1" | bc)
	runnable_ms=$(jq '[.tasks[] | select(.name == "main.worker")][0].runnable_ns / 1e6 | floor' "$out/report.json")
	expect_between "go$v lifecycle: worker time runnable, % of items x mean ($truth_runnable_ms ms)" \
		$((runnable_ms * 100 / truth_runnable_ms)) 85 110

	out="$WORK/$v-sample"
	"$ASYNCPROF" run -o "$out" -- "$EXAMPLES/go/hog-go$v" 4 "$WORK/truth" \
		>"$WORK/stdout" 2>"$WORK/stderr" || { cat "$WORK/stderr"; fail "go$v sample: run failed"; }
	read -r items mean_ms max_ms median_ms <"$WORK/truth"
	truth_runnable_ms=$(echo "$items * $mean_ms / 1" | bc)
	jq -e '.go.runnable_from == "snapshots"' "$out/report.json" >/dev/null || fail "go$v sample: runnable_from"
	runnable_ms=$(jq '[.tasks[] | select(.name == "main.worker")][0].runnable_ns / 1e6 | floor' "$out/report.json")
	expect_between "go$v sample: worker time runnable, % of items x mean ($truth_runnable_ms ms)" \
		$((runnable_ms * 100 / truth_runnable_ms)) 65 120
	spin_ms=$(jq '[.tasks[] | select(.name == "main.spin")][0].runnable_ns / 1e6 | floor' "$out/report.json")
	expect_between "go$v sample: the hog's time runnable, % of the worker's" $((spin_ms * 100 / (runnable_ms + 1))) 0 15
	grep -A2 'top tasks by time runnable' "$WORK/stdout" | grep -q 'main.worker' ||
		fail "go$v sample: main.worker not at the top of the time-runnable summary"
done
