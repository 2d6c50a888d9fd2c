"""Exec and PortForward over WebSocket through an independent client
(Debian's python3-websocket) against the real daemon and runc: the URL the
Exec / PortForward RPCs return, upgraded with each subprotocol crid speaks
(v5.channel.k8s.io, v4.channel.k8s.io, v4.base64.channel.k8s.io,
base64.channel.k8s.io, channel.k8s.io and none), checked on the wire: the
empty message that opens a session, output per channel, the status on the
error channel (metav1.Status JSON from v4 on), stdin round trips, the v5
CLOSE signal, resize of a tty, port-forward to an HTTP server in a pod, and
bad input (garbage frames, unknown channels, oversized messages, bad base64,
a close mid-session) leaving the daemon answering with no fd left behind.

crictl 1.29 (../shared/bin/crictl) has no `--transport websocket` (it came
in 1.30), so the WebSocket side is checked with Python only; the SPDY
modules use crictl."""
import base64
import hashlib
import json
import os
import select
import socket
import struct
import threading
import time
import unittest

try:
    import websocket
except ImportError:  # python3-websocket (make deps)
    websocket = None

import api_pb2
import ctr_fixture
import spdy_client
from crid_fixture import version_ok
from ctr_fixture import CtrBase, setup_registry, teardown_registry

TUNNEL = "SPDY/3.1+portforward.k8s.io"
V5, V4, V4B64, B64, CHAN = ("v5.channel.k8s.io", "v4.channel.k8s.io",
                            "v4.base64.channel.k8s.io", "base64.channel.k8s.io",
                            "channel.k8s.io")
BASE64_PROTOS = (V4B64, B64)
STATUS_PROTOS = (V5, V4, V4B64)  # the error channel carries a metav1.Status
OP_TEXT, OP_BINARY, OP_CLOSE = 1, 2, 8


def setUpModule():
    setup_registry()


def tearDownModule():
    teardown_registry()


class Session:
    """One WebSocket streaming session: channel messages in and out."""

    def __init__(self, url, proto, timeout=60):
        kw = {"subprotocols": [proto]} if proto else {}
        self.proto = proto
        self.b64 = proto in BASE64_PROTOS
        self.ws = websocket.create_connection(url.replace("http://", "ws://", 1),
                                              timeout=timeout, **kw)
        self.out = {}          # channel -> bytes received
        self.closed_chans = []  # v5 CLOSE signals received
        self.first = None      # (channel, payload) of the first message
        self.close_code = None

    def send(self, chan, data):
        if self.b64:
            self.ws.send(chr(ord("0") + chan) + base64.b64encode(data).decode(),
                         opcode=OP_TEXT)
        else:
            self.ws.send(bytes([chan]) + data, opcode=OP_BINARY)

    def send_raw(self, data, opcode=OP_BINARY):
        self.ws.send(data, opcode=opcode)

    def recv(self):
        """One message: (channel, payload); ('close', code) at the close frame."""
        while True:
            op, data = self.ws.recv_data(control_frame=True)
            if isinstance(data, str):
                data = data.encode()
            if op == OP_CLOSE:
                self.close_code = struct.unpack(">H", data[:2])[0] if len(data) >= 2 else 1005
                return "close", self.close_code
            if op not in (OP_TEXT, OP_BINARY):
                continue
            if self.proto == V5 and len(data) == 2 and data[0] == 255:
                self.closed_chans.append(data[1])
                continue
            if self.b64:
                chan, payload = data[0] - ord("0"), base64.b64decode(data[1:])
            else:
                chan, payload = data[0], data[1:]
            if self.first is None:
                self.first = (chan, payload)
            self.out[chan] = self.out.get(chan, b"") + payload
            return chan, payload

    def until(self, pred, what):
        """Reads until pred(self) holds; fails at the close frame."""
        while not pred(self):
            chan, _ = self.recv()
            if chan == "close":
                raise AssertionError("closed (%s) before %s; got %r"
                                     % (self.close_code, what, self.out))

    def drain(self):
        """Reads to the server's close frame; returns its code."""
        while self.close_code is None:
            self.recv()
        self.ws.close()
        return self.close_code

    def status(self):
        raw = self.out.get(3, b"")
        return json.loads(raw) if raw else None


