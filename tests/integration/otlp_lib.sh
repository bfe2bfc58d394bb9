# Helpers of the tests that read OTLP requests (test_otlp, test_agent): sourced after lib.sh.
OTLP_CHECK="$BUILD/tests/otlp_check"
OFFICIAL="$BUILD/otlp-proto/root/usr/include"
RECEIVER="$(dirname "${BASH_SOURCE[0]}")/../tools/otlp_receiver.py"
[ -x "$OTLP_CHECK" ] || fail "$OTLP_CHECK missing: make integration builds it"
[ -d "$OFFICIAL" ] || fail "$OFFICIAL missing: make integration unpacks it"

# receiver_start DIR [PORT]: a receiver storing into DIR (on PORT, else one the system picks);
# its URL in $URL, its pid in $RECEIVER_PID.
receiver_start() {
	mkdir -p "$1"
	rm -f "$1/port"
	"$RECEIVER" "$1" ${2:+--port "$2"} >/dev/null 2>&1 &
	RECEIVER_PID=$!
	PIDS+=("$RECEIVER_PID")
	for _ in $(seq 100); do [ -s "$1/port" ] && break; sleep 0.1; done
	[ -s "$1/port" ] || fail "the receiver did not start"
	URL="http://127.0.0.1:$(cat "$1/port")"
}

# decode_official BODY: the request as protoc reads it with the official files.
decode_official() {
	zcat "$1" | protoc -I"$OFFICIAL" \
		--decode=opentelemetry.proto.collector.profiles.v1development.ExportProfilesServiceRequest \
		opentelemetry/proto/collector/profiles/v1development/profiles_service.proto
}

# pprof_total FILE INDEX: the sum of a pprof file's values of sample type INDEX (from 0).
pprof_total() {
	zcat "$1" | protoc -I"$(dirname "${BASH_SOURCE[0]}")/../../tracer/proto" \
		--decode=perftools.profiles.Profile profile.proto | awk -v want="$2" '
		/^sample \{/ { in_sample = 1; n = 0 }
		in_sample && /^  value: / { if (n++ == want) s += $2 }
		/^\}/ { in_sample = 0 }
		END { printf "%.0f\n", s }'
}

# check_body BODY OUT: one request decodes against the official files with no unknown field and
# passes otlp_check; its summary in OUT/summary, its profiles folded in OUT/folded/.
check_body() {
	decode_official "$1" >"$2.decoded" 2>"$2.protoc" ||
		{ cat "$2.protoc"; fail "protoc cannot decode $1 with the official .proto files"; }
	if grep -qE '^ *[0-9]+:' "$2.decoded"; then
		grep -E '^ *[0-9]+:' "$2.decoded" | head
		fail "fields the official schema does not know in $1"
	fi
	mkdir -p "$2/folded"
	"$OTLP_CHECK" "$1" --folded "$2/folded" >"$2/summary" || fail "otlp_check refuses $1"
}
