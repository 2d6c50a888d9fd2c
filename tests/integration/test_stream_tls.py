"""The streaming server over TLS (`--stream-tls-cert`, `--stream-tls-key`;
io/tls_bridge.c) through independent clients: a self-signed
certificate made with the `openssl` CLI, the URLs the RPCs return (https),
Status verbose ("tls": true), exec over SPDY through Python's ssl module
(spdy_client.py with an ssl_context: stdout, exit codes, 10 MB each way
checked by sha256), exec over WebSocket (python3-websocket, wss://), the
real client-go executor in crictl when present, a plain-HTTP request to the
TLS port (closed, daemon fine), a client that never finishes its handshake
(closed after the header timeout), bad certificate and key files (start-up
fails naming the file), and the daemon's fd count back after all of it."""
import hashlib
import json
import os
import shutil
import socket
import ssl
import struct
import subprocess
import tempfile
import time
import unittest

try:
    import websocket
except ImportError:  # python3-websocket (make deps)
    websocket = None

import api_pb2
import ctr_fixture
import fd_check
from crid_fixture import Crid, DaemonError
from ctr_fixture import REPO, CtrBase, setup_registry, teardown_registry
from spdy_client import ExecSession, SpdyConn, exit_code

CRICTL = os.environ.get("CRICTL", os.path.join(os.path.dirname(REPO), "shared", "bin", "crictl"))
if not os.access(CRICTL, os.X_OK):
    CRICTL = "/work/shared/bin/crictl"
MB10 = 10 << 20
HEADER_TIMEOUT = 2.0
SLEEP = ["sleep", "100000"]
CERTS = None  # the module's temp dir: cert.pem, key.pem


def make_cert(d):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-days", "1",
                    "-keyout", os.path.join(d, "key.pem"), "-out", os.path.join(d, "cert.pem")],
                   check=True, capture_output=True, timeout=120)


def setUpModule():
    global CERTS
    if shutil.which("openssl") is None:
        raise unittest.SkipTest("the openssl CLI is missing (make deps): no certificate")
    CERTS = tempfile.mkdtemp(prefix="crid-tls-")
    make_cert(CERTS)
    setup_registry()


def tearDownModule():
    teardown_registry()
    if CERTS:
        shutil.rmtree(CERTS, ignore_errors=True)


def tls_args():
    return ["--stream-tls-cert", os.path.join(CERTS, "cert.pem"),
            "--stream-tls-key", os.path.join(CERTS, "key.pem")]


def client_context():
    """Trusts the test's own certificate (so the check is real, not CERT_NONE)."""
    ctx = ssl.create_default_context(cafile=os.path.join(CERTS, "cert.pem"))
    ctx.check_hostname = True
    return ctx


def crictl_missing():
    if not os.access(CRICTL, os.X_OK):
        return "crictl (cri-tools 1.29) not at %s: the real client-go SPDY executor is " \
               "not available in this checkout" % CRICTL
    return None


