# asyncprof agent end to end, with windows of 2 s (ASYNCPROF_AGENT_TEST_MIN_INTERVAL, for tests
# only), against the test receiver:
# - every request decodes against the official opentelemetry-proto and passes otlp_check; each
#   process's CPU sample total in each request equals the pprof file --output-dir wrote for the
#   same window; resource attributes and the agent's own;
# - --comm follows processes: one that exits is released (its last window sent), one started
#   later is picked up; a program of the test's own, not an example;
# - the receiver down for two windows then back: later windows arrive, and every window is
#   accounted for as sent or dropped; a receiver answering 500 or never answering: recording
#   goes on, the drops are said, SIGTERM still ends the agent in bounded time;
# - bad arguments.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/otlp_lib.sh"

export ASYNCPROF_AGENT_TEST_MIN_INTERVAL=1
GO_SERVICE="$EXAMPLES/go/service-go1.23"

# A program that is no example: burns CPU in agtest_burn for argv[1] seconds, then exits.
cat >"$WORK/agtest.c" <<'C'
#include <stdlib.h>
#include <time.h>
static volatile unsigned long sink;
__attribute__((noinline)) static void agtest_burn(void)
{
	for (int i = 0; i < 100000; i++)
		sink += i * sink + 1;
}
int main(int argc, char **argv)
{
	time_t end = time(NULL) + (argc > 1 ? atoi(argv[1]) : 1);
	while (time(NULL) < end)
		agtest_burn();
	return 0;
}
C
gcc -O1 -g -o "$WORK/agtest" "$WORK/agtest.c" || fail "cannot build the test program"

# agent_start NAME ARGS...: asyncprof agent in the background, its stderr in $WORK/NAME.err.
agent_start() {
	local name=$1
	shift
	"$ASYNCPROF" agent -v "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
	AGENT_PID=$!
	AGENT_NAME=$name
	PIDS+=("$AGENT_PID")
}

# agent_stop [MAX_SECONDS]: SIGTERM; the agent must send its last window and exit 0 in time.
agent_stop() {
	local rc=0
	kill -TERM "$AGENT_PID"
	for _ in $(seq $((${1:-15} * 10))); do kill -0 "$AGENT_PID" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$AGENT_PID" 2>/dev/null && fail "$AGENT_NAME: the agent did not exit after SIGTERM"
	wait "$AGENT_PID" || rc=$?
	[ "$rc" -eq 0 ] || { cat "$WORK/$AGENT_NAME.err"; fail "$AGENT_NAME: exit status $rc"; }
	grep -q 'sending the current window and exiting' "$WORK/$AGENT_NAME.err" ||
		fail "$AGENT_NAME: no word of SIGTERM"
}

# windows_with_samples NAME: the windows the agent cut that had samples (its -v lines).
windows_with_samples() {
	grep -E 'agent: window .*\(([1-9][0-9]*) with samples\)' "$WORK/$1.err" | wc -l
}

# final_counts NAME: "SENT DROPPED" from the agent's last line.
final_counts() {
	sed -nE 's/.*agent: ([0-9]+) windows sent \([0-9]+ bytes\), ([0-9]+) dropped.*/\1 \2/p' \
		"$WORK/$1.err" | tail -1
}

# ---- windows of two processes, then one that exits and one that starts --------------------------
receiver_start "$WORK/rcv"
start_bg "$GO_SERVICE" 60
go_pid=$BG_PID
OUT="$WORK/windows"
# A budget the agent keeps within: the rate stays as asked (the governor has its own test).
agent_start main --comm '^(service-go1\.23|agtest)$' --interval 2s -F 49 --cpu-budget 50 \
	--otlp-endpoint "$URL" --output-dir "$OUT" --retain 100
sleep 1
"$WORK/agtest" 4 &
first=$!
wait "$first"
sleep 1.5
"$WORK/agtest" 4 &
second=$!
wait "$second"
sleep 1.5
agent_stop
err="$WORK/main.err"
for pid in "$go_pid" "$first" "$second"; do
	grep -qE "agent: profiling pid $pid \((service-go1\.23|agtest)\)" "$err" ||
		{ cat "$err"; fail "pid $pid was not picked up"; }
done
grep -q "agent: profiling pid $go_pid (service-go1.23), runtime go" "$err" || fail "Go not found"
grep -q "agent: pid $first (agtest) exited" "$err" || { cat "$err"; fail "no word of the exit"; }
ok "--comm: the Go service, a program that exited and one started later were profiled"

nreq=$(ls "$WORK"/rcv/req-*.body | wc -l)
[ "$nreq" -ge 4 ] || fail "$nreq requests in about 9 s of 2 s windows"
read -r sent dropped < <(final_counts main)
[ "$sent" -eq "$nreq" ] && [ "$dropped" -eq 0 ] ||
	fail "the agent says $sent sent, $dropped dropped; the receiver has $nreq"
