# The timeline (--timeline, timeline.perfetto-trace), read as Perfetto would (no trace_processor
# in Debian 12): decoded by protoc against the project's Perfetto schema, its slices rebuilt and
# checked (tests/tools/timeline_check.py), then compared with what the examples measure:
# - Tokio long_poll (full mode): each 60 ms blocking poll of slow_poller is ONE slice on a worker
#   thread's track, as long as the stall the program measured; a task's poll slices add up to
#   its poll time in report.json; samples carry stacks; spawns are flows;
# - Tokio sched_latency (lifecycle): while both workers are held by a 100 ms blocker poll, the
#   ticker's runnable interval overlaps them, as long as the wait the ticker measured;
# - Go hog (GOMAXPROCS=1, lifecycle, a cap of 300 events): the worker's runnable intervals
#   overlap the hog's slices on the one thread, and only the last events are kept;
# - the markers' coro (sample mode, where runs and stops are marked): a slice per run, and the
#   spawns as flows from the spawner to the spawned task.
source "$(dirname "$0")/lib.sh"
PROTO_DIR="$(dirname "$0")/../../tracer/proto"
CHECK="$(dirname "$0")/../tools/timeline_check.py"

# slices DIR: the trace of DIR as rows (see timeline_check.py), in DIR/slices.tsv.
slices() {
	protoc --decode=perfetto.protos.Trace -I"$PROTO_DIR" "$PROTO_DIR/perfetto/trace.proto" \
		<"$1/timeline.perfetto-trace" >"$1/trace.txt" || fail "protoc cannot decode $1's trace"
	python3 "$CHECK" <"$1/trace.txt" >"$1/slices.tsv" || fail "$1's trace is not well formed"
}

# Bad input: sample mode sends no task events; a cap out of range.
if "$ASYNCPROF" run --runtime tokio --timeline -o "$WORK/bad" -- "$EXAMPLES/tokio/long_poll" 1 \
	>"$WORK/stdout" 2>"$WORK/stderr"; then
	fail "a timeline in sample mode was accepted"
fi
grep -q 'asyncprof: cannot record a timeline of long_poll: sample mode' "$WORK/stderr" ||
	{ cat "$WORK/stderr"; fail "no reason given for refusing a timeline in sample mode"; }
set +e
"$ASYNCPROF" run --mode full --timeline --timeline-max-events 5 -- true 2>"$WORK/stderr"
rc=$?
set -e
[ "$rc" = 2 ] && grep -q 'invalid event count' "$WORK/stderr" ||
	fail "--timeline-max-events 5: exit $rc, $(cat "$WORK/stderr")"
ok "a timeline without task events, or a cap out of range, is refused"

# --- Tokio long_poll, full mode ---------------------------------------------------------------
d="$WORK/long_poll"
"$ASYNCPROF" run --runtime tokio --mode full --timeline -o "$d" -- "$EXAMPLES/tokio/long_poll" 3 \
	>"$WORK/stdout" 2>"$WORK/stderr" || { cat "$WORK/stderr"; fail "long_poll: run failed"; }
check_outputs "$d"
slices "$d"
stall_us=$(awk '$1 == "stall_max_us" { print $2 }' "$WORK/stdout")
[ "${stall_us:-0}" -ge 60000 ] || fail "long_poll measured no 60 ms stall"
# On a loaded machine (or the sanitizer build) the probes may lose task events: the slices they
# would have made are missing, and the trace says so. The figures below are then bounds: a
# poll slice is never invented, and no slice is longer than its poll.
lost=$(jq '.task_events.dropped' "$d/report.json")
jq -e --argjson lost "$lost" '.timeline | .task_events_lost == $lost and
	.complete == ($lost == 0)' "$d/report.json" >/dev/null ||
	fail "long_poll: the timeline does not say that $lost task events were lost"
if [ "$lost" -gt 0 ]; then
	echo "note: $lost task events lost in this recording: the counts below are upper bounds"
	low() { echo 0; }
else
	low() { echo "$1"; }
