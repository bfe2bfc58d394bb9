#!/usr/bin/env bash
# Makes a cargo `directory` source of a newer Tokio (and the crates it needs) from Debian's next
# suite, without installing anything over the system's packages.
#
# Usage: newer-crates.sh DIR SUITE
#
# apt runs with a configuration of its own under DIR (sources, lists, cache, an empty dpkg
# status): its one source is the system's own Debian archive (the URI the system's apt already
# uses for its release, read from `apt-get indextargets`) with SUITE instead of the release. The
# crate packages librust-tokio-dev needs are resolved from that suite, downloaded with
# `apt-get download` and unpacked with `dpkg -x` into DIR/root; their crates, which carry the
# .cargo-checksum.json cargo wants, end up in DIR/registry. Prints nothing on success but the
# Tokio version found; exits non-zero with a message when a step fails.
set -euo pipefail
dir=${1:?usage: newer-crates.sh DIR SUITE}
suite=${2:?usage: newer-crates.sh DIR SUITE}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

release=$(. /etc/os-release && echo "$VERSION_CODENAME")
uri=$(apt-get indextargets --format '$(REPO_URI)' "Release: $release" 'Label: Debian' \
	'Identifier: Packages' | sort -u | head -1)
[ -n "$uri" ] || { echo "newer-crates: cannot find the system's Debian source for $release" >&2; exit 1; }
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

mkdir -p "$dir/apt/sources.list.d" "$dir/apt/preferences.d" "$dir/apt/lists/partial" \
	"$dir/apt/cache/archives/partial" "$dir/debs" "$dir/root"
printf '%s\n' 'Types: deb' "URIs: $uri" "Suites: $suite" 'Components: main' \
	"Signed-By: $keyring" >"$dir/apt/sources.list.d/newer.sources"
: >"$dir/apt/status"
apt_opts=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$dir/apt/sources.list.d"
	-o "Dir::Etc::PreferencesParts=$dir/apt/preferences.d" -o "Dir::State::Lists=$dir/apt/lists"
	-o "Dir::Cache=$dir/apt/cache" -o "Dir::State::status=$dir/apt/status"
	-o "APT::Architecture=amd64" -o "APT::Architectures::=amd64" -o "Debug::NoLocking=1")

if [ ! -e "$dir/apt/updated" ]; then
	apt-get "${apt_opts[@]}" -q update >"$dir/apt/update.log" 2>&1 ||
		{ cat "$dir/apt/update.log" >&2; echo "newer-crates: apt-get update for $suite failed" >&2; exit 1; }
	touch "$dir/apt/updated"
fi

# The crates librust-tokio-dev needs, through every feature package (debcargo's
# librust-X+feature-dev are virtual packages that the crate's one real package provides).
apt-cache "${apt_opts[@]}" depends --recurse --no-recommends --no-suggests --no-conflicts \
	--no-breaks --no-replaces --no-enhances librust-tokio-dev 2>/dev/null |
	awk '/^[a-z0-9]/ && !/^</ && /^librust-/ { print $1 }' | sort -u >"$dir/packages"
[ -s "$dir/packages" ] || { echo "newer-crates: librust-tokio-dev not found in $suite" >&2; exit 1; }
(cd "$dir/debs" && apt-get "${apt_opts[@]}" -q download $(cat "$dir/packages")) >"$dir/download.log" 2>&1 ||
	{ tail -20 "$dir/download.log" >&2; echo "newer-crates: apt-get download failed" >&2; exit 1; }
for deb in "$dir"/debs/*.deb; do dpkg -x "$deb" "$dir/root"; done
rm -rf "$dir/registry"
ln -s root/usr/share/cargo/registry "$dir/registry"
ls "$dir/registry" | sed -n 's/^tokio-\([0-9][0-9.]*\)$/tokio \1/p'
