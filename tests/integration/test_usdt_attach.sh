# USDT markers, attached to a running program (examples/c-usdt/coro) in sample mode: the tasks
# and logical frames it entered before the profiler came are unknown, yet the samples taken once
# it runs them again carry their task and frames; tasks from before attach say so. A program
# without markers is refused with --runtime usdt, and no marker is left active after detach.
source "$(dirname "$0")/lib.sh"

start_bg "$EXAMPLES/coro" 30
sleep 1
"$ASYNCPROF" attach --runtime usdt -p "$BG_PID" -d 6 -F 499 -o "$WORK/out" \
	>"$WORK/stdout" 2>"$WORK/stderr" || { cat "$WORK/stderr"; fail "attach failed"; }
cat "$WORK/stdout" "$WORK/stderr"
check_outputs "$WORK/out"
[ ! -e "$WORK/out/wait.pb.gz" ] || fail "sample mode wrote a wait profile"
folded="$WORK/out/cpu.folded"
parse=$(count_matching "$folded" ';parse_work(;|$)')
[ "$parse" -gt 50 ] || fail "only $parse samples in parse_work"
# Samples of the batch under way at the attach lack its [frame] batch: a fixed amount of CPU
# time, which a longer recording dilutes (a busy machine gives the target less CPU in each).
in_task=$(count_matching "$folded" '\[task\] [^;]*;\[frame\] batch;\[frame\] parse;.*parse_work(;|$)')
expect_between "parse_work samples in a task and its frames %" "$(pct "$in_task" "$parse")" 90 100
grep -q '\[spawn\] before attach' "$folded" || fail "no task marked as spawned before attach"
jq -e '.runtime == "usdt" and ([.tasks[] | select(.polls > 100)] | length) >= 1' \
	"$WORK/out/report.json" >/dev/null || fail "report.json: no usdt task with polls"

# Detached: the markers' semaphores are 0 again, so the program runs them as untraced.
sem=$(nm "$EXAMPLES/coro" | awk '$3 == "asyncprof_task_run_semaphore" { print $1 }')
base=$(awk -v exe="$(readlink -f "$EXAMPLES/coro")" '$6 == exe && $3 == "00000000" { split($1, r, "-"); print r[1]; exit }' "/proc/$BG_PID/maps")
[ -n "$sem" ] && [ -n "$base" ] || fail "cannot find the task_run semaphore"
addr=$(printf '%d' $((0x$base + 0x$sem)))
val=$(dd if="/proc/$BG_PID/mem" bs=1 skip="$addr" count=2 status=none | od -An -tu2 | tr -d ' ')
[ "$val" = 0 ] || fail "task_run semaphore is $val after detach"
ok "attached to a running program; markers inactive after detach"
kill "$BG_PID"; wait "$BG_PID" 2>/dev/null || true

set +e
"$ASYNCPROF" run --runtime usdt -d 1 -o "$WORK/none" -- "$EXAMPLES/spin" 2 >"$WORK/err" 2>&1
rc=$?
set -e
cat "$WORK/err"
[ "$rc" = 1 ] || fail "--runtime usdt on a program without markers: exit $rc, expected 1"
grep -q 'carry asyncprof markers' "$WORK/err" || fail "no message about the missing markers"
ok "--runtime usdt refuses a program without markers"