fi
# slow_poller's polls of 50 ms or more on the worker threads' tracks: one per stall (every
# 300 ms). The longest one's own time (its wall time less the time its thread was preempted,
# which its annotations say) is at least the 60 ms sleep and at most the longest stall the
# program measured (which includes such waits), plus what the poll does besides.
awk -F'\t' '$2 ~ /^thread / && $3 ~ /slow_poller/ && $5 >= 50000000' "$d/slices.tsv" >"$WORK/long"
n=$(wc -l <"$WORK/long")
expect_between "long_poll: slow_poller's long poll slices in 3 s (every 300 ms)" "$n" "$(low 7)" 11
longest_us=$(awk -F'\t' '{ p = $7; sub(/.*preempted_ns=/, "", p); sub(/;.*/, "", p)
	if ($5 - p > m) m = $5 - p } END { printf "%d", m / 1000 }' "$WORK/long")
[ "$n" -gt 0 ] && expect_between \
	"long_poll: the longest poll slice's own time, us (the program's longest stall: $stall_us us)" \
	"$longest_us" 60000 $((stall_us * 105 / 100))
# ONE slice: no other slice of slow_poller on any thread overlaps a long one, and the task's own
# track shows it running exactly then.
awk -F'\t' 'NR == FNR { s[NR] = $4; e[NR] = $4 + $5; n = NR; next }
	$3 ~ /slow_poller/ && $2 ~ /^thread / && $5 < 50000000 {
		for (i = 1; i <= n; i++) if ($4 < e[i] && $4 + $5 > s[i]) bad++ }
	$2 ~ /^task long_poll::slow_poller/ && $3 == "running" {
		for (i = 1; i <= n; i++) if ($4 == s[i] && $4 + $5 == e[i]) same++ }
	END { if (bad || same != n) { print bad + 0, same + 0; exit 1 } }' "$WORK/long" "$d/slices.tsv" ||
	fail "long_poll: a stall is not one poll slice with its running state"
