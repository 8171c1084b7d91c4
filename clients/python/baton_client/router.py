"""A router's leases, kept as PROTOCOL.md asks (§4 Router role, §5 What a router MUST do)."""
from __future__ import annotations

import threading
import time
from typing import Dict, Iterable, List, Mapping, Optional, Set

from .connection import BatonError, Connection, JSONObject

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})


def may_retry(method: str, headers: Mapping[str, str]) -> bool:
    """Whether a request lost after it was sent may go to another sandbox: only one that may
    run twice, an idempotent method or one with an `Idempotency-Key`."""
    return method.upper() in IDEMPOTENT_METHODS or any(name.lower() == "idempotency-key" for name in headers)


class Leases:
    """The leases of one router session. A lease is shared by up to its `slots` requests at
    once; it is renewed before its `ttlMs` runs out; a revoked lease takes no new request and
    is released once its last request is done; `invalidate` reports a broken sandbox, and the
    caller retries with that sandbox in `exclude`; `close` releases every lease.

    `Leases` reads the connection's notifications (`lease.revoked`): give it a connection of
    its own, after `hello` as a router."""

    def __init__(self, connection: Connection, slots: int = 16, wait_ms: int = 5000) -> None:
        self.connection = connection
        self.slots = slots
        self.wait_ms = wait_ms
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._leases: Dict[str, JSONObject] = {}
        self._in_flight: Dict[str, int] = {}
        self._revoked: Set[str] = set()
        self._renew_at: Dict[str, float] = {}
        self._closed = False

    def watch(self, apps: Optional[Iterable[str]] = None) -> None:
        """Subscribes to revocations (for `apps`, or all) and starts renewing."""
        params: JSONObject = {} if apps is None else {"apps": sorted(apps)}
        self.connection.call("lease.watch", params)
        threading.Thread(target=self._follow_revocations, daemon=True).start()
        threading.Thread(target=self._renew, daemon=True).start()

    def checkout(self, app: str, service: str = "web", exclude: Iterable[str] = ()) -> JSONObject:
        """A lease of `app`'s `service` with a free slot, on a sandbox not in `exclude`, taken
        from those held or acquired (waiting up to `wait_ms`). Raises `BatonError` (2001 when
        no sandbox is ready in time)."""
        excluded = set(exclude)
        with self._lock:
            for lease_id, lease in self._leases.items():
                if (lease["app"], lease["service"]) == (app, service) and lease_id not in self._revoked \
                        and lease["sandbox"] not in excluded and self._in_flight[lease_id] < lease["slots"]:
                    self._in_flight[lease_id] += 1
                    return lease
        lease = self.connection.call("lease.acquire", {
            "app": app, "service": service, "slots": self.slots, "waitMs": self.wait_ms, "exclude": sorted(excluded)})
        with self._lock:
            self._leases[lease["lease"]] = lease
            self._in_flight[lease["lease"]] = 1
            self._renew_at[lease["lease"]] = self._next_renewal(lease)
            self._changed.notify()
        return lease

    def checkin(self, lease: JSONObject) -> None:
        """One request on `lease` is done."""
        with self._lock:
            self._in_flight[lease["lease"]] -= 1
        self._release_if_done(lease["lease"])

    def invalidate(self, lease: JSONObject, reason: str) -> None:
        """`lease`'s sandbox could not be reached: it gets no new request from anyone until the
        host sees it healthy again. Check the request's lease in as usual."""
        try:
            self.connection.call("lease.invalidate", {"lease": lease["lease"], "reason": reason})
        finally:
            self.revoked([lease["lease"]])

    def close(self) -> None:
        """Releases every lease; the requests still on them should be done."""
        with self._lock:
            self._closed = True
            held = list(self._leases)
            self._leases.clear()
            self._in_flight.clear()
            self._revoked.clear()
            self._renew_at.clear()
            self._changed.notify()
        for lease_id in held:
            self._release(lease_id)

    def revoked(self, lease_ids: Iterable[str]) -> None:
        """What `lease.revoked` says (`watch` follows it): these leases take no new request,
        and each is released once its last request is done."""
        ids = list(lease_ids)
        with self._lock:
            self._revoked.update(lease_id for lease_id in ids if lease_id in self._leases)
        for lease_id in ids:
            self._release_if_done(lease_id)

    def _release_if_done(self, lease_id: str) -> None:
        with self._lock:
            if lease_id not in self._revoked or self._in_flight.get(lease_id, 0) > 0:
                return
            self._revoked.discard(lease_id)
            self._leases.pop(lease_id, None)
            self._in_flight.pop(lease_id, None)
            self._renew_at.pop(lease_id, None)
        self._release(lease_id)

    def _release(self, lease_id: str) -> None:
        try:
            self.connection.call("lease.release", {"lease": lease_id})
        except (BatonError, OSError, ConnectionError):
            pass  # releasing is idempotent, and a lease of a closed session expires by itself

    def _follow_revocations(self) -> None:
        while True:
            note = self.connection.next_notification()
            if note is None:
                return
            if note.get("method") == "lease.revoked":
                self.revoked((note.get("params") or {}).get("leases") or [])

    @staticmethod
    def _next_renewal(lease: JSONObject) -> float:
        """A third of the lease's ttl from now: two more tries before it would expire."""
        return time.monotonic() + lease.get("ttlMs", 30000) / 3000

    def _renew(self) -> None:
        """Renews each lease a third of its ttl after it was acquired or last renewed."""
        while True:
            with self._changed:
                due: List[JSONObject] = []
                while not self._closed and not due:
                    now = time.monotonic()
                    due = [self._leases[lease_id] for lease_id, at in self._renew_at.items()
                           if at <= now and lease_id not in self._revoked]
                    if not due:
                        wake = min((at for lease_id, at in self._renew_at.items() if lease_id not in self._revoked),
                                   default=None)
                        self._changed.wait(None if wake is None else wake - now)
                if self._closed:
                    return
                for lease in due:
                    self._renew_at[lease["lease"]] = self._next_renewal(lease)
            for lease in due:
                try:
                    self.connection.call("lease.renew", {"lease": lease["lease"]})
                except BatonError:
                    self.revoked([lease["lease"]])  # expired or revoked meanwhile: it takes no new request
                except (OSError, ConnectionError):
                    return