[ "$(windows_with_samples main)" -eq "$nreq" ] ||
	fail "$(windows_with_samples main) windows cut, $nreq received: a window was lost"
# stem_of TYPE: the file stem of an OTLP profile's first sample type.
stem_of() {
	case $1 in
	samples/count) echo cpu ;; suspensions/count) echo wait ;;
	alloc_objects/count) echo alloc ;; blocks/count) echo offcpu ;; *) echo "" ;;
	esac
}

# windows_of PID DIR: the windows of a process in an --output-dir (their distinct time stamps).
windows_of() {
	ls "$2/$1-"*/ | sed -E 's/.*-([0-9T.]+Z)\.pb\.gz$/\1/' | sort -u | wc -l
}

checked=0
declare -A seen_pids=()
for body in "$WORK"/rcv/req-*.body; do
	out="$WORK/check-$(basename "$body" .body)"
	check_body "$body" "$out"
	s="$out/summary"
	nres=$(sed -n 's/^resources //p' "$s")
	for r in $(seq 0 $((nres - 1))); do
		pid=$(sed -n "s/^resource $r attr process.pid=//p" "$s")
		seen_pids[$pid]=1
		# Each profile's total against the file of its window and stem.
		while read -r type total time_ns; do
			stem=$(stem_of "$type")
			[ -n "$stem" ] || continue
			stamp=$(date -u -d "@$((time_ns / 1000000000))" +%Y%m%dT%H%M%S)
			stamp+=$(printf '.%03dZ' $((time_ns / 1000000 % 1000)))
			file=$(ls "$OUT/$pid-"*/"$stem-$stamp.pb.gz" 2>/dev/null | head -1)
			[ -n "$file" ] || { ls -R "$OUT"; fail "$body: no $stem file of pid $pid at $stamp"; }
			[ "$(pprof_total "$file" 0)" -eq "$total" ] ||
				fail "$body: pid $pid: $type $total in OTLP, $(pprof_total "$file" 0) in $file"
			[ "$stem" = cpu ] && cpu_checked=1
			checked=$((checked + 1))
		done < <(awk -v r="$r" '$1 == "resource" && $2 == r && $3 == "profile" && $5 ~ /\// {
			t = $8; sub("total=", "", t); s = $9; sub("time=", "", s); print $5, t, s }' "$s")
		grep -q "^resource $r profile [0-9]* attr asyncprof.agent.sampling_rate_hz=49$" "$s" ||
			fail "$body: no asyncprof.agent.sampling_rate_hz on pid $pid's profiles"
		grep -qE "^resource $r attr host.name=.+" "$s" || fail "$body: no host.name"
		grep -qE "^resource $r attr service.name=(service-go1\.23|agtest)$" "$s" ||
			fail "$body: service.name"
		if [ "$pid" = "$go_pid" ]; then
			grep -qx "resource $r attr process.runtime.name=go" "$s" ||
				fail "$body: process.runtime.name=go"
		fi
	done
done
[ "${cpu_checked:-0}" = 1 ] || fail "no CPU profile was compared"
for pid in "$go_pid" "$first" "$second"; do
	[ -n "${seen_pids[$pid]:-}" ] || fail "no window of pid $pid reached the receiver"
	n_files=$(windows_of "$pid" "$OUT")
	n_req=$(grep -l "^resource [0-9]* attr process.pid=$pid$" "$WORK"/check-req-*/summary | wc -l)
	[ "$n_files" -eq "$n_req" ] || fail "pid $pid: $n_files windows in files, $n_req in OTLP"
