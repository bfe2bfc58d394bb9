# Tokio task names and ancestry, with each toolchain (tokio_builds). handlers: a listener spawns
# three long-lived sessions, each spawning a short lookup per request; a compactor blocks its
# worker 60 ms in every poll.
#  - run in full mode: every task is named (tasks_unnamed 0: all their types are in the
#    binary), the worker loops are internal, and the 60 ms polls are listed as the compactor's;
#  - attach in sample mode to a running copy, whose sessions were spawned before the attach:
#    the lookups spawned since read [task] handlers::session ; [spawn] handlers.rs:LINE ;
#    [task] handlers::lookup on at least 80% of their samples.
source "$(dirname "$0")/lib.sh"
src="$(dirname "$0")/../../examples/tokio/src/bin/handlers.rs"
line=$(grep -n 'tokio::spawn(lookup(' "$src" | cut -d: -f1)

for dir in $(tokio_builds); do
	tc=$(cat "$dir/toolchain")
	out="$WORK/full-$(basename "$dir")"
	# --budget 0: a task polled only while duty-cycled probes are off is named by samples
	# only, if at all; every task is checked here.
	"$ASYNCPROF" run --runtime tokio --mode full --budget 0 -o "$out" -- "$dir/handlers" 3 \
		>"$WORK/stdout" 2>"$WORK/stderr" || { cat "$WORK/stderr"; fail "$tc: asyncprof run failed"; }
	r="$out/report.json"
	unnamed=$(jq '.tasks_unnamed' "$r")
	[ "$unnamed" = 0 ] || { jq -c '.tasks[] | select(.name == "[unknown]")' "$r" | head; fail "$tc: $unnamed tasks without a name"; }
	for t in listener session lookup compactor; do
		jq -e "[.tasks[] | select(.name == \"handlers::$t\" and .internal == false)] | length > 0" \
			"$r" >/dev/null || { jq -c '[.tasks[].name] | unique' "$r"; fail "$tc: no task named handlers::$t"; }
	done
	jq -e '[.tasks[] | select(.name | test("launch")) | .internal] | all' "$r" >/dev/null ||
		fail "$tc: a worker's launch task is not marked internal"
	# Its longest poll (by its own time: wall-clock time less the time its thread waited for
	# a CPU) holds a compaction, a 60 ms sleep, and little else: at least 60 ms, at most the
	# longest compaction the program measured (which includes such waits).
	own_us=$(jq '[.tasks[] | select(.name == "handlers::compactor") |
		(.max_poll_ns - .max_poll_preempted_ns) / 1000 | floor] | max' "$r")
	compact_us=$(awk '$1 == "compact_max_us" { print $2 }' "$WORK/stdout")
	[ "${compact_us:-0}" -ge 60000 ] || fail "$tc: handlers measured no 60 ms compaction"
	expect_between "$tc: compactor's longest poll, us of its own, the longest compaction $compact_us us" \
		"$own_us" 60000 $((compact_us * 105 / 100))
	# (other polls can last long too on a busy machine: a poll's time is wall-clock time)
	sed -n '/^long polls/,/^$/p' "$WORK/stdout" | grep -q 'handlers::compactor' ||
		{ cat "$WORK/stdout"; fail "$tc: the summary's long polls do not name handlers::compactor"; }
	ok "$tc: full mode names every task"

	start_bg "$dir/handlers" 0 # until killed: a slow attach must not outlive it
	sleep 1
	out="$WORK/attach-$(basename "$dir")"
	"$ASYNCPROF" attach --runtime tokio -p "$BG_PID" -d 3 -o "$out" >"$WORK/stdout" 2>"$WORK/stderr" ||
		{ cat "$WORK/stderr"; fail "$tc: attach failed"; }
	folded="$out/cpu.folded"
	all=$(count_matching "$folded" ';handlers::lookup_work(;|$)')
	chain=$(count_matching "$folded" "\\[task\\] handlers::session;\\[spawn\\] [^;]*handlers\\.rs:$line\\)?;\\[task\\] handlers::lookup;.*handlers::lookup_work(;|$)")
	[ "$all" -gt 30 ] || fail "$tc: only $all samples in lookup_work"
	expect_between "$tc: lookup_work samples under [task] session ; [spawn] handlers.rs:$line ; [task] lookup %" \
		"$(pct "$chain" "$all")" 80 100
	grep -q '\[spawn\] before attach;\[task\] handlers::session' "$folded" ||
		fail "$tc: the sessions are not shown as spawned before the attach"
	kill "$BG_PID"; wait "$BG_PID" 2>/dev/null || true
	ok "$tc: ancestry of tasks spawned by tasks older than the attach"
done
