# OTLP export (--otlp-endpoint) end to end, against the test receiver (tests/tools/otlp_receiver.py):
# - the request decodes without error, nor an unknown field, against Debian's official
#   opentelemetry-proto (1.10 or later), and passes asyncprof's own checks (otlp_check);
# - each of its profiles holds the same stacks and counts as the file asyncprof wrote for it
#   (cpu, wait, alloc, offcpu of a Go service; cpu of a Tokio program with task frames), and
#   its CPU sample total per process is cpu.pb.gz's;
# - resource and sample attributes, headers, path;
# - a receiver that answers 500, never answers, or is down: the recording still ends, its files
#   are written, and it says what was dropped and why (exit 1).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/otlp_lib.sh"
echo "official protos: opentelemetry-proto $(cat "$BUILD/otlp-proto/version")"

# check_request DIR OUT: the one request in DIR is valid; its summary in OUT/summary, its
# profiles folded in OUT/folded/.
check_request() {
	local n
	n=$(ls "$1"/req-*.body 2>/dev/null | wc -l)
	[ "$n" -eq 1 ] || fail "$n requests received in $1, expected 1"
	check_body "$1/req-1.body" "$2"
	jq -e '.path == "/v1development/profiles" and
		.headers["Content-Type"] == "application/x-protobuf" and
		.headers["Content-Encoding"] == "gzip"' "$1/req-1.json" >/dev/null ||
		{ cat "$1/req-1.json"; fail "path or headers"; }
}

# same_stacks OTLP_FOLDED FILE_FOLDED WHAT: the same lines, whatever their order.
same_stacks() {
	diff <(sort "$1") <(sort "$2") >"$WORK/diff" ||
		{ head -20 "$WORK/diff"; fail "$3: the OTLP profile's stacks differ from the file's"; }
	ok "$3: $(wc -l <"$2") stacks, $(total "$2") in all, as in the file"
}

# profile_index SUMMARY TYPE: the index of the profile of sample type TYPE (e.g. samples/count).
profile_index() {
	awk -v t="$2" '$3 == "profile" && $5 == t { print $4; exit }' "$1"
}

# ---- a Go service: cpu, wait, alloc and off-CPU profiles -----------------------------------------
receiver_start "$WORK/rcv-go"
OTEL_SERVICE_NAME=checkout "$ASYNCPROF" run -d 3 --mode lifecycle --off-cpu -o "$WORK/go" \
	--otlp-endpoint "$URL" --otlp-header X-Scope-OrgID=asyncprof-test \
	-- "$EXAMPLES/go/service-go1.23" 10 >"$WORK/stdout" 2>"$WORK/stderr" ||
	{ cat "$WORK/stderr"; fail "asyncprof run --otlp-endpoint failed"; }
grep -q "profiles sent to $URL/v1development/profiles" "$WORK/stderr" ||
	{ cat "$WORK/stderr"; fail "no word of the export"; }
check_request "$WORK/rcv-go" "$WORK/go-otlp"
summary="$WORK/go-otlp/summary"
jq -e '.headers["X-Scope-OrgID"] == "asyncprof-test"' "$WORK/rcv-go/req-1.json" >/dev/null ||
	fail "--otlp-header not sent"
pid=$(jq -r .target.pid "$WORK/go/report.json")
for attr in "process.pid=$pid" "service.name=checkout" "process.executable.name=service-go1.23" \
	"process.runtime.name=go" "process.executable.path=$EXAMPLES/go/service-go1.23"; do
	grep -qxF "resource 0 attr $attr" "$summary" || { cat "$summary"; fail "resource attribute $attr"; }
done
grep -qE '^resource 0 attr process.runtime.version=go1\.23' "$summary" || fail "runtime version"
grep -qE '^resource 0 attr host.name=.+' "$summary" || fail "host.name"
ok "resource attributes: pid, service.name from OTEL_SERVICE_NAME, executable, runtime, host"

# Each file's stacks come back from OTLP: cpu (samples), wait (ns), alloc (bytes), off_cpu (ns).
for spec in "samples/count cpu" "wait/nanoseconds wait" "alloc_space/bytes alloc" \
	"off_cpu/nanoseconds offcpu"; do
	set -- $spec
	i=$(profile_index "$summary" "$1")
	[ -n "$i" ] || { cat "$summary"; fail "no OTLP profile of type $1"; }
	same_stacks "$WORK/go-otlp/folded/0-$i-${1%/*}.folded" "$WORK/go/$2.folded" "go $1"
done
i=$(profile_index "$summary" samples/count)
otlp_cpu=$(awk -v i="$i" '$4 == i && $5 == "samples/count" { sub("total=", "", $8); print $8 }' "$summary")
file_cpu=$(pprof_total "$WORK/go/cpu.pb.gz" 0)
[ "$otlp_cpu" = "$file_cpu" ] && [ "$file_cpu" -gt 0 ] ||
	fail "CPU samples: $otlp_cpu in OTLP, $file_cpu in cpu.pb.gz"
ok "CPU samples in OTLP = cpu.pb.gz's: $file_cpu"
n=$(grep -cE '^resource 0 profile [0-9]+ [a-z_]+/' "$summary")
[ "$n" -eq 8 ] || fail "$n OTLP profiles, expected 8 (two sample types for each of 4 profiles)"
grep -qE "^resource 0 profile $i sample_keys .*thread\.id,.*thread\.name,.*asyncprof\.goid," \
	"$summary" || { grep sample_keys "$summary"; fail "CPU sample attributes"; }
