#!/usr/bin/python3
"""Checks that every message and field asyncprof's own .proto files declare is in the official
.proto files with the same number, type and label (repeated or not), so that what asyncprof
packs decodes as the official schema says.

Usage: proto_fields.py OURS_DIR OFFICIAL_DIR FILE...   (FILE relative to both directories)

Prints one line per message checked; exits 1 naming each difference.
"""
import re
import sys

FIELD = re.compile(r'^\s*(repeated\s+)?([\w.]+)\s+(\w+)\s*=\s*(\d+)\s*[;\[]')


def messages(path):
    """{'pkg.Message': {field: (repeated, type, number)}} of one .proto file."""
    text = re.sub(r'//[^\n]*', '', open(path, encoding='utf-8').read())
    pkg = re.search(r'^\s*package\s+([\w.]+)\s*;', text, re.M).group(1)
    out, stack = {}, []
    for line in text.splitlines():
        m = re.match(r'^\s*message\s+(\w+)\s*\{', line)
        if m:
            stack.append(m.group(1))
            out['.'.join([pkg] + stack)] = {}
            continue
        if re.match(r'^\s*(oneof|enum|service)\s+\w+\s*\{', line):
            stack.append(None)
            continue
        f = FIELD.match(line)
        if f and stack:
            names = [s for s in stack if s]
            out['.'.join([pkg] + names)][f.group(3)] = (bool(f.group(1)), f.group(2).split('.')[-1],
                                                       int(f.group(4)))
        if '}' in line and stack:
            stack.pop()
    return out


def main():
    ours_dir, official_dir, files = sys.argv[1], sys.argv[2], sys.argv[3:]
    errors = 0
    for name in files:
        ours = messages(f'{ours_dir}/{name}')
        official = messages(f'{official_dir}/{name}')
        for msg, fields in sorted(ours.items()):
            if msg not in official:
                print(f'{name}: message {msg} is not in the official file')
                errors += 1
                continue
            for field, decl in sorted(fields.items()):
                want = official[msg].get(field)
                if want != decl:
                    print(f'{name}: {msg}.{field} is {decl}, officially {want}')
                    errors += 1
            print(f'{msg}: {len(fields)} fields as official')
    sys.exit(1 if errors else 0)


main()
