# Threads created after attach are sampled too, with their names.
source "$(dirname "$0")/lib.sh"

start_bg "$EXAMPLES/cpu_split" 30 1.5   # threads start 1.5 s after launch
sleep 0.2
"$ASYNCPROF" attach -p "$BG_PID" -d 4 -o "$WORK/out" >"$WORK/stdout" 2>"$WORK/stderr" ||
	{ cat "$WORK/stderr"; fail "attach failed"; }
check_outputs "$WORK/out"
hot=$(count_matching "$WORK/out/cpu.folded" '^hot;.*;leaf$')
[ "$hot" -gt 100 ] || fail "thread 'hot', created after attach, has $hot leaf samples"
jq -e '.threads >= 2' "$WORK/out/report.json" >/dev/null || fail "report.json: threads < 2"
ok "late threads sampled ($hot leaf samples)"
