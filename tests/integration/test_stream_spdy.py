"""The SPDY/3.1 streaming connection at the protocol level, through the real
daemon, the Exec RPC's URL and the test suite's own SPDY client
(spdy_client.py, independent of crid's codec): a whole exec round trip and
crictl's (client-go's SPDY executor) exec with and without stdin; PINGs
echoed; unknown, unexpected and duplicate streams reset while the session
carries on; stream ids going backwards, a bad version, an oversized control
frame, too many headers, a header block compressed without the SPDY
dictionary and an HTTP request after the upgrade each answered with GOAWAY
and a close (the daemon unharmed); the client's GOAWAY (before the streams:
the end; mid-session: no new stream, the session finishes); the stream
creation limit (shortened with CRID_TEST=1 CRID_TEST_STREAM_CREATION_TIMEOUT);
port-forward pairs by requestid and by stream ids, ports out of range reset,
a pair left incomplete timed out on its error stream;
a client vanishing mid-session (no fd left in crid); 200 idle exec sessions
open at once and then closed (crid's fds back where they were)."""
import os
import re
import socket
import struct
import subprocess
import time
import urllib.request
import zlib

import api_pb2
from crid_fixture import version_ok
from ctr_fixture import CtrBase, setup_registry, teardown_registry
import spdy_client as sc

CREATION_TIMEOUT = 3  # seconds, for the daemon under test (CRID_TEST=1)
CRICTL = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "..", "shared", "bin", "crictl")
V4 = ["v4.channel.k8s.io"]


def setUpModule():
    # The Crid fixture passes os.environ on to the daemon.
    os.environ["CRID_TEST"] = "1"
    os.environ["CRID_TEST_STREAM_CREATION_TIMEOUT"] = str(CREATION_TIMEOUT)
    setup_registry()


def tearDownModule():
    teardown_registry()
    os.environ.pop("CRID_TEST_STREAM_CREATION_TIMEOUT", None)
    os.environ.pop("CRID_TEST", None)


