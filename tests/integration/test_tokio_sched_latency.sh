# Tokio, lifecycle mode: both workers of a 2-worker runtime are blocked ~100 ms at once while a
# task is woken; it waits runnable until a worker frees: its scheduling latency must be close
# to the remaining blocked time.
source "$(dirname "$0")/lib.sh"
TOKIO="$EXAMPLES/tokio"

"$ASYNCPROF" run --runtime tokio --mode lifecycle -d 4 -o "$WORK/out" -- "$TOKIO/sched_latency" 6 \
	>"$WORK/stdout" 2>"$WORK/stderr" || { cat "$WORK/stderr"; fail "asyncprof run failed"; }
cat "$WORK/stdout"
r="$WORK/out/report.json"
max=$(jq '[.tasks[] | select(.name | test("ticker")) | .sched_latency_ns.max] | max' "$r")
[ "$max" != null ] || { jq '.tasks' "$r"; fail "no ticker task in report.json"; }
expect_between "ticker max scheduling latency ms" "$((max / 1000000))" 60 110
ok "scheduling latency while workers are blocked"
