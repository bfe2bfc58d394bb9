# Two recordings of one process disturb each other (each one's probes show in the other's
# samples): a second attach to a process being recorded is refused, exit status 1, naming the
# asyncprof that records it; once that one ends, however it ends (here also kill -9), the
# process can be recorded again.
source "$(dirname "$0")/lib.sh"

start_bg "$EXAMPLES/tokio/long_poll" 0 # until killed
target=$BG_PID
sleep 0.5
"$ASYNCPROF" attach -p "$target" --mode lifecycle -d 4 -o "$WORK/first" >"$WORK/first.log" 2>&1 &
first=$!
PIDS+=("$first")
for _ in $(seq 50); do grep -q "recording pid" "$WORK/first.log" && break; sleep 0.1; done
grep -q "recording pid" "$WORK/first.log" || { cat "$WORK/first.log"; fail "the first recording did not start"; }
status=0
"$ASYNCPROF" attach -p "$target" -d 1 -o "$WORK/second" >"$WORK/second.out" 2>"$WORK/second.err" || status=$?
cat "$WORK/second.err"
[ "$status" = 1 ] || fail "the second recording exited with $status, not 1"
grep -q "^asyncprof: cannot attach to pid $target: asyncprof (pid $first) is recording it" \
	"$WORK/second.err" || fail "the refusal does not name the first recording (pid $first)"
[ ! -e "$WORK/second" ] || fail "the refused recording wrote $WORK/second"
wait "$first" || fail "the first recording failed"
check_outputs "$WORK/first"
ok "a second recording of a recorded process is refused, naming the first"

"$ASYNCPROF" attach -p "$target" -d 10 -o "$WORK/third" >"$WORK/third.log" 2>&1 &
third=$!
PIDS+=("$third")
for _ in $(seq 300); do
	grep -q "recording pid" "$WORK/third.log" && break
	kill -0 "$third" 2>/dev/null || { cat "$WORK/third.log"; fail "the third recording ended before recording"; }
	sleep 0.1
done
kill -9 "$third" || { cat "$WORK/third.log"; fail "the third recording ended on its own"; }
wait "$third" || true
"$ASYNCPROF" attach -p "$target" -d 1 -o "$WORK/fourth" >/dev/null 2>&1 ||
	fail "no recording possible after the previous one was killed"
check_outputs "$WORK/fourth"
ok "the process can be recorded again once the recording ends, even by kill -9"
