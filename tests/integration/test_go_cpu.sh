# Go, sample mode: CPU samples carry the goroutine (label goid) and its creation site above the
# goroutine's own stack, on Go 1.19 and Go 1.23.
source "$(dirname "$0")/lib.sh"

for v in 1.19 1.23; do
	"$ASYNCPROF" run -d 3 -o "$WORK/$v" -- "$EXAMPLES/go/service-go$v" 5 >"$WORK/stdout" 2>"$WORK/stderr" ||
		{ cat "$WORK/stderr"; fail "go$v: asyncprof run failed"; }
	grep -q "Go runtime found" "$WORK/stderr" || fail "go$v: Go not detected"
	check_outputs "$WORK/$v"
	folded="$WORK/$v/cpu.folded"
	all=$(count_matching "$folded" ';main\.computeChecksum(;|$)')
	in_g=$(count_matching "$folded" '\[spawn\] [^;]*;\[task\] [^;]*;runtime\.goexit;.*main\.computeChecksum(;|$)')
	[ "$all" -gt 10 ] || fail "go$v: only $all samples in computeChecksum"
	expect_between "go$v: computeChecksum samples inside a goroutine %" "$(pct "$in_g" "$all")" 90 100
	pprof -tags "$WORK/$v/cpu.pb.gz" | grep -q 'goid' || fail "go$v: no goid label"
	jq -e '.runtime == "go" and ([.tasks[] | select(.spawned_at != null and (.spawned_at | test("main\\.")))] | length > 3)' \
		"$WORK/$v/report.json" >/dev/null || fail "go$v: report.json lacks goroutines with creation sites"
	ok "go$v: goroutine-attributed CPU profile"
done

# Go 1.21+ records each goroutine's creator: the ancestry chains up to the main goroutine.
chain='\[spawn\] \[runtime\];\[task\] runtime\.main;\[spawn\] main\.main \(main\.go:[0-9]+\);\[task\] [^;]*;runtime\.goexit;.*main\.computeChecksum(;|$)'
all=$(count_matching "$WORK/1.23/cpu.folded" ';main\.computeChecksum(;|$)')
chained=$(count_matching "$WORK/1.23/cpu.folded" "$chain")
expect_between "go1.23: computeChecksum samples under main goroutine -> creator %" "$(pct "$chained" "$all")" 90 100
jq -e '[.tasks[] | select(.name == "runtime.main")][0].id as $main | [.tasks[] | select(.parent == $main)] | length > 3' \
	"$WORK/1.23/report.json" >/dev/null || fail "go1.23: no goroutine has the main goroutine as parent"
ok "go1.23: goroutine parents chained"

# Stripped builds (-ldflags='-s -w': no .symtab, no DWARF): the pclntab names the functions and
# gives their file:line, and the goroutines are still found (allgs located in the code). The
# four workers of leaky spend their time in main.burn; each goroutine is named after the function
# its go statement runs (main.worker), also while it never parks, not after the compiler's wrapper.
for v in 1.19 1.23; do
	bin=leaky-go$v-stripped
	"$ASYNCPROF" run -d 3 -o "$WORK/$bin" -- "$EXAMPLES/go/$bin" 5 >"$WORK/stdout" 2>"$WORK/stderr" ||
		{ cat "$WORK/stderr"; fail "$bin: asyncprof run failed"; }
	grep -q "Go runtime found" "$WORK/stderr" || fail "$bin: Go not detected"
	if grep -q "warning: .*stripped" "$WORK/stderr"; then cat "$WORK/stderr"; fail "$bin: warned as stripped"; fi
	check_outputs "$WORK/$bin"
	folded="$WORK/$bin/cpu.folded"
	all=$(total "$folded")
	burn=$(count_matching "$folded" '\[task\] main\.worker;runtime\.goexit;main\.main\.[a-z]+[0-9]+;main\.worker;main\.burn(;|$)')
	unknown=$(count_matching "$folded" '\[unknown\]')
	expect_between "$bin: samples in a worker goroutine's main.burn %" "$(pct "$burn" "$all")" 70 100
	expect_between "$bin: samples with an unknown frame %" "$(pct "$unknown" "$all")" 0 2
	pprof -raw "$WORK/$bin/cpu.pb.gz" | grep -qE ' main\.burn /.*/examples/go/leaky/main\.go:[0-9]+ ' ||
		fail "$bin: main.burn has no file:line in cpu.pb.gz"
	ok "$bin: stripped binary profiled with names and lines"
done
