# Markers in a shared library: examples/c-usdt/minirt_app runs two tasks on minirt, a toy runtime
# built as libminirt.so, which carries the markers. `run` stops the program at its entry point,
# once the dynamic loader has mapped the library, so --runtime auto finds them there; `attach`
# finds them in the running process. Truth: parser burns 3 ms per step in parse_step, indexer
# 1 ms in index_step, and each sleeps 2 ms between steps (reason "timer").
source "$(dirname "$0")/lib.sh"
APP="$EXAMPLES/minirt_app"

# 733 Hz: a period that does not divide the program's ~5 ms cycle (99 Hz aliases with it).
"$ASYNCPROF" run --runtime auto --mode lifecycle -F 733 -o "$WORK/run" -- "$APP" 3 \
	>"$WORK/stdout" 2>"$WORK/stderr" || { cat "$WORK/stderr"; fail "run failed"; }
cat "$WORK/stderr"
grep -q 'markers found in libminirt.so' "$WORK/stderr" || fail "run: the library's markers not found"
check_outputs "$WORK/run"
folded="$WORK/run/cpu.folded"
parser=$(count_matching "$folded" '\[task\] parser;.*;parse_step;burn_ms(;|$)')
indexer=$(count_matching "$folded" '\[task\] indexer;.*;index_step;burn_ms(;|$)')
expect_between "run: parser's share of the step CPU %" "$(pct "$parser" $((parser + indexer)))" 65 85
# No step is charged to the other task.
wrong=$(count_matching "$folded" '\[task\] (indexer;.*;parse_step|parser;.*;index_step);')
expect_between "run: step samples under the wrong task" "$wrong" 0 0
r="$WORK/run/report.json"
jq -e '[.tasks[] | select(.name == "parser" or .name == "indexer") | .polls > 100] |
	length == 2 and all' "$r" >/dev/null || { jq .tasks "$r"; fail "run: tasks parser and indexer"; }
# Each task's polls last as long as its steps as the runtime measured them (3 ms and 1 ms, and
# what a busy machine adds: the runtime measures wall-clock time); of that time, busy_ns is
# what the task spent on a CPU.
for task in parser indexer; do
	truth_us=$(awk -v t="$task" '$1 == "minirt:" && $2 == t { print $4 }' "$WORK/stdout")
	wall_ns=$(jq --arg t "$task" '[.tasks[] | select(.name == $t)][0].poll_wall_ns' "$r")
	busy_ns=$(jq --arg t "$task" '[.tasks[] | select(.name == $t)][0].busy_ns' "$r")
	expect_between "run: $task's poll time, % of the runtime's measure ($truth_us us)" \
		$((wall_ns / 10 / truth_us)) 99 105
	expect_between "run: $task's busy time, % of its poll time" $((busy_ns * 100 / wall_ns)) 1 100
done
pprof -tags -tagfocus=reason=timer "$WORK/run/wait.pb.gz" 2>/dev/null | grep -q 'timer' ||
	fail "run: no wait with reason timer"
ok "run: markers in a library, tasks and frames"

# attach, default mode.
start_bg "$APP" 20
sleep 0.5
"$ASYNCPROF" attach --runtime auto -F 733 -p "$BG_PID" -d 2 -o "$WORK/attach" \
	>"$WORK/stdout" 2>"$WORK/stderr" || { cat "$WORK/stderr"; fail "attach failed"; }
grep -q 'markers found in libminirt.so' "$WORK/stderr" || { cat "$WORK/stderr"; fail "attach: markers not found"; }
folded="$WORK/attach/cpu.folded"
all=$(count_matching "$folded" ';parse_step;burn_ms(;|$)')
in_task=$(count_matching "$folded" '\[task\] [^;]*;.*;parse_step;burn_ms(;|$)')
[ "$all" -gt 50 ] || fail "attach: only $all samples in parse_step"
expect_between "attach: parse_step samples inside a task %" "$(pct "$in_task" "$all")" 90 100
kill "$BG_PID"; wait "$BG_PID" 2>/dev/null || true
ok "attach: markers in a library"

# Without its library the program cannot start: said so, and no profile.
cp "$APP" "$WORK/alone"
set +e
"$ASYNCPROF" run -d 2 -o "$WORK/none" -- "$WORK/alone" 1 >"$WORK/stdout" 2>"$WORK/stderr"
rc=$?
set -e
[ "$rc" -ne 0 ] && grep -q 'ended before its first instruction' "$WORK/stderr" ||
	{ cat "$WORK/stderr"; fail "a program whose library is missing: exit $rc"; }
ok "a missing library is reported"
