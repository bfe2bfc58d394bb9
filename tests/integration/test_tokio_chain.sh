# Tokio, sample mode: task A spawns B, B spawns C, C burns CPU in f. The CPU profile must carry
# the chain A -> B -> C -> f on at least 80% of f's samples, in the folded stacks and in
# go tool pprof -traces.
source "$(dirname "$0")/lib.sh"
TOKIO="$EXAMPLES/tokio"

"$ASYNCPROF" run --runtime tokio -d 5 -o "$WORK/out" -- "$TOKIO/chain" 8 >"$WORK/stdout" 2>"$WORK/stderr" ||
	{ cat "$WORK/stderr"; fail "asyncprof run failed"; }
cat "$WORK/stdout" "$WORK/stderr"
check_outputs "$WORK/out"
folded="$WORK/out/cpu.folded"
f=$(count_matching "$folded" ';chain::f(;|$)')
all=$(total "$folded")
expect_between "f share of CPU %" "$(pct "$f" "$all")" 60 100
chain='\[task\] chain::task_a[^;]*;\[spawn\] [^;]*;\[task\] chain::task_b[^;]*;\[spawn\] [^;]*;\[task\] chain::task_c[^;]*;.*chain::f(;|$)'
whole=$(count_matching "$folded" "$chain")
expect_between "f samples under [task] A -> B -> C %" "$(pct "$whole" "$f")" 80 100

# The same through go tool pprof -traces (leaf first): f, ..., [task] C, ..., [task] B, ..., [task] A.
pprof -traces "$WORK/out/cpu.pb.gz" >"$WORK/traces.txt"
awk '/^-----/ { if (blk ~ /chain::f\n.*\[task\] chain::task_c.*\n.*\[task\] chain::task_b.*\n.*\[task\] chain::task_a/) ok = 1; blk = ""; next }
	{ blk = blk $0 "\n" } END { exit !ok }' "$WORK/traces.txt" ||
	{ head -60 "$WORK/traces.txt"; fail "pprof -traces shows no f with the chain C <- B <- A"; }
pprof -tags "$WORK/out/cpu.pb.gz" | grep -q 'task_id' || fail "no task_id label"

# report.json lists the tasks with their parents.
r="$WORK/out/report.json"
jq -e '.runtime == "tokio"' "$r" >/dev/null || fail "report.json: runtime is not tokio"
a=$(jq '[.tasks[] | select(.name | test("task_a"))][0].id' "$r")
b=$(jq "[.tasks[] | select(.name | test(\"task_b\"))][0].parent" "$r")
[ "$a" != null ] && [ "$a" = "$b" ] || fail "report.json: task_b's parent ($b) is not task_a ($a)"
# The spawn site is the line of task_b's `tokio::spawn(task_c())`.
src="$(dirname "$0")/../../examples/tokio/src/bin/chain.rs"
line=$(grep -n 'tokio::spawn(task_c())' "$src" | cut -d: -f1)
site=$(jq -r '[.tasks[] | select(.name | test("task_c"))][0].spawned_at' "$r")
[[ $site == *"chain.rs:$line"* ]] || fail "report.json: task_c spawned at '$site', expected chain.rs:$line"
ok "tokio chain ancestry"

# Full mode: the sampler reads the task being polled from the poll hooks' per-thread stack.
"$ASYNCPROF" run --runtime tokio --mode full -d 3 -o "$WORK/full" -- "$TOKIO/chain" 5 >/dev/null 2>"$WORK/stderr" ||
	{ cat "$WORK/stderr"; fail "asyncprof run --mode full failed"; }
f=$(count_matching "$WORK/full/cpu.folded" ';chain::f(;|$)')
whole=$(count_matching "$WORK/full/cpu.folded" "$chain")
expect_between "full mode: f samples under [task] A -> B -> C %" "$(pct "$whole" "$f")" 80 100
ok "tokio chain ancestry in full mode"
