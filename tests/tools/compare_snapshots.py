#!/usr/bin/env python3
"""compare_snapshots.py BEFORE AFTER [MIN_SHARE]: compares two directories of
tests/tools/snapshot.sh. For each recording and each folded file, the stacks that hold at least
MIN_SHARE percent (default 5) of the total in either must be in both, with shares that differ
by no more than sampling noise: for CPU stacks (counts of samples), less than 10 points or
less than 3 standard deviations of the difference of two proportions; for the other profiles
(weighted by time, no counts), less than 20 points. CPU profiles of fewer than 30 samples are
not compared. report.json must have the same fields (keys, recursively; lists by the union of
their elements' keys), but for those whose presence is data (the kinds of task events seen, the
top functions of an empty profile). Prints each difference; exits 1 when there is one."""
import json
import math
import os
import sys


def totals(path):
    total = 0
    with open(path, errors='replace') as f:
        for line in f:
            total += int(line.rpartition(' ')[2] or 0)
    return total


def noise(x, y, na, nb):
    """True when shares x and y (percent) of na and nb samples differ by sampling noise."""
    if abs(x - y) <= 10:
        return True
    if not na or not nb:
        return False
    p = (x * na + y * nb) / 100.0 / (na + nb)
    sd = math.sqrt(max(p * (1 - p), 1e-9) * (1.0 / na + 1.0 / nb)) * 100
    return abs(x - y) <= 3 * sd


def data_field(k):
    return '.kinds.' in k or k.startswith('top_functions.[]')


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
                for k in sorted(k for k in ka ^ kb if not data_field(k)):
                    print(f'{name}/{f}: field {k} only {"before" if k in ka else "after"}')
                    diffs += 1
                continue
            sa, sb = shares(os.path.join(a, f)), shares(os.path.join(b, f))
            counted = f.startswith('cpu')
            na = totals(os.path.join(a, f)) if counted else 0
            nb = totals(os.path.join(b, f)) if counted else 0
            if counted and min(na, nb) < 30:
                continue
            for st in sorted(set(sa) | set(sb)):
                x, y = sa.get(st, 0.0), sb.get(st, 0.0)
                same = noise(x, y, na, nb) if counted else abs(x - y) <= 20
                if max(x, y) >= min_share and not same:
                    print(f'{name}/{f}: {x:.1f}% before, {y:.1f}% after: {st[:300]}')
                    diffs += 1
    print(f'{compared} files compared, {diffs} differences')
    return 1 if diffs else 0


if __name__ == '__main__':
    sys.exit(main())
