# A PGO build inlines runtime.gopark into the channel operations (Go 1.23, profile from a
# ping-pong run): a probe on gopark would miss nearly every park. The adaptor must see the
# inlined copies in DWARF, say so, and sample the wait profile from goroutine snapshots instead,
# while the plain build keeps the exact probe.
source "$(dirname "$0")/lib.sh"

"$ASYNCPROF" run --mode lifecycle -o "$WORK/pgo" -- "$EXAMPLES/go/pingpong-go1.23-pgo" 5 \
	>"$WORK/stdout" 2>"$WORK/stderr" || { cat "$WORK/stderr"; fail "run failed"; }
check_outputs "$WORK/pgo"
grep -q 'runtime.gopark is inlined in [0-9]* places' "$WORK/stderr" ||
	{ cat "$WORK/stderr"; fail "no warning about the inlined gopark"; }
jq -e '[.warnings[] | select(test("gopark is inlined"))] | length == 1' "$WORK/pgo/report.json" >/dev/null ||
	fail "report.json lacks the inlined-gopark warning"
# The ping-pong's goroutines wait on nothing but each other's channels: the sampled wait
# profile is all channel waits. How much of its run a goroutine spends parked rather than
# runnable or running depends on how fast this host wakes a thread, and the snapshots
# (every 100 ms, two goroutines) see it as a binomial estimate: 26 to 63% of one goroutine's
# run were measured on this machine. The lower bound only says the snapshots were taken
# and counted; the upper one that no goroutine is counted as waiting longer than it lived.
dur_ms=$(jq '.duration_s * 1000 | floor' "$WORK/pgo/report.json")
chan_ms=$(($(count_matching "$WORK/pgo/wait.folded" '\[wait\] chan (send|receive)$') / 1000000))
all_ms=$(($(total "$WORK/pgo/wait.folded") / 1000000))
expect_between "PGO build: channel waits in the sampled wait profile, % of it" \
	$((chan_ms * 100 / (all_ms > 0 ? all_ms : 1))) 90 100
expect_between "PGO build: channel waits sampled from snapshots, % of one goroutine's run" \
	$((chan_ms * 100 / dur_ms)) 8 200
# A side woken while its stack was read leaves frames of another moment: the snapshot reads it
# again, or keeps its wait without a stack, never with a return address that is not code.
bad=$(count_matching "$WORK/pgo/wait.folded" '\(anonymous\)|\[unknown\] 0x')
[ "$bad" -eq 0 ] || { grep -E '\(anonymous\)|\[unknown\] 0x' "$WORK/pgo/wait.folded"; fail "garbage frames in sampled wait stacks"; }
expect_between "PGO build: sampled waits with the goroutine's ancestry, % of them" \
	$(pct "$(count_matching "$WORK/pgo/wait.folded" '\[task\] ')" "$(total "$WORK/pgo/wait.folded")") 100 100
pprof -tags "$WORK/pgo/wait.pb.gz" 2>/dev/null | grep -q 'chan receive' || fail "no 'chan receive' reason"

"$ASYNCPROF" run --mode lifecycle -d 1 -o "$WORK/plain" -- "$EXAMPLES/go/pingpong-go1.23" 2 \
	>/dev/null 2>"$WORK/stderr" || { cat "$WORK/stderr"; fail "run failed"; }
grep -q 'inlined' "$WORK/stderr" && fail "the plain build is reported as inlined"
ok "plain build: gopark probed exactly"
