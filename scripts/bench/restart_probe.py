#!/usr/bin/env python3
"""Opens a new connection for every GET until SIGTERM, and prints what a host restart cost:
connections refused, other failures, the longest time without an answer, the slowest answer.
Usage: restart_probe.py PORT HOST_HEADER"""
import http.client
import signal
import socket
import sys
import time

port, host = int(sys.argv[1]), sys.argv[2]
running = True
signal.signal(signal.SIGTERM, lambda *_: globals().__setitem__("running", False))
refused = failed = ok = 0
last_ok = None
longest_gap = slowest = 0.0
while running:
    started = time.monotonic()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/", headers={"Host": host})
        response = connection.getresponse()
        response.read()
        connection.close()
        if response.status != 200:
            raise RuntimeError("HTTP %d" % response.status)
        now = time.monotonic()
        ok += 1
        slowest = max(slowest, now - started)
        if last_ok is not None:
            longest_gap = max(longest_gap, now - last_ok)
        last_ok = now
    except ConnectionRefusedError:
        refused += 1
    except (OSError, RuntimeError, http.client.HTTPException):
        failed += 1
print("%d %d %d %.1f %.1f" % (ok, refused, failed, longest_gap * 1000, slowest * 1000))
