# asyncprof top, driven in tmux as a user drives it: on the Tokio demo service and on the Go
# service it lists their task kinds within 2 s, with figures that agree with what the programs
# do by construction and with the report.json of the same recording (-o); a sort key, a detail
# (Enter), and both ways out (q, Ctrl-C) leave the target running without a probe in its code.
source "$(dirname "$0")/lib.sh"
SOCK=asyncprof-top-$$
TMUX_CMD=(tmux -L "$SOCK" -f /dev/null)
trap '"${TMUX_CMD[@]}" kill-server 2>/dev/null || true; cleanup' EXIT

screen() {
	"${TMUX_CMD[@]}" capture-pane -p -t "$SESSION"
}

keys() {
	"${TMUX_CMD[@]}" send-keys -t "$SESSION" "$@"
}

# wait_screen SECONDS ERE...: until the screen matches every ERE; false after SECONDS.
wait_screen() {
	local until=$(($(date +%s%N) + $1 * 1000000000)) re
	shift
	while [ "$(date +%s%N)" -lt "$until" ]; do
		screen >"$WORK/screen"
		for re in "$@"; do grep -Eq -- "$re" "$WORK/screen" || continue 2; done
		return 0
	done
	echo "the screen, without /$re/:" >&2
	cat "$WORK/screen" >&2
	return 1
}

# start_top NAME PID ARGS...: asyncprof top ($ASYNCPROF) in a 160x48 tmux session NAME, which
# screen and keys use from then on; its exit status goes to $WORK/NAME.rc, its messages to
# $WORK/NAME.err.
start_top() {
	local name=$1 pid=$2
	shift 2
	SESSION=$name
	"${TMUX_CMD[@]}" new-session -d -s "$SESSION" -x 160 -y 48 \
		"$ASYNCPROF top -p $pid $* 2>$WORK/$name.err; echo \$? >$WORK/$name.rc; sleep 600"
	TOP_START=$(date +%s%N)
}

# since_start_ms: milliseconds since start_top.
since_start_ms() {
	echo $((($(date +%s%N) - TOP_START) / 1000000))
}

# probes_in PID: the int3 bytes a uprobe put in the target's code (its executable's mappings,
# compared with the file): > 0 while probed, 0 once every probe is detached.
probes_in() {
	python3 - "$1" <<'EOF'
import os, sys
pid = sys.argv[1]
exe = os.readlink(f"/proc/{pid}/exe")
n = 0
with open(f"/proc/{pid}/mem", "rb") as mem, open(exe, "rb") as f:
    for line in open(f"/proc/{pid}/maps"):
        p = line.split()
        if len(p) < 6 or p[5] != exe or "x" not in p[1]:
            continue
        start, end = (int(x, 16) for x in p[0].split("-"))
        f.seek(int(p[2], 16))
        want = f.read(end - start)
        mem.seek(start)
        got = mem.read(len(want))
        n += sum(1 for a, b in zip(want, got) if a != b and b == 0xCC)
print(n)
EOF
}

# row FILE ERE: the first list row whose task and site match; nothing when none does (the
# check that reads it says so: under set -e a failed grep would end the test without a word).
row() {
	{ grep -E -- "$2" "$1" || true; } | head -1
}

# within10 NAME A B: A and B (numbers) differ by at most 10% of B.
within10() {
	awk -v a="$2" -v b="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(b > 0 && d <= 0.1 * b) }' ||
		fail "$1: $2 against $3: more than 10% apart"
}

# ended NAME: waits for top to end; its status must be 0 and it must say the probes are gone.
ended() {
	for _ in $(seq 50); do [ -s "$WORK/$1.rc" ] && break; sleep 0.2; done
	[ "$(cat "$WORK/$1.rc" 2>/dev/null)" = 0 ] || { cat "$WORK/$1.err"; fail "$1: top failed"; }
	grep -q 'probes detached, the process runs on' "$WORK/$1.err" || { cat "$WORK/$1.err"; fail "$1: no end message"; }
}

# startup_ms PID ARGS...: how long attach (the release build) takes here, now, to start
# recording PID: a loaded machine slows everyone's start-up, top's as much as attach's.
startup_ms() {
	local pid=$1 t0 err=$WORK/startup.err
	shift
	t0=$(date +%s%N)
	"$BUILD/asyncprof" attach -p "$pid" "$@" -d 0.05 -o "$WORK/startup" >/dev/null 2>"$err" &
	until grep -qs 'recording pid' "$err"; do
		kill -0 $! 2>/dev/null || { cat "$err"; fail "attach did not start"; }
		sleep 0.02
	done
	echo $((($(date +%s%N) - t0) / 1000000))
	wait $!
	rm -rf "$WORK/startup"
}

