"""Server streaming, deferred replies and cancellation hooks of crid's gRPC
transport (io/grpc_server), driven by grpcio against tests/helpers/grpc_echo_server,
a server built on the same transport with methods the CRI does not have yet
(GetContainerEvents and the Stream* RPCs will use exactly this path)."""
import os
import queue
import shutil
import socket
import signal
import struct
import subprocess
import tempfile
import threading
import time
import unittest

import grpc
import h2.config
import h2.connection
import h2.events

from crid_fixture import BUILD

ECHO = os.path.join(BUILD, "tests", "helpers", "grpc_echo_server")


class EchoServer:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="crid-echo-")
        self.sock = os.path.join(self.dir, "echo.sock")
        self.proc = subprocess.Popen([ECHO, self.sock], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.lines = queue.Queue()
        first = self.proc.stdout.readline().strip()
        if first != "ready":
            raise AssertionError("echo server did not start: %r" % first)
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.put(line.strip())

    def expect_line(self, text, timeout=5.0):
        end = time.time() + timeout
        seen = []
        while time.time() < end:
            try:
                line = self.lines.get(timeout=max(0.01, end - time.time()))
            except queue.Empty:
                break
            seen.append(line)
            if line == text:
                return
        raise AssertionError("expected %r from the echo server, got %r" % (text, seen))

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)
        return rc


def stream_req(count, size):
    return struct.pack(">II", count, size)


class StreamingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(ECHO, os.X_OK):
            raise unittest.SkipTest("%s not built (make integration builds it)" % ECHO)
        cls.srv = EchoServer()
        cls.ch = grpc.insecure_channel("unix://" + cls.srv.sock)
        cls.unary = cls.ch.unary_unary("/test.Echo/Unary")
        cls.stream = cls.ch.unary_stream("/test.Echo/Stream")
        cls.hold = cls.ch.unary_unary("/test.Echo/Hold")

    @classmethod
    def tearDownClass(cls):
        cls.ch.close()
        rc = cls.srv.stop()
        if rc != 0:
            raise AssertionError("echo server exit code %d" % rc)

    def test_unary_echo_large(self):
        payload = os.urandom(3 << 20)
        self.assertEqual(self.unary(payload, timeout=10), payload)

    def test_stream_in_order(self):
        msgs = list(self.stream(stream_req(50, 1000), timeout=10))
        self.assertEqual(len(msgs), 50)
        for i, m in enumerate(msgs):
            self.assertEqual(m, bytes([i % 256]) * 1000)

    def test_stream_large_messages_flow_control(self):
        msgs = list(self.stream(stream_req(4, 4 << 20), timeout=30))
        self.assertEqual([len(m) for m in msgs], [4 << 20] * 4)
        self.assertEqual(msgs[3][:1], b"\x03")

    def test_stream_empty(self):
        self.assertEqual(list(self.stream(stream_req(0, 10), timeout=5)), [])

    def test_stream_zero_length_messages(self):
        self.assertEqual(list(self.stream(stream_req(3, 0), timeout=5)), [b"", b"", b""])

    def test_many_concurrent_streams(self):
        calls = [self.stream(stream_req(20, 100), timeout=20) for _ in range(100)]
        for c in calls:
            self.assertEqual(len(list(c)), 20)

    def test_stream_error_status(self):
        with self.assertRaises(grpc.RpcError) as cm:
            list(self.stream(b"short", timeout=5))
        self.assertEqual(cm.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)

    def test_cancel_stream_midway_runs_cancel_hook(self):
        it = self.stream(stream_req(1000000, 1000), timeout=30)
        next(it)
        it.cancel()
        self.srv.expect_line("cancelled stream status=1")

    def test_deadline_runs_cancel_hook(self):
        # Raw HTTP/2, so only the server's grpc-timeout timer can end the call
        # (grpcio would race it with its own RST_STREAM at the same instant).
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        conn.initiate_connection()
        conn.send_headers(1, [(":method", "POST"), (":scheme", "http"),
                              (":path", "/test.Echo/Hold"), (":authority", "localhost"),
                              ("content-type", "application/grpc"), ("te", "trailers"),
                              ("grpc-timeout", "200m")])
        conn.send_data(1, b"\0\0\0\0\1x", end_stream=True)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.srv.sock)
        s.sendall(conn.data_to_send())
        try:
            self.srv.expect_line("cancelled status=4")
            s.settimeout(5)
            data = b""
            while b"grpc-status" not in data:
                chunk = s.recv(65536)
                if not chunk:
                    break
                for ev in conn.receive_data(chunk):
                    if isinstance(ev, h2.events.TrailersReceived) or \
                            isinstance(ev, h2.events.ResponseReceived):
                        hdrs = dict((k if isinstance(k, bytes) else k.encode(),
                                     v if isinstance(v, bytes) else v.encode())
                                    for k, v in ev.headers)
                        if b"grpc-status" in hdrs:
                            data = b"grpc-status"
                            self.assertEqual(hdrs[b"grpc-status"], b"4")
            self.assertEqual(data, b"grpc-status", "no grpc-status in the response")
        finally:
            s.close()

    def test_client_cancel_runs_cancel_hook(self):
        fut = self.hold.future(b"x", timeout=30)
        time.sleep(0.2)
        fut.cancel()
        self.srv.expect_line("cancelled status=1")

    def test_connection_close_runs_cancel_hook(self):
        # A raw HTTP/2 client, so the socket closes with no RST_STREAM first.
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        conn.initiate_connection()
        conn.send_headers(1, [(":method", "POST"), (":scheme", "http"),
                              (":path", "/test.Echo/Hold"), (":authority", "localhost"),
                              ("content-type", "application/grpc"), ("te", "trailers")])
        conn.send_data(1, b"\0\0\0\0\1x", end_stream=True)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.srv.sock)
        s.sendall(conn.data_to_send())
        time.sleep(0.2)
        s.close()
        self.srv.expect_line("cancelled status=1")

if __name__ == "__main__":
    unittest.main(verbosity=2)
