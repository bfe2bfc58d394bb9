# A two-thread C program built with -O2 -fomit-frame-pointer; thread "hot" spends 75% of the
# process's CPU in leaf(), through caller_a() and caller_b(). The profile must show that split
# and whole stacks (DWARF unwinding), readable by go tool pprof.
source "$(dirname "$0")/lib.sh"

# The target's CPU time so far (user + system), in ms, from /proc.
cpu_ms() {
	awk -v hz="$(getconf CLK_TCK)" '{ printf "%d\n", ($14 + $15) * 1000 / hz }' "/proc/$1/stat"
}

start_bg "$EXAMPLES/cpu_split" 30
sleep 0.3
before=$(cpu_ms "$BG_PID")
"$ASYNCPROF" attach -p "$BG_PID" -d 6 -o "$WORK/out" >"$WORK/stdout" 2>"$WORK/stderr" ||
	{ cat "$WORK/stderr"; fail "asyncprof attach failed"; }
used_ms=$(($(cpu_ms "$BG_PID") - before))
cat "$WORK/stdout"
check_outputs "$WORK/out"
folded="$WORK/out/cpu.folded"

all=$(total "$folded")
leaf=$(count_matching "$folded" ';leaf$')
# Each sample stands for 1/99 s of CPU: together they are the CPU the target used, however busy
# the machine (the window around the attach, the profiler's start-up, is a little longer; and
# interrupts that land while it runs are sampled as its time but are not in its CPU clock: on
# a busy machine up to a sixth more).
[ "$all" -gt 100 ] || fail "only $all samples"
expect_between "sampled CPU, % of the CPU the target used ($used_ms ms)" \
	$((all * 1000000 / 99 / (used_ms * 10))) 80 120
expect_between "leaf share %" "$(pct "$leaf" "$all")" 65 85

# Whole chains: thread root, start_thread, hot_thread, a caller, leaf.
whole=$(count_matching "$folded" '^hot;.*start_thread;hot_thread;caller_[ab];leaf$')
expect_between "leaf samples with the whole chain %" "$(pct "$whole" "$leaf")" 90 100
via_a=$(count_matching "$folded" ';caller_a;leaf$')
via_b=$(count_matching "$folded" ';caller_b;leaf$')
expect_between "leaf via caller_a %" "$(pct "$via_a" "$leaf")" 30 70
expect_between "leaf via caller_b %" "$(pct "$via_b" "$leaf")" 30 70
other=$(count_matching "$folded" '^cold;.*cold_thread;other_work$')
expect_between "other_work share %" "$(pct "$other" "$all")" 15 35

# The same through go tool pprof: leaf has ~75% flat, its file and line are known.
pprof -top "$WORK/out/cpu.pb.gz" >"$WORK/top.txt"
grep -E '^ +[0-9.]+(ms|s) +[0-9.]+% .* leaf$' "$WORK/top.txt" || { cat "$WORK/top.txt"; fail "leaf not in pprof -top"; }
pprof -traces "$WORK/out/cpu.pb.gz" >"$WORK/traces.txt"
grep -A3 -E '^ +[0-9.]+(ms|s) +leaf$' "$WORK/traces.txt" | grep -qE '^ +caller_[ab]$' ||
	fail "pprof -traces does not show leaf's callers"
pprof -lines -top "$WORK/out/cpu.pb.gz" | grep -qE 'leaf .*cpu_split.c:[0-9]+' ||
	fail "pprof -lines has no file:line for leaf"
pprof -tags "$WORK/out/cpu.pb.gz" | grep -q 'thread_name' || fail "no thread_name label"
jq -e '.samples > 0 and .target.pid > 0 and (.top_functions[0].name == "leaf")' \
	"$WORK/out/report.json" >/dev/null || fail "report.json: wrong top function or counts"
ok "cpu split profile is right"