class _Tests:
    _cid = None

    def ctr(self):
        """One long-running busybox container for the whole class."""
        if type(self)._cid is None:
            pod = self.run_pod(cleanup=False)
            type(self)._cid = self.run_ctr(pod, "target", script="sleep 100000")
        return type(self)._cid

    def exec_url(self, cmd, stdin=False, stdout=True, stderr=True, tty=False):
        r = self.rt.Exec(api_pb2.ExecRequest(container_id=self.ctr(), cmd=cmd, stdin=stdin,
                                             stdout=stdout, stderr=stderr, tty=tty),
                         timeout=10)
        return r.url

    def spdy_connect(self, cmd=("sleep", "300"), cleanup=True, **kw):
        conn, resp = sc.SpdyConn.upgrade(self.exec_url(list(cmd), **kw), V4)
        self.assertIsNotNone(conn, "upgrade refused: %r" % (resp,))
        if cleanup:
            self.addCleanup(conn.close)
        return conn

    def crid_fds(self):
        return len(os.listdir("/proc/%d/fd" % self.crid.proc.pid))

    def wait_fds(self, want, timeout=30):
        deadline = time.monotonic() + timeout
        n = self.crid_fds()
        while n > want and time.monotonic() < deadline:
            time.sleep(0.1)
            n = self.crid_fds()
        return n

    def assert_goaway_and_close(self, conn, status=sc.PROTOCOL_ERROR):
        self.assertTrue(conn.wait_closed(15), "connection not closed")
        self.assertIsNotNone(conn.goaway, "no GOAWAY before the close")
        self.assertEqual(conn.goaway[1], status)
        version_ok(self.crid)

    # -- a whole session, as a sanity check of the path the others cut short --------

    def test_exec_round_trip(self):
        conn = self.spdy_connect(["sh", "-c", "cat; echo err >&2; exit 3"], stdin=True)
        ex = sc.ExecSession(conn, stdin=True, stdout=True, stderr=True).open()
        r = ex.run(stdin=b"hello spdy\n")
        self.assertEqual(r["stdout"], b"hello spdy\n")
        self.assertEqual(r["stderr"], b"err\n")
        self.assertEqual(sc.exit_code(r["status"]), 3, r)

    def crictl(self, *args, stdin=None, timeout=60):
        if not os.access(CRICTL, os.X_OK):
            reason = "no crictl at %s (a fresh clone has no ../shared)" % CRICTL
            print("SKIP %s: %s" % (self.id(), reason))
            self.skipTest(reason)
        return subprocess.run([CRICTL, "--runtime-endpoint", self.crid.target()] + list(args),
                              input=stdin, capture_output=True, timeout=timeout)

    def test_crictl_exec(self):
        """client-go's SPDY executor (pings, stream creation, its close) against the server."""
        r = self.crictl("exec", self.ctr(), "sh", "-c", "echo hi; echo oops >&2")
        self.assertEqual(r.returncode, 0, r)
        self.assertEqual(r.stdout, b"hi\n")
        self.assertIn(b"oops", r.stderr)
        r = self.crictl("exec", "-i", self.ctr(), "cat", stdin=b"through stdin\n")
        self.assertEqual((r.returncode, r.stdout), (0, b"through stdin\n"), r)

    # -- connection-level behaviour -------------------------------------------------

    def test_ping_echoed(self):
        conn = self.spdy_connect()
        conn.ping(1)
        conn.ping(0x7ffffff1)
        self.assertTrue(conn.wait_for(lambda: len(conn.pings) == 2, 10), conn.pings)
        self.assertEqual(conn.pings, [1, 0x7ffffff1])

    def test_unknown_and_duplicate_streams_reset(self):
        conn = self.spdy_connect()
        err = conn.open_stream({"streamtype": "error"})
        self.assertTrue(err.replied)
        bogus = conn.open_stream({"streamtype": "bogus"})
        self.assertFalse(bogus.replied)
        self.assertEqual(bogus.reset, sc.REFUSED_STREAM)
        dup = conn.open_stream({"streamtype": "error"})
        self.assertFalse(dup.replied)
        self.assertEqual(dup.reset, sc.PROTOCOL_ERROR)
        stdin = conn.open_stream({"streamtype": "stdin"})  # not asked for by the request
        self.assertEqual(stdin.reset, sc.REFUSED_STREAM)
        # the session carries on: the rest of its streams are accepted and it runs
        out = conn.open_stream({"streamtype": "stdout"})
        errs = conn.open_stream({"streamtype": "stderr"})
        self.assertTrue(out.replied and errs.replied)
        conn.ping(3)
        self.assertTrue(conn.wait_for(lambda: 3 in conn.pings, 10))
        self.assertFalse(conn.eof)

    def test_stream_ids_backwards_goaway(self):
        conn = self.spdy_connect()
        conn.syn_stream(5, {"streamtype": "error"})
        conn.syn_stream(3, {"streamtype": "stdout"})
        self.assert_goaway_and_close(conn)

    def test_bad_version_goaway(self):
        conn = self.spdy_connect()
        conn.send_raw(sc.control_frame(sc.PING, 0, struct.pack(">I", 1), version=2))
        self.assert_goaway_and_close(conn)

    def test_huge_control_frame_goaway(self):
        conn = self.spdy_connect()
        head = struct.pack(">HHI", 0x8003, sc.SYN_STREAM, 1 << 20)  # a 1 MiB SYN_STREAM
        try:
            conn.send_raw(head + struct.pack(">IIBB", 1, 0, 0, 0) + b"\0" * (128 << 10))
        except OSError:
            pass  # closed on us while we wrote: what the test wants
        self.assert_goaway_and_close(conn)

    def test_huge_header_block_goaway(self):
        conn = self.spdy_connect()
        headers = [("x-h%d" % i, "v") for i in range(100)]  # more pairs than allowed
        try:
            conn.syn_stream(1, headers)
        except OSError:
            pass
        self.assert_goaway_and_close(conn)

    def test_wrong_dictionary_goaway(self):
        conn = self.spdy_connect()
        block = zlib.compress(sc.encode_header_block({"streamtype": "error"}))
        payload = struct.pack(">IIBB", 1, 0, 0, 0) + block
        conn.send_raw(sc.control_frame(sc.SYN_STREAM, 0, payload))
        self.assert_goaway_and_close(conn)

    def test_garbage_after_upgrade(self):
        conn = self.spdy_connect()
        conn.send_raw(b"GET / HTTP/1.1\r\n\r\n" * 4)
        self.assertTrue(conn.wait_closed(15))
        version_ok(self.crid)

    def test_client_goaway_mid_session(self):
        """After the client's GOAWAY the running session still ends as it should."""
        conn = self.spdy_connect(["sh", "-c", "sleep 1; echo done"])
        ex = sc.ExecSession(conn).open()
        conn.send_goaway(last_good=0)
        late = conn.open_stream({"streamtype": "stdin"})
        self.assertEqual(late.reset, sc.REFUSED_STREAM)
        r = ex.run(timeout=30)
        self.assertEqual(r["stdout"], b"done\n")
        self.assertEqual(sc.exit_code(r["status"]), 0, r)

    def test_client_goaway_before_streams(self):
        conn = self.spdy_connect()
        conn.open_stream({"streamtype": "error"})
        conn.send_goaway(last_good=0)
        self.assertTrue(conn.wait_closed(15), "a session that cannot start any more stays open")
        version_ok(self.crid)

    def test_creation_timeout(self):
        conn = self.spdy_connect()
        err = conn.open_stream({"streamtype": "error"})
        t0 = time.monotonic()
        self.assertTrue(conn.wait_closed(CREATION_TIMEOUT + 20), "not closed after the limit")
        self.assertGreaterEqual(time.monotonic() - t0, CREATION_TIMEOUT - 1)
        self.assertIn(b"timed out waiting for client to create streams", bytes(err.data))
        self.assertTrue(err.fin)

    # -- port-forward pairs --------------------------------------------------------------

    _httpd_pod = None

    def httpd_pod(self):
        """A pod whose busybox httpd answers on 8080 (one for the class)."""
        if type(self)._httpd_pod is None:
            pod = self.run_pod(cleanup=False)
            cid = self.run_ctr(pod, "httpd", script="mkdir -p /www && echo hello-pf > "
                               "/www/index.html && exec httpd -f -p 8080 -h /www")
            deadline = time.monotonic() + 30
            while self.exec_sync(cid, ["wget", "-q", "-O", "-",
                                       "http://127.0.0.1:8080/"]).exit_code != 0:
                self.assertLess(time.monotonic(), deadline, "httpd did not come up")
                time.sleep(0.2)
            type(self)._httpd_pod = pod
        return type(self)._httpd_pod

    def pf_connect(self, cleanup=True):
        url = self.rt.PortForward(api_pb2.PortForwardRequest(
            pod_sandbox_id=self.httpd_pod(), port=[8080]), timeout=10).url
        conn, resp = sc.SpdyConn.upgrade(url, sc.PORT_FORWARD_PROTOCOLS)
        self.assertIsNotNone(conn, "upgrade refused: %r" % (resp,))
        if cleanup:
            self.addCleanup(conn.close)
        return conn

    def test_port_forward_pairs(self):
        """Pairs by requestid (and by stream ids without one) run at once on one connection."""
        conn = self.pf_connect()
        bad = conn.open_stream({"streamtype": "data", "port": "0", "requestid": "7"})
        self.assertEqual(bad.reset, sc.PROTOCOL_ERROR, "port 0 not reset")
        bad = conn.open_stream({"streamtype": "data", "port": "65536", "requestid": "7"})
        self.assertEqual(bad.reset, sc.PROTOCOL_ERROR, "port 65536 not reset")
        pairs = [sc.PortForwardPair(conn, 8080, rid) for rid in (0, 1)]
        # a client older than the requestid header: error stream n, data stream n + 2
        err = conn.open_stream({"streamtype": "error", "port": "8080"})
        data = conn.open_stream({"streamtype": "data", "port": "8080"})
        self.assertEqual(data.sid, err.sid + 2)
        for st in [p.data for p in pairs] + [data]:
            self.assertTrue(st.replied)
            conn.send_data(st.sid, b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        for st in [p.data for p in pairs] + [data]:
            self.assertTrue(conn.wait_for(lambda st=st: st.fin, 30), "no response on %d" % st.sid)
            self.assertRegex(bytes(st.data[:40]), rb"^HTTP/1\.[01] 200 ")
            self.assertIn(b"hello-pf", bytes(st.data))
        self.assertFalse(conn.eof)

    def test_port_forward_pair_timeout(self):
        conn = self.pf_connect()
        err = conn.open_stream({"streamtype": "error", "port": "8080", "requestid": "5"})
        self.assertTrue(err.replied)
        self.assertTrue(conn.wait_for(lambda: err.fin, CREATION_TIMEOUT + 20),
                        "the lone error stream not closed")
        self.assertIn(b"timed out waiting for streams", bytes(err.data))
        conn.ping(5)  # the connection itself carries on
        self.assertTrue(conn.wait_for(lambda: 5 in conn.pings, 10))
        pair = sc.PortForwardPair(conn, 8080, 6)
        pair.send(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        self.assertIn(b"hello-pf", pair.read_until_fin(30))

    def test_crictl_port_forward(self):
        """client-go's port-forwarder: a pair per local connection, two connections."""
        self.crictl("version")  # skips when absent
        proc = subprocess.Popen([CRICTL, "--runtime-endpoint", self.crid.target(),
                                 "port-forward", self.httpd_pod(), ":8080"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.addCleanup(proc.wait)
        self.addCleanup(proc.kill)
        line = proc.stdout.readline().decode()
        m = re.search(r"127\.0\.0\.1:(\d+) -> 8080", line)
        self.assertIsNotNone(m, "crictl port-forward printed %r" % line)
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        for _ in range(2):
            with direct.open("http://127.0.0.1:%s/" % m.group(1), timeout=30) as r:
                self.assertIn(b"hello-pf", r.read())

    # -- resources --------------------------------------------------------------------

    def test_client_vanishes_mid_session(self):
        self.ctr()
        version_ok(self.crid)
        before = self.crid_fds()
        conn = self.spdy_connect(["sleep", "300"], stdin=True)
        sc.ExecSession(conn, stdin=True, stdout=True, stderr=True).open()
        conn.send_data(conn.streams[3].sid, b"x")  # mid-session: stdin flowing
        self.assertGreater(self.crid_fds(), before)
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()  # an RST, as a client that died
        # <=: a gRPC connection counted in |before| may have closed since
        self.assertLessEqual(self.wait_fds(before), before, "fds left after the client vanished")
        version_ok(self.crid)

    def test_200_idle_sessions(self):
        self.ctr()
        version_ok(self.crid)
        before = self.crid_fds()
        conns = []
        try:
            for _ in range(200):
                conn, resp = sc.SpdyConn.upgrade(self.exec_url(["sleep", "600"], stderr=False),
                                                 V4)
                self.assertIsNotNone(conn, resp)
                conns.append(conn)
                sc.ExecSession(conn, stdout=True, stderr=False).open()
            # each open session holds its socket at least
            self.assertGreaterEqual(self.crid_fds(), before + 200)
            for c in conns:  # every one still answers
                c.ping(9)
            for c in conns:
                self.assertTrue(c.wait_for(lambda c=c: 9 in c.pings, 30))
                self.assertFalse(c.eof)
            version_ok(self.crid, timeout=10)
        finally:
            for c in conns:
                c.close()
        self.assertLessEqual(self.wait_fds(before, timeout=120), before,
                             "fds left after 200 sessions closed")

    def test_zz_open_at_shutdown(self):
        """Sessions still open when the daemon stops (tearDownClass): aborted, nothing leaks
        (the ASan run checks the daemon's exit)."""
        conn = self.spdy_connect(["sleep", "600"], cleanup=False, stderr=False)
        sc.ExecSession(conn, stderr=False).open()
        pf = self.pf_connect(cleanup=False)
        sc.PortForwardPair(pf, 8080, 0)
        type(self)._left_open = [conn, pf]  # kept open past the daemon's stop
        version_ok(self.crid)


class SpdyRunc(_Tests, CtrBase):
    runtime = "runc"
