"""A scheduler's session with the host, kept whole: the helper speaks the protocol, the
subclass runs sandboxes."""
from __future__ import annotations

import os
import queue
import sys
import threading
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

from .connection import BatonError, Connection, JSONObject, Pending

FINAL_HELLO_ERRORS = (-32001, -32004, -32602)
"""A hello refused with these is final (PROTOCOL.md §4): asking again cannot help."""


def stderr_log(message: str) -> None:
    try:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()
    except OSError:
        pass  # the host stopped reading: the sandboxes still need looking after


class Scheduler:
    """Subclass it, implement `apply`, call `report` whenever a sandbox changes (from any
    thread), and call `run` until `stop` is set.

    The helper does what PROTOCOL.md asks of every scheduler: `host.hello` first, then on every
    connection `scheduler.subscribe` and `scheduler.sync` with the latest report of every live
    sandbox; reports in the order they were made, pipelined; a new subscription when `seq` has a
    gap; a reconnect with backoff (100 ms, doubling to 2 s) when the host goes away. Reports made
    while disconnected are not queued: the next sync carries their latest state. A scheduler
    that adopts sandboxes after a restart reports them before `run`, and the first sync has them.
    """

    def __init__(
        self,
        name: Optional[str] = None,
        socket: Optional[str] = None,
        token: Optional[str] = None,
        log: Callable[[str], None] = stderr_log,
    ) -> None:
        self.name = name or os.environ.get("BATON_SCHEDULER_NAME") or "python"
        self.socket = socket
        self.token = token if token is not None else (os.environ.get("BATON_TOKEN") or None)
        self.log = log
        self.pools: Dict[str, JSONObject] = {}
        """Every pool the host asked for, by id, as it last said; a pool left out of a snapshot is at 0."""
        self._latest: Dict[str, JSONObject] = {}
        self._outbox: "queue.Queue[Tuple[str, Any]]" = queue.Queue()
        self._answers: "queue.Queue[Optional[Pending]]" = queue.Queue()

    def apply(self, pools: List[JSONObject]) -> None:
        """The host changed these pools, each given in full (`pool`, `desired`, `spec`, ...):
        run `desired` sandboxes of each. A pool whose desired is unchanged is not given again.
        Called from `run`'s thread, one call at a time."""
        raise NotImplementedError

    def snapshot_named(self, pools: Set[str]) -> None:
        """A new subscription named exactly these pools: what runs for any other pool (a
        sandbox adopted after a restart, for one the host forgot) has no reason to run."""

    def report(
        self, sandbox: str, pool: str, state: str, url: Optional[str] = None, reason: Optional[str] = None
    ) -> None:
        """Reports a sandbox `starting`, `ready` (with `url`), `stopped` or `failed` (with a `reason`)."""
        params: JSONObject = {"sandbox": sandbox, "pool": pool, "state": state}
        if url is not None:
            params["url"] = url
        if reason is not None:
            params["reason"] = reason
        self._outbox.put(("report", params))

    def run(self, stop: threading.Event) -> None:
        """Keeps a session with the host until `stop` is set. Raises `BatonError` when the host
        refuses the hello for good (a wrong token or protocol): the plugin should exit non-zero."""
        threading.Thread(target=self._deliver, daemon=True).start()
        threading.Thread(target=self._check_answers, daemon=True).start()
        delay = 0.1
        try:
            while not stop.is_set():
                try:
                    connection = Connection(self.socket)
                except OSError as error:
                    self.log("host not reachable: %s" % error)
                else:
                    try:
                        delay = 0.1
                        self._serve(connection, stop)
                    except BatonError as error:
                        if error.method == "host.hello" and error.code in FINAL_HELLO_ERRORS:
                            raise
                        self.log("session with the host failed: %s" % error)
                    except (OSError, ConnectionError) as error:
                        self.log("connection to the host lost: %s" % error)
                    finally:
                        self._outbox.put(("detach", None))
                        connection.close()
                stop.wait(delay)
                delay = min(2.0, delay * 2)
        finally:
            self._outbox.put(("finish", None))

    def _serve(self, connection: Connection, stop: threading.Event) -> None:
        connection.hello("scheduler", self.name, token=self.token)
        subscription, seq = self._subscribe(connection)
        self.log("connected to the host")
        while not stop.is_set():
            note = connection.next_notification(timeout=0.25)
            if note is None:
                if connection.closed:
                    return
                continue
            params = note.get("params") or {}
            if note.get("method") != "scheduler.desired" or params.get("subscription") != subscription:
                continue  # another subscription's, or a notification this version does not know
            if params.get("seq") != seq + 1:
                self.log("desired state has a gap (expected %d, got %s): subscribing again" % (seq + 1, params.get("seq")))
                subscription, seq = self._subscribe(connection)
                continue
            seq = params["seq"]
            self._take(params.get("pools") or [], complete=False)

    def _subscribe(self, connection: Connection) -> Tuple[str, int]:
        snapshot = connection.call("scheduler.subscribe")
        self._outbox.put(("attach", connection))  # the sync goes before any later report
        self._take(snapshot.get("pools") or [], complete=True)
        self.snapshot_named({pool["pool"] for pool in snapshot.get("pools") or []})
        return snapshot["subscription"], snapshot["seq"]

    def _take(self, pools: List[JSONObject], complete: bool) -> None:
        named = {pool["pool"] for pool in pools}
        changed = [pool for pool in pools if self.pools.get(pool["pool"]) != pool]
        if complete:
            changed += [dict(pool, desired=0) for pid, pool in self.pools.items() if pid not in named and pool["desired"]]
        for pool in changed:
            self.pools[pool["pool"]] = pool
        if changed:
            self.apply(changed)

    def _deliver(self) -> None:
        """Sends reports in the order they were made, and the sync that starts each connection."""
        connection: Optional[Connection] = None
        while True:
            kind, value = self._outbox.get()
            if kind == "finish":
                self._answers.put(None)
                return
            if kind == "detach":
                connection = None
                continue
            if kind == "attach":
                connection = value
                method, params = "scheduler.sync", {"sandboxes": list(self._latest.values())}
            else:
                if value["state"] in ("stopped", "failed"):
                    self._latest.pop(value["sandbox"], None)
                else:
                    self._latest[value["sandbox"]] = value
                method, params = "scheduler.report", value
            if connection is None:
                continue
            try:
                self._answers.put(connection.send(method, params))
            except OSError as error:
                self.log("%s not delivered: %s" % (method, error))
                connection = None

    def _check_answers(self) -> None:
        while True:
            pending = self._answers.get()
            if pending is None:
                return
            try:
                pending.result()
            except BatonError as error:
                self.log(str(error))
            except ConnectionError:
                pass  # the next connection's sync says it all again
