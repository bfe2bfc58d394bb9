# Off-CPU profile of a C program built with -O2 -fomit-frame-pointer: thread "sleeper" sleeps
# 30 ms at a time in nap() (libc's nanosleep), thread "reader" waits in read_byte() on a pipe
# written every 50 ms, thread "waiter" is stuck on a mutex in wait_forever() for the whole run.
# Each nap must weigh 30 to 35 ms at nap's call site, with whole stacks: the thread's user frames
# down to nap, libc, then the kernel's. With each way of hooking the kernel, under run and
# attach, and with a threshold above the naps. Under attach, the stuck thread weighs the whole
# recording, with its stack, though its block neither begins nor ends inside it.
source "$(dirname "$0")/lib.sh"
PROG="$EXAMPLES/offcpu_sleep"

# nap_stack FOLDED: off-CPU ns of the sleeper's naps with the whole stack.
nap_stack() {
	count_matching "$1" \
		'^sleeper;.*start_thread;sleeper;nap;[^;]*nanosleep[^;]*;.*entry_SYSCALL_64[^;]*;.*hrtimer_nanosleep$'
}

# blocks_at FUNCTION PPROF [PPROF_ARGS...]: profiled blocks with FUNCTION on the stack (cum).
blocks_at() {
	local f=$1 p=$2
	shift 2
	pprof -sample_index=blocks "$@" -top "$p" 2>/dev/null |
		awk -v f="$f" '$NF == f { print $4 + 0; found = 1 } END { if (!found) print 0 }'
}

# ms_at FUNCTION PPROF [PPROF_ARGS...]: off-CPU ms with FUNCTION on the stack (cum).
ms_at() {
	local f=$1 p=$2
	shift 2
	pprof -sample_index=off_cpu -unit=ms "$@" -top "$p" 2>/dev/null |
		awk -v f="$f" '$NF == f { print int($4 + 0); found = 1 } END { if (!found) print 0 }'
}

# The stuck thread's whole stack: its function, glibc's mutex wait, the kernel's futex wait.
WAITER_STACK='^waiter;.*start_thread;waiter;wait_forever;[^;]*mutex_lock[^;]*;.*lll_lock_wait;.*futex[^;]*$'

# check_run DIR COUNTS HOOKS: the outputs of a run of offcpu_sleep and their accuracy.
check_run() {
	local d=$1 counts=$2 hooks=$3 folded="$1/offcpu.folded" r="$1/report.json"
	# The program hardly runs: its CPU profile may be empty, but is there.
	check_outputs "$d" cpu-may-be-empty
	for f in offcpu.pb.gz offcpu.folded offcpu.svg; do
		[ -s "$d/$f" ] || fail "$d/$f missing or empty"
	done
	# Held stopped by run until attached: no block of its own began before the recording.
	jq -e --arg h "$hooks" '(.offcpu.hooks | test($h)) and .offcpu.drops == 0 and
		.offcpu.without_user_stack == 0 and .offcpu.began_before_start == 0 and
		.files.offcpu_pprof == "offcpu.pb.gz"' "$r" >/dev/null ||
		{ jq .offcpu "$r"; fail "report.json: wrong offcpu section"; }

	naps=$(awk '$1 == "naps" { print $2 }' "$counts")
	nap_us=$(awk '$1 == "nap_us" { print $2 }' "$counts")
	reads=$(awk '$1 == "reads" { print $2 }' "$counts")
	# Rarely the kernel runs a thread without the switch-in reaching the program: that block's
	# end is unknown, and it is counted (missed_ends), not profiled.
	missed=$(jq .offcpu.missed_ends "$r")
	expect_between "naps done" "$naps" 60 110
	expect_between "blocks whose end was missed" "$missed" 0 2
	sleeper=$(count_matching "$folded" '^sleeper;')
	at_nap=$(nap_stack "$folded")
	blocks=$(blocks_at nap "$d/offcpu.pb.gz")
	expect_between "sleeper's off-CPU time with the whole nap stack %" "$(pct "$at_nap" "$sleeper")" 98 100
	expect_between "profiled blocks at nap" "$blocks" $((naps - missed)) "$naps"
	# Each nap as long as the program measured it (30 ms, the timer's slack, and on a busy
	# machine the wait for a CPU after the wakeup), less the system call's own way in and out.
	expect_between "off-CPU per nap, % of the program's own measure ($((nap_us / naps)) us)" \
		"$((at_nap / blocks * naps / nap_us / 10))" 95 101

	reader=$(count_matching "$folded" '^reader;')
	at_read=$(count_matching "$folded" '^reader;.*start_thread;reader;read_byte;.*;(anon_)?pipe_read$')
	expect_between "reader's off-CPU time in read_byte on the pipe %" "$(pct "$at_read" "$reader")" 95 100
	expect_between "profiled blocks at read_byte" "$(blocks_at read_byte "$d/offcpu.pb.gz")" \
		$((reads - 1 - missed)) "$reads"
	pprof -tags "$d/offcpu.pb.gz" | grep -q 'sleeping' || fail "no state label 'sleeping'"
	# The waiter blocks from its start to the program's last moments: nearly the whole run.
	dur_ms=$(jq '.duration_s * 1000 | floor' "$r")
	expect_between "waiter's off-CPU time in wait_forever, % of the run" \
		$(($(count_matching "$folded" "$WAITER_STACK") / 10000 / dur_ms)) 90 101
	jq -e '.offcpu.events >= ('"$naps"' + '"$reads"') and
		.offcpu.blocks >= .offcpu.events and .offcpu.blocked_ns >= .offcpu.events_ns' "$r" >/dev/null ||
		{ jq .offcpu "$r"; fail "report.json: offcpu totals do not add up"; }
}

