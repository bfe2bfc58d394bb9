#!/usr/bin/python3
"""A test OTLP/HTTP receiver: stores the body and headers of every request, and answers as the
test asks, to play a Collector that works, fails or hangs.

Usage: otlp_receiver.py DIR [--port N]

Listens on 127.0.0.1 (port N, or one the system picks) and writes the port to DIR/port once it
listens. Request K (from 1) is stored as DIR/req-K.body (the body as received) and
DIR/req-K.json (method, path, headers, the answer given). The answer is what DIR/mode says,
read at each request (a test changes it while the receiver runs), "ok" when absent:

  ok       200, an empty ExportProfilesServiceResponse
  partial  200, a partial success: 1 profile rejected, error message "test rejection"
  500      500, a text body (a status the OTLP exporter must not retry)
  503      503 with Retry-After: 1 (a status it must retry)
  hang     reads the request and never answers (until the client gives up)

A receiver that is down is one that does not run: the tests stop it (SIGTERM) and start it
again on the same port.
"""
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# ExportProfilesServiceResponse{partial_success{rejected_profiles: 1, error_message: "test
# rejection"}}, encoded by hand: field 1 (length-delimited) holding field 1 (varint) = 1 and
# field 2 (length-delimited) = the message.
MESSAGE = b'test rejection'
PARTIAL = bytes([0x0a, 4 + len(MESSAGE), 0x08, 0x01, 0x12, len(MESSAGE)]) + MESSAGE


class Receiver(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    lock = threading.Lock()
    count = 0

    def log_message(self, fmt, *args):
        pass

    def mode(self):
        try:
            with open(os.path.join(self.server.dir, 'mode'), encoding='ascii') as f:
                return f.read().strip() or 'ok'
        except FileNotFoundError:
            return 'ok'

    def answer(self, status, body, ctype, extra=()):
        self.send_response(status)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get('Content-Length', '0'))
        body = self.rfile.read(length)
        mode = self.mode()
        with Receiver.lock:
            Receiver.count += 1
            k = Receiver.count
        meta = {'method': 'POST', 'path': self.path, 'headers': dict(self.headers.items()),
                'mode': mode, 'time': time.time()}
        base = os.path.join(self.server.dir, f'req-{k}')
        with open(base + '.body.tmp', 'wb') as f:
            f.write(body)
        os.rename(base + '.body.tmp', base + '.body')
        with open(base + '.json.tmp', 'w', encoding='utf-8') as f:
            json.dump(meta, f)
        os.rename(base + '.json.tmp', base + '.json')
        if mode == 'hang':
            # Until the client closes the connection: a read returns nothing then.
            self.close_connection = True
            while self.rfile.read(1):
                pass
            return
        if mode == '500':
            self.answer(500, b'receiver told to fail\n', 'text/plain')
        elif mode == '503':
            self.answer(503, b'busy\n', 'text/plain', [('Retry-After', '1')])
        elif mode == 'partial':
            self.answer(200, PARTIAL, 'application/x-protobuf')
        else:
            self.answer(200, b'', 'application/x-protobuf')


def main():
    out = sys.argv[1]
    port = int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[2] == '--port' else 0
    ThreadingHTTPServer.allow_reuse_address = True
    ThreadingHTTPServer.daemon_threads = True
    server = ThreadingHTTPServer(('127.0.0.1', port), Receiver)
    server.dir = out
    Receiver.count = len([n for n in os.listdir(out) if n.endswith('.body')])
    with open(os.path.join(out, 'port.tmp'), 'w', encoding='ascii') as f:
        f.write(str(server.server_address[1]))
    os.rename(os.path.join(out, 'port.tmp'), os.path.join(out, 'port'))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


main()
