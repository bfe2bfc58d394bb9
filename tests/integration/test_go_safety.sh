# The Go target is never harmed: the service (goroutine churn, channels, timers, GC, stack
# growth through main.digest) runs under every mode on Go 1.19 and 1.23 and exits normally,
# and survives the profiler being killed with SIGKILL while its probes are attached.
source "$(dirname "$0")/lib.sh"

for v in 1.19 1.23; do
	for mode in sample lifecycle full; do
		# --budget 0: every probe on all the time, the most the target can be exposed to.
		GOGC=20 "$ASYNCPROF" run --mode "$mode" --budget 0 -o "$WORK/$v-$mode" -- \
			"$EXAMPLES/go/service-go$v" 3 >"$WORK/stdout" 2>"$WORK/stderr" ||
			{ cat "$WORK/stderr"; fail "go$v $mode: run failed (target crashed?)"; }
		grep -q 'exited after' "$WORK/stderr" || fail "go$v $mode: the target did not run to its end"
		grep -Eq 'fatal error|panic|unexpected return pc' "$WORK/stderr" && fail "go$v $mode: the Go runtime complained"
		jq -e '.go.events_dropped == 0' "$WORK/$v-$mode/report.json" >/dev/null ||
			fail "go$v $mode: probe events dropped"
		ok "go$v $mode: the service ran 3 s under the profiler and exited normally"
	done
	start_bg "$EXAMPLES/go/service-go$v" 0
	target=$BG_PID
	"$ASYNCPROF" attach --mode full -p "$target" -d 30 -o "$WORK/kill-$v" >/dev/null \
		2>"$WORK/kill-$v.err" &
	prof=$!
	# Killed once recording, its probes attached, and the service through them for a second.
	for _ in $(seq 300); do
		grep -q 'asyncprof: recording pid' "$WORK/kill-$v.err" && break
		sleep 0.1
	done
	grep -q 'asyncprof: recording pid' "$WORK/kill-$v.err" ||
		{ cat "$WORK/kill-$v.err"; fail "go$v: asyncprof did not start recording"; }
	sleep 1
	kill -9 "$prof"
	wait "$prof" 2>/dev/null || true
	sleep 1.5
	kill -0 "$target" 2>/dev/null || fail "go$v: the target died with the profiler"
	ok "go$v: the target survives SIGKILL of the profiler in full mode"
done