class StreamTlsTests(CtrBase):
    """One daemon with TLS on; one pod with a sleeper every test execs into."""

    @classmethod
    def start_daemon(cls):
        real = ctr_fixture.Crid

        def with_tls(**kw):
            kw["extra_args"] = list(kw.get("extra_args", ())) + tls_args()
            kw["env"] = {"CRID_TEST": "1",
                         "CRID_TEST_STREAM_HEADER_TIMEOUT": str(HEADER_TIMEOUT)}
            return real(**kw)

        ctr_fixture.Crid = with_tls
        try:
            super().start_daemon()
        finally:
            ctr_fixture.Crid = real
        cls.pod = None

    def setUp(self):
        if type(self).pod is None:
            type(self).pod = self.run_pod(cleanup=False)
            type(self).sleeper = self.run_ctr(self.pod, "sleeper", command=SLEEP)
            self.spdy_exec(["true"])  # the lazily made fds exist from here on
            type(self).fds0 = self.daemon_fds()
        self.base_fds = self.daemon_fds()

    def tearDown(self):
        self.doCleanups()
        self.assertFdsBack(self.base_fds)

    def daemon_fds(self):
        return len(os.listdir("/proc/%d/fd" % self.crid.pid))

    def assertFdsBack(self, base, timeout=HEADER_TIMEOUT + 20):
        n = fd_check.settle_fds(self.crid.pid, base, timeout)
        if n > base:
            self.fail("daemon holds %d fds, %d before: %r"
                      % (n, base, fd_check.fd_targets(self.crid.pid)))

    def streaming(self):
        r = self.rt.Status(api_pb2.StatusRequest(verbose=True), timeout=10)
        return json.loads(r.info["streaming"])

    def exec_url(self, cmd, stdin=False, tty=False):
        return self.rt.Exec(api_pb2.ExecRequest(
            container_id=self.sleeper, cmd=cmd, stdin=stdin, stdout=True, stderr=not tty,
            tty=tty), timeout=30).url

    def spdy_exec(self, cmd, stdin=None, timeout=60):
        url = self.exec_url(cmd, stdin=stdin is not None)
        conn, resp = SpdyConn.upgrade(url, ["v4.channel.k8s.io"], ssl_context=client_context())
        self.assertIsNotNone(conn, "upgrade refused: %r" % (resp,))
        self.assertIsInstance(conn.sock, ssl.SSLSocket)
        ex = ExecSession(conn, stdin=stdin is not None).open()
        return ex.run(stdin=stdin, timeout=timeout)

    def port(self):
        return int(self.streaming()["url"].rsplit(":", 1)[1])

    def test_url_https(self):
        url = self.exec_url(["true"])
        self.assertRegex(url, r"^https://127\.0\.0\.1:\d+/exec/[A-Za-z0-9_-]{22}$")
        info = self.streaming()
        self.assertTrue(info["tls"], info)
        self.assertTrue(info["url"].startswith("https://127.0.0.1:"), info)
        pf = self.rt.PortForward(api_pb2.PortForwardRequest(pod_sandbox_id=self.pod, port=[80]),
                                 timeout=10).url
        self.assertTrue(pf.startswith("https://127.0.0.1:"), pf)

    def test_spdy_exec(self):
        r = self.spdy_exec(["echo", "over tls"])
        self.assertEqual(r["stdout"], b"over tls\n")
        self.assertEqual(exit_code(r["status"]), 0)
        r = self.spdy_exec(["sh", "-c", "echo err >&2; exit 3"])
        self.assertEqual((r["stderr"], exit_code(r["status"])), (b"err\n", 3))

    def test_spdy_10mb_each_way(self):
        r = self.exec_sync(self.sleeper, ["sh", "-c", "head -c %d /dev/urandom > /tmp/blob && "
                                          "sha256sum /tmp/blob" % MB10], timeout=60)
        self.assertEqual(r.exit_code, 0, r.stderr)
        want = r.stdout.split()[0].decode()
        got = self.spdy_exec(["cat", "/tmp/blob"], timeout=180)
        self.assertEqual(len(got["stdout"]), MB10)
        self.assertEqual(hashlib.sha256(got["stdout"]).hexdigest(), want)
        self.assertEqual(exit_code(got["status"]), 0)
        data = os.urandom(MB10)
        r = self.spdy_exec(["sha256sum"], stdin=data, timeout=180)
        self.assertEqual(r["stdout"].split()[0], hashlib.sha256(data).hexdigest().encode(), r)
        self.assertEqual(exit_code(r["status"]), 0)

    def test_websocket_exec(self):
        if websocket is None:
            self.skipTest("python3-websocket missing (make deps)")
        url = self.exec_url(["sh", "-c", "echo hello; exit 4"]).replace("https://", "wss://")
        ws = websocket.create_connection(url, timeout=60, subprotocols=["v5.channel.k8s.io"],
                                         sslopt={"cert_reqs": ssl.CERT_NONE})
        out, close = {}, None
        try:
            while close is None:
                op, data = ws.recv_data(control_frame=True)
                if op == websocket.ABNF.OPCODE_CLOSE:
                    close = struct.unpack(">H", data[:2])[0] if len(data) >= 2 else 1005
                elif op == websocket.ABNF.OPCODE_BINARY and data and data[0] != 255:
                    out[data[0]] = out.get(data[0], b"") + data[1:]
        finally:
            ws.close()
        self.assertEqual(close, 1000)
        self.assertEqual(out.get(1), b"hello\n")
        st = json.loads(out[3])
        self.assertEqual(st["details"]["causes"], [{"reason": "ExitCode", "message": "4"}])

    def test_plain_http_refused(self):
        token = self.exec_url(["true"]).rsplit("/", 1)[1]
        s = socket.create_connection(("127.0.0.1", self.port()), timeout=15)
        s.sendall(b"POST /exec/%s HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                  b"Upgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n"
                  % token.encode())
        got = b""
        try:
            while True:
                b = s.recv(4096)
                if not b:
                    break
                got += b
        except ConnectionResetError:
            pass
        s.close()
        # at most a TLS alert record (content type 21), never an HTTP answer
        self.assertFalse(got.startswith(b"HTTP/"), got)
        self.assertTrue(got == b"" or got[0] == 21, got)
        r = self.spdy_exec(["echo", "still serving"])
        self.assertEqual(r["stdout"], b"still serving\n")

    def test_silent_client_closed_after_timeout(self):
        s = socket.create_connection(("127.0.0.1", self.port()), timeout=HEADER_TIMEOUT + 20)
        t0 = time.monotonic()
        try:
            b = s.recv(1)
        except ConnectionResetError:
            b = b""
        took = time.monotonic() - t0
        s.close()
        self.assertEqual(b, b"")
        self.assertGreaterEqual(took, HEADER_TIMEOUT - 0.5)
        self.assertLess(took, HEADER_TIMEOUT + 15)
        self.assertEqual(self.streaming()["sessions"], 0)

    def test_crictl_exec(self):
        if crictl_missing():
            print("\n  skipped: " + crictl_missing())
            return
        p = subprocess.run([CRICTL, "--runtime-endpoint", "unix://" + self.crid.sock,
                            "--timeout", "60s", "exec", self.sleeper, "sh", "-c",
                            "echo via crictl; exit 2"], capture_output=True, timeout=120)
        if b"x509" in p.stderr or b"certificate" in p.stderr:
            print("\n  crictl refused the self-signed certificate, skipped: %r" % p.stderr)
            return
        self.assertEqual(p.stdout, b"via crictl\n", p.stderr)
        self.assertEqual(p.returncode, 1, p.stderr)  # crictl exits 1 for any non-zero code
        self.assertIn(b"exit code 2", p.stderr)

    def test_zz_fds_back(self):
        """Last (name order): every connection of the tests above is gone."""
        self.assertFdsBack(self.fds0)
        self.assertEqual(self.streaming()["sessions"], 0)

    def test_zzz_daemon_stop_with_tls_open(self):
        """SIGTERM with a TLS session open (cat, idle) and a client stuck before its
        handshake: both end, the daemon exits 0 (under ASan: nothing leaked), and the
        restarted daemon serves TLS again."""
        url = self.exec_url(["cat"], stdin=True)
        conn, resp = SpdyConn.upgrade(url, ["v4.channel.k8s.io"], ssl_context=client_context())
        self.assertIsNotNone(conn, "upgrade refused: %r" % (resp,))
        ex = ExecSession(conn, stdin=True).open()
        ex.send_stdin(b"x")
        self.assertTrue(conn.wait_for(lambda: bytes(ex.s["stdout"].data) == b"x", 30))
        silent = socket.create_connection(("127.0.0.1", self.port()), timeout=30)
        self.channel.close()
        rc = self.crid.stop()
        self.assertEqual(rc, 0, "crid exit status with TLS sessions open\n" + self.crid.log(80))
        self.assertTrue(conn.wait_closed(30), "the TLS session outlived the daemon")
        conn.close()
        try:
            self.assertEqual(silent.recv(1), b"")
        except ConnectionResetError:
            pass
        silent.close()
        self.crid.start()
        type(self).connect()
        r = self.spdy_exec(["echo", "again"])
        self.assertEqual(r["stdout"], b"again\n")
        self.base_fds = self.daemon_fds()  # a new process: its own count


