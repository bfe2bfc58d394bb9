# Tokio, full mode: a task blocks its worker with a 60 ms synchronous sleep inside a poll:
# report.json must show its max_poll_ns >= 50 ms, and the terminal summary lists it.
source "$(dirname "$0")/lib.sh"
TOKIO="$EXAMPLES/tokio"

"$ASYNCPROF" run --runtime tokio --mode full -o "$WORK/out" -- "$TOKIO/long_poll" 3 \
	>"$WORK/stdout" 2>"$WORK/stderr" || { cat "$WORK/stderr"; fail "asyncprof run failed"; }
cat "$WORK/stdout"
r="$WORK/out/report.json"
# Its probes cost about 4% of a CPU on this project's VM (25 us a hit): over the default budget,
# they are duty cycled. The first window, from the start until they have spent a second's worth
# of the budget (350 to 400 ms here), and the later ones (300 ms or more, in 10 s runs) each hold
# a whole 60 ms poll of the 260 ms cycle; where hits are cheaper they stay on. Either way the long
# poll is found.
jq -c '.duty' "$r"
max=$(jq '[.tasks[] | select(.name // "" | test("slow_poller")) | .max_poll_ns] | max' "$r")
[ "$max" != null ] || { jq '.tasks' "$r"; fail "no long_poll task in report.json"; }
# Its longest poll by its own time (wall-clock time less the time its thread waited for a CPU)
# holds a stall, a 60 ms sleep, and little else: at least 60 ms, at most the longest stall the
# program measured (which includes such waits).
own_us=$(jq '[.tasks[] | select(.name // "" | test("slow_poller")) |
	(.max_poll_ns - .max_poll_preempted_ns) / 1000 | floor] | max' "$r")
stall_us=$(awk '$1 == "stall_max_us" { print $2 }' "$WORK/stdout")
[ "${stall_us:-0}" -ge 60000 ] || fail "long_poll measured no 60 ms stall"
expect_between "longest poll, us of its own, the longest stall the program measured $stall_us us" \
	"$own_us" 60000 $((stall_us * 105 / 100))
# It sleeps: off the CPU, yet its own doing (not preempted), so it is a long poll all the same.
cpu=$(jq '[.tasks[] | select(.name // "" | test("slow_poller")) | .max_poll_cpu_ns] | max' "$r")
expect_between "its time on a CPU, ms" "$((cpu / 1000000))" 0 9
# A runtime-internal task is left out of the summary: the user's task must not be taken for one.
jq -e '[.tasks[] | select(.name // "" | test("slow_poller")) | .internal] == [false]' "$r" \
	>/dev/null || fail "slow_poller is marked as a runtime-internal task"
grep -A2 'long polls' "$WORK/stdout" | grep -q 'slow_poller' ||
	fail "the summary does not list slow_poller under long polls"
polls=$(jq '[.tasks[] | .polls] | add' "$r")
[ "$polls" -gt 10 ] || fail "full mode counted $polls polls"
ok "long poll measured"
