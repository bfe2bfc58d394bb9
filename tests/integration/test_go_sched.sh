# Go scheduling latency: with GOMAXPROCS=1 and a CPU-hogging goroutine, a worker it keeps
# waking waits for the P until the hog is preempted. The worker measures that wait itself
# (examples/go/hog); report.json must show the same latency for it (lifecycle mode, from
# ready/newproc1 to execute), on Go 1.19 and 1.23.
source "$(dirname "$0")/lib.sh"

for v in 1.19 1.23; do
	out="$WORK/$v"
	"$ASYNCPROF" run --mode lifecycle -o "$out" -- "$EXAMPLES/go/hog-go$v" 4 "$WORK/truth" \
		>"$WORK/stdout" 2>"$WORK/stderr" || { cat "$WORK/stderr"; fail "go$v: run failed"; }
	check_outputs "$out"
	read -r items mean_ms max_ms <"$WORK/truth"
	[ "$items" -gt 50 ] || fail "go$v: the worker got only $items items"
	worker=$(jq -c '[.tasks[] | select(.name == "main.worker")][0].sched_latency_ns' "$out/report.json")
	[ "$worker" != null ] || fail "go$v: no main.worker task with latencies in report.json"
	count=$(jq '.count' <<<"$worker")
	p50_ms=$(jq '.p50 / 1e6 | floor' <<<"$worker")
	max_us=$(jq '.max / 1e3 | floor' <<<"$worker")
	truth_max_us=$(echo "$max_ms * 1000 / 1" | bc)
	truth_mean_ms=$(echo "$mean_ms / 1" | bc)
	# One latency per item received, plus the first run and the final wake.
	expect_between "go$v: latencies recorded for main.worker (items $items)" "$count" "$items" $((items + 5))
	expect_between "go$v: worker max latency, % of its own measure" $((max_us * 100 / truth_max_us)) 85 110
	expect_between "go$v: worker median latency ms (its own mean: $truth_mean_ms ms)" "$p50_ms" $((truth_mean_ms / 2)) $((truth_mean_ms * 2))
	# The terminal summary lists it among the most delayed.
	grep -A2 'top tasks by scheduling latency' "$WORK/stdout" | grep -q 'main.worker' ||
		fail "go$v: main.worker not at the top of the latency summary"
done
