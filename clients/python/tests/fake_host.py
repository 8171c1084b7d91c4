"""A host on a unix socket that answers what a test tells it to and records every message."""
import json
import os
import queue
import socket
import tempfile
import threading


class FakeHost:
    """Answers each call with `answers[method](params)` (a result, or `{"error": ...}` to refuse),
    records every message in arrival order, and lets the test push notifications or drop
    every connection."""

    def __init__(self):
        self.directory = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.directory.name, "host.sock")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen()
        self.answers = {"host.hello": lambda params: {"protocol": "baton/1.1", "role": params["role"]}}
        self.received = queue.Queue()
        self.connections = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.connections.append(connection)
                number = len(self.connections)
            threading.Thread(target=self._serve, args=(connection, number), daemon=True).start()

    def _serve(self, connection, number):
        for line in connection.makefile("rb"):
            message = json.loads(line)
            self.received.put((number, message))
            if "id" not in message:
                continue
            answer = self.answers.get(message["method"], lambda params: {})(message.get("params"))
            reply = {"jsonrpc": "2.0", "id": message["id"]}
            reply.update(answer if isinstance(answer, dict) and "error" in answer else {"result": answer})
            self._write(connection, reply)

    def _write(self, connection, message):
        try:
            connection.sendall((json.dumps(message) + "\n").encode())
        except OSError:
            pass

    def push(self, method, params):
        """A notification on the newest connection."""
        with self.lock:
            connection = self.connections[-1]
        self._write(connection, {"jsonrpc": "2.0", "method": method, "params": params})

    def drop(self):
        """Closes every connection, as a host that went away."""
        with self.lock:
            for connection in self.connections:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                connection.close()

    def next(self, method, timeout=10):
        """The next message with `method`, skipping others; (connection number, message)."""
        while True:
            number, message = self.received.get(timeout=timeout)
            if message.get("method") == method:
                return number, message

    def messages(self, count, timeout=10):
        """The next `count` messages, whatever they are: (method, params) pairs."""
        return [self.received.get(timeout=timeout)[1] for _ in range(count)]

    def close(self):
        self.listener.close()
        self.drop()
        self.directory.cleanup()
