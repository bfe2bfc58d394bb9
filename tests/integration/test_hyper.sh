# examples/hyper (hyper 0.14's hello server, a program nobody here tuned for the profiler) under
# wrk load, in each mode, checked as a user reads the results:
#  - go tool pprof -top names the connection tasks by their whole generic type
#    ([task] <...NewSvcTask<...>>), not "[task] ::poll";
#  - every location of the executable has the inline chain addr2line -i gives for its address;
#  - lifecycle and full runs report the task events they lost, per kind;
#  - samples taken in the probes get a [uprobe] frame, are counted, and unwind through it;
#  - each wait stack ends in its reason ([wait] I/O: the connections wait for their socket);
#  - busy_ns (time on a CPU inside polls) stays within the CPU the samples saw.
source "$(dirname "$0")/lib.sh"
EXE="$EXAMPLES/hyper/hyper_hello"

"$EXE" "$WORK/port" 150 >/dev/null 2>&1 &
server=$!
PIDS+=("$server")
for _ in $(seq 100); do [ -s "$WORK/port" ] && break; sleep 0.1; done
[ -s "$WORK/port" ] || fail "hyper_hello did not start"
# Load for as long as the test runs (its cleanup stops it): a busy machine slows each step.
wrk -t2 -c16 -d120s "http://127.0.0.1:$(cat "$WORK/port")/hello" >"$WORK/wrk" 2>&1 &
PIDS+=("$!")
sleep 1

record() { # MODE: attach for 3 s; the results go to $WORK/MODE
	# --budget 0: busy_ns is checked against the server's CPU, exact only with every probe on
	# (under a budget it is an estimate scaled by the duty fraction).
	"$ASYNCPROF" attach -p "$server" --mode "$1" --budget 0 -d 3 -o "$WORK/$1" >"$WORK/$1.stdout" \
		2>"$WORK/$1.stderr" || { cat "$WORK/$1.stderr"; fail "$1: asyncprof attach failed"; }
	check_outputs "$WORK/$1"
}

# ---- sample mode: task names in pprof, inline chains ----------------------------------------
record sample
# As a user runs it: pprof's own symbolization pass, which "demangles" names it takes for
# linkage names, cutting out every <...>.
PPROF_BINARY_PATH="$WORK/none" go tool pprof -top "$WORK/sample/cpu.pb.gz" >"$WORK/top.txt" 2>&1
grep -q '\[task\] hyper::server::server::new_svc::NewSvcTask<hyper::server::tcp::addr_stream::AddrStream, ' \
	"$WORK/top.txt" || { grep task "$WORK/top.txt"; fail "pprof -top does not show the NewSvcTask type whole"; }
grep -q '\[task\] ::poll' "$WORK/top.txt" && fail "pprof -top shows [task] ::poll"
ok "pprof -top names the connection tasks by their whole type"

# check_inline PROFILE: every location of the executable in PROFILE, as pprof reads it, against
# addr2line -i at its address (a function without line information, as the allocator shims
# rustc generates, is "??:0" to addr2line and ":0" to pprof).
readelf -lW "$EXE" | awk '$1 == "LOAD" && $7 ~ /E/ && $2 != $3 { bad = 1 } END { exit bad }' ||
	fail "the executable's text segment is not at its file offset: the check below assumes it"