done
grep -h 'agtest_burn' "$WORK"/check-req-*/folded/*samples.folded >/dev/null ||
	fail "the test program's function is not in its stacks"
ok "$nreq requests, $checked profiles: each total equals its window's file, attributes present"

# ---- the governor: over its budget, the agent lowers the rate and says so ------------------------
# (beside the receiver's outage below, as is a receiver that never answers: they mostly wait)
gov_part() {
	receiver_start "$WORK/rcv-gov"
	start_bg "$WORK/agtest" 30 # busy: even at 1 Hz its windows have samples
	agent_start gov --pid "$BG_PID" --interval 2s -F 99 --cpu-budget 0.001 --otlp-endpoint "$URL"
	sleep 7
	agent_stop
	kill "$BG_PID"
	grep -qE 'agent: the agent used [0-9.]+% of the host.s CPU, over its budget of 0.00%: sampling rate lowered from 99 to [0-9]+ Hz' \
		"$WORK/gov.err" || { cat "$WORK/gov.err"; fail "the governor did not lower the rate"; }
	# The last window with a CPU sample (at 1 Hz a window may have none).
	for last in $(ls "$WORK"/rcv-gov/req-*.body | sort -t- -k2 -n -r); do
		check_body "$last" "$WORK/gov-last"
		s="$WORK/gov-last/summary"
		grep -q '^resource 0 profile [0-9]* samples/count ' "$s" && break
	done
	hz=$(sed -n 's/^resource 0 profile 0 attr asyncprof.agent.sampling_rate_hz=//p' "$s")
	[ -n "$hz" ] && [ "$hz" -lt 99 ] || fail "the last window's rate: '$hz' Hz"
	grep -qE '^resource 0 profile 0 attr asyncprof.agent.governor=the agent used .* over its budget' "$s" ||
		fail "the last window does not say why its rate is lower"
	period=$(awk '$3 == "profile" && $5 == "samples/count" { sub(/.*:/, "", $6); print $6; exit }' "$s")
	[ "$period" -eq $((1000000000 / hz)) ] || fail "period $period ns at $hz Hz"
	ok "over budget: rate lowered to $hz Hz, said in the log and in the profiles (period $period ns)"
}
side gov gov_part

# A receiver that never answers: the agent's last window cannot be sent, yet SIGTERM ends it in
# bounded time (its own service: an agent records a process at a time).
hang_part() {
	start_bg "$GO_SERVICE" 60
	local hang_pid=$BG_PID
	receiver_start "$WORK/rcv-hang"
	echo hang >"$WORK/rcv-hang/mode"
	agent_start hang --pid "$hang_pid" --interval 2s --cpu-budget 50 --otlp-endpoint "$URL" --output-dir "$WORK/hang"
	sleep 5
	local start=$(date +%s)
	agent_stop 25
	read -r sent dropped < <(final_counts hang)
	[ "$sent" -eq 0 ] && [ "$dropped" -ge 2 ] || { cat "$WORK/hang.err"; fail "hang: $sent sent, $dropped dropped"; }
	ok "a receiver that never answers: $dropped windows dropped, exit $(( $(date +%s) - start )) s after SIGTERM"
}
side hang hang_part

# ---- the receiver down for two windows, then back ----------------------------------------------
receiver_start "$WORK/rcv-a"
port=$(cat "$WORK/rcv-a/port")
agent_start down --pid "$go_pid" --interval 2s -F 49 --cpu-budget 50 --otlp-endpoint "$URL" \
	--output-dir "$WORK/down"
sleep 3
kill "$RECEIVER_PID"
wait "$RECEIVER_PID" 2>/dev/null || true
before=$(find "$WORK/rcv-a" -name "req-*.body" | wc -l)
sleep 4.5
receiver_start "$WORK/rcv-b" "$port"
sleep 8
agent_stop
after=$(find "$WORK/rcv-b" -name "req-*.body" | wc -l)
[ "$after" -ge 2 ] || { cat "$WORK/down.err"; fail "$after windows arrived after the receiver came back"; }
read -r sent dropped < <(final_counts down)
cut=$(windows_with_samples down)
[ $((sent + dropped)) -eq "$cut" ] ||
	fail "$cut windows cut, $sent sent + $dropped dropped: one is unaccounted for"
[ "$sent" -eq $((before + after)) ] || fail "$sent sent, $((before + after)) received"
[ "$(windows_of "$go_pid" "$WORK/down")" -eq "$cut" ] || fail "recording stopped while down"
ok "receiver down then back: $before windows before, $after after, $sent sent, $dropped dropped of $cut"

side_wait

# ---- a receiver answering 500 --------------------------------------------------------------------
# (its own service, beside the dormant goroutines and the attach below)
e500_part() {
	start_bg "$GO_SERVICE" 30
	local e500_pid=$BG_PID sent dropped
	receiver_start "$WORK/rcv-500"
	echo 500 >"$WORK/rcv-500/mode"
	agent_start e500 --pid "$e500_pid" --interval 2s --cpu-budget 50 --otlp-endpoint "$URL" \
		--output-dir "$WORK/e500"
	sleep 5
	agent_stop
	read -r sent dropped < <(final_counts e500)
	[ "$sent" -eq 0 ] && [ "$dropped" -ge 2 ] && [ "$dropped" -eq "$(windows_with_samples e500)" ] ||
		{ cat "$WORK/e500.err"; fail "500: $sent sent, $dropped dropped"; }
	grep -qE 'dropped.*(500|rejected)' "$WORK/e500.err" || { cat "$WORK/e500.err"; fail "500: no drop log"; }
	[ "$(windows_of "$e500_pid" "$WORK/e500")" -eq "$dropped" ] || fail "500: files missing"
	ok "500: every window dropped and said so ($dropped), the files written all the same"
}
side e500 e500_part

# ---- goroutines parked for long doze: identity only, their waits merged with their ancestry -----
# (a minute in production; 1.5 s here). The service leaks a goroutine parked in chan send for one
# request in 16: the later windows' wait profiles hold them as one sample per stack, without a
# goroutine label, under their spawn chain (main.handleRequest's goroutines, exited since).
# (beside the attach below)
doze_part() {
	start_bg "$GO_SERVICE" 30
	local go_pid=$BG_PID
	ASYNCPROF_TEST_DOZE_MS=1500 agent_start doze --pid "$go_pid" --interval 2s --cpu-budget 50 \
		--output-dir "$WORK/doze"
	sleep 7
	agent_stop
	local last=$(ls "$WORK"/doze/*/wait-*.pb.gz | sort | tail -1)
	pprof -traces "$last" 2>/dev/null | awk '
		/^-----------/ { if (blk ~ /\[task\] main\.fetchResult/ && blk ~ /\[task\] main\.handleRequest/ &&
				    blk ~ /chan send/) { if (blk ~ /goid:/) labelled++; else merged++ }
				 blk = ""; next }
		{ blk = blk "\n" $0 }
		END { printf "%d %d\n", merged, labelled; exit !(merged >= 1) }' >"$WORK/doze.counts" ||
		{ pprof -traces "$last" | head -60; fail "no merged wait sample of the dormant leaked goroutines"; }
	ok "dormant goroutines: their waits are one sample per stack, ancestry kept (merged, labelled: $(cat "$WORK/doze.counts"))"
	kill "$go_pid" 2>/dev/null || true
}
side doze doze_part

