# Tokio, a stripped executable (examples/tokio/service, strip --strip-all): without symbols the
# analysis finds the task vtables and poll functions by their shape but not CONTEXT, NEXT_ID,
# Harness::complete or the future types. Each warning names what was not found and the views
# that lost it, for the mode; none names a cause that is not the real one (the waker hooks do
# fire: calibration is not what failed).
source "$(dirname "$0")/lib.sh"

strip --strip-all "$EXAMPLES/tokio/service" -o "$WORK/service"
for mode in lifecycle full; do
	"$ASYNCPROF" run --mode "$mode" -d 2 -o "$WORK/$mode" -- "$WORK/service" 4 \
		>"$WORK/$mode.stdout" 2>"$WORK/$mode.stderr" ||
		{ cat "$WORK/$mode.stderr"; fail "$mode: asyncprof run failed"; }
	cat "$WORK/$mode.stderr"
	check_outputs "$WORK/$mode"
	w="$WORK/$mode/report.json"
	for want in "CONTEXT was not found \\(no symbol for it\\)" \
		"spawns are not traced \\(task::Id::next::NEXT_ID was not found\\): task parents and spawn sites" \
		"Harness::complete was not found \\(no symbol for it\\): task exits" \
		"without their names \\(no symbols\\): CPU stacks get no \\[task\\] frames"; do
		jq -e --arg re "$want" '[.warnings[] | select(test($re))] | length == 1' "$w" \
			>/dev/null || { jq .warnings "$w"; fail "$mode: no warning matching '$want'"; }
		grep -Eq "warning: .*$want" "$WORK/$mode.stderr" || fail "$mode: '$want' not printed"
	done
	grep -q "cloned its waker" "$WORK/$mode.stderr" && fail "$mode: blames the waker calibration"
	ok "$mode: what the stripped executable lacks, and the views it degrades"
done
# Without CONTEXT, only full mode's poll hooks tell which task a sample is in.
jq -e '.warnings[] | select(test("CONTEXT")) | test("CPU samples are not attributed")' \
	"$WORK/lifecycle/report.json" >/dev/null || fail "lifecycle: CONTEXT warning lacks the CPU view"
jq -e '[.warnings[] | select(test("CONTEXT")) | test("CPU samples are not attributed")] == [false]' \
	"$WORK/full/report.json" >/dev/null || fail "full: CONTEXT warning claims a view full mode keeps"
cpu=$(jq '[.tasks[].cpu_ns] | add' "$WORK/full/report.json")
[ "$cpu" -gt 0 ] || fail "full: no CPU sample attributed to a task"
ok "full mode attributes CPU samples to tasks without CONTEXT, and says so"
