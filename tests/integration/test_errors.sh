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
	grep -qE -e "$pattern" "$WORK/out.txt" || fail "$name: message does not match /$pattern/"
	ok "$name"
}

# The command's end is reported: its exit status or signal, and one that ignores SIGTERM is
# killed 3 s after the recording ends instead of holding asyncprof. Beside the rest: these runs
# mostly wait on their commands.
command_end() {
	local start took
	"$ASYNCPROF" run -o "$WORK/code" -- sh -c 'exit 3' >/dev/null 2>"$WORK/end.e" ||
		fail "run: exit 3"
	grep -q 'exited after .* (exit status 3)' "$WORK/end.e" ||
		{ cat "$WORK/end.e"; fail "no exit status"; }
	jq -e '.target.exit == {"code": 3, "sent_by_asyncprof": null}' "$WORK/code/report.json" \
		>/dev/null ||
		fail "report.json: exit code"
	"$ASYNCPROF" run -o "$WORK/segv" -- sh -c 'kill -SEGV $$' >/dev/null 2>"$WORK/end.e" ||
		fail "run: SEGV"
	grep -q '(killed by SIGSEGV' "$WORK/end.e" || { cat "$WORK/end.e"; fail "no signal"; }
	start=$(date +%s%N)
	"$ASYNCPROF" run -d 1 -o "$WORK/ignores_term" -- sh -c 'trap "" TERM; sleep 8' >/dev/null \
		2>"$WORK/end.e" || fail "run with a command ignoring SIGTERM failed"
	took=$((($(date +%s%N) - start) / 1000000))
	cat "$WORK/end.e"
	[ "$took" -lt 7000 ] || fail "run waited ${took} ms for a command that ignores SIGTERM"
	grep -q 'did not exit within 3 s of SIGTERM: sending SIGKILL' "$WORK/end.e" ||
		fail "no SIGKILL message"
	jq -e '.target.exit == {"signal": "KILL", "sent_by_asyncprof": "KILL"}' \
		"$WORK/ignores_term/report.json" >/dev/null || fail "report.json: killed"
	"$ASYNCPROF" run -d 1 -o "$WORK/stopped" -- sh -c 'kill -STOP $$; sleep 8' >/dev/null \
		2>"$WORK/end.e" || fail "run with a stopped command failed"
	jq -e '.target.exit == {"signal": "TERM", "sent_by_asyncprof": "TERM"}' \
		"$WORK/stopped/report.json" >/dev/null ||
		{ cat "$WORK/end.e"; fail "a stopped command was not ended"; }
	ok "the command's end is reported and bounded (${took} ms)"
}
side command_end command_end

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

# In a PID namespace of its own (a container without --pid=host) no sample would match its
# target: refused up front, saying why, nothing created.
expect_fail "pid namespace" 1 'runs in a PID namespace of its own' \
	unshare --pid --fork --mount-proc "$ASYNCPROF" attach -p 1 -d 1 -o "$WORK/pidns"
[ ! -e "$WORK/pidns" ] || fail "an output directory was created in a PID namespace"

# The target exits mid-run: what was collected is written, exit 0.
"$ASYNCPROF" run -F 999 -d 30 -o "$WORK/exit" -- "$EXAMPLES/cpu_split" 2 >"$WORK/o" 2>"$WORK/e" ||
	{ cat "$WORK/e"; fail "run with an exiting target failed"; }
cat "$WORK/e"
grep -q 'exited after' "$WORK/e" || fail "no message about the target exiting"
check_outputs "$WORK/exit"
# Each sample stands for 1/999 s of the CPU the program used, which it says itself (at 999 Hz, so
# that a busy machine, which gives it less, still leaves enough samples to count). Interrupts
# that land while it runs are sampled as its time but are not in its CPU clock: on a busy
# machine that is up to a sixth more.
used_ms=$(awk '/^cpu_split:/ { print $2 }' "$WORK/o")
expect_between "sampled CPU, % of the CPU the target used ($used_ms ms)" \
	$(($(total "$WORK/exit/cpu.folded") * 100000 / 999 / used_ms)) 85 120
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