# ---- a person's attach: the agent gives way, then profiles the process again ------------------
start_bg "$GO_SERVICE" 30
go_pid=$BG_PID
agent_start way --pid "$go_pid" --interval 2s --cpu-budget 50 --output-dir "$WORK/way"
sleep 2.5
"$ASYNCPROF" attach -p "$go_pid" -d 2 -o "$WORK/way-attach" >/dev/null 2>"$WORK/way-attach.err" ||
	{ cat "$WORK/way-attach.err" "$WORK/way.err"; fail "attach refused while the agent records"; }
grep -q "asyncprof (pid $AGENT_PID) was recording pid $go_pid and gave way" "$WORK/way-attach.err" ||
	{ cat "$WORK/way-attach.err"; fail "attach does not say the agent gave way"; }
check_outputs "$WORK/way-attach"
[ "$(jq .samples "$WORK/way-attach/report.json")" -gt 0 ] || fail "the attach recorded nothing"
sleep 4 # a scan of /proc (every second with 2 s windows) finds the process free again
agent_stop
grep -qE "agent: asyncprof \(pid [0-9]+\) asked for pid $go_pid \(service-go1.23\): gave way" \
	"$WORK/way.err" || { cat "$WORK/way.err"; fail "the agent does not say it gave way"; }
[ "$(grep -c "agent: profiling pid $go_pid " "$WORK/way.err")" -eq 2 ] ||
	{ cat "$WORK/way.err"; fail "the agent did not profile the process again after the attach"; }
ok "attach while the agent records: the agent gave way, and took the process back after"
side_wait

# ---- bad arguments ------------------------------------------------------------------------------
expect_exit() { # STATUS PATTERN ARGS...
	local want=$1 pattern=$2 rc=0
	shift 2
	"$ASYNCPROF" agent "$@" >/dev/null 2>"$WORK/bad.err" || rc=$?
	[ "$rc" -eq "$want" ] || { cat "$WORK/bad.err"; fail "agent $*: exit $rc, expected $want"; }
	grep -qE "$pattern" "$WORK/bad.err" || { cat "$WORK/bad.err"; fail "agent $*: message"; }
}
expect_exit 2 'no target' --output-dir "$WORK/bad"
expect_exit 2 'no destination' --all
expect_exit 2 "invalid --comm '\('" --comm '(' --output-dir "$WORK/bad"
expect_exit 1 'cannot profile pid 999999999: no such process' --pid 999999999 --output-dir "$WORK/bad"
expect_exit 2 "invalid --cpu-budget" --all --cpu-budget 0 --output-dir "$WORK/bad"
ASYNCPROF_AGENT_TEST_MIN_INTERVAL= expect_exit 2 "invalid interval '5s'.*10s at least" \
	--all --interval 5s --output-dir "$WORK/bad"
expect_exit 2 'cannot use --otlp-endpoint' --all --otlp-endpoint ftp://x
ok "bad arguments refused with a message"
