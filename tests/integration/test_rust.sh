# A Rust release program without frame pointers: whole, demangled stacks in go tool pprof.
source "$(dirname "$0")/lib.sh"

"$ASYNCPROF" run -d 5 -o "$WORK/out" -- "$EXAMPLES/rust_cpu" 8 >"$WORK/stdout" 2>"$WORK/stderr" ||
	{ cat "$WORK/stderr"; fail "asyncprof run failed"; }
cat "$WORK/stdout"
check_outputs "$WORK/out"
folded="$WORK/out/cpu.folded"
all=$(total "$folded")
# Inlined helpers (wrapping_mul, rotate_left, ...) may sit below mix_block as inline frames.
mix=$(count_matching "$folded" ';rust_cpu::workloads::mix_block(;[^;]+)*$')
expect_between "mix_block share %" "$(pct "$mix" "$all")" 45 80
chain='std::rt::lang_start.*;rust_cpu::main;(.*;)?rust_cpu::workloads::run;(.*;)?<rust_cpu::workloads::Checksum as rust_cpu::workloads::Workload>::step;(.*;)?rust_cpu::workloads::mix_block(;[^;]+)*$'
whole=$(count_matching "$folded" "^rust_cpu;.*main;$chain")
expect_between "mix_block samples with the whole chain %" "$(pct "$whole" "$mix")" 90 100

pprof -top "$WORK/out/cpu.pb.gz" >"$WORK/top.txt"
grep -q ' rust_cpu::workloads::mix_block$' "$WORK/top.txt" || { cat "$WORK/top.txt"; fail "no demangled mix_block in -top"; }
grep -q '<rust_cpu::workloads::Sorter as rust_cpu::workloads::Workload>::step' "$WORK/top.txt" ||
	fail "no demangled Sorter::step in -top"
grep -q '_ZN' "$WORK/top.txt" && fail "mangled names left in -top"
pprof -traces "$WORK/out/cpu.pb.gz" >"$WORK/traces.txt"
# mix_block is the leaf, or right above the inlined helpers it was sampled in.
grep -A4 -E '^ +([0-9.]+(ms|s) +)?rust_cpu::workloads::mix_block$' "$WORK/traces.txt" |
	grep -q 'rust_cpu::workloads::run' || fail "-traces: mix_block without its callers"
grep -q ' rust_cpu::main$' "$WORK/traces.txt" || fail "-traces: no rust_cpu::main"
ok "rust stacks whole and demangled"
