import unittest

from baton_client import BatonError, Connection

from fake_host import FakeHost


class ConnectionTests(unittest.TestCase):
    def setUp(self):
        self.host = FakeHost()
        self.addCleanup(self.host.close)

    def test_pipelined_calls_take_the_order_they_were_written_and_answers_match_by_id(self):
        self.host.answers["echo"] = lambda params: params
        with Connection(self.host.path) as connection:
            pending = [connection.send("echo", {"n": n}) for n in range(20)]
            self.assertEqual([p.result(timeout=5) for p in reversed(pending)], [{"n": n} for n in reversed(range(20))])
            self.assertEqual([m["params"]["n"] for m in self.host.messages(20)], list(range(20)))

    def test_an_error_answer_is_a_baton_error_with_its_code_and_retry_hint(self):
        self.host.answers["lease.acquire"] = lambda params: {"error": {
            "code": 2001, "message": "No sandbox available", "data": {"retryable": True, "retryAfterMs": 100}}}
        with Connection(self.host.path) as connection:
            with self.assertRaises(BatonError) as raised:
                connection.call("lease.acquire", {"app": "shop"}, timeout=5)
        self.assertEqual((raised.exception.code, raised.exception.retry_after), (2001, 0.1))

    def test_hello_asks_for_the_newest_version_and_a_closed_connection_fails_waiting_calls(self):
        self.host.answers["host.ping"] = lambda params: self.host.drop()
        with Connection(self.host.path) as connection:
            connection.hello("router", "test", token="t")
            _, hello = self.host.next("host.hello")
            self.assertEqual(hello["params"]["protocol"], "baton/1.1")
            self.assertEqual(hello["params"]["token"], "t")
            with self.assertRaises(ConnectionError):
                connection.call("host.ping", timeout=5)
            self.assertIsNone(connection.next_notification(timeout=5))
            self.assertTrue(connection.closed)


if __name__ == "__main__":
    unittest.main()
