#!/usr/bin/env bash
# Makes the README's captures of asyncprof top: docs/top.txt (the text of the screen),
# docs/top.png (the same screen with its colours) and docs/top-detail.txt (the detail of the
# handle_connection spawn site). Runs the demo service and asyncprof top on it in a 150x16 tmux
# window for a few seconds, captures the pane (tmux capture-pane, -e for the colours), writes
# the coloured capture as HTML and renders it with chromium --headless.
# Needs root, tmux and chromium (make deps DEB_PKGS='chromium tmux'). Usage: BUILD=build
# docs/top-screenshot.sh
set -euo pipefail
BUILD=$(realpath "${BUILD:-build}")
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/asyncprof-screenshot.XXXXXX)
sock=asyncprof-screenshot-$$
"$BUILD/examples/tokio/service" 30 &
svc=$!
trap 'tmux -L "$sock" kill-server 2>/dev/null || true; kill $svc 2>/dev/null || true; rm -rf "$work"' EXIT
sleep 0.5
tmux -L "$sock" -f /dev/null new-session -d -s top -x 150 -y 16 \
	"$BUILD/asyncprof top -p $svc --mode lifecycle 2>$work/err; sleep 60"
sleep 6
tmux -L "$sock" capture-pane -e -p -t top >"$work/top.ansi"
# The same capture without its colours, so the text and the picture show one screen.
sed 's/\x1b\[[0-9;]*m//g' "$work/top.ansi" >"$here/top.txt"
# By name, handle_connection's site is the second row (db_query's first).
tmux -L "$sock" resize-window -t top -x 150 -y 34
tmux -L "$sock" send-keys -t top n g j Enter
sleep 1.5
tmux -L "$sock" capture-pane -p -t top >"$here/top-detail.txt"
tmux -L "$sock" send-keys -t top q

# The SGR sequences tmux writes (bold, reverse, the 8 colours, resets) as HTML spans.
python3 - "$work/top.ansi" "$work/top.html" <<'EOF'
import html, re, sys
colours = ["#1e1e1e", "#e06c75", "#98c379", "#e5c07b", "#61afef", "#c678dd", "#56b6c2", "#d0d0d0"]
fg_default, bg_default = colours[7], colours[0]
state = {"bold": False, "reverse": False, "fg": None, "bg": None}
out = []

def apply(params):
    for p in (params.split(";") if params else ["0"]):
        n = int(p or 0)
        if n == 0:
            state.update(bold=False, reverse=False, fg=None, bg=None)
        elif n == 1:
            state["bold"] = True
        elif n == 22:
            state["bold"] = False
        elif n == 7:
            state["reverse"] = True
        elif n == 27:
            state["reverse"] = False
        elif 30 <= n <= 37:
            state["fg"] = colours[n - 30]
        elif n == 39:
            state["fg"] = None
        elif 40 <= n <= 47:
            state["bg"] = colours[n - 40]
        elif n == 49:
            state["bg"] = None

def span(text):
    fg, bg = state["fg"] or fg_default, state["bg"] or bg_default
    if state["reverse"]:
        fg, bg = bg, fg
    style = f"color:{fg};background:{bg}" + (";font-weight:bold" if state["bold"] else "")
    return f'<span style="{style}">{html.escape(text)}</span>'

for line in open(sys.argv[1], encoding="utf-8", errors="replace").read().split("\n"):
    pos, row = 0, []
    for m in re.finditer(r"\x1b\[([0-9;]*)m", line):
        if m.start() > pos:
            row.append(span(line[pos:m.start()]))
        apply(m.group(1))
        pos = m.end()
    row.append(span(line[pos:]))
    out.append("".join(row))
page = ("<!doctype html><meta charset=utf-8><body style='margin:0;background:%s'>"
        "<pre style='margin:0;padding:10px;font:14px/18px DejaVu Sans Mono,monospace'>%s</pre>"
        % (bg_default, "\n".join(out)))
open(sys.argv[2], "w").write(page)
EOF
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1300,310 \
	--screenshot="$here/top.png" "file://$work/top.html" 2>/dev/null
echo "docs/top.txt, docs/top.png and docs/top-detail.txt written"