i=$(profile_index "$summary" wait/nanoseconds)
grep -qE "^resource 0 profile $i sample_keys .*asyncprof\.wait_reason," "$summary" ||
	fail "wait samples lack asyncprof.wait_reason"
grep -qF '[task] main.' "$WORK/go-otlp/folded/0-0-samples.folded" || fail "no goroutine frames"
grep -qx '  string_table: "off_cpu"' "$WORK/go-otlp.decoded" || fail "sample type off_cpu"
ok "8 profiles with their attributes; goroutine ancestry frames kept"

# ---- Tokio: task frames and task ids ------------------------------------------------------------
receiver_start "$WORK/rcv-tokio"
"$ASYNCPROF" run -d 3 -o "$WORK/tokio" --otlp-endpoint "$URL" -- "$EXAMPLES/tokio/chain" \
	>"$WORK/stdout" 2>"$WORK/stderr" || { cat "$WORK/stderr"; fail "tokio run failed"; }
check_request "$WORK/rcv-tokio" "$WORK/tokio-otlp"
same_stacks "$WORK/tokio-otlp/folded/0-0-samples.folded" "$WORK/tokio/cpu.folded" "tokio cpu"
grep -qxF "resource 0 attr process.runtime.name=tokio" "$WORK/tokio-otlp/summary" ||
	fail "process.runtime.name=tokio"
grep -qE '^resource 0 profile 0 sample_keys .*asyncprof\.task_id,' "$WORK/tokio-otlp/summary" ||
	fail "no asyncprof.task_id"
grep -qF '[task] ' "$WORK/tokio-otlp/folded/0-0-samples.folded" || fail "no task frames"
ok "tokio: task frames and asyncprof.task_id"

# ---- a Collector that fails: the recording ends and says what it dropped ---------------------------
# expect_dropped NAME PATTERN ARGS...: asyncprof run ARGS ends (within a bound that only a hang
# passes), exits 1, writes its files, and its message matches PATTERN.
expect_dropped() {
	local name=$1 pattern=$2 rc=0
	shift 2
	timeout 120 "$ASYNCPROF" run -d 2 -o "$WORK/$name" "$@" -- "$EXAMPLES/cpu_split" 10 \
		>/dev/null 2>"$WORK/$name.stderr" || rc=$?
	[ "$rc" -ne 124 ] || fail "$name: asyncprof did not end"
	[ "$rc" -eq 1 ] || { cat "$WORK/$name.stderr"; fail "$name: exit status $rc, expected 1"; }
	check_outputs "$WORK/$name"
	grep -E "cannot export the profiles to .*$pattern.*\([0-9]+ bytes\); the files are written" \
		"$WORK/$name.stderr" || { cat "$WORK/$name.stderr"; fail "$name: what was dropped"; }
	ok "$name: the recording ended, its files are written, the drop is said"
}

receiver_start "$WORK/rcv-500"
echo 500 >"$WORK/rcv-500/mode"
expect_dropped "answer-500" "HTTP status 500: receiver told to fail; the window was dropped" \
	--otlp-endpoint "$URL"
[ "$(ls "$WORK"/rcv-500/req-*.body | wc -l)" -eq 1 ] || fail "a 500 was retried"

receiver_start "$WORK/rcv-hang"
echo hang >"$WORK/rcv-hang/mode"
# --otlp-timeout 2s: the end waits 3 s for it (the default, 10 s, would wait 15).
t0=$(date +%s)
expect_dropped "never-answers" "timed out after 2[0-9]{3} milli.*not delivered in time" \
	--otlp-endpoint "$URL" --otlp-timeout 2s
[ $(($(date +%s) - t0)) -lt 15 ] || fail "--otlp-timeout 2s: the end waited the default"

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
expect_dropped "down" "(Couldn't|Failed to) connect.*not delivered in time" \
	--otlp-endpoint "http://127.0.0.1:$port" --otlp-timeout 2s

# ---- bad arguments ----------------------------------------------------------------------------------
for args in "--otlp-endpoint ftp://x" "--otlp-endpoint localhost:4318" \
	"--otlp-endpoint http://h:1 --otlp-header NoValue" "--otlp-header A=b" \
	"--otlp-timeout 2s" "--otlp-endpoint http://h:1 --otlp-timeout 0" \
	"--otlp-endpoint http://h:1 --otlp-timeout 2h"; do
	rc=0
	"$ASYNCPROF" run -d 1 -o "$WORK/bad" $args -- true >/dev/null 2>"$WORK/bad.stderr" || rc=$?
	[ "$rc" -eq 2 ] || { cat "$WORK/bad.stderr"; fail "'$args': exit status $rc, expected 2"; }
	grep -qE 'asyncprof: (cannot use --otlp-endpoint|.*--otlp-(header|timeout) goes with|invalid --otlp-timeout)' \
		"$WORK/bad.stderr" ||
		{ cat "$WORK/bad.stderr"; fail "'$args': no clear message"; }
done
ok "bad endpoints and headers are refused with exit status 2"