class StreamTlsStartup(unittest.TestCase):
    """Bad TLS settings fail start-up with a message naming the file or key."""

    def start_fails(self, args, *want):
        c = Crid(extra_args=args)
        try:
            with self.assertRaises(DaemonError) as cm:
                c.start(timeout=15)
            for w in want:
                self.assertIn(w, str(cm.exception))
        finally:
            c.cleanup()

    def test_missing_cert(self):
        self.start_fails(["--stream-tls-cert", "/nonexistent/cert.pem", "--stream-tls-key",
                          os.path.join(CERTS, "key.pem")], "`/nonexistent/cert.pem`")

    def test_garbage_key(self):
        bad = os.path.join(CERTS, "garbage.pem")
        with open(bad, "w") as f:
            f.write("not a key\n")
        self.start_fails(["--stream-tls-cert", os.path.join(CERTS, "cert.pem"),
                          "--stream-tls-key", bad], "tls key `%s`" % bad)

    def test_mismatched_key(self):
        other = tempfile.mkdtemp(prefix="crid-tls-other-")
        try:
            make_cert(other)
            self.start_fails(["--stream-tls-cert", os.path.join(CERTS, "cert.pem"),
                              "--stream-tls-key", os.path.join(other, "key.pem")],
                             "tls key `%s`" % os.path.join(other, "key.pem"), "mismatch")
        finally:
            shutil.rmtree(other, ignore_errors=True)

    def test_key_without_cert(self):
        self.start_fails(["--stream-tls-key", os.path.join(CERTS, "key.pem")],
                         "`crid.stream.tls_cert`")
