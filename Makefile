# asyncprof: the only entry points are deps, all, check, demo, bench, soak (see README).
SHELL    := /bin/bash
BUILD    ?= build
CC       ?= gcc
CLANG    ?= clang
BPFTOOL  ?= bpftool
ARCH     := x86
Q        := $(if $(V),,@)
msg       = @printf '  %-8s %s\n' "$(1)" "$(2)"

CFLAGS   ?= -g -O2
CFLAGS   += -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers \
	    -Werror -MMD -MP -I$(BUILD) -I$(BUILD)/gen -I. -Itracer -Ibpf
LDLIBS   := -lbpf -ldw -lelf -lz -ljansson -lprotobuf-c -liberty -lcapstone -lcurl -lncurses -lpthread -lm

# Debian packages the build needs (deploy/Dockerfile installs only these: make deps
# DEB_PKGS='$(BUILD_PKGS)'), then those the tests and the examples need too.
BUILD_PKGS := make gcc libc6-dev clang llvm libbpf-dev bpftool libelf-dev libdw-dev libiberty-dev \
	      protobuf-c-compiler libprotobuf-c-dev libjansson-dev zlib1g-dev libcapstone-dev \
	      libcurl4-openssl-dev libncurses-dev
DEB_PKGS := $(BUILD_PKGS) libcriterion-dev systemtap-sdt-dev golang-go rustc elfutils tmux \
	    jq bc binutils xz-utils cargo librust-tokio-dev librust-hyper-dev wrk golang-1.23-go \
	    protobuf-compiler python3 yamllint libxml2-utils eslint
# Only for docs/top-screenshot.sh (the README's picture of asyncprof top), not for the build or
# the tests: make deps DEB_PKGS='$(DOC_PKGS)'.
DOC_PKGS := chromium tmux

TRACER_SRCS := $(filter-out tracer/main.c,$(wildcard tracer/*.c tracer/*/*.c runtimes/*.c)) \
	       $(filter-out %.bpf.c,$(wildcard runtimes/*/*.c))
# The .proto files (pprof's, and OTLP's in the official layout) compiled with protoc-c.
PROTOS      := profile perfetto/trace $(addprefix opentelemetry/proto/,common/v1/common resource/v1/resource \
	       profiles/v1development/profiles collector/profiles/v1development/profiles_service)