ok "long_poll: each stall is one poll slice and one running state"
# While a worker is stalled, the quick tasks still wake and wait for a thread: their runnable
# intervals overlap the stalls.
over=$(awk -F'\t' 'NR == FNR { s[NR] = $4; e[NR] = $4 + $5; n = NR; next }
	$2 ~ /^task long_poll::quick_task/ && $3 == "runnable" {
		for (i = 1; i <= n; i++) if ($4 < e[i] && $4 + $5 > s[i]) { c++; break } }
	END { print c + 0 }' "$WORK/long" "$d/slices.tsv")
expect_between "long_poll: quick tasks' runnable intervals during the stalls" "$over" "$(low 1)" 100000
# Each task's poll slices add up to the wall time of its polls in report.json (the probes' own
# clocks: within 2%), which holds its busy time (on a CPU) and its time preempted.
jq -r '.tasks[] | select(.polls > 0 and .internal == false) |
	"\(.id) \(.poll_wall_ns) \(.busy_ns) \(.polls)"' "$d/report.json" >"$WORK/tasks"
[ "$(wc -l <"$WORK/tasks")" -ge 5 ] || fail "long_poll: report.json lists $(wc -l <"$WORK/tasks") tasks"
while read -r id wall busy polls; do
	read -r sum count < <(awk -F'\t' -v id="$id" '$2 ~ /^thread / && $1 == "slice" && $6 == id {
		s += $5; c++ } END { printf "%d %d\n", s, c }' "$d/slices.tsv")
	expect_between "long_poll: task $id's poll slices ($count) / its polls ($polls), %" \
		$((count * 100 / polls)) "$(low 98)" 100
	expect_between "long_poll: task $id's poll slices' sum, % of its poll_wall_ns" \
		$((sum / (wall / 1000))) "$(low 980)" 1020
	[ "$lost" -gt 0 ] || [ "$busy" -le "$sum" ] ||
		fail "long_poll: task $id is busier ($busy ns) than its slices ($sum ns)"
done <"$WORK/tasks"
# CPU samples are instants on the threads' tracks with their stacks, root first: the task's
# ancestry, then its poll.
awk -F'\t' '$3 == "cpu sample" && $7 ~ /task=long_poll::quick_task/ &&
	$7 ~ /stack=\[spawn\] [^|]*\|\[task\] long_poll::quick_task\|.*poll/' "$d/slices.tsv" |
	grep -q . || { grep "cpu sample" "$d/slices.tsv" | cut -c1-300; fail "long_poll: no CPU sample of a quick task with its stack"; }
samples=$(awk -F'\t' '$3 == "cpu sample"' "$d/slices.tsv" | wc -l)
# (samples are not task events: none is lost)
[ "$samples" = "$(jq .samples "$d/report.json")" ] ||
	fail "long_poll: $samples samples in the timeline, $(jq .samples "$d/report.json") in report.json"
ok "long_poll: polls and samples"

# --- Tokio sched_latency, lifecycle mode ------------------------------------------------------
d="$WORK/sched_latency"
"$ASYNCPROF" run --runtime tokio --mode lifecycle --timeline -o "$d" -- \
	"$EXAMPLES/tokio/sched_latency" 3 >"$WORK/stdout" 2>"$WORK/stderr" ||
	{ cat "$WORK/stderr"; fail "sched_latency: run failed"; }
slices "$d"
truth_us=$(sed -n 's/^ticker_latency_ms .*max=\([0-9.]*\) .*/\1/p' "$WORK/stdout" |
	awk '{ print int($1 * 1000) }')
[ "${truth_us:-0}" -gt 50000 ] || fail "the ticker measured no latency of the blocked workers"
# The blockers' polls: about 100 ms each, on both worker threads at once.
awk -F'\t' '$2 ~ /^thread / && $3 ~ /blocker/ && $5 >= 90000000' "$d/slices.tsv" >"$WORK/blocks"
threads=$(cut -f2 "$WORK/blocks" | sort -u | wc -l)
expect_between "sched_latency: worker threads with 100 ms blocker polls" "$threads" 2 2
# The ticker's runnable intervals of over 50 ms overlap a blocker's poll on each worker thread.
awk -F'\t' '$2 ~ /^task sched_latency::ticker/ && $3 == "runnable" && $5 > 50000000' \
	"$d/slices.tsv" >"$WORK/ticker"
expect_between "sched_latency: the ticker's long runnable intervals (one every 500 ms)" \
	"$(wc -l <"$WORK/ticker")" 4 7
awk -F'\t' 'NR == FNR { s[NR] = $4; e[NR] = $4 + $5; t[NR] = $2; n = NR; next }
	{ delete seen; for (i = 1; i <= n; i++) if ($4 < e[i] && $4 + $5 > s[i]) seen[t[i]] = 1
	  k = 0; for (x in seen) k++; if (k != 2) bad++ }
	END { exit bad > 0 }' "$WORK/blocks" "$WORK/ticker" ||
	fail "sched_latency: a runnable interval of the ticker does not overlap both workers' blocks"
max_us=$(awk -F'\t' '$5 > m { m = $5 } END { printf "%d", m / 1000 }' "$WORK/ticker")
expect_between "sched_latency: the ticker's longest runnable interval, % of its own measure ($truth_us us)" \
	$((max_us * 100 / truth_us)) 85 110
ok "sched_latency: the ticker is runnable while both workers are blocked"

# --- Go hog, GOMAXPROCS=1, lifecycle mode, a cap of 300 events ---------------------------------
d="$WORK/hog"
"$ASYNCPROF" run --mode lifecycle --timeline --timeline-max-events 300 -o "$d" -- \
	"$EXAMPLES/go/hog-go1.23" 2 "$WORK/truth" >"$WORK/stdout" 2>"$WORK/stderr" ||
	{ cat "$WORK/stderr"; fail "hog: run failed"; }
slices "$d"
read -r items mean_ms max_ms median_ms <"$WORK/truth"
[ "$items" -gt 20 ] || fail "hog: the worker got only $items items"
jq -e '.timeline | .events == 300 and .dropped > 0 and .max_events == 300' "$d/report.json" \
	>/dev/null || fail "hog: report.json's timeline: $(jq -c .timeline "$d/report.json")"
grep -q 'timeline: 300 events in timeline.perfetto-trace ([0-9]* older ones dropped' \
	"$WORK/stdout" || fail "hog: the summary does not say what the timeline dropped"
# The last events are kept, not the first: fewer slices of the hog than its runs, and the
# trace goes on to the end (the hog runs until main stops it, 2 s in).
kept=$(awk -F'\t' '$2 ~ /^thread / && $3 == "main.spin"' "$d/slices.tsv" | wc -l)
runs=$(jq '[.tasks[] | select(.name == "main.spin") | .polls] | add' "$d/report.json")
[ "$kept" -gt 0 ] && [ "$kept" -lt "$runs" ] || fail "hog: $kept slices of main.spin kept of $runs"
jq -e '.timeline.kept_from_s > 0.5' "$d/report.json" >/dev/null ||
	fail "hog: the timeline kept the start: $(jq -c .timeline "$d/report.json")"
# The worker, woken by the hog, waits for the thread the hog holds: each of its runnable
# intervals overlaps a slice of main.spin on the thread's track, and their median is the
# median wait the worker measured.
awk -F'\t' '$2 ~ /^thread / && $3 == "main.spin"' "$d/slices.tsv" >"$WORK/spin"
awk -F'\t' '$2 ~ /^task main.worker/ && $3 == "runnable"' "$d/slices.tsv" >"$WORK/worker"
[ "$(wc -l <"$WORK/worker")" -ge 10 ] || fail "hog: $(wc -l <"$WORK/worker") runnable intervals of main.worker"
awk -F'\t' 'NR == FNR { s[NR] = $4; e[NR] = $4 + $5; n = NR; next }
	{ hit = 0; for (i = 1; i <= n; i++) if ($4 < e[i] && $4 + $5 > s[i]) hit = 1; if (!hit) bad++ }
	END { exit bad > 1 }' "$WORK/spin" "$WORK/worker" ||
	fail "hog: the worker is runnable while main.spin does not hold the thread"
median_us=$(cut -f5 "$WORK/worker" | sort -n | awk '{ v[NR] = $1 } END { printf "%d", v[int((NR + 1) / 2)] / 1000 }')
truth_median_us=$(echo "$median_ms * 1000 / 1" | bc)
expect_between "hog: the worker's median runnable interval, % of its own median ($truth_median_us us)" \
	$((median_us * 100 / truth_median_us)) 75 125
ok "hog: the worker waits while the hog holds the one P"

# --- the markers: coro, sample mode -------------------------------------------------------------
d="$WORK/coro"
"$ASYNCPROF" run --timeline -o "$d" -- "$EXAMPLES/coro" 1 >"$WORK/stdout" 2>"$WORK/stderr" ||
	{ cat "$WORK/stderr"; fail "coro: run failed"; }
slices "$d"
# root spawns ingest and ticker, ingest spawns parser: each spawn is an instant on the
# spawner's track whose flow ends at the spawned task's first state, on its own track.
for pair in root:ingest root:ticker ingest:parser; do
	from=${pair%%:*} to=${pair#*:}
	flow=$(awk -F'\t' -v f="$from" -v t="$to" '$2 ~ "^task " f " #" && $3 ~ "^spawn " t " #" {
		sub(/.*flow_out=/, "", $7); print $7 }' "$d/slices.tsv")
	[ -n "$flow" ] || fail "coro: no spawn of $to on $from's track"
	awk -F'\t' -v t="$to" -v f="flow_in=$flow" '$2 ~ "^task " t " #" && $3 == "runnable" &&
		index($7, f)' "$d/slices.tsv" | grep -q . || fail "coro: the spawn flow does not reach $to"
done
runs=$(jq '[.tasks[] | select(.name == "parser") | .polls] | add' "$d/report.json")
polls=$(awk -F'\t' '$2 ~ /^thread / && $3 == "parser"' "$d/slices.tsv" | wc -l)
expect_between "coro: parser's poll slices, % of its runs in report.json ($runs)" \
	$((polls * 100 / runs)) 99 100
ok "coro: marked runs and spawns"
