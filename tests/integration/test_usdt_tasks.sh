# USDT markers (probes/asyncprof.h), run from the start in lifecycle mode with --runtime auto, on
# examples/c-usdt/coro: coroutines whose tree, logical frames, CPU split, waits and scheduling
# are known (see the top of coro.c). asyncprof must pick the usdt runtime by itself, put each
# sample of a task under its ancestry and logical frames, weigh the waits by reason, and list
# the tasks with their parents, spawn sites, polls and scheduling latencies.
source "$(dirname "$0")/lib.sh"
src="$(dirname "$0")/../../examples/c-usdt/coro.c"
line_of() { grep -n "SPAWN($1, " "$src" | cut -d: -f1; }

"$ASYNCPROF" run --mode lifecycle -F 499 -o "$WORK/out" -- "$EXAMPLES/coro" 4 \
	>"$WORK/stdout" 2>"$WORK/stderr" || { cat "$WORK/stderr"; fail "asyncprof run failed"; }
cat "$WORK/stdout" "$WORK/stderr"
check_outputs "$WORK/out"
for f in wait.pb.gz wait.folded wait.svg; do [ -s "$WORK/out/$f" ] || fail "$f missing"; done
grep -q 'asyncprof markers found in coro' "$WORK/stderr" || fail "auto did not find the markers"
r="$WORK/out/report.json"
jq -e '.runtime == "usdt" and .mode == "lifecycle"' "$r" >/dev/null ||
	fail "report.json: runtime $(jq .runtime "$r"), expected usdt"
ok "--runtime auto picks usdt"

# ---- CPU: ancestry and logical frames above the coroutine's own stack --------------------------
folded="$WORK/out/cpu.folded"
root="\\[spawn\\] main \\(coro.c:$(line_of root_main)\\);\\[task\\] root;"
ingest="\\[spawn\\] root_main \\(coro.c:$(line_of ingest_main)\\);\\[task\\] ingest;"
parser="\\[spawn\\] ingest_main \\(coro.c:$(line_of parser_main)\\);\\[task\\] parser;"
ticker="\\[spawn\\] root_main \\(coro.c:$(line_of ticker_main)\\);\\[task\\] ticker;"
for fn in parse_work checksum_work tick_work; do
	n=$(count_matching "$folded" ";$fn(;|$)")
	[ "$n" -ge 20 ] || fail "only $n samples in $fn"
done
parse=$(count_matching "$folded" ";parse_work(;|$)")
whole=$(count_matching "$folded" "^worker;$root$ingest$parser\\[frame\\] batch;\\[frame\\] parse;.*;parser_main;parse_work(;|$)")
expect_between "parse_work samples under root > ingest > parser > [frame] batch > [frame] parse %" \
	"$(pct "$whole" "$parse")" 90 100
tick=$(count_matching "$folded" ";tick_work(;|$)")
whole=$(count_matching "$folded" "^worker;$root$ticker\\[frame\\] tick;.*;ticker_main;tick_work(;|$)")
expect_between "tick_work samples under root > ticker > [frame] tick %" "$(pct "$whole" "$tick")" 90 100
# The parser spends 6 ms in "parse" for 2 ms in "checksum" per batch.
batch=$(count_matching "$folded" '\[frame\] batch;')
in_parse=$(count_matching "$folded" '\[frame\] batch;\[frame\] parse;')
in_checksum=$(count_matching "$folded" '\[frame\] batch;\[frame\] checksum;')
expect_between "[frame] parse share of [frame] batch %" "$(pct "$in_parse" "$batch")" 65 85
expect_between "[frame] checksum share of [frame] batch %" "$(pct "$in_checksum" "$batch")" 15 35
pprof -tags "$WORK/out/cpu.pb.gz" | grep -q 'task_id' || fail "no task_id label"
pprof -traces "$WORK/out/cpu.pb.gz" >"$WORK/traces.txt"
awk '/^-----/ { if (blk ~ /parse_work[^\n]*\n.*\[frame\] parse\n.*\[frame\] batch\n.*\[task\] parser\n.*\[task\] ingest\n.*\[task\] root/) ok = 1; blk = ""; next }
	{ blk = blk $0 "\n" } END { exit !ok }' "$WORK/traces.txt" ||
	{ head -60 "$WORK/traces.txt"; fail "pprof -traces shows no parse_work under its frames and tasks"; }
