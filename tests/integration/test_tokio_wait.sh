# Tokio, lifecycle mode: a task does ~10 ms of CPU work, then awaits a 40 ms timer inside the
# helper async fn helper_wait. At least 80% of its wait time must be at helper_wait's await.
source "$(dirname "$0")/lib.sh"
TOKIO="$EXAMPLES/tokio"

"$ASYNCPROF" run --runtime tokio --mode lifecycle -d 4 -o "$WORK/out" -- "$TOKIO/timer_wait" 6 \
	>"$WORK/stdout" 2>"$WORK/stderr" || { cat "$WORK/stderr"; fail "asyncprof run failed"; }
cat "$WORK/stdout" "$WORK/stderr"
check_outputs "$WORK/out"
for f in wait.pb.gz wait.folded wait.svg; do [ -s "$WORK/out/$f" ] || fail "$f missing"; done
pprof -raw "$WORK/out/wait.pb.gz" >/dev/null 2>&1 || fail "go tool pprof rejects wait.pb.gz"

# The waiting task is the one whose poll frames contain cpu_work (it is named after its future).
r="$WORK/out/report.json"
expect_exact "$r" "timer_wait"
id=$(jq '[.tasks[] | select(.name | test("timer_wait::worker"))] | max_by(.wait_ns) | .id' "$r")
[ "$id" != null ] || { jq '.tasks' "$r"; fail "no task of timer_wait in report.json"; }
wait_total=$(jq "[.tasks[] | select(.id == $id)][0].wait_ns" "$r")
dur=$(jq '.duration_s * 1e9 | floor' "$r")
expect_between "task wait / recording %" "$((wait_total * 100 / dur))" 60 95

# helper_wait's await point: its body, timer_wait::helper_wait::{{closure}} (inlined into the
# task's poll), at the line of its sleep.
src="$(dirname "$0")/../../examples/tokio/src/bin/timer_wait.rs"
line=$(grep -n '^ *tokio::time::sleep' "$src" | cut -d: -f1)
pprof -lines -top -cum -sample_index=wait "$WORK/out/wait.pb.gz" >"$WORK/top.txt"
at_helper=$(awk -v at="/timer_wait[.]rs:$line( [(]inline[)])?\$" \
	'$6 ~ /^timer_wait::helper_wait::/ && $0 ~ at { sub(/%/, "", $5); print int($5); exit }' \
	"$WORK/top.txt")
[ -n "$at_helper" ] || { cat "$WORK/top.txt"; fail "no wait in helper_wait at timer_wait.rs:$line"; }
expect_between "wait at helper_wait's await (timer_wait.rs:$line) %" "$at_helper" 80 100
pprof -tags "$WORK/out/wait.pb.gz" | grep -q 'timer' || fail "no 'timer' reason label"
# The reason is also the leaf frame, for the flame graph and the folded file (no labels there).
timer=$(count_matching "$WORK/out/wait.folded" 'timer_wait::helper_wait::.*;\[wait\] timer$')
expect_between "wait in helper_wait under a [wait] timer leaf frame, % of the wait" \
	"$(pct "$timer" "$(total "$WORK/out/wait.folded")")" 80 100
grep -q '\[wait\] timer' "$WORK/out/wait.svg" || fail "wait.svg has no [wait] timer frame"
ok "wait attributed to the helper's await point"