PROTO_OBJS  := $(patsubst %,$(BUILD)/gen/%.pb-c.o,$(PROTOS))
TRACER_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(TRACER_SRCS)) $(PROTO_OBJS)
BPF_SRCS    := $(wildcard bpf/*.bpf.c runtimes/*/*.bpf.c)
SKELS       := $(patsubst %.bpf.c,$(BUILD)/%.skel.h,$(notdir $(BPF_SRCS)))
vpath %.bpf.c bpf $(wildcard runtimes/*)
GEN_HDRS    := $(SKELS) $(patsubst %,$(BUILD)/gen/%.pb-c.h,$(PROTOS)) $(BUILD)/gen/flamegraph_js.h
UNIT_SRCS   := $(wildcard tests/unit/test_*.c)
UNIT_OBJS   := $(patsubst %.c,$(BUILD)/%.o,$(UNIT_SRCS)) $(BUILD)/tests/tools/otlp_validate.o

EXAMPLES := $(BUILD)/examples/cpu_split $(BUILD)/examples/rust_cpu $(BUILD)/examples/spin \
	    $(BUILD)/examples/coro $(BUILD)/examples/interp $(BUILD)/examples/marker_bench \
	    $(BUILD)/examples/offcpu_sleep $(BUILD)/examples/pingpong $(BUILD)/examples/minirt_app
FIXTURES := $(BUILD)/tests/fixtures/symtest $(BUILD)/tests/fixtures/symtest.stripped \
	    $(BUILD)/tests/fixtures/markers $(BUILD)/tests/fixtures/inline_chain \
	    $(BUILD)/tests/fixtures/inline_chain.debug2
USDT_CFLAGS := -O2 -g -Wall -Wextra -Werror -Iprobes # programs that include probes/asyncprof.h

.PHONY: all deps check unit integration demo bench soak examples header-check clean
.DELETE_ON_ERROR:
.SECONDARY:

all: $(BUILD)/asyncprof

# golang-1.23-go exists only in bookworm-backports: make sure that apt source is configured
# (the apt-get update below runs whenever something is missing), on the archive the system's
# own Debian source uses (its URI, from apt-get indextargets), with the release's backports suite.
BACKPORTS_SRC := /etc/apt/sources.list.d/bookworm-backports.sources

deps:
	$(Q)if [ ! -e $(BACKPORTS_SRC) ] && ! grep -qsE '^[^#]*bookworm-backports' /etc/apt/sources.list \
		/etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; then \
		uri=$$(apt-get indextargets --format '$$(REPO_URI)' 'Release: bookworm' \
			'Label: Debian' 'Identifier: Packages' | sort -u | head -1); \
		[ -n "$$uri" ] || { echo "deps: no Debian bookworm source in apt's configuration" \
			"to take bookworm-backports from" >&2; exit 1; }; \
		echo "adding apt source $(BACKPORTS_SRC): $$uri bookworm-backports"; \
		printf '%s\n' 'Types: deb' "URIs: $$uri" 'Suites: bookworm-backports' \
			'Components: main' 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' \
			> $(BACKPORTS_SRC); \
	fi
	$(Q)missing=$$(dpkg-query -W -f='$${Package} $${Status}\n' $(DEB_PKGS) 2>/dev/null | \
		awk '$$NF != "installed" {print $$1}'; \
		for p in $(DEB_PKGS); do dpkg-query -W $$p >/dev/null 2>&1 || echo $$p; done); \
	missing=$$(echo $$missing | tr ' ' '\n' | sort -u | tr '\n' ' '); \
	if [ -n "$${missing// /}" ]; then \
		echo "installing: $$missing"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	else echo "deps: all $(words $(DEB_PKGS)) packages present"; fi

$(BUILD)/asyncprof: $(BUILD)/tracer/main.o $(TRACER_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/vmlinux.h:
	$(call msg,GEN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@

# -target bpf has no system include directories of its own: give it the host compiler's, last
# (libbpf's usdt.bpf.h includes <linux/errno.h>, which includes <asm/errno.h>).
BPF_SYS_INCLUDES := $(shell $(CLANG) -v -E - </dev/null 2>&1 | \
	sed -n '/<...> search starts here:/,/End of search list./s|^ \(/.*\)|-idirafter \1|p')

$(BUILD)/%.bpf.o: %.bpf.c $(BUILD)/vmlinux.h $(wildcard bpf/*.h runtimes/*/*.h)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -I$(BUILD) -Ibpf -I$(dir $<) \
		$(BPF_SYS_INCLUDES) -Wall -Werror \
		-c $< -o $@
	$(Q)llvm-strip -g $@

$(BUILD)/%.skel.h: $(BUILD)/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

$(BUILD)/gen/%.pb-c.c $(BUILD)/gen/%.pb-c.h: tracer/proto/%.proto
	$(call msg,PROTO,$<)
	$(Q)mkdir -p $(BUILD)/gen
	$(Q)protoc-c --proto_path=tracer/proto --c_out=$(BUILD)/gen $<

# The flame graph's viewer, a JavaScript file, as a C string (od and sed: no other tool).
$(BUILD)/gen/flamegraph_js.h: tracer/output/flamegraph.js
	$(call msg,GEN,$@)
	$(Q)mkdir -p $(@D)
	$(Q){ echo 'static const char flamegraph_js[] = {'; \
	  od -An -v -tx1 $< | sed 's/ \([0-9a-f][0-9a-f]\)/0x\1,/g'; echo '0 };'; } >$@

$(BUILD)/gen/%.pb-c.o: $(BUILD)/gen/%.pb-c.c | $(GEN_HDRS)
	$(call msg,CC,$@)
	$(Q)$(CC) -g -O2 -I$(BUILD)/gen -c $< -o $@

