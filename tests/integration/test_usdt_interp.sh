# USDT frame markers without tasks: examples/c-usdt/interp runs a script whose functions it marks
# as logical frames. The CPU profile must read as the script's calls, at the root of the
# interpreter thread's stacks, with the split of CPU time the program measured (by design
# update 25%, draw 25% itself, shade 50% under draw, but a thread CPU clock that advances by
# ticks makes every unit last a tick), although the machine code doing the work is the same
# for all.
source "$(dirname "$0")/lib.sh"

# The script's units last a random 250 to 750 us, so its cycle is not periodic: with fixed units,
# a sampling period near a simple fraction of the cycle (whose length depends on what a clock read
# costs on the host) saw the same points of every cycle; 733 Hz then read shade at 35 % once.
"$ASYNCPROF" run -F 733 -o "$WORK/out" -- "$EXAMPLES/interp" 3 >"$WORK/stdout" 2>"$WORK/stderr" ||
	{ cat "$WORK/stderr"; fail "asyncprof run failed"; }
cat "$WORK/stdout" "$WORK/stderr"
check_outputs "$WORK/out"
jq -e '.runtime == "usdt"' "$WORK/out/report.json" >/dev/null || fail "runtime is not usdt"
folded="$WORK/out/cpu.folded"
work=$(count_matching "$folded" ';interpret;op_work(;|$)')
[ "$work" -gt 300 ] || fail "only $work samples in op_work"
framed=$(count_matching "$folded" '^interp;\[frame\] main;\[frame\] (update|draw)[;].*;interpret;op_work(;|$)')
expect_between "op_work samples under [frame] main and a script function %" \
	"$(pct "$framed" "$work")" 95 100
shade=$(count_matching "$folded" '^interp;\[frame\] main;\[frame\] draw;\[frame\] shade;.*op_work(;|$)')
draw=$(count_matching "$folded" '^interp;\[frame\] main;\[frame\] draw;[^[].*op_work(;|$)')
update=$(count_matching "$folded" '^interp;\[frame\] main;\[frame\] update;.*op_work(;|$)')
read -r _ _ t_update _ t_draw _ t_shade < <(grep '^cpu_us ' "$WORK/stdout")
t_all=$((t_update + t_draw + t_shade))
for f in shade draw update; do
	t=t_$f
	truth=$(pct "${!t}" "$t_all")
	expect_between "$f %, the program's own measure $truth %" "$(pct "${!f}" "$work")" \
		$((truth - 8)) $((truth + 8))
done
ok "logical frames of an interpreted script"
