# Tokio, full mode: what a poll took on a CPU, and while preempted, against the kernel's own
# accounting of the target's threads. examples/tokio/realistic keeps two worker threads busy with
# polls of fixed CPU work; pinned to one CPU with a CPU-bound program (examples/spin), each
# worker is often preempted in the middle of a poll, by the other or by the spinner. A poll's
# wall time then counts time the task did not run: busy_ns (time on a CPU inside polls) must
# stay within the CPU time the process used, poll_preempted_ns within the time its threads
# waited for a CPU (their run_delay), and wall = CPU + preempted (the polls make no blocking
# call).
source "$(dirname "$0")/lib.sh"

taskset -c 0 "$EXAMPLES/spin" 60 "$WORK/spin-rate" &
PIDS+=("$!")
taskset -c 0 "$EXAMPLES/tokio/realistic" 60 "$WORK/rate" >"$WORK/realistic.log" 2>&1 &
pid=$!
PIDS+=("$pid")
sleep 1
if ! kill -0 "$pid" 2>/dev/null; then
	status=0
	wait "$pid" || status=$?
	cat "$WORK/realistic.log"
	fail "realistic ended within a second, status $status"
fi
# The process's CPU time (ns) and its threads' time runnable, waiting for a CPU (ns).
cpu_ns() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.0f\n", ($14 + $15) * 1e9 / hz }' "/proc/$pid/stat"; }
run_delay_ns() { cat /proc/"$pid"/task/*/schedstat | awk '{ s += $2 } END { printf "%.0f\n", s }'; }
cpu0=$(cpu_ns) delay0=$(run_delay_ns)
# --budget 0: every poll's two ends are checked, which duty cycling leaves out at its edges.
"$ASYNCPROF" attach -p "$pid" --mode full --budget 0 -d 3 -o "$WORK/out" >"$WORK/stdout" 2>"$WORK/stderr" ||
	{ cat "$WORK/stderr"; fail "asyncprof attach failed"; }
cpu=$(($(cpu_ns) - cpu0)) delay=$(($(run_delay_ns) - delay0))
cat "$WORK/stdout"
r="$WORK/out/report.json"
busy=$(jq '[.spawn_sites[].busy_ns] | add' "$r")
wall=$(jq '[.spawn_sites[].poll_wall_ns] | add' "$r")
pre=$(jq '[.spawn_sites[].poll_preempted_ns] | add' "$r")
echo "process: CPU $((cpu / 1000000)) ms, waited for a CPU $((delay / 1000000)) ms;" \
	"polls: wall $((wall / 1000000)) ms, on CPU $((busy / 1000000)) ms, preempted $((pre / 1000000)) ms"
# Every poll seen to start is seen to end (exits are probed before entries at the attach).
runs=$(jq '.task_events.kinds.run | .received + .dropped' "$r")
stops=$(jq '.task_events.kinds.stop | .received + .dropped' "$r")
expect_between "poll ends seen, per mille of the poll starts" $((stops * 1000 / runs)) 990 1000
expect_between "preempted share of the polls' wall time %" "$(pct "$pre" "$wall")" 20 100
# The tick-based CPU time of /proc/PID/stat is exact to 10 ms per thread.
expect_between "busy_ns, per mille of the CPU time the process used (the recording and more)" \
	$((busy * 1000 / (cpu + 30000000))) 100 1000
expect_between "poll_preempted_ns, per mille of the time the threads waited for a CPU" \
	$((pre * 1000 / delay)) 100 1010
expect_between "wall - CPU - preempted, per mille of the wall time" \
	$(((wall - busy - pre) * 1000 / wall)) -20 20
jq -e '[.tasks[] | select(.max_poll_ns > 0) | .max_poll_cpu_ns <= .max_poll_ns and
	.max_poll_preempted_ns <= .max_poll_ns] | all' "$r" >/dev/null ||
	fail "a task's longest poll has more CPU or preempted time than wall time"
ok "poll times split into CPU and preempted time as the kernel counts them"