class Tunnel:
    """The client end of the SPDY-over-WebSocket tunnel, as client-go's
    TunnelingConnection: SPDY bytes in binary messages, no channel byte. Two
    pump threads join the WebSocket to one end of a socket pair; the SPDY
    test client (spdy_client.SpdyConn) runs unchanged on the other."""

    def __init__(self, url):
        self.ws = websocket.create_connection(url.replace("http://", "ws://", 1), timeout=60,
                                              subprotocols=[TUNNEL])
        self.mine, theirs = socket.socketpair()
        self.spdy = spdy_client.SpdyConn(theirs)
        self.close_code = None
        self.threads = [threading.Thread(target=f, daemon=True)
                        for f in (self._from_ws, self._to_ws)]
        for t in self.threads:
            t.start()

    def _from_ws(self):
        try:
            while True:
                op, data = self.ws.recv_data(control_frame=True)
                if op == OP_CLOSE:
                    self.close_code = struct.unpack(">H", data[:2])[0] if len(data) >= 2 else 1005
                    break
                if op == OP_BINARY:
                    self.mine.sendall(data)
        except (OSError, websocket.WebSocketException):
            pass
        try:
            self.mine.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def _to_ws(self):
        try:
            while True:
                b = self.mine.recv(65536)
                if not b:
                    break
                self.ws.send(b, opcode=OP_BINARY)
        except (OSError, websocket.WebSocketException):
            pass

    def close(self):
        """The client side ends first (as kubectl does when its forwarding stops)."""
        self.spdy.close()
        self.threads[1].join(30)  # to the WebSocket: ends at the socket pair's EOF
        self.ws.send_close()
        self.threads[0].join(30)  # from it: ends at the server's close
        self.ws.shutdown()
        self.mine.close()


class WsBase(CtrBase):
    @classmethod
    def setUpClass(cls):
        if websocket is None:
            raise unittest.SkipTest("python3-websocket missing (make deps)")
        super().setUpClass()

    def setUp(self):
        self.pod = self.run_pod()
        self.cid = self.run_ctr(self.pod, "sleeper", image="sleep")
        self.fds0 = self.daemon_fds()
        self.fd_targets0 = self.daemon_fd_targets()

    def tearDown(self):
        self.doCleanups()
        self.assertNothingLeft()

    def daemon_fds(self):
        return len(self.daemon_fd_targets())

    def daemon_fd_targets(self):
        d = "/proc/%d/fd" % self.crid.pid
        out = []
        for f in os.listdir(d):
            try:
                out.append(os.readlink(os.path.join(d, f)))
            except OSError:
                pass
        return out

    def assertFdsBack(self, what):
        """The daemon's fd count returns to what it was before the test's sessions."""
        deadline = time.monotonic() + 20
        while self.daemon_fds() > self.fds0 and time.monotonic() < deadline:
            time.sleep(0.1)
        left = sorted(self.daemon_fd_targets())
        for t in self.fd_targets0:
            if t in left:
                left.remove(t)
        self.assertLessEqual(self.daemon_fds(), self.fds0, "%s: daemon fds left: %s" % (what, left))
        version_ok(self.crid)

    def exec_url(self, cmd, stdin=False, stdout=True, stderr=True, tty=False, cid=None):
        return self.rt.Exec(api_pb2.ExecRequest(
            container_id=cid or self.cid, cmd=cmd, stdin=stdin, stdout=stdout,
            stderr=stderr, tty=tty), timeout=10).url

    def session(self, cmd, proto, **kw):
        return Session(self.exec_url(cmd, **kw), proto)

    def assertExit(self, s, code):
        """The exit status as the protocol reports it on the error channel."""
        if s.proto not in STATUS_PROTOS:
            if code == 0:
                self.assertEqual(s.out.get(3, b""), b"", "%s: nothing on success" % s.proto)
            else:
                self.assertIn(b"exit code", s.out.get(3, b""), s.proto)
            return
        st = s.status()
        if code == 0:
            self.assertEqual(st["status"], "Success", st)
            return
        self.assertEqual((st["status"], st["reason"]), ("Failure", "NonZeroExitCode"), st)
        self.assertEqual(st["details"]["causes"], [{"reason": "ExitCode", "message": str(code)}])


