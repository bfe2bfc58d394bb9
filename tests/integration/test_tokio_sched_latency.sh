# Tokio, lifecycle mode: both workers of a 2-worker runtime are blocked ~100 ms at once while a
# task is woken; it waits runnable until a worker frees: its scheduling latency must be what the
# task measured itself (from its wake to its run, about the remaining blocked time on an idle
# machine, more on a busy one).
source "$(dirname "$0")/lib.sh"
TOKIO="$EXAMPLES/tokio"

"$ASYNCPROF" run --runtime tokio --mode lifecycle -o "$WORK/out" -- "$TOKIO/sched_latency" 4 \
	>"$WORK/stdout" 2>"$WORK/stderr" || { cat "$WORK/stderr"; fail "asyncprof run failed"; }
cat "$WORK/stdout"
r="$WORK/out/report.json"
expect_exact "$r" "sched_latency"
max=$(jq '[.tasks[] | select(.name | test("ticker")) | .sched_latency_ns.max] | max' "$r")
[ "$max" != null ] || { jq '.tasks' "$r"; fail "no ticker task in report.json"; }
truth_us=$(sed -n 's/^ticker_latency_ms .*max=\([0-9.]*\) .*/\1/p' "$WORK/stdout" | awk '{ print int($1 * 1000) }')
[ "${truth_us:-0}" -gt 50000 ] || fail "the ticker measured no latency of the blocked workers"
expect_between "ticker max scheduling latency, % of its own measure ($truth_us us)" \
	$((max / 10 / truth_us)) 85 110
ok "scheduling latency while workers are blocked"
