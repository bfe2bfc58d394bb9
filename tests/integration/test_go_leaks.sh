# asyncprof leaks on a live Go program that, at start, leaves 7 goroutines blocked on a channel
# receive, 3 on a send, 2 in a select and 1 on a sync.Mutex, while worker pools stay busy and
# short-lived goroutines come and go: exactly those four groups, with exactly those counts, on
# Go 1.19 and Go 1.23, with and without DWARF, and stripped (-s -w: allgs found in the code,
# frames named from the pclntab).
source "$(dirname "$0")/lib.sh"
GO="$EXAMPLES/go"

for bin in leaky-go1.19 leaky-go1.23 leaky-go1.19-nodwarf leaky-go1.23-nodwarf \
	leaky-go1.19-stripped leaky-go1.23-stripped; do
	start_bg "$GO/$bin" 30
	sleep 0.5
	set +e
	"$ASYNCPROF" leaks -p "$BG_PID" --min-age 2s --json >"$WORK/$bin.json" 2>"$WORK/err"
	rc=$?
	set -e
	[ "$rc" -eq 3 ] || { cat "$WORK/err" "$WORK/$bin.json"; fail "$bin: exit status $rc, expected 3 (leaks found)"; }
	groups=$(jq -c '[.groups[] | {count, reason, at: (.blocked_at | sub(" \\(.*"; ""))}] | sort_by(.at)' "$WORK/$bin.json")
	echo "$bin: $groups"
	case $bin in
	*1.19*) mutex=semacquire ;;
	*) mutex=sync.Mutex.Lock ;;
	esac
	want="[{\"count\":1,\"reason\":\"$mutex\",\"at\":\"main.leakLock\"},{\"count\":7,\"reason\":\"chan receive\",\"at\":\"main.leakRecv\"},{\"count\":2,\"reason\":\"select\",\"at\":\"main.leakSelect\"},{\"count\":3,\"reason\":\"chan send\",\"at\":\"main.leakSend\"}]"
	[ "$groups" = "$want" ] || fail "$bin: groups $groups, expected $want"
	jq -e '[.groups[] | .age_s.min >= 2 and (.created_by | test("main\\.main"))] | all' "$WORK/$bin.json" >/dev/null ||
		fail "$bin: ages under 2 s or creation site not main.main"
	# Each blocking site is the leaking line of main.go, also where sync.(*Mutex).Lock is
	# inlined into main.leakLock (not a line of mutex.go under leakLock's name).
	jq -e '[.groups[] | .blocked_at | test(" \\(main\\.go:[0-9]+\\)$")] | all' "$WORK/$bin.json" \
		>/dev/null || fail "$bin: a blocking site outside main.go: $(jq -c '[.groups[].blocked_at]' "$WORK/$bin.json")"
	kill "$BG_PID"; wait "$BG_PID" 2>/dev/null || true
	ok "$bin: exactly the four leak groups"
done

# The text report.
start_bg "$GO/leaky-go1.23" 30
sleep 0.3
set +e
"$ASYNCPROF" leaks -p "$BG_PID" --min-age 1s >"$WORK/text" 2>&1
rc=$?
set -e
cat "$WORK/text"
[ "$rc" -eq 3 ] || fail "text mode: exit $rc"
grep -q '7 goroutines \[chan receive\]' "$WORK/text" || fail "text report lacks the receive group"
grep -q 'created by main.main' "$WORK/text" || fail "text report lacks the creation site"
# This shell is not a Go program: a clear message, exit 1.
set +e
"$ASYNCPROF" leaks -p $$ --min-age 1s >"$WORK/e" 2>&1
rc=$?
set -e
[ "$rc" -eq 1 ] && grep -q 'is not a Go program' "$WORK/e" || { cat "$WORK/e"; fail "a non-Go pid: exit $rc"; }
ok "text report and errors"

# Without ptrace access to the process: the missing capability is named, exit 1.
set +e
setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
	"$ASYNCPROF" leaks -p "$BG_PID" --min-age 1s >"$WORK/e" 2>&1
rc=$?
set -e
[ "$rc" -eq 1 ] && grep -q 'CAP_SYS_PTRACE' "$WORK/e" || { cat "$WORK/e"; fail "unprivileged leaks: exit $rc"; }
ok "unprivileged leaks names CAP_SYS_PTRACE"
