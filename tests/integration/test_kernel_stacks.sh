# A process that spends its CPU in system calls: kernel frames sit below the user frames that
# made the call, in one stack.
source "$(dirname "$0")/lib.sh"

start_bg dd if=/dev/zero of=/dev/null bs=1M count=100000000
sleep 0.2
"$ASYNCPROF" attach -p "$BG_PID" -d 3 -o "$WORK/out" >"$WORK/stdout" 2>"$WORK/stderr" ||
	{ cat "$WORK/stderr"; fail "attach failed"; }
check_outputs "$WORK/out"
folded="$WORK/out/cpu.folded"
all=$(total "$folded")
# dd's read/write calls go through the kernel's syscall entry.
sys=$(count_matching "$folded" '(read|write)[^;]*;.*(entry_SYSCALL_64|do_syscall_64)')
expect_between "samples in syscalls under a user read/write %" "$(pct "$sys" "$all")" 50 100
# Debian's dd is stripped: its own frames are [unknown] (dd), but its .eh_frame still lets the
# unwinder walk through them to libc's exported __libc_start_main.
root=$(count_matching "$folded" '^dd;.*__libc_start_main[^;]*;.*\[unknown\] \(dd\)')
expect_between "samples unwound from the syscall to the process start %" "$(pct "$root" "$all")" 80 100
ok "kernel and user frames in one stack"
jq -e '.warnings | map(select(test("no symbols \\(stripped\\)"))) | length == 1' \
	"$WORK/out/report.json" >/dev/null || fail "report.json does not warn that dd is stripped"
ok "a stripped executable is reported as degraded"