class WsExecTests(WsBase):
    def test_echo_each_protocol(self):
        for proto in (V5, V4, V4B64, B64, CHAN, None):
            with self.subTest(proto=proto):
                s = self.session(["echo", "hi"], proto)
                self.assertEqual(s.ws.subprotocol, proto, "negotiated subprotocol")
                s.until(lambda s: s.first is not None, "the first message")
                self.assertEqual(s.first, (1, b""), "empty message on stdout opens")
                self.assertEqual(s.drain(), 1000, "normal closure")
                self.assertEqual(s.out.get(1), b"hi\n")
                self.assertEqual(s.out.get(2, b""), b"")
                self.assertExit(s, 0)
        self.assertFdsBack("echo")

    def test_first_message_lowest_writable(self):
        s = self.session(["sh", "-c", "echo e >&2"], V4, stdout=False)
        s.until(lambda s: s.first is not None, "the first message")
        self.assertEqual(s.first, (2, b""), "stderr only: empty message on stderr")
        s.drain()
        self.assertEqual(s.out.get(2), b"e\n")
        self.assertNotIn(1, s.out)

    def test_exit_codes(self):
        cmd = ["sh", "-c", "echo out; echo err >&2; exit 3"]
        for proto in (V5, V4, V4B64, B64):
            with self.subTest(proto=proto):
                s = self.session(cmd, proto)
                self.assertEqual(s.drain(), 1000)
                self.assertEqual((s.out.get(1), s.out.get(2)), (b"out\n", b"err\n"))
                self.assertExit(s, 3)
        self.assertFdsBack("exit codes")

    def test_stdin_round_trip(self):
        for proto in (V4, V4B64):
            with self.subTest(proto=proto):
                s = self.session(["cat"], proto, stdin=True, stderr=False)
                for i in range(3):
                    line = b"line %d of %s\n" % (i, proto.encode())
                    s.send(0, line)
                    s.until(lambda s: s.out.get(1, b"").endswith(line), "cat's echo")
                # no half-close before v5: the client ends the session by closing
                s.ws.close()
        self.assertFdsBack("stdin round trip")

    def test_v5_close_stdin_ends_cat(self):
        blob = os.urandom(300 << 10)
        s = self.session(["sh", "-c", "cat; echo done >&2"], V5, stdin=True)
        for i in range(0, len(blob), 32 << 10):
            s.send(0, blob[i:i + (32 << 10)])
        s.send_raw(b"\xff\x00")  # v5 CLOSE stdin: cat sees EOF
        self.assertEqual(s.drain(), 1000)
        self.assertEqual(hashlib.sha256(s.out.get(1, b"")).hexdigest(),
                         hashlib.sha256(blob).hexdigest(), "every byte back through cat")
        self.assertEqual(s.out.get(2), b"done\n")
        self.assertExit(s, 0)
        self.assertEqual(sorted(s.closed_chans), [1, 2, 3], "v5 CLOSE of each output channel")
        self.assertFdsBack("v5 close")

    def test_exec_10mb_round_trip(self):
        """10 MB through cat and back over v5 while the client also reads: every byte, in
        order, with back-pressure both ways (a sender thread; the reader is this one)."""
        blob = os.urandom(10 << 20)
        s = self.session(["cat"], V5, stdin=True, stderr=False)
        s.until(lambda s: s.first is not None, "the first message")

        def sender():
            for i in range(0, len(blob), 64 << 10):
                s.send(0, blob[i:i + (64 << 10)])
            s.send_raw(b"\xff\x00")

        t = threading.Thread(target=sender, daemon=True)
        t.start()
        self.assertEqual(s.drain(), 1000)
        t.join(30)
        out = s.out.get(1, b"")
        self.assertEqual((len(out), hashlib.sha256(out).hexdigest()),
                         (len(blob), hashlib.sha256(blob).hexdigest()))
        self.assertExit(s, 0)
        self.assertFdsBack("10 MB")

    def test_concurrent_sessions(self):
        """30 WebSocket exec sessions open at once, each its own cat: every one echoes its
        own bytes, ends on its v5 CLOSE with status Success, and nothing is left."""
        n = 30
        sessions = [self.session(["cat"], V5, stdin=True, stderr=False) for _ in range(n)]
        for i, s in enumerate(sessions):
            s.send(0, b"session-%d" % i)
        for i, s in enumerate(sessions):
            s.until(lambda s: s.out.get(1, b"") == b"session-%d" % i, "its echo")
            s.send_raw(b"\xff\x00")
        for s in sessions:
            self.assertEqual(s.drain(), 1000)
            self.assertExit(s, 0)
        self.assertFdsBack("%d sessions" % n)

    def test_tty_resize(self):
        s = self.session(["sh", "-c", "read x; stty size"], V5, stdin=True, tty=True,
                         stderr=False)
        s.send(4, b'{"Width":123,"Height":45}\n')
        s.send(0, b"go\n")
        self.assertEqual(s.drain(), 1000)
        self.assertIn(b"45 123", s.out.get(1, b""), "stty sees the new size")
        self.assertExit(s, 0)

    def test_unknown_channel_ignored(self):
        s = self.session(["sh", "-c", "read x; echo got $x"], V4, stdin=True)
        s.send_raw(b"\x09junk")       # no such channel
        s.send_raw(b"\x03junk")       # error: written by the server only
        s.send_raw(b"")               # empty message
        s.send_raw(b"\xfe" + b"x" * 10)
        s.send(0, b"ok\n")
        self.assertEqual(s.drain(), 1000)
        self.assertEqual(s.out.get(1), b"got ok\n")
        self.assertExit(s, 0)

    def test_bad_input(self):
        # bad base64 on a base64 protocol: close 1007
        s = self.session(["cat"], V4B64, stdin=True)
        s.send_raw("0!!!notbase64", opcode=OP_TEXT)
        self.assertEqual(s.drain(), 1007)
        # a message larger than the framing takes (1 MiB): close 1009 (or a reset when
        # the server closed under bytes it had not read)
        s = self.session(["cat"], V4, stdin=True)
        try:
            s.send_raw(b"\x00" + b"x" * ((1 << 20) + 16))
            code = s.drain()
        except (websocket.WebSocketConnectionClosedException, ConnectionResetError,
                BrokenPipeError):
            code = "reset"
        self.assertIn(code, (1009, "reset"))
        # garbage after the handshake: the server closes the connection, never waits
        for garbage in (b"\x0f\x85" + os.urandom(5) * 4,      # reserved opcode
                        b"\x82\x05hello",                     # not masked
                        b"\xf2\x85" + os.urandom(9),          # reserved bits
                        b"\x82\xff" + b"\xff" * 8 + b"\x00" * 4,  # 2^64-1 bytes
                        os.urandom(4096)):
            s = self.session(["cat"], V4, stdin=True)
            s.ws.sock.sendall(garbage)
            s.ws.sock.settimeout(30)
            try:
                while s.ws.sock.recv(65536):
                    pass
            except ConnectionResetError:
                pass
            except socket.timeout:
                self.fail("the server kept a connection that sent %r" % garbage[:16])
            s.ws.sock.close()
        # a close in the middle of a session (cat waits on stdin)
        s = self.session(["cat"], V5, stdin=True)
        s.send(0, b"half")
        s.until(lambda s: s.out.get(1) == b"half", "cat's echo")
        s.ws.close()
        # and the connection simply dropped
        s = self.session(["cat"], V4, stdin=True)
        s.ws.sock.shutdown(socket.SHUT_RDWR)
        s.ws.sock.close()
        self.assertFdsBack("bad input")
        s = self.session(["echo", "still"], V5)
        s.drain()
        self.assertEqual(s.out.get(1), b"still\n", "the daemon still serves")


    def test_attach_output(self):
        """Attach over WebSocket to a container that writes: its output arrives, detaching
        (the client closes) leaves it running."""
        cid = self.run_ctr(self.pod, "ticker",
                           script="i=0; while :; do echo tick-$i; i=$((i+1)); sleep 0.2; done")
        self.fds0 = self.daemon_fds()  # the container's own fds (log, exit watch) stay
        self.fd_targets0 = self.daemon_fd_targets()
        for proto in (V5, V4B64):
            with self.subTest(proto=proto):
                url = self.rt.Attach(api_pb2.AttachRequest(container_id=cid, stdout=True,
                                                           stderr=True), timeout=10).url
                s = Session(url, proto)
                s.until(lambda s: s.out.get(1, b"").count(b"\n") >= 3, "three ticks")
                self.assertRegex(s.out[1].decode(), r"tick-\d+\n")
                s.ws.close()
        self.assertFdsBack("attach")
        self.assertEqual(self.status(cid).status.state, api_pb2.CONTAINER_RUNNING)

    def test_daemon_stop_ends_sessions(self):
        """SIGTERM with WebSocket sessions open (one busy, one idle, one finishing): the
        connections end, the daemon exits 0 (under ASan: nothing leaked), the clients see
        the end, and the restarted daemon serves."""
        busy = self.session(["cat"], V5, stdin=True)
        busy.send(0, b"x")
        busy.until(lambda s: s.out.get(1) == b"x", "cat's echo")
        idle = self.session(["cat"], V4B64, stdin=True)
        idle.until(lambda s: s.first is not None, "the first message")
        done = self.session(["echo", "bye"], V4)
        done.until(lambda s: s.out.get(1) == b"bye\n", "the output")  # its close unanswered
        self.channel.close()
        rc = self.crid.stop()
        self.assertEqual(rc, 0, "crid exit status with sessions open\n" + self.crid.log(80))
        for s in (busy, idle, done):
            try:
                while s.close_code is None:
                    s.recv()
            except (websocket.WebSocketConnectionClosedException, ConnectionResetError):
                pass
            s.ws.shutdown()
        self.crid.start()
        type(self).connect()
        s = self.session(["echo", "again"], V5)
        s.drain()
        self.assertEqual(s.out.get(1), b"again\n")


