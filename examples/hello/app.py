#!/usr/bin/env python3
"""A small HTTP app for trying Baton: Python 3 standard library only.

  GET  /            its version (VERSION) and sandbox port
  GET  /healthz     200 "ok"
  GET  /slow?ms=N   answers after N milliseconds
  POST /echo        the body back; X-Request-Count says how many times this X-Request-Id came
                    to this process; with ECHO_LEDGER, the id is also appended to that shared file
  GET  /events      server-sent events, one a second (?interval_ms=N), until the client goes
  GET  /ws          a WebSocket that echoes every message

It listens on 127.0.0.1:$PORT and exits at once on SIGTERM, without finishing what it
was doing: the worst case for a rollover.
"""
import base64
import hashlib
import os
import signal
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

VERSION = os.environ.get("VERSION", "v1")
PORT = int(os.environ.get("PORT", "8000"))
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

counts = {}
counts_lock = threading.Lock()
# With ECHO_LEDGER set, every sandbox of every version appends each POST /echo's request id
# to that one file (O_APPEND: whole lines), so a checker can count runs across processes.
LEDGER = os.environ.get("ECHO_LEDGER")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body leave at once, not 40 ms apart
    server_version = "hello/" + VERSION

    def log_message(self, format, *args):
        sys.stderr.write("%s %s\n" % (VERSION, format % args))

    def reply(self, status, body, content_type="text/plain; charset=utf-8", headers=()):
        data = body if isinstance(body, bytes) else body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", "0") or "0"))

    def do_GET(self):
        url = urlparse(self.path)
        query = parse_qs(url.query)
        if url.path == "/":
            self.reply(200, "hello from %s on port %d\n" % (VERSION, PORT))
        elif url.path == "/healthz":
            self.reply(200, "ok\n")
        elif url.path == "/slow":
            time.sleep(int(query.get("ms", ["1000"])[0]) / 1000)
            self.reply(200, "slow answer from %s\n" % VERSION)
        elif url.path == "/events":
            self.events(int(query.get("interval_ms", ["1000"])[0]) / 1000)
        elif url.path == "/ws" and self.headers.get("Upgrade", "").lower() == "websocket":
            self.websocket()
        else:
            self.reply(404, "no such page: %s\n" % url.path)

    do_HEAD = do_GET

    def do_POST(self):
        body = self.read_body()
        if urlparse(self.path).path != "/echo":
            return self.reply(404, "no such page\n")
        request_id = self.headers.get("X-Request-Id", "")
        with counts_lock:
            counts[request_id] = counts.get(request_id, 0) + 1
            count = counts[request_id]
        if LEDGER:
            descriptor = os.open(LEDGER, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(descriptor, (request_id + "\n").encode())
            finally:
                os.close(descriptor)
        self.reply(200, body, "application/octet-stream",
                   [("X-Request-Count", str(count)), ("X-Version", VERSION)])

    def do_PUT(self):
        body = self.read_body()
        digest = hashlib.sha256(body).hexdigest()
        self.reply(200, "%s %d %s\n" % (VERSION, len(body), digest))

    def events(self, interval):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        tick = 0
        try:
            while True:
                event = ("id: %d\ndata: %s tick %d\n\n" % (tick, VERSION, tick)).encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
                self.wfile.flush()
                tick += 1
                time.sleep(interval)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def websocket(self):
        key = self.headers.get("Sec-WebSocket-Key", "")
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        try:
            while True:
                head = self.rfile.read(2)
                if len(head) < 2:
                    return
                opcode, length = head[0] & 0x0F, head[1] & 0x7F
                if length == 126:
                    length = struct.unpack(">H", self.rfile.read(2))[0]
                elif length == 127:
                    length = struct.unpack(">Q", self.rfile.read(8))[0]
                mask = self.rfile.read(4) if head[1] & 0x80 else b"\0\0\0\0"
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(self.rfile.read(length)))
                if opcode == 0x8:  # close
                    self.wfile.write(b"\x88\x00")
                    return
                if opcode == 0x9:  # ping
                    opcode = 0xA
                frame = bytes([0x80 | opcode])
                if len(payload) < 126:
                    frame += bytes([len(payload)])
                elif len(payload) < 65536:
                    frame += bytes([126]) + struct.pack(">H", len(payload))
                else:
                    frame += bytes([127]) + struct.pack(">Q", len(payload))
                self.wfile.write(frame + payload)
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            return


class Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default listen backlog is 5: a burst of new connections (a proxy
    # opening its pool) would see SYNs dropped and wait a second for the retransmission.
    request_queue_size = 128


def main():
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    global PORT
    server = Server(("127.0.0.1", PORT), Handler)
    PORT = server.server_address[1]  # PORT=0 asks for any free port
    sys.stderr.write("hello %s listening on 127.0.0.1:%d\n" % (VERSION, PORT))
    server.serve_forever()


if __name__ == "__main__":
    main()
