# Sourced by scripts that read a newer Debian suite without installing anything from it.
#
# suite_apt_init DIR SUITE sets up an apt configuration of its own under DIR/apt (sources, lists,
# cache, an empty dpkg status) whose one source is the system's own Debian archive (the URI the
# system's apt already uses for its release, read from `apt-get indextargets`) with SUITE
# instead of the release, runs `apt-get update` for it once, and leaves the options that select
# it in the array SUITE_APT_OPTS, for apt-get and apt-cache.
#
# suite_apt_unpack DIR PACKAGE... downloads the packages from that suite with `apt-get download`
# into DIR/debs and unpacks them with `dpkg -x` into DIR/root.
#
# Both print a message on stderr and return non-zero when a step fails.

suite_apt_init() {
	local dir=$1 suite=$2 release uri
	release=$(. /etc/os-release && echo "$VERSION_CODENAME")
	uri=$(apt-get indextargets --format '$(REPO_URI)' "Release: $release" 'Label: Debian' \
		'Identifier: Packages' | sort -u | head -1)
	[ -n "$uri" ] || { echo "suite-apt: cannot find the system's Debian source for $release" >&2; return 1; }
	mkdir -p "$dir/apt/sources.list.d" "$dir/apt/preferences.d" "$dir/apt/lists/partial" \
		"$dir/apt/cache/archives/partial"
	printf '%s\n' 'Types: deb' "URIs: $uri" "Suites: $suite" 'Components: main' \
		'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' \
		>"$dir/apt/sources.list.d/newer.sources"
	[ -e "$dir/apt/status" ] || : >"$dir/apt/status"
	SUITE_APT_OPTS=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$dir/apt/sources.list.d"
		-o "Dir::Etc::PreferencesParts=$dir/apt/preferences.d" -o "Dir::State::Lists=$dir/apt/lists"
		-o "Dir::Cache=$dir/apt/cache" -o "Dir::State::status=$dir/apt/status"
		-o "APT::Architecture=amd64" -o "APT::Architectures::=amd64" -o "Debug::NoLocking=1")
	if [ ! -e "$dir/apt/updated" ]; then
		apt-get "${SUITE_APT_OPTS[@]}" -q update >"$dir/apt/update.log" 2>&1 ||
			{ cat "$dir/apt/update.log" >&2; echo "suite-apt: apt-get update for $suite failed" >&2; return 1; }
		touch "$dir/apt/updated"
	fi
}

suite_apt_unpack() {
	local dir=$1 deb
	shift
	mkdir -p "$dir/debs" "$dir/root"
	(cd "$dir/debs" && apt-get "${SUITE_APT_OPTS[@]}" -q download "$@") >"$dir/download.log" 2>&1 ||
		{ tail -20 "$dir/download.log" >&2; echo "suite-apt: apt-get download $* failed" >&2; return 1; }
	for deb in "$dir"/debs/*.deb; do dpkg -x "$deb" "$dir/root" || return 1; done
}
