"""Clients for Baton's unix-socket protocol (baton/1.1): newline-delimited JSON-RPC 2.0.

- `Connection`: one session, with ordered, pipelined calls and the host's notifications.
- `Scheduler`: subscribe, desired state, ordered reports, gap recovery, reconnect and sync.
- `Leases`: a router's lease cache, renewed, revoked and released as PROTOCOL.md asks.
- `baton_client.process`: sandboxes as local processes, from the protocol's process spec.
"""
from .connection import PROTOCOL, BatonError, Connection, Pending, socket_path
from .router import Leases, may_retry
from .scheduler import Scheduler

__all__ = ["PROTOCOL", "BatonError", "Connection", "Pending", "socket_path", "Leases", "may_retry", "Scheduler"]
