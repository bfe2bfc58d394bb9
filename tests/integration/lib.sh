# Shared helpers for the integration tests. Each test sources this file.
set -euo pipefail
BUILD=${BUILD:?BUILD must point at the build directory}
# The profiler under test: make integration gives its sanitizer build.
ASYNCPROF=${ASYNCPROF:-$BUILD/asyncprof}
EXAMPLES="$BUILD/examples"
WORK=$(mktemp -d /tmp/asyncprof-test.XXXXXX)
PIDS=()

cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	# File systems a test mounted under WORK (a read-only or full one).
	awk -v w="$WORK/" 'index($2, w) == 1 { print $2 }' /proc/mounts | xargs -r umount
	rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

ok() {
	echo "ok: $*"
}

# start_bg CMD...: starts a target in the background; its pid is in $BG_PID.
# side NAME FUNCTION [ARGS...]: runs FUNCTION beside the rest of the test, in a subshell of its
# own (its processes its own, its output in $WORK/NAME.side); side_wait prints what each said
# and fails if one failed. For parts that mostly wait, or share two CPUs, and time nothing.
SIDES=()
side() {
	(
		PIDS=()
		trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait' EXIT
		"${@:2}"
	) >"$WORK/$1.side" 2>&1 &
	SIDES+=("$1:$!")
	PIDS+=("$!")
}

side_wait() {
	local s bad=0
	for s in "${SIDES[@]}"; do
		wait "${s#*:}" || bad=1
		cat "$WORK/${s%%:*}.side"
		[ "$bad" -eq 0 ] || fail "${s%%:*} (beside the rest): above"
	done
	SIDES=()
}

start_bg() {
	"$@" >/dev/null 2>&1 &
	BG_PID=$!
	PIDS+=("$BG_PID")
}

# total FILE: sum of counts in a folded file (%.0f: mawk prints big numbers as 1.2e+09).
total() {
	awk '{ s += $NF } END { printf "%.0f\n", s }' "$1"
}

# count_matching FILE ERE: sum of counts of folded lines whose stack matches the regex.
count_matching() {
	awk -v re="$2" '{ n = $NF; st = $0; sub(/ [0-9]+$/, "", st); if (st ~ re) s += n }
		END { printf "%.0f\n", s }' "$1"
}

# pct PART WHOLE: integer percentage.
pct() {
	if [ "$2" -eq 0 ]; then echo 0; else echo $(($1 * 100 / $2)); fi
}

# pprof ARGS...: go tool pprof on a profile, never looking for binaries.
pprof() {
	go tool pprof -symbolize=none "$@"
}

# expect_exact REPORT NAME: the event probes stayed on the whole recording (a quiet target within
# the default --budget keeps them on), so what follows is exact, not estimated.
expect_exact() {
	jq -e '.estimated == false and .duty.fraction == 1 and .duty.windows == 1' "$1" >/dev/null ||
		{ jq -c .duty "$1"; fail "$2: the event probes were duty cycled on a quiet target"; }
	ok "$2: the event probes stayed on (within the budget): exact figures"
}

# expect_between NAME VALUE LOW HIGH
expect_between() {
	[[ $2 =~ ^-?[0-9]+$ ]] || fail "$1 = '$2', not an integer"
	if [ "$2" -lt "$3" ] || [ "$2" -gt "$4" ]; then
		fail "$1 = $2, expected between $3 and $4"
	fi
	ok "$1 = $2 (expected $3..$4)"
}

# check_outputs DIR [cpu-may-be-empty]: every output file is there, whole, and readable by its
# reader: the CPU profile's always (cpu.folded empty only when told so: a program that hardly
# runs), and every other profile in DIR. Temporary files start with a dot.
check_outputs() {
	local d=$1 f left
	for f in cpu.pb.gz cpu.folded cpu.svg report.json; do
		[ -s "$d/$f" ] || { [ "$f" = cpu.folded ] && [ "${2:-}" = cpu-may-be-empty ] &&
			[ -e "$d/$f" ]; } || fail "$d/$f missing or empty"
	done
	left=$(ls -A "$d" | grep '^\.' || true)
	[ -z "$left" ] || fail "temporary files left in $d: $left"
	for f in "$d"/*.pb.gz; do
		gzip -t "$f" || fail "$f is not gzip"
		pprof -raw "$f" >"$WORK/raw.txt" 2>&1 ||
			{ cat "$WORK/raw.txt"; fail "go tool pprof rejects $f"; }
	done
	for f in "$d"/*.svg; do
		xmllint --noout "$f" || fail "$f is not well-formed XML"
	done
	jq -e . "$d/report.json" >/dev/null || fail "report.json is not JSON"
}

# tokio_builds: the directories of the Tokio examples, one per toolchain (Debian's rustc and
# Tokio; the current stable rustc with a newer Tokio, when it was built), each with a file
# `toolchain` that names them. Says which it skips.
tokio_builds() {
	echo "$EXAMPLES/tokio"
	if [ -x "$EXAMPLES/tokio-newer/chain" ]; then
		echo "$EXAMPLES/tokio-newer"
	else
		echo "SKIP: no current stable rustc (/root/.cargo/bin/cargo): the newer Tokio build is not tested" >&2
	fi
}