# ---- Tokio: the demo service --------------------------------------------------------------------
# Truth (examples/tokio/src/bin/service.rs): accept_loop ticks every 10 ms and spawns a
# handle_connection each time, which spawns 3 x 2 db_query tasks.
# Copies, with names of their own: a file no other recording probes (uprobes are per file: the
# check for probes left behind must see top's only) and a process no "agent --comm service"
# running meanwhile attaches to.
cp "$EXAMPLES/tokio/service" "$WORK/top-svc"
cp "$EXAMPLES/go/service-go1.23" "$WORK/top-gosvc"
start_bg "$WORK/top-svc" 120 # ended by the cleanup
svc=$BG_PID
sleep 0.3
attach_ms=$(startup_ms "$svc" --runtime tokio --mode lifecycle)
# The acceptance's 2 s are the release build's: the sanitizer build takes seconds to analyze the
# executable (the Go part below runs it).
ASYNCPROF="$BUILD/asyncprof" start_top tokio "$svc" --runtime tokio --mode lifecycle -o "$WORK/tokio"
wait_screen 10 'service::handle_connection @' 'service::db_query @' ||
	{ cat "$WORK/screen" "$WORK/tokio.err"; fail "tokio: the task kinds never showed"; }
ms=$(since_start_ms)
# Within 2 s; on a machine so loaded that attach itself takes more than 1 s to start, within
# 1 s of what it takes.
[ "$ms" -le 2000 ] || [ "$ms" -le $((attach_ms + 1000)) ] ||
	fail "tokio: the task kinds showed after $ms ms, not within 2 s (attach starts in $attach_ms ms)"
ok "tokio: handle_connection and db_query listed $ms ms after the start (attach starts in $attach_ms ms)"
grep -q '^asyncprof top - pid '"$svc"' (top-svc) - tokio' "$WORK/screen" || fail "tokio: header"
wait_screen 3 '^spawn sites,' || fail "tokio: 700 tasks a second should show as spawn sites"
[ "$(probes_in "$svc")" -gt 0 ] || fail "tokio: no probe found in the target's code while top runs"

# Sort by polls/s: the column reads in decreasing order.
keys p
wait_screen 3 'sort polls/s' || fail "tokio: the p key did not sort by polls/s"
sleep 1.2
screen | awk '/^ +CPU%/ { on = 1; next } on && NF > 8 { print $2 }' >"$WORK/polls"
sort -g -r -c "$WORK/polls" || { screen; fail "tokio: rows not sorted by polls/s"; }
ok "tokio: sorted by polls/s"

# Detail of the handle_connection site: ancestry, await point, hottest stacks.
keys n
wait_screen 3 'sort name' || fail "tokio: the n key"
line=$(awk '/^ +CPU%/ { on = 1; next } on { i++ } on && /service::handle_connection @/ { print i; exit }' "$WORK/screen")
[ -n "$line" ] || fail "tokio: handle_connection row gone"
keys g
for _ in $(seq 2 "$line"); do keys Down; done
keys Enter
wait_screen 3 '^Spawn site: service::accept_loop' '^Tasks: service::handle_connection' 'Hottest stacks' ||
	{ cat "$WORK/screen"; fail "tokio: the detail of handle_connection"; }
grep -Eq '^ +service::accept_loop #' "$WORK/screen" || fail "tokio: the detail's ancestry lacks accept_loop"
grep -Eq '^Await point: ' "$WORK/screen" || fail "tokio: the detail has no await point"
grep -Eq '^ +(tokio_demo::spin_for|service::parse_request|tokio_demo::mix|core::num)' "$WORK/screen" ||
	{ cat "$WORK/screen"; fail "tokio: the hottest stacks lack parse_request's spinning"; }
ok "tokio: detail with ancestry, await point and hottest stacks"
keys Escape

# Rates since the start, against the program's truths and then report.json.
keys t
sleep 6
keys v
wait_screen 3 '^tasks, rates since the start' 'service::accept_loop$' || fail "tokio: tasks view"
keys v
wait_screen 3 '^spawn sites, rates since the start' || fail "tokio: back to the sites"
# q right after a refresh: the screen's figures and report.json's then cover nearly one period.
before=$(screen | head -1)
for _ in $(seq 100); do
	screen >"$WORK/final"
	[ "$(head -1 "$WORK/final")" = "$before" ] || break
	sleep 0.02