# Arguments that make no sense: exit 2 before anything is done.
for args in "-d nan" "-d inf" "-d 1e300" "-d 0x10" "--off-cpu --off-cpu-min 1e30h" \
	"--off-cpu-min 1ms" "--min-age 2s" "-o ''" "--budget nan" "--budget 0x2" "--budget 101" \
	"--budget -1"; do
	eval "expect_fail \"nonsense: $args\" 2 'invalid|needs|is for|empty' \"\$ASYNCPROF\" attach -p \"\$BG_PID\" $args"
done
expect_fail "leaks with -F" 2 '-F is for attach, run and top' "$ASYNCPROF" leaks -p "$BG_PID" -F 99
expect_fail "leaks with --budget" 2 '--budget is for attach and run' "$ASYNCPROF" leaks \
	-p "$BG_PID" --budget 2

# What cannot be attached to is named as it is.
expect_fail "kernel thread" 1 'cannot attach to pid 2: it is a kernel thread' \
	"$ASYNCPROF" attach -p 2 -d 1 -o "$WORK/kthread"
bash -c 'sleep 0.1 & echo $! >"$1"; exec sleep 20' - "$WORK/zombie.pid" &
PIDS+=($!)
sleep 0.5
expect_fail "zombie" 1 'it is a zombie' "$ASYNCPROF" attach -p "$(cat "$WORK/zombie.pid")" -d 1 \
	-o "$WORK/zombie"
start_bg "$EXAMPLES/cpu_split" 20 # its own: the first one may be gone on a loaded machine
expect_fail "no ptrace access" 1 'permission denied to read its memory maps' \
	setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=+bpf,+perfmon \
	--ambient-caps=+bpf,+perfmon "$ASYNCPROF" attach -p "$BG_PID" -d 1 -o /tmp/asyncprof-perm-$$
[ ! -e /tmp/asyncprof-perm-$$ ] || fail "an output directory was left for a refused attach"

# A file the kernel will not execute is reported, not run by /bin/sh.
printf 'not a program\n' >"$WORK/garbage"
chmod +x "$WORK/garbage"
expect_fail "not executable" 1 "cannot run $WORK/garbage: Exec format error" \
	"$ASYNCPROF" run -d 1 -o "$WORK/garbage-out" -- "$WORK/garbage"
[ ! -e "$WORK/garbage-out" ] || fail "an output directory was left for a command that never ran"

# A deleted executable still has its symbols (through /proc/PID/map_files): no false warning.
cp "$EXAMPLES/cpu_split" "$WORK/deleted_split"
start_bg "$WORK/deleted_split" 20 # ended by the test's cleanup: a slow attach still finds it
rm "$WORK/deleted_split"
sleep 0.3
"$ASYNCPROF" attach -p "$BG_PID" -d 1 -o "$WORK/deleted" >"$WORK/o" 2>"$WORK/e" ||
	{ cat "$WORK/e"; fail "attach to a deleted executable failed"; }
if grep 'warning' "$WORK/e" | grep -q 'executable'; then cat "$WORK/e"; fail "false warning"; fi
# Its two threads spin in hot_thread and cold_thread: nearly every sample is in one of them
# (however few a loaded machine gives).
named=$(count_matching "$WORK/deleted/cpu.folded" ';(hot|cold)_thread;')
all=$(total "$WORK/deleted/cpu.folded")
[ "$all" -ge 10 ] && [ $((named * 10)) -ge $((all * 9)) ] ||
	fail "the deleted executable's frames are not named: $named of $all samples"
ok "deleted executable"

# Output directories: the symlink attack (a user plants a link where root writes), the
# predictable default name, and directories that cannot take the results, all refused before
# anything is recorded.
expect_refused() { # as expect_fail
	expect_fail "$@"
	! grep -q 'recording pid' "$WORK/out.txt" || fail "$1: recorded although refused"
}
start_bg sleep 60
chmod 755 "$WORK"
mkdir -p "$WORK/shared" "$WORK/victim"
echo precious >"$WORK/victim/report.json"
chown 65534:65534 "$WORK/shared"
setpriv --reuid=65534 --regid=65534 --clear-groups ln -s "$WORK/victim" "$WORK/shared/out"
expect_refused "symlinked -o" 1 \
	"cannot use output directory $WORK/shared/out: it is a symbolic link" \
	"$ASYNCPROF" attach -p "$BG_PID" -d 1 -o "$WORK/shared/out"
