# Bad input and interruptions: a clear message and a non-zero exit where the run failed, and
# results written whole whenever something was recorded.
source "$(dirname "$0")/lib.sh"

expect_fail() { # NAME EXPECTED-EXIT-CODE PATTERN CMD...
	local name=$1 code=$2 pattern=$3
	shift 3
	set +e
	"$@" >"$WORK/out.txt" 2>&1
	local rc=$?
	set -e
	cat "$WORK/out.txt"
	[ "$rc" -eq "$code" ] || fail "$name: exit $rc, expected $code"
	grep -qE "$pattern" "$WORK/out.txt" || fail "$name: message does not match /$pattern/"
	ok "$name"
}

# No such process (pid_max is at most 4194304).
expect_fail "no such pid" 1 'cannot attach to pid 4194999: no such process' \
	"$ASYNCPROF" attach -p 4194999 -d 1 -o "$WORK/none"
[ ! -e "$WORK/none" ] || fail "an output directory was created for a missing pid"
expect_fail "bad pid" 2 "invalid PID 'abc'" "$ASYNCPROF" attach -p abc
expect_fail "bad frequency" 2 'invalid frequency' "$ASYNCPROF" attach -p 1 -F 0
expect_fail "no command" 2 'missing command' "$ASYNCPROF"
expect_fail "run without command" 2 'run needs a command' "$ASYNCPROF" run -d 1
expect_fail "missing executable" 1 'cannot run /nonexistent/prog: No such file or directory' \
	"$ASYNCPROF" run -d 1 -o "$WORK/nx" -- /nonexistent/prog

# Not privileged: an unprivileged user is told which capabilities are missing.
start_bg "$EXAMPLES/cpu_split" 20
expect_fail "not privileged" 1 'missing CAP_BPF and CAP_PERFMON' \
	setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
	"$ASYNCPROF" attach -p "$BG_PID" -d 1 -o "$WORK/unpriv"

# The target exits mid-run: what was collected is written, exit 0.
"$ASYNCPROF" run -d 30 -o "$WORK/exit" -- "$EXAMPLES/cpu_split" 2 >"$WORK/o" 2>"$WORK/e" ||
	{ cat "$WORK/e"; fail "run with an exiting target failed"; }
cat "$WORK/e"
grep -q 'exited after' "$WORK/e" || fail "no message about the target exiting"
check_outputs "$WORK/exit"
[ "$(total "$WORK/exit/cpu.folded")" -gt 100 ] || fail "too few samples from a 2 s target"
ok "target exit mid-run"

# SIGTERM and SIGINT stop the recording and the results are written.
for sig in TERM INT; do
	"$ASYNCPROF" attach -p "$BG_PID" -o "$WORK/sig$sig" >"$WORK/o" 2>"$WORK/e" &
	prof=$!
	sleep 2
	kill -$sig $prof
	wait $prof || { cat "$WORK/e"; fail "SIG$sig: non-zero exit"; }
	grep -q 'stopped by' "$WORK/e" || fail "SIG$sig: no stop message"
	check_outputs "$WORK/sig$sig"
	kill -0 "$BG_PID" || fail "the target died when the profiler was stopped by SIG$sig"
	ok "SIG$sig writes the results and leaves the target running"
done

# SIGKILL of the profiler: the kernel detaches everything; the target goes on.
"$ASYNCPROF" attach -p "$BG_PID" -o "$WORK/kill" >/dev/null 2>&1 &
prof=$!
sleep 1.5
kill -KILL $prof
wait $prof 2>/dev/null || true
sleep 0.5
kill -0 "$BG_PID" || fail "the target died with the profiler"
ok "SIGKILL of the profiler leaves the target running"

# --runtime tokio on a program without Tokio: a clear message, exit 1.
expect_fail "no tokio" 1 'has no Tokio runtime' \
	"$ASYNCPROF" attach --runtime tokio -p "$BG_PID" -d 1 -o "$WORK/notokio"
expect_fail "bad mode" 2 "unknown mode 'fast'" "$ASYNCPROF" attach -p 1 --mode fast
