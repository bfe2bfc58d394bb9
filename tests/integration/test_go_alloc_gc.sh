# Go allocations and GC (lifecycle mode): alloc.pb.gz weighs sampled allocations by stack,
# and report.json counts GC cycles. The service allocates a 2 KiB payload per request in
# main.parseRequest, most of its heap traffic; GOGC=20 makes cycles frequent.
source "$(dirname "$0")/lib.sh"

for v in 1.19 1.23; do
	out="$WORK/$v"
	# --budget 0: the allocation samples of the whole run, not of the duty cycle's windows.
	GOGC=20 "$ASYNCPROF" run --mode lifecycle --budget 0 -o "$out" -- "$EXAMPLES/go/service-go$v" 5 \
		>"$WORK/stdout" 2>"$WORK/stderr" || { cat "$WORK/stderr"; fail "go$v: run failed"; }
	check_outputs "$out"
	for f in alloc.pb.gz alloc.folded alloc.svg; do [ -s "$out/$f" ] || fail "go$v: $f missing"; done
	pprof -raw "$out/alloc.pb.gz" >/dev/null 2>&1 || fail "go$v: pprof rejects alloc.pb.gz"
	all=$(total "$out/alloc.folded")
	parse=$(count_matching "$out/alloc.folded" 'main\.parseRequest;')
	[ "$all" -gt $((2 * 1024 * 1024)) ] || fail "go$v: only $all bytes of allocations sampled"
	expect_between "go$v: sampled bytes allocated under main.parseRequest %" "$(pct "$parse" "$all")" 50 100
	# ~500 requests/s x 2 KiB over 5 s: the sampled total is the same order.
	expect_between "go$v: sampled allocation MB" $((all / 1024 / 1024)) 2 40
	jq -e '.go.gc.cycles >= 2 and .go.gc.max_ms > 0 and (.go.gc.cycle_ms | length) == .go.gc.cycles' \
		"$out/report.json" >/dev/null || { jq '.go.gc' "$out/report.json"; fail "go$v: GC cycles missing"; }
	ok "go$v: $(jq '.go.gc.cycles' "$out/report.json") GC cycles reported"
done