check_inline() {
	local start off nlocs multi
	pprof -raw "$1" | awk -v exe="$EXE" '
		/^Mappings/ { maps = 1 } /^Locations/ { locs = 1; next }
		maps && $2 ~ /^0x/ && $3 == exe { split($2, r, "/"); start = r[1]; off = r[3]; m = $1 }
		locs && !maps && /^ +[0-9]+: 0x/ { cur = $2 " " $3; order[++n] = cur
			sub(/^ +[0-9]+: 0x[0-9a-f]+ M=[0-9]+ /, "") }
		locs && !maps { sub(/^ +/, ""); sub(/ s=[0-9]+(\(.*)?$/, ""); frames[cur] = frames[cur] "|" $0 }
		END { sub(/:$/, "", m)
			for (i = 1; i <= n; i++) { split(order[i], a, " ")
				if (a[2] == "M=" m) printf "%s %s\n", a[1], frames[order[i]] > "/dev/stderr" }
			printf "%s %s\n", start, off }' 2>"$WORK/ours.txt" >"$WORK/mapping.txt"
	read -r start off <"$WORK/mapping.txt"
	[ -n "$start" ] || fail "${1#$WORK/}: no mapping of $EXE"
	nlocs=$(wc -l <"$WORK/ours.txt")
	while read -r addr _; do printf '0x%x\n' $((addr - start + off)); done <"$WORK/ours.txt" \
		>"$WORK/vaddrs.txt"
	addr2line -i -f -C -a -e "$EXE" <"$WORK/vaddrs.txt" | sed 's/ (discriminator [0-9]*)//' |
		awk '/^0x/ { if (n) print blk; blk = ""; n++; next }
			{ if (fn == "") { fn = $0; next } line = $0; sub(/:\?$/, ":0", line); sub(/^\?\?:/, ":", line)
			  blk = blk "|" fn " " line; fn = "" } END { print blk }' >"$WORK/theirs.txt"
	paste -d'\n' <(cut -d' ' -f2- "$WORK/ours.txt") "$WORK/theirs.txt" |
		awk 'NR % 2 { ours = $0; next } { if (ours != $0 && ++bad <= 3) print "ours:      " ours "\naddr2line: " $0 }
			END { exit bad > 0 }' >"$WORK/diff.txt" ||
		{ cat "$WORK/diff.txt"; fail "${1#$WORK/}: inline chains differ from addr2line -i"; }
	multi=$(grep -c '|.*|' "$WORK/ours.txt")
	expect_between "${1#$WORK/}: locations of the executable with inlined frames %" "$(pct "$multi" "$nlocs")" 30 100
	ok "${1#$WORK/}: all $nlocs locations of the executable have addr2line -i's inline chain"
}
check_inline "$WORK/sample/cpu.pb.gz"

# ---- lifecycle and full: lost events, the probes' own samples, wait reasons, busy time --------
# The server's CPU time (ns) as the kernel accounts it.
server_cpu_ns() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.0f\n", ($14 + $15) * 1e9 / hz }' "/proc/$server/stat"; }
for mode in lifecycle full; do
	cpu0=$(server_cpu_ns)
	record "$mode"
	server_cpu=$(($(server_cpu_ns) - cpu0))
	r="$WORK/$mode/report.json"
	jq -e '.task_events | .received > 0 and (.kinds.run.received > 0) and (.kinds.await.received > 0)' \
		"$r" >/dev/null || { jq .task_events "$r"; fail "$mode: no task_events in report.json"; }
	dropped=$(jq '.task_events.dropped' "$r")
	if [ "$dropped" -gt 0 ]; then
		grep -q "task events lost (the ring buffer was full): $dropped of " "$WORK/$mode.stdout" ||
			fail "$mode: $dropped events lost, and the summary does not say so"
	fi
	ok "$mode: task events received and lost reported ($dropped lost)"

	samples=$(jq .samples "$r") probes=$(jq .probe_samples "$r")
	head -3 "$WORK/$mode.stdout"
	in_folded=$(count_matching "$WORK/$mode/cpu.folded" ';\[uprobe\](;|$)')
	[ "$probes" -gt 0 ] || fail "$mode: no sample in the probes"
	[ "$probes" = "$in_folded" ] || fail "$mode: probe_samples $probes, [uprobe] frames $in_folded"
	grep -q "^probes: [0-9.]*% of these samples ($probes)" "$WORK/$mode.stdout" ||
		fail "$mode: the summary does not say the probes' share"
	# Below the frame, the probed function: a hook of the Tokio adaptor.
	hooks='raw::poll|Harness<T,S>::(poll|complete)|waker::(wake_by_val|wake_by_ref|clone_waker)'
	hooked=$(count_matching "$WORK/$mode/cpu.folded" "($hooks)[^;]*;\\[uprobe\\](;|$)")
	expect_between "$mode: [uprobe] frames right above a hooked function %" "$(pct "$hooked" "$probes")" 95 100
	expect_between "$mode: unwind errors, per mille of the samples" \
		$(($(jq .unwind_errors "$r") * 1000 / samples)) 0 20

	io=$(count_matching "$WORK/$mode/wait.folded" ';\[wait\] I/O$')
	expect_between "$mode: wait ending in [wait] I/O %" "$(pct "$io" "$(total "$WORK/$mode/wait.folded")")" 50 100
	grep -q '\[wait\] I/O' "$WORK/$mode/wait.svg" || fail "$mode: wait.svg has no [wait] I/O frame"
done
check_inline "$WORK/full/cpu.pb.gz"
check_inline "$WORK/lifecycle/wait.pb.gz"
# busy_ns (time on a CPU inside polls, over the recording) within the server's CPU time over
# the attach, which the kernel accounted (the recording is part of it).
busy=$(jq '[.spawn_sites[].busy_ns] | add' "$WORK/full/report.json")
expect_between "full: busy_ns, % of the server's CPU time over the attach ($((server_cpu / 1000000)) ms)" \
	"$(pct "$busy" "$server_cpu")" 1 100
