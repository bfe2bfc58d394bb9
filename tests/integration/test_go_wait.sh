# Go wait profile: a producer blocked on a full channel because its consumer is slow spends
# nearly the whole run parked in "chan send" at its send site (prodcons main.go:25), or, once a
# receive has made room, runnable until a CPU takes it: on a busy machine that can be a third of
# the run, so the two together are checked, the time runnable coming from report.json. Checked
# in lifecycle mode (exact, from gopark/ready/execute) and in sample mode (goroutines found
# parked or runnable by the allgs snapshots), on Go 1.19 and 1.23; lifecycle mode also names
# the channel in report.json, with as much blocking as the producer's.
source "$(dirname "$0")/lib.sh"

# The leaky program parks 7 goroutines in a receive, 3 in a send, 2 in a select and 1 on a
# mutex at start, and they stay parked: in lifecycle mode (probes, with DWARF or without) each
# group's wait is its count times the recording, under Go's reason for it.
# (Beside the producer and consumer: these goroutines only wait.)
leaky_part() {
	for bin in leaky-go1.19 leaky-go1.23 leaky-go1.19-nodwarf leaky-go1.23-nodwarf; do
		out="$WORK/$bin"
		# --budget 0: waits as long as the recording are never seen whole by duty-cycled probes.
		"$ASYNCPROF" run --mode lifecycle --budget 0 -d 3 -o "$out" -- "$EXAMPLES/go/$bin" \
			>"$out.stdout" 2>"$out.stderr" || { cat "$out.stderr"; fail "$bin: run failed"; }
		dur_ms=$(jq '.duration_s * 1000 | floor' "$out/report.json")
		for want in 'leakRecv chan.receive 7' 'leakSend chan.send 3' 'leakSelect select 2' \
			'leakLock (sync.Mutex.Lock|semacquire) 1'; do
			read -r fn reason n <<<"$want"
			ms=$(($(count_matching "$out/wait.folded" "main\\.$fn;") / 1000000))
			expect_between "$bin: main.$fn waits (x$n), % of the recording" $((ms * 100 / dur_ms)) \
				$((n * 90)) $((n * 101))
			pprof -top -tagfocus="reason=^${reason}\$" "$out/wait.pb.gz" 2>/dev/null | grep -q "main\.$fn" ||
				fail "$bin: main.$fn's wait is not labelled $reason"
		done
	done
}
side leaky leaky_part

secs=4
for v in 1.19 1.23; do
	for mode in lifecycle sample; do
		out="$WORK/$v-$mode"
		"$ASYNCPROF" run --mode "$mode" -o "$out" -- "$EXAMPLES/go/prodcons-go$v" $secs \
			>"$WORK/stdout" 2>"$WORK/stderr" || { cat "$WORK/stderr"; fail "go$v $mode: run failed"; }
		check_outputs "$out"
		[ -s "$out/wait.folded" ] || fail "go$v $mode: no wait profile"
		pprof -raw "$out/wait.pb.gz" >/dev/null 2>&1 || fail "go$v $mode: pprof rejects wait.pb.gz"
		dur_ms=$(jq '.duration_s * 1000 | floor' "$out/report.json")
		# The producer's goroutine, its send site, the runtime's send path, and what it
		# waits on as the leaf frame.
		site_ms=$(($(count_matching "$out/wait.folded" '\[task\] main\.produce;runtime\.goexit;.*main\.produce;runtime\.chansend1;runtime\.chansend;runtime\.gopark;\[wait\] chan send$') / 1000000))
		runnable_ms=$(jq '[.tasks[] | select(.name == "main.produce")][0].runnable_ns / 1e6 | floor' \
			"$out/report.json")
		# The producer lives while main sleeps its $secs s (a loaded machine makes the runtime's
		# start and exit, also in the recording, longer).
		expect_between "go$v $mode: producer parked at its send ($site_ms ms) or runnable ($runnable_ms ms), % of its $secs s" \
			$(((site_ms + runnable_ms) / 10 / secs)) 85 103
		pprof -tags -tagfocus=reason="chan send" "$out/wait.pb.gz" 2>/dev/null | grep -q 'chan send' ||
			fail "go$v $mode: no 'chan send' reason label"
		# The source line of the send is the location pprof shows for main.produce.
		pprof -traces "$out/wait.pb.gz" 2>/dev/null | grep -q 'main.produce' ||
			fail "go$v $mode: main.produce not in the wait profile"
		# The consumer is the slow side: it almost never waits.
		cons_ms=$(($(count_matching "$out/wait.folded" '\[task\] main\.consume;') / 1000000))
		expect_between "go$v $mode: consumer waiting, % of the run" $((cons_ms * 100 / dur_ms)) 0 10
		# It never parks, yet its goroutine is named main.consume (not Go 1.21's wrapper,
		# main.main.gowrap2) and holds the CPU samples of its work.
		jq -e '[.tasks[].name] | index("main.consume") != null and index("main.produce") != null' \
			"$out/report.json" >/dev/null || fail "go$v $mode: tasks $(jq -c '[.tasks[].name]' "$out/report.json")"
		work=$(count_matching "$out/cpu.folded" '\[task\] main\.consume;.*;main\.consume;main\.work(;|$)')
		expect_between "go$v $mode: CPU samples in main.work under the consumer's goroutine %" \
			"$(pct "$work" "$(total "$out/cpu.folded")")" 60 100
	done
	jq -e '([.tasks[] | select(.name == "main.produce")][0].wait_ns) as $w | .go.channels[0] |
		.send_wait_ns > 0.9 * $w and .send_wait_ns <= $w and
		(.send_sites[0].site | test("^main\\.produce \\(main\\.go:25\\)$")) and .send_waits > 100' \
		"$WORK/$v-lifecycle/report.json" >/dev/null ||
		{ jq '.go.channels[0]' "$WORK/$v-lifecycle/report.json"; fail "go$v: report.json lacks the blocked channel at main.go:25"; }
	ok "go$v: channel blocking attributed to main.produce (main.go:25)"
done
side_wait
