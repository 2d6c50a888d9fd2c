"""The metrics endpoint over TLS (`--metrics-cert`, `--metrics-key`; io/tls_bridge.c shared
with the streaming server) and the fd store entries gauge, against the real daemon.

One daemon with metrics on https serves MetricsTlsTest (runc pods and containers, the
module's registry): scrapes over TLS 1.2+ with a self-signed certificate made by the
`openssl` CLI that the client really verifies, parsed with python3-prometheus-client; a plain
HTTP request gets no HTTP answer; `crid_fd_store_entries` moves with a container's create and
remove. StartTest needs no containers: a lone certificate or a missing file stops start-up
naming the key, and metrics without TLS never map libssl (it stays lazily bound).
"""
import http.client
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import unittest

from crid_fixture import Crid, DaemonError
from ctr_fixture import CtrBase, setup_registry, teardown_registry
import ctr_fixture

import api_pb2  # noqa: E402

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:  # pragma: no cover
    text_string_to_metric_families = None

CERTS = None  # the module's temp dir: cert.pem, key.pem


def cert_args():
    return ["--metrics-cert", os.path.join(CERTS, "cert.pem"),
            "--metrics-key", os.path.join(CERTS, "key.pem")]


def setUpModule():
    global CERTS
    if text_string_to_metric_families is None:
        raise unittest.SkipTest("python3-prometheus-client missing (make deps)")
    if shutil.which("openssl") is None:
        raise unittest.SkipTest("the openssl CLI is missing (make deps): no certificate")
    CERTS = tempfile.mkdtemp(prefix="crid-mtls-")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-days", "1",
                    "-keyout", os.path.join(CERTS, "key.pem"),
                    "-out", os.path.join(CERTS, "cert.pem")],
                   check=True, capture_output=True, timeout=120)
    setup_registry()


def tearDownModule():
    teardown_registry()
    if CERTS:
        shutil.rmtree(CERTS, ignore_errors=True)


def client_context():
    """Trusts the test's own certificate (a real check, not CERT_NONE)."""
    ctx = ssl.create_default_context(cafile=os.path.join(CERTS, "cert.pem"))
    ctx.check_hostname = True
    return ctx


def metrics_port(crid, scheme):
    line = crid.wait_for_log(r"metrics on %s://127\.0\.0\.1:(\d+)/metrics" % scheme, timeout=5)
    if not line:
        raise DaemonError("no %s metrics address in the log:\n%s" % (scheme, crid.log()))
    return int(re.search(r"127\.0\.0\.1:(\d+)/metrics", line).group(1))


class MetricsTlsTest(CtrBase):
    @classmethod
    def start_daemon(cls):
        orig = ctr_fixture.Crid

        class TlsMetricsCrid(orig):
            def __init__(self, extra_args=(), **kw):
                super().__init__(extra_args=list(extra_args) + [
                    "--enable-metrics", "--metrics-port", "0"] + cert_args(), **kw)

        ctr_fixture.Crid = TlsMetricsCrid
        try:
            super().start_daemon()
        finally:
            ctr_fixture.Crid = orig
        cls.port = metrics_port(cls.crid, "https")

    def scrape(self):
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=15,
                                           context=client_context())
        try:
            conn.request("GET", "/metrics")
            self.tls_version = conn.sock.version()
            r = conn.getresponse()
            body = r.read()
        finally:
            conn.close()
        self.assertEqual(r.status, 200, body[:200])
        self.assertEqual(int(r.getheader("Content-Length")), len(body))
        return {f.name: f for f in text_string_to_metric_families(body.decode())}

    @staticmethod
    def value(fams, family, sample, **labels):
        for s in fams[family].samples:
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
        return 0.0

    def entries(self):
        return self.value(self.scrape(), "crid_fd_store_entries", "crid_fd_store_entries")

    def test_https_scrape_parses_and_moves(self):
        op = ("crid_operations", "crid_operations_total")
        before = self.value(self.scrape(), *op, operation="Version", status="OK")
        self.assertIn(self.tls_version, ("TLSv1.2", "TLSv1.3"))
        for _ in range(3):
            self.rt.Version(api_pb2.VersionRequest(), timeout=10)
        after = self.value(self.scrape(), *op, operation="Version", status="OK")
        self.assertEqual(after - before, 3)

    def test_plain_http_gets_no_http_answer(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=15)
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        try:
            while True:
                b = s.recv(4096)
                if not b:
                    break
                got += b
        except (ConnectionResetError, socket.timeout):
            pass
        s.close()
        # at most a TLS alert record (content type 21), never an HTTP answer
        self.assertFalse(got.startswith(b"HTTP/"), got[:100])
        self.assertTrue(got == b"" or got[0] == 21, got[:100])
        self.assertIn("crid_operations", self.scrape())  # and it still serves https

    def test_tls_1_1_refused(self):
        ctx = client_context()
        ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        ctx.set_ciphers("ALL:@SECLEVEL=0")
        with socket.create_connection(("127.0.0.1", self.port), timeout=15) as raw:
            with self.assertRaises(ssl.SSLError):
                ctx.wrap_socket(raw, server_hostname="127.0.0.1").close()

    def test_fd_store_entries_move_with_containers(self):
        base = self.entries()
        pod = self.run_pod()
        self.assertEqual(self.entries(), base, "a pod alone deposits no fd")
        cid = self.create(pod, self.ctr_config(self.uniq("fds"), image="sleep"))
        created = self.entries()
        self.assertGreaterEqual(created - base, 3, "pidfd, stdout and stderr readers")
        self.start(cid)
        self.stop(cid)
        self.remove(cid)
        self.assertEqual(self.entries(), base, "removed with the container")


class StartTest(unittest.TestCase):
    """Daemons of their own: flag checks and the lazily bound libssl."""

    def test_cert_without_key_refused(self):
        for args, word in ((["--metrics-cert", os.path.join(CERTS, "cert.pem")],
                            "metrics_key"),
                           (["--metrics-key", os.path.join(CERTS, "key.pem")], "metrics_cert"),
                           (["--metrics-cert", "relative.pem",
                             "--metrics-key", os.path.join(CERTS, "key.pem")],
                            "metrics-cert")):
            c = Crid(extra_args=["--enable-metrics", "--metrics-port", "0"] + args)
            try:
                with self.assertRaises(DaemonError):
                    c.start(timeout=10)
                self.assertNotEqual(c.returncode, 0)
                self.assertIn(word, c.log_text())
            finally:
                c.cleanup()

    def test_missing_file_stops_start(self):
        gone = os.path.join(CERTS, "gone.pem")
        c = Crid(extra_args=["--enable-metrics", "--metrics-port", "0", "--metrics-cert", gone,
                             "--metrics-key", os.path.join(CERTS, "key.pem")])
        try:
            with self.assertRaises(DaemonError):
                c.start(timeout=10)
            self.assertIn("metrics tls certificate `%s`" % gone, c.log_text())
        finally:
            c.cleanup()

    def test_plain_metrics_leave_libssl_unmapped(self):
        # idle, before any scrape: the first one maps libh2o (io/http1.c's parser) and
        # with it libssl, with or without TLS
        c = Crid(extra_args=["--enable-metrics", "--metrics-port", "0"])
        try:
            c.start()
            metrics_port(c, "http")
            with open("/proc/%d/maps" % c.pid) as f:
                maps = f.read()
            self.assertNotIn("libssl", maps)
            self.assertEqual(c.stop(), 0)
        finally:
            c.cleanup()


if __name__ == "__main__":
    unittest.main()