$(BUILD)/%.o: %.c | $(GEN_HDRS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

# ---- examples and test fixtures ------------------------------------------------------------
examples: $(EXAMPLES) tokio-examples hyper-examples go-examples

$(BUILD)/examples/cpu_split: examples/cpu-split/cpu_split.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -O2 -g -fomit-frame-pointer -pthread $< -o $@

$(BUILD)/examples/spin: examples/spin/spin.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -O2 -g -fomit-frame-pointer $< -o $@

$(BUILD)/examples/offcpu_sleep: examples/offcpu-sleep/offcpu_sleep.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -O2 -g -fomit-frame-pointer -pthread $< -o $@

$(BUILD)/examples/pingpong: examples/pingpong/pingpong.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -O2 -g -fomit-frame-pointer -pthread $< -o $@

$(BUILD)/examples/rust_cpu: examples/rust-cpu/main.rs
	$(call msg,RUSTC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)/usr/bin/rustc --edition 2018 --crate-name rust_cpu -C opt-level=3 -C debuginfo=1 -C force-frame-pointers=no \
		$< -o $@

# C programs marked with probes/asyncprof.h. marker_bench links the same loop twice: with the
# markers, and without them (-DASYNCPROF_DISABLE).
$(BUILD)/examples/coro: examples/c-usdt/coro.c probes/asyncprof.h
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(USDT_CFLAGS) -pthread $< -o $@

$(BUILD)/examples/interp: examples/c-usdt/interp.c probes/asyncprof.h
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(USDT_CFLAGS) $< -o $@

$(BUILD)/examples/marker_bench: examples/c-usdt/marker_bench.c examples/c-usdt/marker_loop.c \
				examples/c-usdt/marker_loop.h probes/asyncprof.h
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(USDT_CFLAGS) -DLOOP_NAME=marked_loop -c examples/c-usdt/marker_loop.c \
		-o $(BUILD)/examples/marked_loop.o
	$(Q)$(CC) $(USDT_CFLAGS) -DLOOP_NAME=plain_loop -DASYNCPROF_DISABLE \
		-c examples/c-usdt/marker_loop.c -o $(BUILD)/examples/plain_loop.o
	$(Q)$(CC) $(USDT_CFLAGS) examples/c-usdt/marker_bench.c $(BUILD)/examples/marked_loop.o \
		$(BUILD)/examples/plain_loop.o -o $@

# minirt: a marked runtime as a shared library, and a program on it (found through its rpath).
$(BUILD)/examples/libminirt.so: examples/c-usdt/minirt.c examples/c-usdt/minirt.h probes/asyncprof.h
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(USDT_CFLAGS) -fPIC -shared $< -o $@

$(BUILD)/examples/minirt_app: examples/c-usdt/minirt_app.c examples/c-usdt/minirt.h \
			      $(BUILD)/examples/libminirt.so
	$(call msg,CC,$@)
	$(Q)$(CC) $(USDT_CFLAGS) $< -L$(BUILD)/examples -lminirt -Wl,-rpath,'$$ORIGIN' -o $@

# Tokio programs: one cargo package, built offline from Debian's crates with Debian's toolchain
# (examples/tokio/.cargo/config.toml); cargo's home and output stay under $(BUILD).
TOKIO_BINS     := service chain timer_wait long_poll sched_latency poll_heavy realistic coverage \
		  handlers
TOKIO_EXAMPLES := $(addprefix $(BUILD)/examples/tokio/,$(TOKIO_BINS))
TOKIO_SRCS     := $(addprefix examples/tokio/,Cargo.toml Cargo.lock .cargo/config.toml) \
		  $(shell find examples/tokio/src -name '*.rs')
TOKIO_TARGET   := $(abspath $(BUILD))/tokio-target

# The same programs built with the machine's current stable Rust (rustup's cargo, when present)
# against a newer Tokio: the crates of Debian's next suite, downloaded and unpacked under $(BUILD)
# by examples/tokio/newer-crates.sh (nothing is installed), in a copy of the package whose
# lock file cargo makes from them.
NEWER_SUITE    := trixie
NEWER_CARGO    := $(wildcard /root/.cargo/bin/cargo)
TOKIO_NEWER    := $(abspath $(BUILD))/tokio-newer
TOKIO_NEWER_EXAMPLES := $(if $(NEWER_CARGO),$(addprefix $(BUILD)/examples/tokio-newer/,$(TOKIO_BINS)))

# tokio_toolchain RUSTC,LOCK,DIR: DIR/toolchain says what built the programs in DIR, for the
# tests to print ("rustc 1.63.0, tokio 1.24.2").
tokio_toolchain = printf '%s, tokio %s\n' "$$($(1) --version | cut -d' ' -f1-2)" \
	"$$(grep -A1 '^name = "tokio"$$' $(2) | sed -n 's/^version = "\(.*\)"/\1/p')" >$(3)/toolchain

.PHONY: tokio-examples
tokio-examples: $(TOKIO_EXAMPLES) $(TOKIO_NEWER_EXAMPLES)

$(TOKIO_NEWER)/crates.ok: examples/tokio/newer-crates.sh
	$(call msg,APT,$(NEWER_SUITE) crates in $(TOKIO_NEWER))
	$(Q)examples/tokio/newer-crates.sh $(TOKIO_NEWER) $(NEWER_SUITE)
	$(Q)touch $@

$(TOKIO_NEWER_EXAMPLES) &: $(TOKIO_SRCS) $(TOKIO_NEWER)/crates.ok
	$(call msg,CARGO,$(BUILD)/examples/tokio-newer)
	$(Q)rm -rf $(TOKIO_NEWER)/pkg && mkdir -p $(TOKIO_NEWER)/pkg/.cargo
	$(Q)cp -r examples/tokio/Cargo.toml examples/tokio/src $(TOKIO_NEWER)/pkg/
	$(Q)printf '%s\n' '[source.crates-io]' 'replace-with = "newer"' '[source.newer]' \
		'directory = "$(TOKIO_NEWER)/registry"' '[net]' 'offline = true' \
		>$(TOKIO_NEWER)/pkg/.cargo/config.toml
	$(Q)cd $(TOKIO_NEWER)/pkg && CARGO_HOME=$(TOKIO_NEWER)/cargo-home $(NEWER_CARGO) build \
		--release --offline --bins $(if $(V),,--quiet) --target-dir $(TOKIO_NEWER)/target
	$(Q)mkdir -p $(BUILD)/examples/tokio-newer
	$(Q)cp $(addprefix $(TOKIO_NEWER)/target/release/,$(TOKIO_BINS)) $(BUILD)/examples/tokio-newer/
	$(Q)$(call tokio_toolchain,$(dir $(NEWER_CARGO))rustc,$(TOKIO_NEWER)/pkg/Cargo.lock,$(BUILD)/examples/tokio-newer)

$(TOKIO_EXAMPLES) &: $(TOKIO_SRCS)
	$(call msg,CARGO,$(BUILD)/examples/tokio)
	$(Q)cd examples/tokio && CARGO_HOME=$(TOKIO_TARGET)/cargo-home RUSTC=/usr/bin/rustc \
		/usr/bin/cargo build --release --offline --locked --bins $(if $(V),,--quiet) \
		--target-dir $(TOKIO_TARGET)
	$(Q)mkdir -p $(BUILD)/examples/tokio
	$(Q)cp $(addprefix $(TOKIO_TARGET)/release/,$(TOKIO_BINS)) $(BUILD)/examples/tokio/
	$(Q)$(call tokio_toolchain,/usr/bin/rustc,examples/tokio/Cargo.lock,$(BUILD)/examples/tokio)

# A hyper server (examples/hyper): a cargo package of its own, built the same way.
HYPER_EXAMPLE := $(BUILD)/examples/hyper/hyper_hello
HYPER_SRCS    := $(addprefix examples/hyper/,Cargo.toml Cargo.lock .cargo/config.toml src/main.rs)
HYPER_TARGET  := $(abspath $(BUILD))/hyper-target

.PHONY: hyper-examples
hyper-examples: $(HYPER_EXAMPLE)

$(HYPER_EXAMPLE): $(HYPER_SRCS)
	$(call msg,CARGO,$(BUILD)/examples/hyper)
	$(Q)cd examples/hyper && CARGO_HOME=$(HYPER_TARGET)/cargo-home RUSTC=/usr/bin/rustc \
		/usr/bin/cargo build --release --offline --locked $(if $(V),,--quiet) \
		--target-dir $(HYPER_TARGET)
	$(Q)mkdir -p $(@D)
	$(Q)cp $(HYPER_TARGET)/release/hyper_hello $@

# Go programs: each built with Debian's Go 1.19 and Go 1.23 (from bookworm-backports), standard
# library only, GOPATH mode; the Go cache and home stay under $(BUILD).
GO_BINS     := leaky service prodcons hog pingpong
GO_EXAMPLES := $(foreach v,1.19 1.23,$(foreach b,$(GO_BINS),$(BUILD)/examples/go/$(b)-go$(v)) \
		 $(BUILD)/examples/go/leaky-go$(v)-nodwarf $(BUILD)/examples/go/leaky-go$(v)-stripped)
GO_HOME     := $(abspath $(BUILD))/go-cache
go_build     = mkdir -p $(@D) && cd examples/go/$(1) && \
	       env GO111MODULE=off GOTOOLCHAIN=local GOFLAGS= GOENV=off GOCACHE=$(GO_HOME)/cache \
	       GOPATH=$(GO_HOME)/gopath HOME=$(GO_HOME)/home /usr/lib/go-$(2)/bin/go build $(3) \
	       -o $(abspath $@) .

# A PGO build (Go 1.23) from a CPU profile of a ping-pong run (made by `pingpong 3 /dev/null
# FILE`, kept because a profile's hot edges vary from run to run): with it the compiler inlines
# runtime.gopark into the channel operations, the case the adaptor must detect.
GO_EXAMPLES += $(BUILD)/examples/go/pingpong-go1.23-pgo
$(BUILD)/examples/go/pingpong-go1.23-pgo: examples/go/pingpong/main.go examples/go/pingpong-gopark.pprof
	$(call msg,GO,$@)
	$(Q)$(call go_build,pingpong,1.23,-pgo=$(abspath examples/go/pingpong-gopark.pprof))

.PHONY: go-examples
go-examples: $(GO_EXAMPLES)

$(BUILD)/examples/go/%-go1.19: examples/go/%/main.go
	$(call msg,GO,$@)
	$(Q)$(call go_build,$*,1.19)
$(BUILD)/examples/go/%-go1.23: examples/go/%/main.go
	$(call msg,GO,$@)
	$(Q)$(call go_build,$*,1.23)
$(BUILD)/examples/go/%-go1.19-nodwarf: examples/go/%/main.go
	$(call msg,GO,$@)
	$(Q)$(call go_build,$*,1.19,-ldflags=-w)
$(BUILD)/examples/go/%-go1.23-nodwarf: examples/go/%/main.go
	$(call msg,GO,$@)
	$(Q)$(call go_build,$*,1.23,-ldflags=-w)
$(BUILD)/examples/go/%-go1.19-stripped: examples/go/%/main.go
	$(call msg,GO,$@)
	$(Q)$(call go_build,$*,1.19,'-ldflags=-s -w')
$(BUILD)/examples/go/%-go1.23-stripped: examples/go/%/main.go
	$(call msg,GO,$@)
	$(Q)$(call go_build,$*,1.23,'-ldflags=-s -w')

$(BUILD)/tests/fixtures/symtest: tests/unit/fixtures/symtest.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -O2 -g -fomit-frame-pointer $< -o $@

$(BUILD)/tests/fixtures/symtest.stripped: $(BUILD)/tests/fixtures/symtest
	$(Q)strip --strip-all $< -o $@

# Rust with calls inlined several levels deep, at debug = 1 (as services ship) and debug = 2.
$(BUILD)/tests/fixtures/inline_chain: tests/unit/fixtures/inline_chain.rs
	$(call msg,RUSTC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)/usr/bin/rustc --edition 2021 --crate-name inline_chain -C opt-level=3 -C debuginfo=1 $< -o $@

$(BUILD)/tests/fixtures/inline_chain.debug2: tests/unit/fixtures/inline_chain.rs
	$(call msg,RUSTC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)/usr/bin/rustc --edition 2021 --crate-name inline_chain -C opt-level=3 -C debuginfo=2 $< -o $@

MARKER_SRCS := tests/unit/fixtures/markers.c tests/unit/fixtures/markers_other.c

$(BUILD)/tests/fixtures/markers: $(MARKER_SRCS) probes/asyncprof.h
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(USDT_CFLAGS) $(MARKER_SRCS) -o $@

# probes/asyncprof.h compiles warning-free, alone and in two files of one program, with and
# without its markers, in every language it promises: C99 and C11 (gcc, clang), C++17 (g++).
HEADER_COMPILERS := "gcc -std=c99" "gcc -std=c11" "clang -std=c99" "clang -std=c11" \
		    "g++ -x c++ -std=c++17"

# No function of the tracer or the runtimes is over 120 lines.
.PHONY: function-length
function-length:
	$(call msg,CHECK,function length)
	$(Q)tests/tools/function_length.py 120 $(TRACER_SRCS) tracer/main.c

# The flame graph's viewer passes eslint (tracer/output/.eslintrc.json). NODE_PATH: Debian's
# eslint finds its modules there whichever Node.js runs it.
$(BUILD)/tests/flamegraph-js.ok: tracer/output/flamegraph.js tracer/output/.eslintrc.json
	$(call msg,ESLINT,$<)
	$(Q)mkdir -p $(@D)
	$(Q)NODE_PATH=/usr/share/nodejs eslint $<
	$(Q)touch $@

header-check: $(BUILD)/tests/header-check.ok

$(BUILD)/tests/header-check.ok: probes/asyncprof.h $(MARKER_SRCS)
	$(call msg,CHECK,probes/asyncprof.h)
	$(Q)mkdir -p $(@D)
	$(Q)for cc in $(HEADER_COMPILERS); do for markers in "" -DASYNCPROF_DISABLE; do \
		$$cc $$markers -O2 -Wall -Wextra -pedantic -Werror -Iprobes $(MARKER_SRCS) \
			-o $(@D)/header-check || { echo "failed: $$cc $$markers"; exit 1; }; \
	done; done
	$(Q)touch $@

# ---- tests ---------------------------------------------------------------------------------
# Writes copies of the examples whose symbols or notes lie (test_lying_tables, unit tests).
$(BUILD)/tests/mutate_elf: tests/tools/mutate_elf.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -O2 -g -Wall -Wextra -Werror $< -lelf -o $@

$(BUILD)/tests/unit_tests: $(UNIT_OBJS) $(TRACER_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) -lcriterion -o $@

# The profiler and the unit tests built again with AddressSanitizer and UndefinedBehaviorSanitizer
# (in $(SAN)): what make check runs, so a memory error, a leak or undefined behaviour fails it.
SAN       := $(BUILD)/san
SANFLAGS  := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
SAN_OBJS  := $(patsubst $(BUILD)/%,$(SAN)/%,$(TRACER_OBJS))
SAN_UNIT_OBJS := $(patsubst $(BUILD)/%,$(SAN)/%,$(UNIT_OBJS))
# Leaks are errors (but the test runner's own), a report names its frames; the tests' children
# inherit these.
SAN_ENV   := ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	     LSAN_OPTIONS=suppressions=$(abspath tests/lsan.supp):print_suppressions=0

$(SAN)/gen/%.pb-c.o: $(BUILD)/gen/%.pb-c.c | $(GEN_HDRS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -g -O2 $(SANFLAGS) -I$(BUILD)/gen -c $< -o $@

$(SAN)/%.o: %.c | $(GEN_HDRS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(SANFLAGS) -c $< -o $@

$(SAN)/asyncprof: $(SAN)/tracer/main.o $(SAN_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(SANFLAGS) $^ $(LDLIBS) -o $@

$(SAN)/unit_tests: $(SAN_UNIT_OBJS) $(SAN_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(SANFLAGS) $^ $(LDLIBS) -lcriterion -o $@

# The official OTLP .proto files (Debian's opentelemetry-proto, from a newer suite, unpacked
# under $(BUILD)), to decode asyncprof's payloads with; asyncprof's own must agree with them.
OTLP_OFFICIAL := $(BUILD)/otlp-proto/root/usr/include
OTLP_PROTO_FILES := $(patsubst %,%.proto,$(filter opentelemetry/%,$(PROTOS)))

$(BUILD)/otlp-proto/version: tests/tools/otlp-protos.sh tests/tools/suite-apt.sh
	$(call msg,APT,opentelemetry-proto in $(BUILD)/otlp-proto)
	$(Q)tests/tools/otlp-protos.sh $(BUILD)/otlp-proto

$(BUILD)/tests/otlp-fields.ok: $(BUILD)/otlp-proto/version tests/tools/proto_fields.py \
			       $(addprefix tracer/proto/,$(OTLP_PROTO_FILES))
	$(call msg,CHECK,OTLP .proto fields against the official ones)
	$(Q)mkdir -p $(@D)
	$(Q)cd tracer/proto && ../../tests/tools/proto_fields.py . $(abspath $(OTLP_OFFICIAL)) \
		$(OTLP_PROTO_FILES) >$(abspath $(BUILD))/tests/otlp-fields.log || \
		{ grep -v 'as official' $(abspath $(BUILD))/tests/otlp-fields.log; exit 1; }
	$(Q)touch $@

# Validates and summarizes the OTLP requests the test receiver stored (tests/tools/otlp_check.c).
$(BUILD)/tests/otlp_check: $(BUILD)/tests/tools/otlp_check.o $(BUILD)/tests/tools/otlp_validate.o \
			   $(TRACER_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

# Drives several recording sessions at once through the session API (test_session_api).
$(BUILD)/tests/session_probe: $(BUILD)/tests/tools/session_probe.o $(TRACER_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

# deploy/: the Kubernetes manifest passes yamllint (strict), the systemd unit systemd-analyze
# verify (where systemd is), on a copy whose ExecStart names the binary just built.
$(BUILD)/tests/deploy.ok: $(wildcard deploy/kubernetes/*.yaml) deploy/asyncprof-agent.service \
			  $(BUILD)/asyncprof
	$(call msg,CHECK,deploy/)
	$(Q)mkdir -p $(@D)
	$(Q)yamllint -s deploy/kubernetes/*.yaml
	$(Q)if command -v systemd-analyze >/dev/null; then \
		sed 's|/usr/local/bin/asyncprof|$(abspath $(BUILD))/asyncprof|' \
			deploy/asyncprof-agent.service >$(@D)/asyncprof-agent.service && \
		systemd-analyze verify $(@D)/asyncprof-agent.service; \
	else echo "deploy: no systemd-analyze here, the unit is not verified"; fi
	$(Q)touch $@

UNIT_DEPS := $(SAN)/unit_tests $(FIXTURES) tokio-examples go-examples header-check \
	     $(BUILD)/tests/mutate_elf $(BUILD)/tests/otlp-fields.ok $(BUILD)/tests/deploy.ok \
	     function-length $(BUILD)/tests/flamegraph-js.ok
unit: $(UNIT_DEPS)
	$(Q)$(SAN_ENV) BUILD=$(abspath $(BUILD)) $(SAN)/unit_tests --jobs 2

integration: $(BUILD)/asyncprof $(SAN)/asyncprof examples $(BUILD)/tests/mutate_elf \
	     $(BUILD)/tests/otlp_check $(BUILD)/otlp-proto/version $(BUILD)/tests/session_probe
	$(Q)$(SAN_ENV) ASYNCPROF=$(abspath $(SAN))/asyncprof BUILD=$(abspath $(BUILD)) \
		tests/integration/run.sh

# The profiler's two builds compile in parallel (one job per CPU), then the Go and the Tokio
# examples (separate toolchains, caches and output directories); the fixtures one at a time;
# then the unit tests run while the hyper example (a minute and more of cargo, which only the
# integration tests use) builds: everything the unit tests read is made before they start. The
# integration tests one at a time. (Running test_lying_tables beside them too saved nothing:
# that phase is CPU-bound on 2 CPUs, it took 160 s instead of 88.)
NPROC := $(shell nproc 2>/dev/null || echo 1)

check: deps
	$(Q)$(MAKE) --no-print-directory -j$(NPROC) all $(SAN)/asyncprof $(SAN)/unit_tests
	$(Q)$(MAKE) --no-print-directory -j$(NPROC) tokio-examples go-examples
	$(Q)$(MAKE) --no-print-directory $(UNIT_DEPS)
	$(Q)$(MAKE) --no-print-directory -j2 unit hyper-examples
	$(Q)$(MAKE) --no-print-directory integration

demo: deps
	$(Q)$(MAKE) --no-print-directory all examples
	$(Q)BUILD=$(abspath $(BUILD)) examples/demo.sh

bench: deps
	$(Q)$(MAKE) --no-print-directory all examples
	$(Q)BUILD=$(abspath $(BUILD)) tests/bench/run.sh

# The agent's soak benchmark: 20 minutes and more (tests/bench/soak.sh).
soak: deps
	$(Q)$(MAKE) --no-print-directory all examples $(BUILD)/tests/otlp_check \
		$(BUILD)/otlp-proto/version
	$(Q)BUILD=$(abspath $(BUILD)) tests/bench/soak.sh

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/tracer $(BUILD)/runtimes $(BUILD)/tests $(SAN) -type f -name '*.d' 2>/dev/null)