class WsPortForwardTests(WsBase):
    def setUp(self):
        self.pod = self.run_pod()
        self.cid = self.run_ctr(
            self.pod, "httpd",
            script="mkdir -p /www && echo hello-pf > /www/index.html && "
                   "exec httpd -f -p 8080 -h /www")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            r = self.exec_sync(self.cid, ["wget", "-q", "-O", "-", "http://127.0.0.1:8080/"])
            if r.exit_code == 0:
                break
            time.sleep(0.2)
        self.fds0 = self.daemon_fds()
        self.fd_targets0 = self.daemon_fd_targets()

    def pf_url(self, ports):
        return self.rt.PortForward(api_pb2.PortForwardRequest(
            pod_sandbox_id=self.pod, port=ports), timeout=10).url

    def test_http_over_v4(self):
        for proto in (V4, V4B64):
            with self.subTest(proto=proto):
                s = Session(self.pf_url([8080]), proto)
                port = struct.pack("<H", 8080)
                s.until(lambda s: s.out.get(0) == port and s.out.get(1) == port,
                        "the port on both channels")
                s.send(0, b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
                s.until(lambda s: b"hello-pf" in s.out.get(0, b""), "the page")
                self.assertRegex(s.out[0][2:40], rb"^HTTP/1\.[01] 200 ", "the response")
                self.assertEqual(s.out.get(1), port, "nothing on the error channel")
                # httpd closed its end: every requested port is done, the server closes
                self.assertEqual(s.drain(), 1000)
                self.assertEqual(s.out.get(1), port, "still nothing on the error channel")
        self.assertFdsBack("port-forward")

    def test_http_over_spdy_tunnel(self):
        t = Tunnel(self.pf_url([8080]))
        self.assertEqual(t.ws.subprotocol.lower(), TUNNEL.lower())  # the client lower-cases it
        pages = []
        for rid in range(3):  # several forwarded connections, one after the other
            pair = spdy_client.PortForwardPair(t.spdy, 8080, rid)
            self.assertTrue(pair.data.replied and pair.error.replied, "both streams accepted")
            pair.send(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
            pages.append(pair.read_until_fin(timeout=30))
        for page in pages:
            self.assertRegex(page[:40], rb"^HTTP/1\.[01] 200 ", "the response")
            self.assertIn(b"hello-pf", page)
        t.close()
        self.assertFdsBack("spdy tunnel")

    def test_10mb_download(self):
        """10 MB from a server in the pod (busybox nc) over v4 port-forward, checksummed."""
        nc = self.run_ctr(self.pod, "nc", script="head -c 10485760 /dev/urandom > /blob.tmp && "
                          "mv /blob.tmp /blob && while :; do nc -l -p 9000 < /blob; done")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            r = self.exec_sync(nc, ["sh", "-c", "test -f /blob && netstat -ltn | grep -q :9000"])
            if r.exit_code == 0:
                break
            time.sleep(0.2)
        want = self.exec_sync(nc, ["sha256sum", "/blob"]).stdout.split()[0].decode()
        self.fds0 = self.daemon_fds()
        self.fd_targets0 = self.daemon_fd_targets()
        s = Session(self.pf_url([9000]), V4)
        port = struct.pack("<H", 9000)
        s.until(lambda s: s.out.get(1) == port, "the port")
        s.send(0, b"go")  # nothing needed, but a client usually speaks first
        s.until(lambda s: len(s.out.get(0, b"")) >= 2 + (10 << 20), "10 MB")
        got = s.out[0][2:]
        self.assertEqual((len(got), hashlib.sha256(got).hexdigest()), (10 << 20, want))
        s.ws.close()
        self.assertFdsBack("10 MB download")


class WsIdleTests(WsBase):
    """A daemon with a 3 s idle limit ([crid.stream] idle_timeout)."""
    IDLE = 3

    @classmethod
    def start_daemon(cls):
        real = ctr_fixture.Crid

        def with_config(**kw):
            c = real(**kw)
            c.config = os.path.join(c.tmp, "crid.toml")
            with open(c.config, "w") as f:
                f.write("[crid.stream]\nidle_timeout = %d\n" % cls.IDLE)
            return c

        ctr_fixture.Crid = with_config
        try:
            super().start_daemon()
        finally:
            ctr_fixture.Crid = real

    def test_idle_session_closed(self):
        busy = self.session(["cat"], V5, stdin=True)
        idle = self.session(["cat"], V4, stdin=True)
        idle.until(lambda s: s.first is not None, "the first message")

        def idle_open():
            # never block here: the busy session must keep talking
            if not select.select([idle.ws.sock], [], [], 0)[0]:
                return True  # nothing to read, not closed
            try:
                return idle.ws.sock.recv(1, socket.MSG_PEEK) != b""
            except OSError:
                return False

        states = []
        for i in range(2 * self.IDLE + 4):  # traffic on one past the limit, silence on the other
            busy.send(0, b"%d" % i)
            busy.until(lambda s: s.out.get(1, b"").endswith(b"%d" % i), "cat's echo")
            states.append(idle_open())
            time.sleep(0.5)
        self.assertTrue(states[0], "the idle one is open before its limit: %s" % states)
        self.assertFalse(states[-1], "the idle one is closed after its limit: %s" % states)
        busy.send(0, b"still")
        busy.until(lambda s: s.out.get(1, b"").endswith(b"still"), "cat's echo")
        busy.send_raw(b"\xff\x00")
        self.assertEqual(busy.drain(), 1000)
        idle.ws.shutdown()
        self.assertFdsBack("idle")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            ps = self.exec_sync(self.cid, ["ps", "-o", "comm"]).stdout.split()
            if b"cat" not in ps:
                break
            time.sleep(0.2)
        self.assertNotIn(b"cat", ps, "the idle session's process ended with it")