# The best hooks the kernel accepts, found without a word: Linux 6.18 refuses task work from
# the sched_switch program (not sleepable), and the verifier's log of that is no news.
"$ASYNCPROF" run --off-cpu -o "$WORK/run" -- "$PROG" 3 "$WORK/run.counts" \
	>"$WORK/stdout" 2>"$WORK/stderr" || { cat "$WORK/stderr"; fail "asyncprof run --off-cpu failed"; }
cat "$WORK/stdout" "$WORK/stderr"
grep -q '^off-CPU: ' "$WORK/stdout" || fail "no off-CPU summary line"
if grep -qE 'libbpf|verifier|note: off-CPU' "$WORK/stderr"; then fail "load attempts printed"; fi
check_run "$WORK/run" "$WORK/run.counts" '^tp_btf/sched_switch \+ (task work|raw_tp/sys_exit)$'
ok "run, $(jq -r .offcpu.hooks "$WORK/run/report.json"): naps and pipe reads at their call sites"

# The hooks older kernels get, forced: the same stacks and figures.
for hooks in tp_btf raw_tp; do
	ASYNCPROF_OFFCPU_HOOKS=$hooks "$ASYNCPROF" run --off-cpu -o "$WORK/$hooks" -- "$PROG" 3 \
		"$WORK/$hooks.counts" >/dev/null 2>"$WORK/stderr" ||
		{ cat "$WORK/stderr"; fail "run with $hooks hooks failed"; }
	check_run "$WORK/$hooks" "$WORK/$hooks.counts" "^$hooks/sched_switch \\+ raw_tp/sys_exit$"
	ok "run, $hooks/sched_switch and sys_exit: the same"
done

# A threshold above the naps: they are counted, not profiled (but for the odd nap whose wakeup
# a busy machine delayed past 40 ms, which the program saw too).
"$ASYNCPROF" run --off-cpu --off-cpu-min 40ms -o "$WORK/min" -- "$PROG" 2 "$WORK/min.counts" \
	>/dev/null 2>"$WORK/stderr" || { cat "$WORK/stderr"; fail "run --off-cpu-min failed"; }
