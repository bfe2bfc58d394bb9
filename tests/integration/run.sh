#!/usr/bin/env bash
# Runs every integration test (test_*.sh) against the built profiler and examples.
# They load BPF programs, so they need root (CI runs as root); without it they fail, not skip.
set -u
here=$(cd "$(dirname "$0")" && pwd)
export BUILD=${BUILD:-$here/../../build}
passed=0 failed=0 names=()
for t in "$here"/test_*.sh; do
	name=$(basename "$t" .sh)
	[ -n "${ONLY:-}" ] && [[ $name != *"$ONLY"* ]] && continue
	# TESTS: these only (names, space-separated); SKIP: not these.
	[ -n "${TESTS:-}" ] && [[ " $TESTS " != *" $name "* ]] && continue
	[[ " ${SKIP:-} " == *" $name "* ]] && continue
	start=$(date +%s)
	if bash "$t" >"$BUILD/$name.log" 2>&1; then
		passed=$((passed + 1))
		printf 'PASS %-28s %3ss\n' "$name" $(($(date +%s) - start))
	else
		failed=$((failed + 1))
		names+=("$name")
		printf 'FAIL %-28s %3ss\n' "$name" $(($(date +%s) - start))
		sed 's/^/    | /' "$BUILD/$name.log" | tail -40
	fi
done
echo "integration: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
