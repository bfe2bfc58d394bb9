#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Draws a window of a timeline as an SVG picture, the way Perfetto's UI lays it out: one row
per track (threads first, then tasks), slices as boxes with their names, instants as ticks,
flows as arrows. Its input is the rows timeline_check.py prints for a real trace.

Usage: timeline_svg.py ROWS.tsv FROM_MS TO_MS TITLE > picture.svg
(FROM_MS and TO_MS: the window, in ms from the trace's first event.)
"""
import html
import sys

WIDTH, LABEL, ROW, TOP = 1100, 270, 22, 46
COLORS = {'running': '#2e7d32', 'runnable': '#f9a825', 'cpu sample': '#6a1b9a'}
PALETTE = ['#1565c0', '#00838f', '#ad1457', '#4e342e', '#37474f', '#5d4037', '#283593']


def color(name):
    if name in COLORS:
        return COLORS[name]
    if name.startswith('waiting'):
        return '#90a4ae'
    return PALETTE[sum(name.encode()) % len(PALETTE)]


def main():
    rows_path, t0, t1, title = sys.argv[1], float(sys.argv[2]) * 1e6, float(sys.argv[3]) * 1e6, \
        sys.argv[4]
    rows = []
    with open(rows_path) as f:
        for line in f:
            kind, track, name, ts, dur, task, args = line.rstrip('\n').split('\t')
            ts, dur = int(ts), int(dur)
            if ts + dur >= t0 and ts <= t1:
                rows.append((kind, track, name, ts, dur, args))
    tracks = sorted({r[1] for r in rows}, key=lambda t: (not t.startswith('thread'), t))
    y = {t: TOP + i * ROW for i, t in enumerate(tracks)}
    scale = (WIDTH - LABEL - 10) / (t1 - t0)

    def x(ts):
        return LABEL + (min(max(ts, t0), t1) - t0) * scale

    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'font-family="sans-serif" font-size="11">' % (WIDTH, TOP + len(tracks) * ROW + 10),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="8" y="16" font-size="13" font-weight="bold">%s</text>' % html.escape(title)]
    for ms in range(int(t0 / 1e6), int(t1 / 1e6) + 1):
        if ms % 20 == 0:
            out.append('<line x1="%.1f" y1="26" x2="%.1f" y2="%d" stroke="#e0e0e0"/>'
                       % (x(ms * 1e6), x(ms * 1e6), TOP + len(tracks) * ROW))
            if x(ms * 1e6) < WIDTH - 50:
                out.append('<text x="%.1f" y="36" fill="#555">%d ms</text>'
                           % (x(ms * 1e6) + 2, ms))
    for t in tracks:
        out.append('<text x="8" y="%d">%s</text>' % (y[t] + 15, html.escape(t[:44])))
    sources = {}
    for kind, track, name, ts, dur, args in rows:
        if kind == 'slice':
            w = max(x(ts + dur) - x(ts), 1)
            out.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s">'
                       '<title>%s %.3f ms %s</title></rect>'
                       % (x(ts), y[track] + 2, w, ROW - 4, color(name), html.escape(name),
                          dur / 1e6, html.escape(args)))
            if w > 40:
                out.append('<text x="%.1f" y="%d" fill="white">%s</text>'
                           % (x(ts) + 3, y[track] + 15, html.escape(name[:int(w / 6.5)])))
        else:
            out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s"/>'
                       % (x(ts), y[track] + 2, x(ts), y[track] + ROW - 2, color(name)))
        for a in args.split(';'):
            if a.startswith('flow_out='):
                sources[a[9:]] = (x(ts), y[track] + ROW / 2)
            elif a.startswith('flow_in=') and a[8:] in sources:
                sx, sy = sources[a[8:]]
                out.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black" '
                           'stroke-dasharray="3,2"/>' % (sx, sy, x(ts), y[track] + ROW / 2))
    out.append('</svg>')
    print('\n'.join(out))


if __name__ == '__main__':
    main()