done
keys q
ended tokio
conn=$(row "$WORK/final" 'service::handle_connection @' | awk '{ print $8 }')
db=$(row "$WORK/final" 'service::db_query @' | awk '{ print $8 }')
elapsed=$(head -1 "$WORK/final" | sed -E 's/.* - ([0-9.]+)s$/\1/')
# At most one per tick (fewer when a starved machine makes the ticks lag behind).
rate=$(awk -v c="$conn" -v e="$elapsed" 'BEGIN { printf "%.1f", c / e }')
awk -v r="$rate" 'BEGIN { exit !(r > 0 && r <= 110) }' ||
	fail "tokio: $rate handle_connection spawned per second, more than its 10 ms ticker spawns"
within10 "tokio: db_query tasks per handle_connection (3 x 2)" \
	"$(awk -v c="$conn" -v d="$db" 'BEGIN { print d / c }')" 6
ok "tokio: $conn connections in ${elapsed}s ($rate/s, at most 100), db_query tasks 6 per connection"
kill -0 "$svc" || fail "tokio: the service died"
[ "$(probes_in "$svc")" = 0 ] || fail "tokio: probes left in the target's code after q"
ok "tokio: q left the service running without probes"
report="$WORK/tokio/report.json"
agree=""
dur=$(jq .duration_s "$report")
for kind in 'service::accept_loop::\{\{closure\}\} \(service.rs:77\)' \
	'service::handle_connection::\{\{closure\}\} \(service.rs:58\)'; do
	r=$(row "$WORK/final" "@ $kind\$")
	site=$(jq -c --arg re "^$kind\$" '.spawn_sites[] | select(.spawned_at | test($re))' "$report")
	[ -n "$r" ] && [ -n "$site" ] || fail "tokio: $kind on the screen and in report.json"
	polls=$(echo "$site" | jq --argjson d "$dur" '.polls / $d * 10 | round / 10')
	cpu=$(echo "$site" | jq --argjson d "$dur" '.cpu_ns / $d / 1e6 | round / 10')
	within10 "tokio: $kind polls/s" "$(echo "$r" | awk '{ print $2 }')" "$polls"
	within10 "tokio: $kind CPU%" "$(echo "$r" | awk '{ print $1 }')" "$cpu"
	agree+=" $(echo "$r" | awk '{ print $2 "/" $1 }') against $polls/$cpu;"
done
ok "tokio: the screen agrees with report.json within 10% (polls/s/CPU%:$agree)"

# ---- Go: the Go service, Ctrl-C ---------------------------------------------------------------------
# Truth (examples/go/service/main.go): 6 main.backend workers; each main.handleRequest starts
# one main.fetchResult.
start_bg "$WORK/top-gosvc" 120
gosvc=$BG_PID
sleep 0.3
start_top go "$gosvc" --mode lifecycle
wait_screen 20 'main.backend @ main.main' 'main.handleRequest @ main.acceptLoop' ||
	{ cat "$WORK/go.err"; fail "go: the goroutine kinds never showed"; }
ok "go: backend and handleRequest listed $(since_start_ms) ms after the start"
keys Enter
wait_screen 3 '^(Task #[0-9]+|Spawn site): ' 'Hottest stacks' || fail "go: the detail"
keys BSpace
keys t
sleep 3
wait_screen 3 '^spawn sites, rates since the start' 'main.backend @ main.main' \
	'main.handleRequest @ main.acceptLoop' 'main.fetchResult @ main.handleRequest' ||
	fail "go: sites since the start"
backend=$(row "$WORK/screen" 'main.backend @ main.main' | awk '{ print $4 }')
[ "${backend#*/}" = 6 ] || fail "go: $backend backends live, not 6"
req=$(row "$WORK/screen" 'main.handleRequest @ main.acceptLoop' | awk '{ print $8 }')
fetch=$(row "$WORK/screen" 'main.fetchResult @ main.handleRequest' | awk '{ print $8 }')
within10 "go: fetchResult goroutines per handleRequest (one each)" \
	"$(awk -v r="$req" -v f="$fetch" 'BEGIN { print f / r }')" 1
ok "go: 6 backends live, $fetch fetchResult for $req handleRequest"
keys C-c
ended go
grep -q 'ended by Interrupt' "$WORK/go.err" || fail "go: Ctrl-C"
kill -0 "$gosvc" || fail "go: the service died"
[ "$(probes_in "$gosvc")" = 0 ] || fail "go: probes left in the target's code after Ctrl-C"
ok "go: Ctrl-C left the service running without probes"
