"""Prometheus metrics (--enable-metrics) and --log-format json against the real daemon.

One daemon with metrics on and JSON logs serves every test of MetricsTest
(runc pods and containers, the module's registry): scrapes are parsed with
Debian's python3-prometheus-client (text 0.0.4 and OpenMetrics), and values
must move as RPCs are made. DefaultsTest starts a daemon with neither flag:
the metrics port stays closed and the log stays text.
"""
import json
import os
import re
import socket
import sys
import time
import unittest

from crid_fixture import Crid, DaemonError
from ctr_fixture import CtrBase, setup_registry, teardown_registry
import ctr_fixture

import grpc  # noqa: E402

import api_pb2  # noqa: E402

try:
    from prometheus_client.parser import text_string_to_metric_families
    from prometheus_client.openmetrics.parser import \
        text_string_to_metric_families as om_families
except ImportError:  # pragma: no cover
    text_string_to_metric_families = None

TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z (error|warn|info|debug|trace) ")


def setUpModule():
    if text_string_to_metric_families is None:
        raise unittest.SkipTest("python3-prometheus-client missing (make deps)")
    setup_registry()


def tearDownModule():
    teardown_registry()


def http(port, raw, timeout=10):
    """Sends |raw| bytes, returns (status, headers dict, body bytes) of the reply."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(raw)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, body


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class MetricsTest(CtrBase):
    @classmethod
    def start_daemon(cls):
        # CtrBase's daemon, with metrics on a free port and JSON logs
        orig = ctr_fixture.Crid

        class MetricsCrid(orig):
            def __init__(self, extra_args=(), **kw):
                super().__init__(extra_args=list(extra_args) + [
                    "--enable-metrics", "--metrics-port", "0", "--log-format", "json"], **kw)

        ctr_fixture.Crid = MetricsCrid
        try:
            super().start_daemon()
        finally:
            ctr_fixture.Crid = orig
        line = cls.crid.wait_for_log(r"metrics on http://127\.0\.0\.1:(\d+)/metrics", timeout=5)
        if not line:
            raise DaemonError("no metrics address in the log:\n" + cls.crid.log())
        cls.port = int(re.search(r"127\.0\.0\.1:(\d+)/metrics", line).group(1))

    def scrape(self, accept=None):
        req = "GET /metrics HTTP/1.1\r\nHost: x\r\n"
        if accept:
            req += "Accept: %s\r\n" % accept
        status, headers, body = http(self.port, (req + "\r\n").encode())
        self.assertEqual(status, 200, body[:200])
        self.assertEqual(int(headers["content-length"]), len(body))
        return headers, body.decode()

    def families(self):
        _, text = self.scrape()
        return {f.name: f for f in text_string_to_metric_families(text)}

    @staticmethod
    def value(fams, family, sample, **labels):
        for s in fams[family].samples:
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
        return 0.0

    def ops(self, fams, op, status="OK"):
        return self.value(fams, "crid_operations", "crid_operations_total", operation=op,
                          status=status)

    # -- tests -------------------------------------------------------------------

    def test_families_types_and_labels(self):
        headers, text = self.scrape()
        self.assertEqual(headers["content-type"], "text/plain; version=0.0.4; charset=utf-8")
        fams = {f.name: f for f in text_string_to_metric_families(text)}
        want = {
            "crid_operations": ("counter", {"operation", "status"}),
            "crid_operations_errors": ("counter", {"operation", "status"}),
            "crid_operations_latency_seconds": ("histogram", {"operation", "status"}),
            "crid_loop_iteration_seconds": ("histogram", set()),
            "crid_loop_iteration_max_seconds": ("gauge", set()),
            "crid_loop_callback_seconds": ("counter", {"class"}),
            "crid_image_pulls_bytes": ("counter", {"registry"}),
            "crid_image_pulls_success": ("counter", {"registry"}),
            "crid_image_pulls_failure": ("counter", set()),
            "crid_image_pulls_duration_seconds": ("histogram", {"registry"}),
            "crid_image_layer_reuse": ("counter", set()),
            "crid_containers": ("gauge", {"state"}),
            "crid_containers_oom": ("counter", set()),
            "crid_exec_sessions": ("counter", set()),
            "crid_cni_latency_seconds": ("histogram", {"operation"}),
            "crid_oci_runtime_latency_seconds": ("histogram", {"operation"}),
        }
        for name, (typ, labels) in want.items():
            self.assertIn(name, fams, "family %s missing" % name)
            self.assertEqual(fams[name].type, typ, name)
            for s in fams[name].samples:
                self.assertTrue(labels <= set(s.labels) - {"le"},
                                "%s: labels %s, want %s" % (s.name, s.labels, labels))
        # the set-up's pod-less pulls already ran CNI-free OCI-free; pulls are counted
        self.assertGreaterEqual(self.value(fams, "crid_image_pulls_success",
                                           "crid_image_pulls_success_total",
                                           registry=ctr_fixture.REGISTRY.addr), 4)
        classes = {s.labels["class"] for s in fams["crid_loop_callback_seconds"].samples}
        self.assertEqual(classes, {"signal", "child", "io_timer", "before_sleep"})

    def test_version_counted_with_latency(self):
        before = self.families()
        for _ in range(5):
            self.rt.Version(api_pb2.VersionRequest(), timeout=10)
        after = self.families()
        self.assertEqual(self.ops(after, "Version") - self.ops(before, "Version"), 5)
        name = "crid_operations_latency_seconds"
        c0 = self.value(before, name, name + "_count", operation="Version", status="OK")
        c1 = self.value(after, name, name + "_count", operation="Version", status="OK")
        self.assertEqual(c1 - c0, 5)
        buckets = [(float(s.labels["le"]), s.value) for s in after[name].samples
                   if s.name == name + "_bucket" and s.labels["operation"] == "Version"
                   and s.labels["status"] == "OK"]
        self.assertEqual(buckets[-1], (float("inf"), c1))
        self.assertEqual([v for _, v in buckets], sorted(v for _, v in buckets),
                         "buckets are cumulative")
        self.assertGreater(self.value(after, name, name + "_sum", operation="Version",
                                      status="OK"), 0)

    def test_failing_rpc_counted_under_its_status(self):
        before = self.families()
        with self.assertRaises(grpc.RpcError) as cm:
            self.rt.ContainerStatus(api_pb2.ContainerStatusRequest(container_id="nope" * 8),
                                    timeout=10)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.NOT_FOUND)
        after = self.families()
        self.assertEqual(self.ops(after, "ContainerStatus", "NotFound")
                         - self.ops(before, "ContainerStatus", "NotFound"), 1)
        e = "crid_operations_errors_total"
        self.assertEqual(
            self.value(after, "crid_operations_errors", e, operation="ContainerStatus",
                       status="NotFound")
            - self.value(before, "crid_operations_errors", e, operation="ContainerStatus",
                         status="NotFound"), 1)

    def test_pull_bytes_reuse_and_failure(self):
        reg = ctr_fixture.REGISTRY.addr
        ref = ctr_fixture.REGISTRY.ref("nobody")
        self.img.RemoveImage(api_pb2.RemoveImageRequest(image=api_pb2.ImageSpec(image=ref)),
                             timeout=30)
        before = self.families()
        self.img.PullImage(api_pb2.PullImageRequest(image=api_pb2.ImageSpec(image=ref)),
                           timeout=120)
        with self.assertRaises(grpc.RpcError):
            self.img.PullImage(api_pb2.PullImageRequest(
                image=api_pb2.ImageSpec(image="%s/crid-test/absent:latest" % reg)), timeout=60)
        after = self.families()

        def delta(fam, sample, **labels):
            return (self.value(after, fam, sample, **labels)
                    - self.value(before, fam, sample, **labels))

        self.assertEqual(delta("crid_image_pulls_success", "crid_image_pulls_success_total",
                               registry=reg), 1)
        self.assertEqual(delta("crid_image_pulls_failure", "crid_image_pulls_failure_total",
                               registry=reg), 1)
        self.assertEqual(delta("crid_image_pulls_duration_seconds",
                               "crid_image_pulls_duration_seconds_count", registry=reg), 2)
        # `nobody` shares busybox's base layer: reused; its own config layer is downloaded
        # only if the store dropped it (RemoveImage keeps shared layers), so bytes >= 0
        self.assertGreaterEqual(delta("crid_image_layer_reuse", "crid_image_layer_reuse_total"),
                                1)
        self.assertGreaterEqual(delta("crid_image_pulls_bytes", "crid_image_pulls_bytes_total",
                                      registry=reg), 0)
        total = self.value(after, "crid_image_pulls_bytes", "crid_image_pulls_bytes_total",
                           registry=reg)
        self.assertGreater(total, 100000, "the set-up's pulls downloaded busybox")

    def test_containers_by_state_and_runtime_latency(self):
        def state(fams, s):
            return self.value(fams, "crid_containers", "crid_containers", state=s)

        f0 = self.families()
        pod = self.run_pod()
        cid = self.create(pod, self.ctr_config("st", image="sleep"))
        f1 = self.families()
        self.assertEqual(state(f1, "created") - state(f0, "created"), 1)
        self.start(cid)
        f2 = self.families()
        self.assertEqual(state(f2, "running") - state(f0, "running"), 1)
        self.assertEqual(state(f2, "created") - state(f0, "created"), 0)
        self.exec_sync(cid, ["true"])
        self.stop(cid)
        f3 = self.families()
        self.assertEqual(state(f3, "exited") - state(f0, "exited"), 1)
        self.assertEqual(state(f3, "running") - state(f0, "running"), 0)
        self.assertGreaterEqual(self.value(f3, "crid_exec_sessions", "crid_exec_sessions_total",
                                           kind="sync"), 1)
        oci = "crid_oci_runtime_latency_seconds"
        for verb in ("create", "start", "exec"):
            self.assertGreaterEqual(self.value(f3, oci, oci + "_count", operation=verb), 1, verb)
        cni = "crid_cni_latency_seconds"
        self.assertGreaterEqual(self.value(f3, cni, cni + "_count", operation="ADD"), 1)
        self.assertEqual(self.ops(f3, "RunPodSandbox") - self.ops(f0, "RunPodSandbox"), 1)

    def test_loop_metrics_move(self):
        n = "crid_loop_iteration_seconds"
        f0 = self.families()
        self.rt.Version(api_pb2.VersionRequest(), timeout=10)
        f1 = self.families()
        self.assertGreater(self.value(f1, n, n + "_count"), self.value(f0, n, n + "_count"))
        self.assertGreater(self.value(f1, "crid_loop_iteration_max_seconds",
                                      "crid_loop_iteration_max_seconds"), 0)
        io = self.value(f1, "crid_loop_callback_seconds", "crid_loop_callback_seconds_total",
                        **{"class": "io_timer"})
        self.assertGreater(io, 0)

    def test_openmetrics_when_asked(self):
        headers, text = self.scrape("application/openmetrics-text;version=1.0.0,text/plain;q=0.5")
        self.assertEqual(headers["content-type"],
                         "application/openmetrics-text; version=1.0.0; charset=utf-8")
        self.assertTrue(text.endswith("# EOF\n"))
        fams = {f.name: f for f in om_families(text)}  # raises on any spec violation
        self.assertEqual(fams["crid_operations"].type, "counter")
        self.assertTrue(any(s.name == "crid_operations_total"
                            for s in fams["crid_operations"].samples))
        # q=0 refuses it: the text format
        headers, text = self.scrape("application/openmetrics-text;q=0, text/plain")
        self.assertTrue(headers["content-type"].startswith("text/plain; version=0.0.4"))
        self.assertNotIn("# EOF", text)

    def test_bad_http(self):
        cases = [
            (b"garbage\r\n\r\n", 400),
            (b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", 404),
            (b"GET / HTTP/1.1\r\n\r\n", 404),
            (b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405),
            (b"DELETE /metrics HTTP/1.1\r\n\r\n", 405),
            (b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 9000 + b"\r\n\r\n", 431),
            (b"GET /metrics HTTP/1.1\r\n" + b"".join(b"H%d: v\r\n" % i for i in range(80))
             + b"\r\n", 431),
            (b"GET /metrics HTTP/9.9\r\n\r\n", 400),
        ]
        for raw, want in cases:
            status, headers, _ = http(self.port, raw)
            self.assertEqual(status, want, raw[:60])
            if want == 405:
                self.assertEqual(headers.get("allow"), "GET, HEAD")
        status, _, body = http(self.port, b"GET /metrics?x=1 HTTP/1.0\r\n\r\n")
        self.assertEqual(status, 200)
        self.assertIn(b"# TYPE crid_operations_total counter", body)
        status, headers, body = http(self.port, b"HEAD /metrics HTTP/1.1\r\n\r\n")
        self.assertEqual((status, body), (200, b""))
        self.assertGreater(int(headers["content-length"]), 1000)
        # a client that connects and says nothing, one that closes half-way
        idle = socket.create_connection(("127.0.0.1", self.port))
        half = socket.create_connection(("127.0.0.1", self.port))
        half.sendall(b"GET /met")
        half.close()
        self.families()  # still serving, and the daemon is alive
        idle.close()
        self.assertTrue(self.crid.alive())

    def test_json_log_lines(self):
        self.rt.Version(api_pb2.VersionRequest(), timeout=10)
        with self.assertRaises(grpc.RpcError):
            self.rt.ContainerStatus(api_pb2.ContainerStatusRequest(container_id="x" * 20),
                                    timeout=10)
        line = self.crid.wait_for_log(r'"rpc":"ContainerStatus","status":"NotFound"', timeout=5)
        self.assertIsNotNone(line, self.crid.log(20))
        seen_rpc = False
        text = self.crid.log_text()
        self.assertTrue(text.endswith("\n"))
        for raw in text.splitlines():
            obj = json.loads(raw)  # every line, from start-up to now
            self.assertEqual(list(obj)[:3], ["time", "level", "msg"], raw)
            self.assertRegex(obj["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
            self.assertIn(obj["level"], ("error", "warn", "info", "debug", "trace"))
            if obj.get("rpc") == "ContainerStatus" and obj.get("status") == "NotFound":
                seen_rpc = True
                self.assertTrue(obj["dur"].endswith("us"))
                self.assertIn("not found", obj["msg_"].lower())
                self.assertTrue(obj["msg"].startswith("rpc=ContainerStatus status=NotFound"))
        self.assertTrue(seen_rpc)


class DefaultsTest(unittest.TestCase):
    """Neither flag: no metrics port, text log lines exactly as before."""

    def test_metrics_off_and_text_log(self):
        port = free_port()
        c = Crid(extra_args=["--metrics-port", str(port)])
        try:
            c.start()
            ch = c.channel()
            from api_pb2_grpc import RuntimeServiceStub
            RuntimeServiceStub(ch).Version(api_pb2.VersionRequest(), timeout=10)
            ch.close()
            with self.assertRaises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", port), timeout=5)
            self.assertIsNone(c.wait_for_log("metrics on", timeout=0.2))
            self.assertIsNotNone(c.wait_for_log(r" rpc=Version status=OK dur=\d+us$", 5))
            for line in c.log_text().splitlines():
                self.assertRegex(line, TEXT_LINE)
            self.assertEqual(c.stop(), 0)
        finally:
            c.cleanup()

    def test_bad_flags(self):
        for args, word in ((["--log-format", "xml"], "log-format"),
                           (["--metrics-port", "70000"], "metrics-port"),
                           (["--metrics-host", "localhost"], "metrics-host")):
            c = Crid(extra_args=args)
            try:
                with self.assertRaises(DaemonError):
                    c.start(timeout=10)
                self.assertEqual(c.returncode, 2)
                self.assertIn(word, c.log_text())
            finally:
                c.cleanup()


if __name__ == "__main__":
    unittest.main()
