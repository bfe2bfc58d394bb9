#!/usr/bin/env bash
# Unpacks the official OpenTelemetry protocol .proto files, from Debian's opentelemetry-proto
# package, into DIR/root/usr/include (nothing is installed), for the tests to decode asyncprof's
# OTLP payloads against them.
#
# Usage: otlp-protos.sh DIR
#
# The profiles layout asyncprof writes is that of opentelemetry-proto 1.10 and 1.11; 1.9 and
# earlier number Sample's fields differently and would decode a payload into the wrong fields
# without an error, so an older package is refused. Debian 12 has 1.5.0 (bookworm-backports):
# the package comes from the first of Debian's testing and unstable suites that has 1.10 or
# later, read through a private apt configuration (suite-apt.sh). Writes DIR/version (e.g.
# "1.11.0-1 (testing)"); exits non-zero with a message when no suite has one.
set -euo pipefail
dir=${1:?usage: otlp-protos.sh DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
. "$(dirname "$0")/suite-apt.sh"

for suite in testing unstable; do
	suite_apt_init "$dir/$suite" "$suite"
	version=$(apt-cache "${SUITE_APT_OPTS[@]}" show opentelemetry-proto 2>/dev/null |
		sed -n 's/^Version: //p' | sort -V | tail -1)
	[ -n "$version" ] || continue
	if dpkg --compare-versions "$version" ge 1.10; then
		rm -rf "$dir/$suite/debs" "$dir/root"
		suite_apt_unpack "$dir/$suite" "opentelemetry-proto=$version"
		ln -sfn "$suite/root" "$dir/root"
		echo "$version ($suite)" >"$dir/version"
		echo "opentelemetry-proto $version from Debian $suite"
		exit 0
	fi
	echo "otlp-protos: Debian $suite has opentelemetry-proto $version, older than 1.10" >&2
done
echo "otlp-protos: no Debian suite (testing, unstable) has opentelemetry-proto 1.10 or later" >&2
exit 1