naps=$(awk '$1 == "naps" { print $2 }' "$WORK/min.counts")
long=$(blocks_at nap "$WORK/min/offcpu.pb.gz")
expect_between "naps of 40 ms or more" "$long" 0 "$(awk '$1 == "naps_40ms" { print $2 }' "$WORK/min.counts")"
# (a block whose end the probes missed, which report.json counts in missed_ends, is not one)
jq -e '.offcpu.min_block_ns == 40000000 and
	.offcpu.below_threshold.blocks >= '"$((naps - long))"' - .offcpu.missed_ends and
	.offcpu.below_threshold.ns >= ('"$((naps - long))"' - .offcpu.missed_ends) * 30000000' \
	"$WORK/min/report.json" >/dev/null ||
	{ jq .offcpu "$WORK/min/report.json"; fail "naps not counted below the threshold"; }
ok "blocks under --off-cpu-min are counted only"

# attach: the naps under way at the attach and at the end weigh their part inside the recording
# (label cut_at); each whole one still weighs 30 ms.
start_bg "$PROG" 6 "$WORK/attach.counts"
prog=$BG_PID
sleep 0.5
"$ASYNCPROF" attach -p "$prog" --off-cpu -d 3 -o "$WORK/attach" >/dev/null 2>"$WORK/stderr" ||
	{ cat "$WORK/stderr"; fail "asyncprof attach --off-cpu failed"; }
wait "$prog"
folded="$WORK/attach/offcpu.folded"
r="$WORK/attach/report.json"
dur_ms=$(jq '.duration_s * 1000 | floor' "$r")
count_of() { awk -v k="$1" '$1 == k { print $2 }' "$WORK/attach.counts"; }
nap_min_us=$(count_of nap_min_us)
nap_max_us=$(count_of nap_max_us)
whole=(-tagignore 'cut_at=.')
blocks=$(blocks_at nap "$WORK/attach/offcpu.pb.gz" "${whole[@]}")
whole_ms=$(ms_at nap "$WORK/attach/offcpu.pb.gz" "${whole[@]}")
[ "$blocks" -gt 0 ] || fail "attach: no whole nap profiled"
# As many whole naps as fit in the recording at the lengths the program measured them (the
# shortest, 30 ms and what a busy machine adds, at most; the two cut at the ends aside).
expect_between "whole naps profiled in $dur_ms ms, % of those of $nap_min_us us that fit" \
	$((blocks * nap_min_us / dur_ms / 10)) 0 101
expect_between "whole naps' off-CPU time and two of the longest ($nap_max_us us), % of $dur_ms ms" \
	$(((whole_ms * 1000 + 2 * nap_max_us) / dur_ms / 10)) 97 1000
# Each whole nap within the shortest and the longest the program measured.
expect_between "off-CPU per whole nap (attach), us, between $nap_min_us and $nap_max_us us" \
	$((whole_ms * 1000 / blocks)) $((nap_min_us * 95 / 100)) $((nap_max_us * 101 / 100))
# All naps together, cut ones included, cover the recording (the sleeper hardly runs).
expect_between "sleeper's off-CPU time at nap, % of the recording" \
	$(($(nap_stack "$folded") / 10000 / dur_ms)) 95 101
ok "attach: naps at their call site"

# The waiter's one block spans the recording: in the profile with its whole stack, cut at both
# ends, weighing the recording.
expect_between "waiter's off-CPU time in wait_forever, % of the recording (attach)" \
	$(($(count_matching "$folded" "$WAITER_STACK") / 10000 / dur_ms)) 97 101
expect_between "waiter's blocks, cut at both ends" \
	"$(blocks_at wait_forever "$WORK/attach/offcpu.pb.gz" -tagfocus 'cut_at=both')" 1 1
# At either end each of the 4 threads is most likely blocked, the waiter always; a block under
# way for less than the threshold at the end is counted, not profiled.
jq -e '.offcpu.in_progress_profiled >= 1 and .offcpu.blocked_at_start >= 1 and
	.offcpu.in_progress_profiled <= .offcpu.in_progress_at_end.threads' "$r" >/dev/null ||
	{ jq .offcpu "$r"; fail "report.json: blocks under way at the ends not accounted"; }
ok "attach: a thread blocked throughout is profiled at its stack"