ok "CPU samples carry their task's ancestry and logical frames"

# ---- wait: per reason, suspensions and nanoseconds -------------------------------------------
pprof -raw "$WORK/out/wait.pb.gz" | awk '
	/^ +[0-9]+ +[0-9]+:/ { n = $1; ns = $2 + 0; next }
	/reason:\[/ { match($0, /reason:\[[^]]*\]/); r = substr($0, RSTART + 8, RLENGTH - 9)
		count[r] += n; total[r] += ns }
	END { for (r in count) printf "%s %d %.0f\n", r, count[r], total[r] }' >"$WORK/reasons.txt"
cat "$WORK/reasons.txt"
# Each reason's waits, their count and mean length: each lasts at least what it asks for (ticker
# 20 ms, ingest 50 ms, parser 2 ms), and at most what the program measured from its suspending
# to its running again (which adds the wait for the worker once woken, long on a busy machine).
for want in timer:20000 io:50000 disk:2000; do
	reason=${want%:*} asked_us=${want#*:}
	read -r n us < <(awk -v r="$reason" '$1 == "wait" && $2 == r { print $3, $5 }' "$WORK/stdout")
	[ "${n:-0}" -gt 0 ] || fail "coro printed no '$reason' waits"
	read -r pn pns < <(awk -v r="$reason" '$1 == r { print $2, $3 }' "$WORK/reasons.txt")
	expect_between "'$reason' waits, % of the $n the program counted" $((${pn:-0} * 100 / n)) 97 101
	expect_between "mean '$reason' wait us, asked $asked_us, the program's mean $((us / n))" \
		$((${pns:-0} / 1000 / ${pn:-1})) $((asked_us * 97 / 100)) $((us / n * 103 / 100))
done
# root waits for its children from its first run to the end, once.
join=$(awk '$1 == "join" { printf "%d %d", $2, $3 / 1e6 }' "$WORK/reasons.txt")
[ "${join%% *}" = 1 ] || fail "root's join: '$join', expected one suspension"
expect_between "root's join wait ms" "${join##* }" 3700 4300
wfolded="$WORK/out/wait.folded"
parser_wait=$(count_matching "$wfolded" ';parser_main;sleep_ms;\[wait\] disk$')
in_frames=$(count_matching "$wfolded" "^$root$ingest$parser\\[frame\\] batch;\\[frame\\] checksum;.*;parser_main;sleep_ms;\\[wait\\] disk$")
expect_between "parser's wait under its ancestry and [frame] batch > [frame] checksum %" \
	"$(pct "$in_frames" "$parser_wait")" 90 100
pprof -tags "$WORK/out/wait.pb.gz" | grep -q "object:" || fail "no object label"
ok "waits by reason match the program's"

# root was woken by the last of its children to exit.
waker=$(pprof -raw "$WORK/out/wait.pb.gz" | awk '/reason:\[join\]/ { j = 1 } j && /waker_id:\[/ {
	match($0, /waker_id:\[[0-9]+\]/); print substr($0, RSTART + 10, RLENGTH - 11); exit }')

# ---- report.json: the tasks ------------------------------------------------------------------
task() { jq -c --arg n "$1" '[.tasks[] | select(.name == $n)] | if length == 1 then .[0] else error("\(length) tasks named \($n)") end' "$r"; }
for n in root ingest parser ticker; do task "$n" >/dev/null || fail "report.json: task $n"; done
id() { task "$1" | jq .id; }
[ "$(task root | jq .parent)" = 0 ] || fail "root's parent is $(task root | jq .parent)"
[ "$(task ingest | jq .parent)" = "$(id root)" ] || fail "ingest's parent is not root"
[ "$(task ticker | jq .parent)" = "$(id root)" ] || fail "ticker's parent is not root"
[ "$(task parser | jq .parent)" = "$(id ingest)" ] || fail "parser's parent is not ingest"
for pair in root:main:root_main ingest:root_main:ingest_main ticker:root_main:ticker_main \
	parser:ingest_main:parser_main; do
	IFS=: read -r n caller fn <<<"$pair"
	want="$caller (coro.c:$(line_of "$fn"))"
	[ "$(task "$n" | jq -r .spawned_at)" = "$want" ] ||
		fail "$n spawned at $(task "$n" | jq -r .spawned_at), expected $want"
done
jq -e '[.tasks[] | .exited] | all' "$r" >/dev/null || fail "a task is not marked exited"
[ "$waker" = "$(id ingest)" ] || [ "$waker" = "$(id ticker)" ] ||
	fail "root's join ended by waker '$waker', expected ingest or ticker"
[ "$(task root | jq .polls)" = 2 ] || fail "root polls $(task root | jq .polls), expected 2"
# A poll per timer wait it ends, and the first.
ticks=$(awk '$1 == "wait" && $2 == "timer" { print $3 }' "$WORK/stdout")
expect_between "ticker polls (the program counted $ticks timer waits)" "$(task ticker | jq .polls)" \
	"$ticks" $((ticks + 2))
# A batch is 4 runs of the parser: 3 ms, 3 ms, 2 ms and a short one after its disk wait (of wall
# time: the work is timed by the clock); it is 8 of every 10 ms. The program counted its runs and
# measured their wall time itself, which is what a busy machine stretches. The runs make no
# blocking call: their wall time is their time on a CPU (busy_ns) and their time preempted.
read -r _ _ runs _ wall_us < <(grep '^parser runs ' "$WORK/stdout")
expect_between "parser polls (the program's runs)" "$(task parser | jq .polls)" "$runs" "$runs"
wall=$(task parser | jq .poll_wall_ns)
expect_between "parser runs' wall time, % of the program's own measure ($((wall_us / 1000)) ms)" \
	$((wall / 10 / wall_us)) 100 105
busy=$(task parser | jq .busy_ns) preempted=$(task parser | jq .poll_preempted_ns)
# A run is on a CPU or preempted, but for the odd wait for the run queue's lock (whose holder a
# busy machine preempts): the rest is a few per cent at most.
expect_between "parser runs' wall - CPU - preempted, per mille of the wall" \
	$(((wall - busy - preempted) * 1000 / wall)) -20 50
expect_between "parser longest poll, 0.1 ms" "$(($(task parser | jq .max_poll_ns) / 100000))" 29 10000
# A woken task waits for the parser's current step: at most 3 ms, mostly less.
for n in ticker ingest; do
	lat=$(task "$n" | jq .sched_latency_ns)
	[ "$(jq .count <<<"$lat")" = "$(task "$n" | jq .polls)" ] ||
		fail "$n: $(jq .count <<<"$lat") latencies for $(task "$n" | jq .polls) runs"
	expect_between "$n p50 scheduling latency, 0.1 ms" "$(($(jq .p50 <<<"$lat") / 100000))" 0 35
done
# Whether a tick ever lands during a parser step depends on the timers' phases (on a quiet
# machine they can stay in step, so every tick finds the worker idle): only the bound holds.
expect_between "ticker max scheduling latency, 0.1 ms" \
	"$(($(task ticker | jq .sched_latency_ns.max) / 100000))" 0 1000
jq -e --arg s "ingest_main (coro.c:$(line_of parser_main))" \
	'[.spawn_sites[] | select(.spawned_at == $s and .tasks == 1 and .polls > 1000)] | length == 1' \
	"$r" >/dev/null || fail "report.json: no spawn site for the parser"
ok "report.json lists the tasks"
