"""Sandboxes as local processes, run from the process spec of PROTOCOL.md (§4 Scheduler role)."""
from __future__ import annotations

import http.client
import os
import random
import signal
import socket
import subprocess
import threading
import time
from typing import IO, Any, Mapping, Optional, Union
from urllib.parse import urlparse

DEFAULT_GRACE_MS = 10000


def free_port() -> int:
    """A free TCP port on 127.0.0.1, for a sandbox's `PORT`. It comes from below the kernel's
    ephemeral range: a port from that range may become any outgoing connection's source port
    before the sandbox binds it."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as ports:
            ephemeral_low = int(ports.read().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral_low = 32768
    for _ in range(64 if ephemeral_low - 10000 >= 1000 else 0):
        port = random.randrange(10000, ephemeral_low)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def answers(url: str, health: Optional[str] = None, timeout: float = 0.5) -> bool:
    """Whether a sandbox answers as the host will check it: a TCP connect to `url`, or a GET
    of the `health` path answering 2xx."""
    target = urlparse(url)
    try:
        if not health:
            socket.create_connection((target.hostname, target.port), timeout=timeout).close()
            return True
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=timeout)
        try:
            connection.request("GET", health)
            return 200 <= connection.getresponse().status < 300
        finally:
            connection.close()
    except (OSError, http.client.HTTPException):
        return False


def describe_exit(returncode: int) -> str:
    """A `failed` or `stopped` report's reason: the exit status, or the signal."""
    if returncode < 0:
        return "killed by signal %d (%s)" % (-returncode, signal.Signals(-returncode).name)
    return "exited with status %d" % returncode


def spawn(spec: Mapping[str, Any], port: int, output: Union[None, int, IO[Any]] = None) -> "subprocess.Popen[bytes]":
    """Starts `spec` ({command, args?, env?, cwd?}) with `PORT` set, in a process group of its
    own: `env` adds to this process's environment, and `cwd` is relative to this process's.
    Raises `ValueError` for a spec that cannot run, `OSError` when the command cannot start."""
    command = spec.get("command")
    if not isinstance(command, str) or not command:
        raise ValueError('the pool\'s spec has no "command" to run')
    environment = dict(os.environ, **(spec.get("env") or {}), PORT=str(port))
    return subprocess.Popen([command] + list(spec.get("args") or []), env=environment, cwd=spec.get("cwd"),
                            stdout=output, stderr=output, start_new_session=True)


def start_time(pid: int) -> Optional[int]:
    """When process `pid` started, in clock ticks since boot (field 22 of /proc/PID/stat); None
    when there is no such process or it is a zombie. With the pid it proves a process is still
    the one recorded (PROTOCOL.md §4, Surviving SIGTERM)."""
    try:
        with open("/proc/%d/stat" % pid) as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] == "Z" else int(fields[19])


def stop(process: "Union[subprocess.Popen[bytes], int]", grace_ms: int = DEFAULT_GRACE_MS) -> None:
    """SIGTERM to the group of `process` (a child, or the pid of one adopted), SIGKILL once
    `grace_ms` has passed; returns at once."""
    pid = process if isinstance(process, int) else process.pid
    started = start_time(pid)
    try:
        os.killpg(pid, signal.SIGTERM)
    except OSError:
        return  # gone already

    def kill_after_grace() -> None:
        if isinstance(process, int):
            deadline = time.monotonic() + grace_ms / 1000
            while start_time(pid) == started and time.monotonic() < deadline:
                time.sleep(0.05)
            if start_time(pid) != started:
                return
        else:
            try:
                process.wait(timeout=grace_ms / 1000)
                return
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass

    threading.Thread(target=kill_after_grace, daemon=True).start()
