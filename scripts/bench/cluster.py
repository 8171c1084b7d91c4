"""Measures three Baton nodes of one cluster on one machine (docs/cluster.md).

Starts three etcd members, three `baton serve --cluster` nodes and, as the baseline, one host
alone, all with the process scheduler and examples/hello. Then:
  - cutover skew: for each rollover, from the leader's `deploy.cutover` event (sent as it writes
    the new active version) to each node's first GET answered by the new version, polled
    through every node's ingress; p50 and max of the last node, over ROLLOVERS rollovers;
  - etcd writes per rollover: the store's revision before and after (every write transaction,
    fenced or not, takes one revision; lease keep-alives take none);
  - ingress req/s: wrk on each node's ingress and on the host alone, rounds interleaved,
    medians, each node as a ratio of the host alone.
"""
import base64
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from cutover import Session, percentile

baton, app_py, rollovers, rounds, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
work = tempfile.mkdtemp(prefix="baton-bench-cluster-", dir="/dev/shm")
processes = []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(arguments, log):
    process = subprocess.Popen(arguments, stdout=subprocess.DEVNULL, stderr=open(log, "w"))
    processes.append(process)
    return process


def wait_log(path, text, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(path) as log:
            if text in log.read():
                return
        time.sleep(0.05)
    raise RuntimeError(f"{path} never said {text!r}")


def etcd_revision(client_url):
    request = urllib.request.Request(
        client_url + "/v3/kv/range",
        data=json.dumps({"key": base64.b64encode(b"/bench").decode()}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        return int(json.load(answer)["header"]["revision"])


def hello(version):
    return {
        "app": "hello", "version": version, "readyTimeoutMs": 30000, "drainTimeoutMs": 5000,
        "services": [{
            "name": "web", "instances": 3, "health": {"path": "/healthz"},
            "spec": {"command": "python3", "args": ["-u", app_py], "env": {"VERSION": version}, "graceMs": 2000},
        }],
    }


def get_version(connection):
    connection.request("GET", "/", headers={"Host": "hello.localhost"})
    body = connection.getresponse().read().decode()
    return body.split(" ")[2] if body.startswith("hello from ") else None


class Poller(threading.Thread):
    """GETs through one ingress, one after the other, noting when each version first answered."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.first, self.running = port, {}, True

    def run(self):
        import http.client
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        while self.running:
            try:
                version = get_version(connection)
            except Exception:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                continue
            self.first.setdefault(version, time.monotonic())


def wrk(port):
    out = subprocess.run(
        ["wrk", "-t1", "-c16", f"-d{seconds}s", "-H", "Host: hello.localhost", f"http://127.0.0.1:{port}/"],
        capture_output=True, text=True, check=True,
    ).stdout
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            errors = [l for l in out.splitlines() if "Non-2xx" in l or "Socket errors" in l]
            return float(line.split()[1]), errors
    raise RuntimeError(out)


def serve(name, extra):
    directory = os.path.join(work, name)
    os.makedirs(directory, mode=0o700)
    port = free_port()
    log = os.path.join(work, name + ".log")
    start([baton, "serve", "--socket", f"{directory}/baton.sock", "--state", f"{directory}/state",
           "--http", f"127.0.0.1:{port}", "--stop-sandboxes-at-exit"] + extra, log)
    return f"{directory}/baton.sock", port, log


def main():
    members = [(f"m{i}", free_port(), free_port()) for i in range(3)]
    initial = ",".join(f"{name}=http://127.0.0.1:{peer}" for name, _, peer in members)
    for name, client, peer in members:
        log = os.path.join(work, name + ".log")
        start(["etcd", "--name", name, "--data-dir", os.path.join(work, name + ".etcd"),
               "--listen-client-urls", f"http://127.0.0.1:{client}", "--advertise-client-urls", f"http://127.0.0.1:{client}",
               "--listen-peer-urls", f"http://127.0.0.1:{peer}", "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
               "--initial-cluster", initial, "--initial-cluster-state", "new", "--logger", "zap"], log)
    for name, _, _ in members:
        wait_log(os.path.join(work, name + ".log"), "serving client traffic")
    endpoints = ",".join(f"http://127.0.0.1:{client}" for _, client, _ in members)

    nodes = []
    for index in range(3):
        name = f"n{index + 1}"
        nodes.append(serve(name, ["--cluster", endpoints, "--node", name]))
        wait_log(nodes[-1][2], "took the lead of the cluster" if index == 0 else "joined the cluster")
    alone = serve("alone", [])
    wait_log(alone[2], "rpc socket listening")

    for socket_path in (nodes[0][0], alone[0]):
        admin = Session(socket_path, "admin", "bench-cluster")
        admin.call("events.watch")
        admin.call("app.deploy", hello("v1"))
        admin.call("route.set", {"host": "hello.localhost", "app": "hello"})
        admin.wait_for("event", lambda e: e["type"] == "deploy.done" and e["version"] == "v1")
    for _, _, log in nodes[1:]:
        wait_log(log, "copied the leader's cutover")

    leader = Session(nodes[0][0], "admin", "bench-cluster")
    leader.call("events.watch")
    pollers = [Poller(port) for _, port, _ in nodes]
    for poller in pollers:
        poller.start()
    revision_before = etcd_revision(f"http://127.0.0.1:{members[0][1]}")
    skews = []
    for index in range(2, rollovers + 2):
        version = f"v{index}"
        leader.call("app.deploy", hello(version))
        leader.wait_for("event", lambda e: e["type"] == "deploy.cutover" and e["version"] == version)
        cutover = time.monotonic()
        while not all(version in poller.first for poller in pollers):
            time.sleep(0.001)
        skews.append(max(poller.first[version] for poller in pollers) - cutover)
        leader.wait_for("event", lambda e: e["type"] == "deploy.done" and e["version"] == version)
    revision_after = etcd_revision(f"http://127.0.0.1:{members[0][1]}")
    for poller in pollers:
        poller.running = False

    rates = {"alone": [], "n1": [], "n2": [], "n3": []}
    errors = []
    for _ in range(rounds):
        for name, port in [("alone", alone[1])] + [(f"n{i + 1}", node[1]) for i, node in enumerate(nodes)]:
            rate, failed = wrk(port)
            rates[name].append(rate)
            errors += failed

    print(f"Cutover skew over {rollovers} rollovers, from the leader's `deploy.cutover` event to the last node's first answer by the new version:\n")
    print("| p50 | max |\n|---|---|")
    print(f"| {percentile(skews, 0.5) * 1000:.1f} ms | {max(skews) * 1000:.1f} ms |\n")
    writes = (revision_after - revision_before) / rollovers
    print(f"etcd write transactions per rollover (3 nodes): {writes:.1f}\n")
    print(f"Ingress GET req/s, wrk -t1 -c16 -d{seconds}s, median of {rounds} interleaved rounds:\n")
    print("| target | req/s | ratio to the host alone |\n|---|---|---|")
    baseline = statistics.median(rates["alone"])
    for name in ["alone", "n1", "n2", "n3"]:
        median = statistics.median(rates[name])
        print(f"| {'host alone' if name == 'alone' else 'node ' + name} | {median:,.0f} | {median / baseline:.2f} |")
    if errors:
        print("\nwrk reported errors:", errors)


try:
    main()
finally:
    for process in reversed(processes):
        process.terminate()
    for process in reversed(processes):
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
    shutil.rmtree(work, ignore_errors=True)
