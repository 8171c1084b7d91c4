"""How Baton's costs grow with the work it holds, for scripts/bench-scale.

Against a running `baton serve` (its socket, ingress port and pid) and a backend that answers
every request, it grows the number of apps (each with one ready sandbox on the backend and a
route `app-N.test`) to 1, 100 and 1,000, and at each size measures `lease.acquire` through the
socket (acquire then release, p50 and p99) and the ingress's req/s with wrk. Then, with 1 app, it
holds 10 to 10,000 live leases and measures `lease.acquire` again, and it reads the host's
resident memory before and with 10,000 idle client connections.

Usage: scale.py SOCKET INGRESS_PORT BACKEND_URL BATON_PID [SECONDS]
"""
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python"))
from baton_client import Connection  # noqa: E402

SOCKET, INGRESS_PORT, BACKEND, PID = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
SECONDS = int(sys.argv[5]) if len(sys.argv) > 5 else 5
SLOTS = 20_000  # enough for every live lease on one sandbox


def session(role):
    connection = Connection(SOCKET)
    connection.hello(role, "bench-scale")
    return connection


admin, scheduler, router = session("admin"), session("scheduler"), session("router")
apps = 0


def grow_to(count):
    """Deploys apps until there are `count`, each served by the backend."""
    global apps
    while apps < count:
        name = "app-%d" % apps
        admin.call("app.deploy", {"app": name, "version": "v1", "services": [{"name": "web", "slots": SLOTS}]})
        pool = admin.call("app.status", {"app": name})["pools"][0]["pool"]
        scheduler.call(
            "scheduler.report", {"sandbox": "s-%d" % apps, "pool": pool, "state": "ready", "url": BACKEND}
        )
        admin.call("route.set", {"host": "%s.test" % name, "app": name})
        apps += 1
    # Served once the last one's cutover is done: its first lease comes at once.
    lease = router.call("lease.acquire", {"app": "app-%d" % (count - 1), "service": "web", "slots": 1, "waitMs": 10_000})
    router.call("lease.release", {"lease": lease["lease"]})


def acquire_latency(samples=2_000):
    """p50 and p99 of lease.acquire, in µs, over apps in turn; each lease is released."""
    timings = []
    for index in range(samples):
        started = time.perf_counter()
        lease = router.call("lease.acquire", {"app": "app-%d" % (index % apps), "service": "web", "slots": 1})
        timings.append((time.perf_counter() - started) * 1e6)
        router.call("lease.release", {"lease": lease["lease"]})
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.99)]


def requests_per_second(host):
    out = subprocess.run(
        ["wrk", "-t1", "-c32", "-d%ds" % SECONDS, "-H", "Host: " + host, "http://127.0.0.1:%d/" % INGRESS_PORT],
        capture_output=True, text=True, check=True,
    ).stdout
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def resident_kib():
    with open("/proc/%d/status" % PID) as status:
        return int(re.search(r"VmRSS:\s+(\d+) kB", status.read()).group(1))


print("apps    acquire p50 µs  acquire p99 µs  ingress req/s")
for count in (1, 100, 1_000):
    grow_to(count)
    p50, p99 = acquire_latency()
    rps = requests_per_second("app-%d.test" % (count - 1))
    print("%-7d %14.0f %15.0f %14.0f" % (count, p50, p99, rps), flush=True)

print()
print("live leases  acquire p50 µs  acquire p99 µs")
held = []
for live in (10, 100, 1_000, 10_000):
    while len(held) < live:
        held.append(router.call("lease.acquire", {"app": "app-0", "service": "web", "slots": 1})["lease"])
    p50, p99 = acquire_latency()
    print("%-12d %14.0f %15.0f" % (live, p50, p99), flush=True)
for lease in held:
    router.call("lease.release", {"lease": lease})

print()
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
before = resident_kib()
idle = [socket.create_connection(("127.0.0.1", INGRESS_PORT)) for _ in range(10_000)]
time.sleep(1)  # the host accepts them all meanwhile
with_idle = resident_kib()
print("resident memory: %.0f MiB, %.0f MiB with 10,000 idle client connections (%.1f KiB each)" % (
    before / 1024, with_idle / 1024, (with_idle - before) / 10_000))
for connection in idle:
    connection.close()
