# Tokio on a current-thread runtime, a LocalSet and the blocking pool, attached after start (the
# tasks predate the profiler): every CPU function is still attributed to its task, in each mode.
source "$(dirname "$0")/lib.sh"
TOKIO="$EXAMPLES/tokio"

for mode in sample full; do
	start_bg "$TOKIO/coverage" 12
	sleep 0.5
	"$ASYNCPROF" attach --runtime tokio --mode "$mode" -p "$BG_PID" -d 4 -o "$WORK/$mode" \
		>"$WORK/stdout" 2>"$WORK/stderr" || { cat "$WORK/stderr"; fail "$mode: attach failed"; }
	folded="$WORK/$mode/cpu.folded"
	for fn in local_work ct_work blocking_work; do
		all=$(count_matching "$folded" ";coverage::$fn(;|$)")
		in_task=$(count_matching "$folded" "\\[task\\] [^;]*;.*coverage::$fn(;|$)")
		[ "$all" -gt 10 ] || fail "$mode: only $all samples in $fn"
		expect_between "$mode: $fn samples inside a task %" "$(pct "$in_task" "$all")" 80 100
	done
	# The tasks were spawned before attach: their spawn site is unknown, said so.
	grep -q '\[spawn\] before attach' "$folded" || fail "$mode: no task marked as spawned before attach"
	kill "$BG_PID"; wait "$BG_PID" 2>/dev/null || true
done
jq -e '[.tasks[] | select(.polls > 0)] | length >= 3' "$WORK/full/report.json" >/dev/null ||
	fail "full mode: fewer than 3 tasks with polls"
ok "current-thread, LocalSet and blocking tasks attributed"
