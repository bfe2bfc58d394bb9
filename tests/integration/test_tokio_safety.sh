# The target never misbehaves: under every mode, and when the profiler is killed, a Tokio
# program keeps running and exits normally with its own status.
source "$(dirname "$0")/lib.sh"
TOKIO="$EXAMPLES/tokio"

for mode in sample lifecycle full; do
	"$TOKIO/service" 5 >"$WORK/svc.out" 2>&1 &
	svc=$!
	PIDS+=("$svc")
	sleep 0.3
	"$ASYNCPROF" attach --runtime tokio --mode "$mode" -p "$svc" -o "$WORK/$mode" >/dev/null 2>"$WORK/err" &
	prof=$!
	sleep 2
	kill -KILL $prof
	wait $prof 2>/dev/null || true
	wait $svc || { cat "$WORK/svc.out"; fail "service exited with $? after the $mode profiler was killed"; }
	ok "$mode: target unharmed by a killed profiler"
done
"$ASYNCPROF" run --runtime tokio --mode full -o "$WORK/full-run" -- "$TOKIO/service" 3 >/dev/null 2>"$WORK/err" ||
	{ cat "$WORK/err"; fail "full mode run failed"; }
grep -q 'exited after' "$WORK/err" || fail "service did not exit normally under full mode"
check_outputs "$WORK/full-run"
ok "full mode to the end"
