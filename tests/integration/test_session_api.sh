# The session API (tracer/session/session.h) as the agent uses it: two Tokio programs recorded at
# once by one process (tests/tools/session_probe.c: one poll() loop over both sessions), a
# window cut every second, the wake probes turned off for the second half. Every CPU sample is
# in exactly one window (the windows add up to the session's count), the listener sees each
# sample of its window, and the wake probes send nothing once off (while they did before).
source "$(dirname "$0")/lib.sh"

start_bg "$EXAMPLES/tokio/chain" 30
chain=$BG_PID
start_bg "$EXAMPLES/tokio/timer_wait" 30
timer=$BG_PID
sleep 0.5
"$BUILD/tests/session_probe" 6 lifecycle "$chain" "$timer" >"$WORK/out" 2>"$WORK/err" ||
	{ cat "$WORK/out" "$WORK/err"; fail "session_probe failed"; }
cat "$WORK/out"

for pid in "$chain" "$timer"; do
	windows=$(awk -v p="$pid" '$1 == "window" && $4 == p' "$WORK/out" | wc -l)
	[ "$windows" = 6 ] || fail "pid $pid: $windows windows, not 6"
	read -r samples sum < <(awk -v p="$pid" '$1 == "total" && $3 == p { print $5, $7 }' "$WORK/out")
	[ -n "$samples" ] && [ "$samples" -gt 0 ] || fail "pid $pid: no samples"
	[ "$samples" = "$sum" ] || fail "pid $pid: $samples samples, but the windows hold $sum"
	ok "pid $pid: 6 windows holding all of its $samples samples"
	awk -v p="$pid" '$1 == "window" && $4 == p && $8 != $14 { bad = 1 } END { exit bad }' \
		"$WORK/out" || fail "pid $pid: the listener did not see every sample of a window"
	ok "pid $pid: the listener saw each window's samples"
done

# The busy chain: samples in every window (one task spins), wake-ups counted while on, none off.
awk -v p="$chain" '$1 == "window" && $4 == p && $8 == 0 { bad = 1 } END { exit bad }' "$WORK/out" ||
	fail "a window of chain has no CPU sample"
read -r on1 on3 off4 off6 < <(awk -v p="$chain" '$1 == "window" && $4 == p { w[$2] = $10 }
	END { print w[1], w[3], w[4], w[6] }' "$WORK/out")
[ "$on3" -gt "$on1" ] || fail "the wake probes sent nothing while on ($on1, then $on3)"
[ "$off6" = "$off4" ] || fail "the wake probes sent $((off6 - off4)) events while off"
grep -q 'wake OFF' "$WORK/out" || fail "the wake group was not reported off"
ok "wake events: $on1 then $on3 while on, $off4 then $off6 while off"
