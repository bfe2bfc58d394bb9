# Tables that lie never harm the target: copies of the Go and Tokio examples whose hook symbols
# (.symtab) are shifted by 1 to 7 bytes, pointed at each other, pointed into data, or given zero
# or huge sizes, and a copy of a marked C program whose task_run notes are shifted. Each copy
# runs in every mode with asyncprof attached; the program itself never reads those tables, so it
# must run as it does alone and exit with status 0, and asyncprof must name every hook it left
# unprobed. (asyncprof run, not attach: the probes are in place from the program's start, and a
# loaded machine cannot make them late.) Before probe_site, Go's hooks shifted by 1 or 3 killed the target ("fatal error:
# unexpected signal" in lifecycle mode, SIGSEGV in sample mode), Tokio's shifted raw::poll did in
# every mode, and so did a task_run note shifted by 2; the other lies put probes on the wrong
# functions.
source "$(dirname "$0")/lib.sh"
MUTATE="$BUILD/tests/mutate_elf"
[ -x "$MUTATE" ] || fail "$MUTATE is missing: make integration builds it"

GO_HOOKS='^runtime\.(gcBgMarkStartWorkers|gcMarkTermination|newproc1|gopark|ready|execute|'
GO_HOOKS+='gdestroy|goexit0|\(\*mcache\)\.(refill|allocLarge)|chansend|chanrecv)$'
# Legacy mangled names: raw::poll, the waker functions, Harness::complete.
TOKIO_HOOKS='4task(3raw4poll|5waker(11wake_by_val|11wake_by_ref|11clone_waker|10drop_waker)|'
TOKIO_HOOKS+='7harness20Harness\$LT\$T\$C\$S\$GT\$8complete)17h'
CRASH='fatal error|unexpected signal|SIGSEGV|SIGILL|SIGTRAP|panicked|Segmentation'

# The hooks the Go adaptor uses in a mode (go.c's table).
go_hooks() {
	echo runtime.gcBgMarkStartWorkers runtime.gcMarkTermination
	[ "$1" = sample ] && return
	echo 'runtime.newproc1 runtime.gopark runtime.ready runtime.execute'
	echo 'runtime.(gdestroy|goexit0)'
	echo 'runtime.\(\*mcache\).refill runtime.\(\*mcache\).allocLarge'
	[ "$1" = full ] && echo runtime.chansend runtime.chanrecv
	return 0
}

# What asyncprof must say it left out on a Tokio copy in a mode: one ERE a line.
tokio_refusals() {
	printf '%s\n' 'Harness::complete'
	case $1 in
	sample) printf '%s\n' 'clone_waker|calibration' ;;
	lifecycle) printf '%s\n' 'clone_waker' 'wake' 'poll entry probes not placed' ;;
	full) printf '%s\n' 'clone_waker' 'wake' 'poll entry probes not placed' \
		'poll exit probes not placed' ;;
	esac
}

# survive_mode NAME MODE CMD...: runs CMD for 2 s under asyncprof run in MODE (the probes in place
# before its first instruction); the target must exit 0 without a crash, asyncprof must exit 0
# with a profile. Their stderr is in $WORK/NAME-MODE.err. Prints what went wrong and returns 1.
survive_mode() {
	local name=$1 mode=$2 prof=0 out=$WORK/$1-$2
	shift 2
	GOGC=20 "$ASYNCPROF" run --mode "$mode" -o "$out" -- "$@" 2 >"$out.target" 2>"$out.err" ||
		prof=$?
	if ! grep -q 'exited after [0-9.]*s (exit status 0)' "$out.err" ||
		grep -Eq "$CRASH" "$out.target" "$out.err"; then
		head -20 "$out.target"
		grep -v '^asyncprof: warning' "$out.err" | head -20
		echo "$name $mode: the target was harmed"
		return 1
	fi
	[ "$prof" -eq 0 ] || { cat "$out.err"; echo "$name $mode: asyncprof failed"; return 1; }
	jq -e '.samples > 0' "$out/report.json" >/dev/null ||
		{ echo "$name $mode: no profile"; return 1; }
}

# survive NAME MODES CMD...: survive_mode in every mode, the modes side by side (each its own
# target and asyncprof: what one run does cannot reach another's process).
survive() {
	local name=$1 modes=$2 mode pids=() bad=0
	shift 2
	for mode in $modes; do
		survive_mode "$name" "$mode" "$@" >"$WORK/$name-$mode.log" 2>&1 &
		pids+=($!)
		PIDS+=($!)
	done
	for p in "${pids[@]}"; do
		wait "$p" || bad=1
	done
	cat "$WORK/$name"-*.log
	[ "$bad" -eq 0 ] || fail "$name: a run failed (above)"
}

# expect_said NAME MODE ERE: asyncprof's warnings for the run match ERE.
expect_said() {
	grep 'warning' "$WORK/$1-$2.err" | grep -Eq -- "$3" ||
		{ cat "$WORK/$1-$2.err"; fail "$1 $2: nothing says \"$3\" was left out"; }
}

# Each mutation kind once per runtime, the shifts on both Go prologues (1.19: SUB SP; 1.23:
# PUSH BP), and each size on one runtime: the checks behind them are shared, and every run costs
# a few seconds. Go 1.23's copies run beside the rest (each run mostly waits on its target).
go_mutations() { # VERSION MUTATION...
	local v=$1 m name mode hook
	shift
	for m in "$@"; do
		name=go$v-${m/:/-}
		"$MUTATE" "$EXAMPLES/go/service-go$v" "$WORK/$name" "$GO_HOOKS" "$m" >/dev/null
		survive "$name" 'sample lifecycle full' "$WORK/$name"
		for mode in sample lifecycle full; do
			for hook in $(go_hooks $mode); do
				expect_said "$name" "$mode" "$hook is not probed"
			done
		done
		ok "go$v $m: the service ran in every mode, every hook it uses refused"
	done
}
go1.23_part() { go_mutations 1.23 shift:1 shift:3 swap data size:huge; }
side go1.23 go1.23_part
go_mutations 1.19 shift:cycle size:zero

for m in shift:cycle swap data size:zero; do
	name=tokio-${m/:/-}
	"$MUTATE" "$EXAMPLES/tokio/service" "$WORK/$name" "$TOKIO_HOOKS" "$m" >/dev/null
	survive "$name" 'sample lifecycle full' "$WORK/$name"
	for mode in sample lifecycle full; do
		while read -r said; do
			expect_said "$name" "$mode" "$said"
		done < <(tokio_refusals $mode)
	done
	ok "tokio $m: the service ran in every mode, the lying hooks named"
done

# A marker whose note is shifted into its next instruction: refused with the marker that pairs
# with it, the rest attached.
"$MUTATE" "$EXAMPLES/coro" "$WORK/coro-note" '^asyncprof:task_run$' note-shift:2 >/dev/null
survive coro-note 'sample lifecycle' "$WORK/coro-note"
for mode in sample lifecycle; do
	expect_said coro-note "$mode" 'markers of .*coro-note not attached: task_run, task_stop'
	grep -q 'frame_push' "$WORK/coro-note-$mode.err" &&
		fail "coro $mode: markers with good notes refused too"
done
ok "coro: a shifted task_run note is refused, the program unharmed"
side_wait
