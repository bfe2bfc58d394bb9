#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Reads a Perfetto trace as trace_processor would (no trace_processor is packaged for Debian
12): the trace, decoded by `protoc --decode=perfetto.protos.Trace` against the project's
tracer/proto/perfetto/trace.proto, on stdin. It checks what a reader relies on and prints the
slices, one a line, tab-separated:

    KIND  TRACK  NAME  TS_NS  DUR_NS  TASK_ID  ARGS

KIND is "slice" or "instant"; TRACK is the track's name ("thread NAME TID" for a thread's);
TS_NS is relative to the first event; DUR_NS is 0 for an instant; ARGS are the other debug
annotations as key=value separated by ';', then "stack=" and the callstack's function names,
root first, separated by '|', then "flow_in=N"/"flow_out=N".

Checks (exit 1 with a message): every event's track is described; every SLICE_END closes a
SLICE_BEGIN of its track (nesting like calls); timestamps do not go back; interned callstacks
and frames exist; the first packet clears the incremental state; every flow has a source and a
destination; the MONOTONIC clock is in the clock snapshot.
"""
import sys


def parse(text):
    """protoc's text format into nested lists of (key, value): values are str or lists."""
    root = []
    stack = [root]
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line == '}':
            stack.pop()
        elif line.endswith('{'):
            child = []
            stack[-1].append((line[:-1].strip(), child))
            stack.append(child)
        else:
            key, _, value = line.partition(':')
            value = value.strip()
            if value.startswith('"'):
                value = bytes(value[1:-1], 'utf-8').decode('unicode_escape').encode(
                    'latin-1').decode('utf-8', 'replace')
            stack[-1].append((key.strip(), value))
    return root


def get(msg, key, default=None):
    for k, v in msg:
        if k == key:
            return v
    return default


def get_all(msg, key):
    return [v for k, v in msg if k == key]


def fail(why):
    print('timeline_check: ' + why, file=sys.stderr)
    sys.exit(1)


def main():
    packets = get_all(parse(sys.stdin.read()), 'packet')
    if not packets:
        fail('no packet')
    if get(packets[0], 'sequence_flags') != '1':
        fail('the first packet does not clear the incremental state')
    tracks, names, frames, stacks = {}, {}, {}, {}
    monotonic = False
    events = []
    for p in packets:
        cs = get(p, 'clock_snapshot')
        if cs is not None:
            monotonic = any(get(c, 'clock_id') == '3' for c in get_all(cs, 'clocks'))
        d = get(p, 'interned_data')
        if d is not None:
            for s in get_all(d, 'function_names'):
                names[get(s, 'iid')] = get(s, 'str')
            for f in get_all(d, 'frames'):
                frames[get(f, 'iid')] = get(f, 'function_name_id')
            for c in get_all(d, 'callstacks'):
                stacks[get(c, 'iid')] = get_all(c, 'frame_ids')
        td = get(p, 'track_descriptor')
        if td is not None:
            th = get(td, 'thread')
            if th is not None:
                name = 'thread %s %s' % (get(th, 'thread_name', '?'), get(th, 'tid'))
            elif get(td, 'process') is not None:
                name = 'process %s' % get(get(td, 'process'), 'pid')
            else:
                name = get(td, 'name', '')
            tracks[get(td, 'uuid')] = name
        te = get(p, 'track_event')
        if te is not None:
            if get(p, 'timestamp_clock_id') != '3' or not monotonic:
                fail('an event is not on the MONOTONIC clock of the snapshot')
            events.append((int(get(p, 'timestamp')), te))
    if not events:
        fail('no event')
    t0 = events[0][0]
    last = t0
    open_slices = {}
    flows_out, flows_in = set(), set()
    rows = []
    for ts, te in events:
        if ts < last:
            fail('timestamps go back at %d' % ts)
        last = ts
        uuid = get(te, 'track_uuid')
        if uuid not in tracks:
            fail('event on an undescribed track %s' % uuid)
        kind = get(te, 'type')
        if kind == 'TYPE_SLICE_END':
            if not open_slices.get(uuid):
                fail('an end without a begin on track %s at %d' % (tracks[uuid], ts))
            row = open_slices[uuid].pop()
            row[4] = ts - t0 - row[3]
            continue
        args = []
        task = ''
        for a in get_all(te, 'debug_annotations'):
            key = get(a, 'name')
            value = get(a, 'string_value', get(a, 'uint_value', get(a, 'int_value')))
            if key == 'task_id':
                task = value
            else:
                args.append('%s=%s' % (key, value))
        iid = get(te, 'callstack_iid')
        if iid is not None:
            if iid not in stacks:
                fail('callstack %s is not interned' % iid)
            fns = []
            for f in stacks[iid]:
                if f not in frames or frames[f] not in names:
                    fail('frame %s of callstack %s is not interned' % (f, iid))
                fns.append(names[frames[f]])
            args.append('stack=' + '|'.join(fns))
        for f in get_all(te, 'flow_ids'):
            flows_out.add(f)
            args.append('flow_out=' + f)
        for f in get_all(te, 'terminating_flow_ids'):
            flows_in.add(f)
            args.append('flow_in=' + f)
        row = ['slice' if kind == 'TYPE_SLICE_BEGIN' else 'instant', tracks[uuid],
               get(te, 'name', ''), ts - t0, 0, task, ';'.join(args)]
        rows.append(row)
        if kind == 'TYPE_SLICE_BEGIN':
            open_slices.setdefault(uuid, []).append(row)
        elif kind != 'TYPE_INSTANT':
            fail('unknown event type %s' % kind)
    for uuid, rest in open_slices.items():
        if rest:
            fail('%d slices never end on track %s' % (len(rest), tracks[uuid]))
    if flows_in - flows_out:
        fail('%d flows end without a source' % len(flows_in - flows_out))
    out = sys.stdout
    for r in rows:
        out.write('\t'.join(str(x) for x in r) + '\n')


if __name__ == '__main__':
    main()
