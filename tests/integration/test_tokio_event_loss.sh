# Tokio, lifecycle mode, on poll_heavy (1000 tasks polled back to back: far more task events than
# the ring buffer and the profiler can take): the events the probes lose are counted per kind in
# report.json, add up with the ones received to what the probes saw (every poll is a run event,
# and the probes count polls on their side), and the summary marks the figures they feed.
source "$(dirname "$0")/lib.sh"

# --budget 0: what is checked is the probes' events when always on (the budget would take
# them off most of the time on this busy target: test_budget).
"$ASYNCPROF" run --runtime tokio --mode lifecycle --budget 0 -d 2 -o "$WORK/out" -- \
	"$EXAMPLES/tokio/poll_heavy" 4 "$WORK/rate" >"$WORK/stdout" 2>"$WORK/stderr" ||
	{ cat "$WORK/stderr"; fail "asyncprof run failed"; }
cat "$WORK/stdout" "$WORK/stderr"
check_outputs "$WORK/out"
r="$WORK/out/report.json"
jq -e '.task_events | .received > 0 and .kinds.run.received > 0' "$r" >/dev/null ||
	{ jq '.task_events' "$r"; fail "report.json has no task_events"; }
jq '.task_events' "$r"
dropped=$(jq '.task_events.dropped' "$r")
[ "$dropped" -gt 0 ] || fail "no event was lost: the workload should overflow the ring buffer"
by_kind=$(jq '[.task_events.kinds[] | .dropped] | add' "$r")
[ "$by_kind" = "$dropped" ] || fail "dropped per kind add up to $by_kind, not $dropped"
runs=$(jq '.task_events.kinds.run | .received + .dropped' "$r")
polls=$(jq '[.spawn_sites[].polls] | add' "$r")
expect_between "run events received and lost, per mille of the polls the probes counted" \
	$((runs * 1000 / polls)) 995 1000
jq -e '.task_events.incomplete | index("wait_ns") != null and index("sched_latency_ns") != null' \
	"$r" >/dev/null || fail "task_events.incomplete lacks the figures lost runs feed"
jq -e '.warnings | any(test("task events were dropped"))' "$r" >/dev/null ||
	fail "no warning about the lost events"
grep -q "task events lost (the ring buffer was full): $dropped of " "$WORK/stdout" ||
	fail "the summary does not count the lost events"
grep -q 'top tasks by scheduling latency (max): (\* incomplete' "$WORK/stdout" ||
	fail "the summary does not mark the scheduling latencies incomplete"
ok "lost task events counted per kind, consistent with the probes' poll counts, and marked"
