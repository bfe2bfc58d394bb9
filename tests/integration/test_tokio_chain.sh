# Tokio, sample mode: task A spawns B, B spawns C, C burns CPU in f. The CPU profile must carry
# the chain A -> B -> C -> f on at least 90% of f's samples, in the folded stacks and in
# go tool pprof -traces; report.json names each task's parent and spawn site. With each
# toolchain (tokio_builds), and with each spawn hook: the default (uprobes on the updates of
# NEXT_ID), and each other forced with ASYNCPROF_TOKIO_SPAWN: none (no parent, and a warning
# that says why), the hardware watchpoint where it fires (asyncprof's self-test says so in
# report.json), else the test says it skips it.
source "$(dirname "$0")/lib.sh"
src="$(dirname "$0")/../../examples/tokio/src/bin/chain.rs"
line=$(grep -n 'tokio::spawn(task_c())' "$src" | cut -d: -f1)
chain='\[task\] chain::task_a;\[spawn\] [^;]*;\[task\] chain::task_b;\[spawn\] [^;]*;\[task\] chain::task_c;.*chain::f(;|$)'

# check_build DIR: every check on one toolchain's build (the two builds run side by side: each
# run's target burns one CPU, and the checks are shares of the target's own samples).
check_build() {
	local dir=$1 tc hook out force r want folded f a b site whole
	local work="$WORK/$(basename "$dir")"
	mkdir -p "$work"
	tc=$(cat "$dir/toolchain")
	for hook in default none watchpoint; do
		out="$work/$hook"
		force=()
		[ "$hook" = default ] || force=("ASYNCPROF_TOKIO_SPAWN=$hook")
		env "${force[@]}" "$ASYNCPROF" run --runtime tokio -d 3 -o "$out" -- "$dir/chain" 5 \
			>"$work/stdout" 2>"$work/stderr" || { cat "$work/stderr"; fail "$tc, $hook: asyncprof run failed"; }
		r="$out/report.json"
		if [ "$hook" = watchpoint ] && [ "$(jq -r .tokio.watchpoint "$r")" != fires ]; then
			jq -e '.tokio.spawn_hook == "none"' "$r" >/dev/null ||
				fail "$tc: forced watchpoint that does not fire, yet hook $(jq .tokio.spawn_hook "$r")"
			grep -q 'spawns are not traced (hardware watchpoints do not fire here)' "$work/stderr" ||
				{ cat "$work/stderr"; fail "$tc: no warning that spawns are not traced"; }
			echo "SKIP: $tc: the forced hardware watchpoint: $(jq -r .tokio.watchpoint "$r") on this host (self-test: writes not counted)"
			continue
		fi
		if [ "$hook" = none ]; then
			jq -e '.tokio.spawn_hook == "none" and ([.tasks[] | select(.parent != null)] | length) == 0 and
				any(.warnings[]; test("spawns are not traced \\(ASYNCPROF_TOKIO_SPAWN=none\\): task parents and spawn sites are unknown"))' \
				"$r" >/dev/null || { jq '.tokio, .warnings' "$r"; fail "$tc: ASYNCPROF_TOKIO_SPAWN=none: spawns traced or no warning"; }
			continue
		fi
		want=${hook/default/uprobes}
		jq -e ".tokio.spawn_hook == \"$want\" and .tokio.spawns_missed == 0" "$r" >/dev/null ||
			{ jq .tokio "$r"; fail "$tc, $hook: spawn hook is not $want or missed spawns"; }
		check_outputs "$out"
		folded="$out/cpu.folded"
		f=$(count_matching "$folded" ';chain::f(;|$)')
		expect_between "$tc, $hook: f share of CPU %" "$(pct "$f" "$(total "$folded")")" 60 100
		expect_between "$tc, $hook: f samples under [task] A -> B -> C %" \
			"$(pct "$(count_matching "$folded" "$chain")" "$f")" 90 100
		a=$(jq '[.tasks[] | select(.name == "chain::task_a")][0].id' "$r")
		b=$(jq '[.tasks[] | select(.name == "chain::task_b")][0].parent' "$r")
		[ "$a" != null ] && [ "$a" = "$b" ] || fail "$tc, $hook: task_b's parent ($b) is not task_a ($a)"
		# The spawn site is the line of task_b's `tokio::spawn(task_c())`.
		site=$(jq -r '[.tasks[] | select(.name == "chain::task_c")][0].spawned_at' "$r")
		[[ $site == *"chain.rs:$line"* ]] || fail "$tc, $hook: task_c spawned at '$site', expected chain.rs:$line"
	done

	# The same through go tool pprof -traces (leaf first): f, ..., [task] C, [spawn], [task] B, ...
	pprof -traces "$work/default/cpu.pb.gz" >"$work/traces.txt"
	awk '/^-----/ { if (blk ~ /chain::f\n.*\[task\] chain::task_c\n.*\n *\[task\] chain::task_b\n.*\n *\[task\] chain::task_a/) ok = 1; blk = ""; next }
		{ blk = blk $0 "\n" } END { exit !ok }' "$work/traces.txt" ||
		{ head -60 "$work/traces.txt"; fail "$tc: pprof -traces shows no f with the chain C <- B <- A"; }
	pprof -tags "$work/default/cpu.pb.gz" | grep -q 'task_id' || fail "$tc: no task_id label"
	ok "$tc: tokio chain ancestry"

	# Full mode: the sampler reads the task being polled from the poll hooks' per-thread stack.
	"$ASYNCPROF" run --runtime tokio --mode full -d 3 -o "$work/full" -- "$dir/chain" 5 >/dev/null 2>"$work/stderr" ||
		{ cat "$work/stderr"; fail "$tc: asyncprof run --mode full failed"; }
	f=$(count_matching "$work/full/cpu.folded" ';chain::f(;|$)')
	whole=$(count_matching "$work/full/cpu.folded" "$chain")
	expect_between "$tc: full mode: f samples under [task] A -> B -> C %" "$(pct "$whole" "$f")" 90 100
	ok "$tc: tokio chain ancestry in full mode"
}

builds=($(tokio_builds))
for dir in "${builds[@]:1}"; do
	side "$(basename "$dir")" check_build "$dir"
done
check_build "${builds[0]}"
side_wait