setpriv --reuid=65534 --regid=65534 --clear-groups mkdir "$WORK/shared/theirs"
expect_refused "-o of another user" 1 'it belongs to user 65534' \
	"$ASYNCPROF" attach -p "$BG_PID" -d 1 -o "$WORK/shared/theirs"
chmod 1777 "$WORK/shared"
for s in $(seq 0 15); do # the seconds asyncprof may take to start on a loaded machine
	setpriv --reuid=65534 --regid=65534 --clear-groups ln -s "$WORK/victim" \
		"$WORK/shared/asyncprof-$BG_PID-$(date -d "@$(($(date +%s) + s))" +%Y%m%d-%H%M%S)"
done
(cd "$WORK/shared" && expect_refused "planted default name" 1 'it already exists' \
	"$ASYNCPROF" attach -p "$BG_PID" -d 1)
[ "$(cat "$WORK/victim/report.json")" = precious ] && [ "$(ls -A "$WORK/victim")" = report.json ] ||
	fail "the planted links were followed"
touch "$WORK/afile"
expect_refused "-o is a file" 1 'Not a directory' \
	"$ASYNCPROF" attach -p "$BG_PID" -d 30 -o "$WORK/afile"
mkdir "$WORK/ro"
mount -t tmpfs -o ro,size=1m tmpfs "$WORK/ro"
expect_refused "-o on a read-only mount" 1 'Read-only file system' \
	"$ASYNCPROF" attach -p "$BG_PID" -d 30 -o "$WORK/ro/out"
expect_refused "-o a read-only directory" 1 'Read-only file system' \
	"$ASYNCPROF" attach -p "$BG_PID" -d 30 -o "$WORK/ro"
umount "$WORK/ro"
# A full disk while writing is reported as such.
mkdir "$WORK/full"
mount -t tmpfs -o size=8k tmpfs "$WORK/full"
expect_fail "full disk" 1 'cannot write .*: No space left on device' \
	"$ASYNCPROF" attach -p "$BG_PID" -d 1 -o "$WORK/full/out"
umount "$WORK/full"
# A path longer than PATH_MAX is used, not cut.
d200=$(printf 'd%.0s' $(seq 200))
long=$WORK/long
for i in $(seq 25); do long=$long/$d200; done
mkdir -p "$long"
[ ${#long} -gt 4096 ] || fail "the long path is only ${#long} characters"
"$ASYNCPROF" attach -p "$BG_PID" -d 1 -o "$long/out" >/dev/null 2>"$WORK/e" ||
	{ cat "$WORK/e"; fail "a path longer than PATH_MAX was refused"; }
# The shell cannot cd there in one step either: one component at a time.
(cd "$WORK/long" && for i in $(seq 25); do cd "$d200"; done && cd out &&
	[ -s report.json ] && [ -s cpu.svg ]) || fail "results not in the long path"
ok "output directories"

# top: attach's checks and messages, and a terminal (run here, after the tests on BG_PID).
expect_fail "top without -p" 2 'top needs -p PID' "$ASYNCPROF" top
expect_fail "top with --off-cpu" 2 '--off-cpu is for attach and run' "$ASYNCPROF" top -p 1 --off-cpu
expect_fail "top, no such pid" 1 'cannot attach to pid 4194999: no such process' \
	"$ASYNCPROF" top -p 4194999
expect_fail "top on a kernel thread" 1 'cannot attach to pid 2: it is a kernel thread' \
	"$ASYNCPROF" top -p 2
sleep 10 &
PIDS+=($!)
expect_fail "top without a terminal" 1 'cannot show top: it needs a terminal' \
	"$ASYNCPROF" top -p $! </dev/null
side_wait
