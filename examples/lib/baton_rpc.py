"""A small client for Baton's socket: newline-delimited JSON-RPC 2.0 over a unix socket,
standard library only. Calls may come from any thread; notifications queue up in order."""
import json
import socket
import threading


class Connection:
    """Newline-delimited JSON-RPC 2.0 over the host's unix socket."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.reader = self.sock.makefile("rb")
        self.lock = threading.Lock()
        self.next_id = 0
        self.waiting = {}
        self.notifications = []
        self.arrived = threading.Condition()
        self.closed = False
        threading.Thread(target=self.read_loop, daemon=True).start()

    def read_loop(self):
        try:
            for line in self.reader:
                message = json.loads(line)
                with self.arrived:
                    if "id" in message and ("result" in message or "error" in message):
                        self.waiting[message["id"]] = message
                    elif "method" in message:
                        self.notifications.append(message)
                    self.arrived.notify_all()
        except (OSError, ValueError):
            pass
        with self.arrived:
            self.closed = True
            self.arrived.notify_all()

    def call(self, method, params=None):
        with self.lock:
            self.next_id += 1
            request_id = self.next_id
            request = {"jsonrpc": "2.0", "id": request_id, "method": method}
            if params is not None:
                request["params"] = params
            self.sock.sendall((json.dumps(request) + "\n").encode())
        with self.arrived:
            while request_id not in self.waiting and not self.closed:
                self.arrived.wait()
            if request_id not in self.waiting:
                raise ConnectionError("the host closed the connection")
            answer = self.waiting.pop(request_id)
        if "error" in answer:
            raise RuntimeError("%s failed: %s" % (method, answer["error"]))
        return answer["result"]

    def next_notification(self, timeout=None):
        """The next notification; None once the connection closed, or when `timeout` seconds
        passed first (`closed` tells the two apart)."""
        with self.arrived:
            self.arrived.wait_for(lambda: self.notifications or self.closed, timeout=timeout)
            return self.notifications.pop(0) if self.notifications else None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def hello(self, role, name, token=None):
        return self.call("host.hello", {"protocol": "baton/1.1", "role": role,
                                        "client": {"name": name, "version": "0.1.0"}, "token": token})
