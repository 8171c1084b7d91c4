"""One session with a Baton host: newline-delimited JSON-RPC 2.0 over its unix socket."""
from __future__ import annotations

import json
import os
import socket
import threading
from typing import Any, Dict, List, Optional

PROTOCOL = "baton/1.1"
"""The newest protocol version this package speaks; `hello` asks for it."""

JSONObject = Dict[str, Any]


def socket_path() -> str:
    """The host's socket as a plugin is told it: `$BATON_SOCKET`, else the default rule."""
    if os.environ.get("BATON_SOCKET"):
        return os.environ["BATON_SOCKET"]
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return os.path.join(runtime, "baton", "baton.sock")
    return "/tmp/baton-%d/baton.sock" % os.getuid()


class BatonError(Exception):
    """An error answer (PROTOCOL.md §6): `code`, `message` and optional `data`."""

    def __init__(self, method: str, error: JSONObject) -> None:
        self.method = method
        self.code: int = error.get("code", 0)
        self.message: str = error.get("message", "")
        self.data: Any = error.get("data")
        super().__init__("%s failed: %s (error %d)" % (method, self.message, self.code))

    @property
    def retry_after(self) -> Optional[float]:
        """Seconds to wait before trying again, when the host says the call may be retried."""
        if isinstance(self.data, dict) and self.data.get("retryable"):
            return self.data.get("retryAfterMs", 0) / 1000
        return None


class Pending:
    """The answer to a call that `Connection.send` wrote."""

    def __init__(self, connection: "Connection", method: str, request_id: int) -> None:
        self._connection = connection
        self._method = method
        self._id = request_id

    @property
    def answered(self) -> bool:
        with self._connection._arrived:
            return self._id in self._connection._answers

    def result(self, timeout: Optional[float] = None) -> Any:
        """The call's result; raises `BatonError` for an error answer, `ConnectionError` when
        the connection closed first and `TimeoutError` after `timeout` seconds."""
        connection = self._connection
        with connection._arrived:
            if not connection._arrived.wait_for(lambda: self._id in connection._answers or connection.closed, timeout):
                raise TimeoutError("%s: no answer within %ss" % (self._method, timeout))
            if self._id not in connection._answers:
                raise ConnectionError("the host closed the connection before answering %s" % self._method)
            answer = connection._answers.pop(self._id)
        if "error" in answer:
            raise BatonError(self._method, answer["error"])
        return answer.get("result")


class Connection:
    """A session with the host. Calls from any thread take effect in the order they are
    written (PROTOCOL.md §3); `send` writes without waiting, so calls can be pipelined.
    Notifications queue up in order for `next_notification`."""

    def __init__(self, path: Optional[str] = None) -> None:
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.connect(path or socket_path())
        self._write = threading.Lock()
        self._next_id = 0
        self._answers: Dict[int, JSONObject] = {}
        self._notifications: List[JSONObject] = []
        self._arrived = threading.Condition()
        self.closed = False
        threading.Thread(target=self._read, args=(self._sock.makefile("rb"),), daemon=True).start()

    def _read(self, lines: Any) -> None:
        try:
            for line in lines:
                message = json.loads(line)
                with self._arrived:
                    if isinstance(message, dict) and "id" in message and ("result" in message or "error" in message):
                        self._answers[message["id"]] = message
                    elif isinstance(message, dict) and "method" in message:
                        self._notifications.append(message)
                    self._arrived.notify_all()
        except (OSError, ValueError):
            pass
        with self._arrived:
            self.closed = True
            self._arrived.notify_all()

    def send(self, method: str, params: Optional[JSONObject] = None) -> Pending:
        """Writes a call and returns at once; `Pending.result()` waits for its answer."""
        with self._write:
            self._next_id += 1
            request: JSONObject = {"jsonrpc": "2.0", "id": self._next_id, "method": method}
            if params is not None:
                request["params"] = params
            self._sock.sendall((json.dumps(request) + "\n").encode())
            return Pending(self, method, self._next_id)

    def call(self, method: str, params: Optional[JSONObject] = None, timeout: Optional[float] = None) -> Any:
        """Calls `method` and returns its result; see `Pending.result` for what it raises."""
        return self.send(method, params).result(timeout)

    def notify(self, method: str, params: Optional[JSONObject] = None) -> None:
        """Sends a notification: the host answers nothing, not even an error."""
        request: JSONObject = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            request["params"] = params
        with self._write:
            self._sock.sendall((json.dumps(request) + "\n").encode())

    def hello(self, role: str, name: str, version: str = "0.1.0", token: Optional[str] = None) -> JSONObject:
        """Opens the session as `role`; the host answers with the version both speak."""
        params: JSONObject = {"protocol": PROTOCOL, "role": role, "client": {"name": name, "version": version}}
        if token:
            params["token"] = token
        return self.call("host.hello", params)

    def next_notification(self, timeout: Optional[float] = None) -> Optional[JSONObject]:
        """The next notification; None once the connection closed, or when `timeout` seconds
        passed first (`closed` tells the two apart)."""
        with self._arrived:
            self._arrived.wait_for(lambda: self._notifications or self.closed, timeout=timeout)
            return self._notifications.pop(0) if self._notifications else None

    def close(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()
