#!/usr/bin/env bash
# Makes a cargo `directory` source of a newer Tokio (and the crates it needs) from Debian's next
# suite, without installing anything over the system's packages.
#
# Usage: newer-crates.sh DIR SUITE
#
# apt runs with a configuration of its own under DIR (tests/tools/suite-apt.sh): its one source
# is the system's own Debian archive with SUITE instead of the release. The
# crate packages librust-tokio-dev needs are resolved from that suite, downloaded with
# `apt-get download` and unpacked with `dpkg -x` into DIR/root; their crates, which carry the
# .cargo-checksum.json cargo wants, end up in DIR/registry. Prints nothing on success but the
# Tokio version found; exits non-zero with a message when a step fails.
set -euo pipefail
dir=${1:?usage: newer-crates.sh DIR SUITE}
suite=${2:?usage: newer-crates.sh DIR SUITE}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
. "$(dirname "$0")/../../tests/tools/suite-apt.sh"
suite_apt_init "$dir" "$suite"

# The crates librust-tokio-dev needs, through every feature package (debcargo's
# librust-X+feature-dev are virtual packages that the crate's one real package provides).
apt-cache "${SUITE_APT_OPTS[@]}" depends --recurse --no-recommends --no-suggests --no-conflicts \
	--no-breaks --no-replaces --no-enhances librust-tokio-dev 2>/dev/null |
	awk '/^[a-z0-9]/ && !/^</ && /^librust-/ { print $1 }' | sort -u >"$dir/packages"
[ -s "$dir/packages" ] || { echo "newer-crates: librust-tokio-dev not found in $suite" >&2; exit 1; }
suite_apt_unpack "$dir" $(cat "$dir/packages")
rm -rf "$dir/registry"
ln -s root/usr/share/cargo/registry "$dir/registry"
ls "$dir/registry" | sed -n 's/^tokio-\([0-9][0-9.]*\)$/tokio \1/p'
