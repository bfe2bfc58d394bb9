#!/usr/bin/env python3
"""function_length.py MAX FILE...: every C function definition in FILEs (kernel style: the
opening brace of a function alone at the start of a line, the closing one too) is at most MAX
lines long, from the line of its name to its closing brace. Prints the longer ones and exits 1
when there is one."""
import re
import sys


def functions(path):
    lines = open(path, errors='replace').read().split('\n')
    start = None
    for i, line in enumerate(lines):
        if line == '{' and i > 0:
            # The signature may span lines: back up to the line that starts the declaration.
            j = i - 1
            while j > 0 and (lines[j].startswith('\t') or lines[j].startswith(' ')):
                j -= 1
            m = re.search(r'(\w+)\s*\(', lines[j])
            start = (j, m.group(1) if m else '?')
        elif line == '}' and start:
            yield start[1], start[0] + 1, i - start[0] + 1
            start = None


def main():
    limit = int(sys.argv[1])
    bad = 0
    for path in sys.argv[2:]:
        for name, line, n in functions(path):
            if n > limit:
                print(f'{path}:{line}: {name}() is {n} lines long (at most {limit})')
                bad += 1
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
