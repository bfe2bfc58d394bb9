#!/usr/bin/env python3
"""compare_snapshots.py BEFORE AFTER [MIN_SHARE]: compares two directories of
tests/tools/snapshot.sh. For each recording and each folded file, the stacks that hold at least
MIN_SHARE percent (default 5) of the total in either must be in both, with shares within 10
points (sampling noise); report.json must have the same fields (keys, recursively; lists by
the union of their elements' keys). Prints each difference; exits 1 when there is one."""
import json
import os
import sys


def shares(path):
    total, stacks = 0, {}
    with open(path, errors='replace') as f:
        for line in f:
            stack, _, n = line.rstrip('\n').rpartition(' ')
            if not stack:
                continue
            stacks[stack] = stacks.get(stack, 0) + int(n)
            total += int(n)
    return {k: 100.0 * v / total for k, v in stacks.items()} if total else {}


def fields(v, prefix=''):
    out = set()
    if isinstance(v, dict):
        for k, x in v.items():
            out.add(prefix + k)
            out |= fields(x, prefix + k + '.')
    elif isinstance(v, list):
        for x in v:
            out |= fields(x, prefix + '[].')
    return out


def main():
    before, after = sys.argv[1], sys.argv[2]
    min_share = float(sys.argv[3]) if len(sys.argv) > 3 else 5.0
    diffs = compared = 0
    for name in sorted(os.listdir(before)):
        a, b = os.path.join(before, name), os.path.join(after, name)
        if not os.path.isdir(a):
            continue
        if not os.path.isdir(b):
            print(f'{name}: missing after')
            diffs += 1
            continue
        files_a = sorted(f for f in os.listdir(a) if f.endswith('.folded') or f == 'report.json')
        files_b = sorted(f for f in os.listdir(b) if f.endswith('.folded') or f == 'report.json')
        if files_a != files_b:
            print(f'{name}: files {files_a} before, {files_b} after')
            diffs += 1
        for f in set(files_a) & set(files_b):
            compared += 1
            if f == 'report.json':
                ka = fields(json.load(open(os.path.join(a, f))))
                kb = fields(json.load(open(os.path.join(b, f))))
                for k in sorted(ka ^ kb):
                    print(f'{name}/{f}: field {k} only {"before" if k in ka else "after"}')
                    diffs += 1
                continue
            sa, sb = shares(os.path.join(a, f)), shares(os.path.join(b, f))
            for st in sorted(set(sa) | set(sb)):
                x, y = sa.get(st, 0.0), sb.get(st, 0.0)
                if max(x, y) >= min_share and abs(x - y) > 10:
                    print(f'{name}/{f}: {x:.1f}% before, {y:.1f}% after: {st[:300]}')
                    diffs += 1
    print(f'{compared} files compared, {diffs} differences')
    return 1 if diffs else 0


if __name__ == '__main__':
    sys.exit(main())
