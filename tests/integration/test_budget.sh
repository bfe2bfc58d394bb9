# The event probes under a budget (--budget): a busy Tokio service (examples/tokio/realistic,
# CPU-bound, channels and 3 ms timers) recorded in lifecycle mode with the default budget has its
# hot probes duty cycled, and says so (report.json, the summary, the wait profile's pprof
# comment); its wait profile's shares by await point agree within 10 points with a recording
# whose probes are always on (--budget 0). The quiet examples' tests check that a target within
# the budget keeps its probes on (expect_exact).
source "$(dirname "$0")/lib.sh"
TOKIO="$EXAMPLES/tokio"

record() { # BUDGET DIR
	"$ASYNCPROF" run --runtime tokio --mode lifecycle --budget "$1" -o "$WORK/$2" -- \
		"$TOKIO/realistic" 6 "$WORK/rate-$2" >"$WORK/stdout-$2" 2>"$WORK/stderr-$2" ||
		{ cat "$WORK/stderr-$2"; fail "asyncprof run --budget $1 failed"; }
	check_outputs "$WORK/$2"
}
record 2 cycled
record 0 always

r="$WORK/cycled/report.json"
jq -c .duty "$r"
jq -e '.estimated == true and .duty.budget_pct == 2 and .duty.fraction > 0 and
	.duty.fraction < 1 and .duty.windows >= 2 and .duty.stopped == null and
	.duty.cost_when_on_pct > 2' "$r" >/dev/null ||
	fail "the busy service's event probes were not duty cycled"
ok "duty cycled: on $(jq '.duty.fraction * 1000 | floor / 10' "$r")% of the time in $(jq .duty.windows "$r") windows"
grep -q '^budget 2.0%: the event probes were on [0-9.]*% of the time' "$WORK/stdout-cycled" ||
	fail "the summary does not say how much was sampled"
pprof -comments "$WORK/cycled/wait.pb.gz" 2>/dev/null | grep -q 'the event probes were on' ||
	fail "wait.pb.gz has no comment saying it is an estimate"
jq -e '.estimated == false and .duty == null' "$WORK/always/report.json" >/dev/null ||
	fail "--budget 0: the probes must be always on, the figures not estimated"
ok "report.json, the summary and the pprof comment say it"

# Shares of the wait by await point: the stack from the task's own frames to the reason.
shares() { # FOLDED: "SHARE_PERMILLE AWAIT_POINT" lines
	awk '{ n = $NF; st = $0; sub(/ [0-9]+$/, "", st); k = split(st, f, ";");
		key = f[k - 2] ";" f[k - 1] ";" f[k]; w[key] += n; t += n }
		END { for (key in w) printf "%d %s\n", w[key] * 1000 / t, key }' "$1" | sort -rn
}
shares "$WORK/always/wait.folded" >"$WORK/always.shares"
shares "$WORK/cycled/wait.folded" >"$WORK/cycled.shares"
head -5 "$WORK/always.shares" "$WORK/cycled.shares"
checked=0
while read -r always key; do
	[ "$always" -ge 50 ] || continue
	cycled=$(awk -v k="$key" '{ s = $1; sub(/^[0-9]+ /, ""); if ($0 == k) print s }' \
		"$WORK/cycled.shares")
	expect_between "share of the wait at ...${key: -60}, per mille (always on: $always)" \
		"${cycled:-0}" $((always - 100)) $((always + 100))
	checked=$((checked + 1))
done <"$WORK/always.shares"
[ "$checked" -ge 1 ] || fail "no await point holds 5% of the wait"
ok "wait shares by await point within 10 points of the probes always on"
