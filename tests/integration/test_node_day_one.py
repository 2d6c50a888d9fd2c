"""Day-one fixes for an operator trying crid on a node (issue 15): a loopback
registry in plain HTTP pulls with no flag; any other plain-HTTP registry fails
with a hint; the start-up line names the config file and log level;
CreateContainer/StartContainer log lines name the pod and the container; the
example files under examples/ run through cridctl (envs[].value included);
dist/cni-default.sh never installs beside an existing CNI configuration."""
import http.server
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import unittest

import grpc

import api_pb2
import api_pb2_grpc
from crid_fixture import REPO, Crid, DaemonError
from ctr_fixture import CtrBase, setup_registry, teardown_registry
import ctr_fixture

BUILD = os.environ.get("CRID_BUILD", "build")
CRIDCTL = os.path.join(BUILD if os.path.isabs(BUILD) else os.path.join(REPO, BUILD), "cridctl")


def setUpModule():
    setup_registry()


def tearDownModule():
    teardown_registry()


class Quiet(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass


def non_loopback_ip():
    """An IPv4 address of this host outside 127.0.0.0/8, or None."""
    out = subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout.split()
    for a in out:
        if "." in a and not a.startswith("127."):
            return a
    return None


class PlainDaemon(unittest.TestCase):
    """A daemon with no --insecure-registry and no --config."""

    @classmethod
    def setUpClass(cls):
        cls.crid = Crid().start()
        cls.channel = cls.crid.channel()
        cls.img = api_pb2_grpc.ImageServiceStub(cls.channel)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        rc = cls.crid.stop()
        cls.crid.cleanup(keep=rc != 0)
        if rc != 0:
            raise AssertionError("crid exited with %s after SIGTERM" % rc)

    def test_startup_line(self):
        line = self.crid.wait_for_log(r"starting: config file")
        self.assertIsNotNone(line, self.crid.log())
        self.assertIn("config file none", line)
        self.assertIn("log level debug", line)

    def test_loopback_registry_plain_http(self):
        """127.0.0.1:PORT speaks plain HTTP: pulled with no flag (as Docker, containerd)."""
        ref = ctr_fixture.REGISTRY.ref("busybox")
        r = self.img.PullImage(api_pb2.PullImageRequest(image=api_pb2.ImageSpec(image=ref)),
                               timeout=120)
        self.assertTrue(r.image_ref.startswith("sha256:"), r.image_ref)

    def test_plain_http_hint(self):
        """A registry elsewhere in plain HTTP: the error says so and names the setting."""
        ip = non_loopback_ip()
        if ip is None:
            self.skipTest("this host has no IPv4 address outside 127.0.0.0/8")
        srv = http.server.HTTPServer((ip, 0), Quiet)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        ref = "%s:%d/x/y:latest" % (ip, srv.server_address[1])
        with self.assertRaises(grpc.RpcError) as cm:
            self.img.PullImage(api_pb2.PullImageRequest(image=api_pb2.ImageSpec(image=ref)),
                               timeout=60)
        d = cm.exception.details()
        self.assertIn("wrong version number", d)
        self.assertIn("may speak plain HTTP", d)
        self.assertIn("insecure_registries", d)
        self.assertIn("--insecure-registry", d)


class ConfigNamed(unittest.TestCase):
    def test_startup_line_names_config(self):
        tmp = tempfile.mkdtemp(prefix="crid-it-dayone-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        conf = os.path.join(tmp, "crid.toml")
        with open(conf, "w") as f:
            f.write('[crid]\nlog_level = "info"\n')
        c = Crid(tmpdir=tmp, config=conf, extra_args=["--log-level", "warn"])
        # --log-level in the fixture's argv comes first; ours (later) wins
        c.start()
        try:
            line = c.wait_for_log(r"starting: config file", timeout=1)
        finally:
            rc = c.stop()
            c.cleanup()
        self.assertEqual(rc, 0)
        self.assertIsNone(line, "a warn-level daemon printed an info line")
        c = Crid(tmpdir=tmp, config=conf, name="crid2")
        c.start()
        try:
            line = c.wait_for_log(r"starting: config file")
        finally:
            c.stop()
            c.cleanup()
        self.assertIsNotNone(line)
        self.assertIn("config file `%s`" % conf, line)
        self.assertIn("log level debug", line)


class CgroupManagerSystemd(unittest.TestCase):
    def test_refused_at_start(self):
        """--cgroup-manager systemd is refused with a reason where no systemd answers
        (kubelet would be told "systemd" while nothing could be put in a scope);
        test_systemd runs it under a real systemd."""
        if os.path.exists("/run/systemd/private") or os.path.exists("/run/systemd/system"):
            self.skipTest("systemd runs on this machine: crid would start (test_systemd)")
        c = Crid(extra_args=["--cgroup-manager", "systemd"])
        try:
            with self.assertRaises(DaemonError):
                c.start(timeout=10)
            self.assertEqual(c.returncode, 1)
            self.assertIn("cgroup_manager `systemd`", c.log_text())
            self.assertIn("no systemd answers: `/run/systemd/private`", c.log_text())
        finally:
            c.cleanup()


class ContainerLogLines(CtrBase):
    runtime = "runc"

    def test_create_start_lines_name_pod_and_container(self):
        pod = self.run_pod("daylog")
        cid = self.run_ctr(pod, "web", script="sleep 30")
        self.addCleanup(self.stop, cid)
        for what in ("created", "started"):
            line = self.crid.wait_for_log(r"info %s container %s: ctr-test/daylog/web "
                                          r"\(attempt 0, pod %s, image .*busybox"
                                          % (what, cid[:12], pod[:12]), timeout=10)
            self.assertIsNotNone(line, "%s line missing:\n%s" % (what, self.crid.log()))

    def test_examples_run(self):
        """examples/pod.yaml and examples/container.yaml through `cridctl run`, with the
        image and log directory made local: the env value from the YAML reaches the
        container."""
        tmp = tempfile.mkdtemp(prefix="crid-it-examples-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        with open(os.path.join(REPO, "examples", "pod.yaml")) as f:
            pod = f.read().replace("/var/log/pods/default_hello_hello-0001",
                                   os.path.join(tmp, "logs"))
        with open(os.path.join(REPO, "examples", "container.yaml")) as f:
            ctr = f.read().replace("docker.io/library/busybox:latest",
                                   ctr_fixture.REGISTRY.ref("busybox"))
        for name, text in (("pod.yaml", pod), ("container.yaml", ctr)):
            with open(os.path.join(tmp, name), "w") as f:
                f.write(text)
        p = subprocess.run([CRIDCTL, "-r", self.crid.target(), "-t", "60s", "run",
                            "-r", self.runtime, os.path.join(tmp, "container.yaml"),
                            os.path.join(tmp, "pod.yaml")],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        cid = p.stdout.strip()
        self.addCleanup(self.remove_pod, self._pod_of(cid))
        out = self.exec_sync(cid, ["sh", "-c", "echo $GREETING"]).stdout
        self.assertEqual(out, b"hello\n")

    def _pod_of(self, cid):
        for c in self.rt.ListContainers(api_pb2.ListContainersRequest(), timeout=10).containers:
            if c.id == cid:
                return c.pod_sandbox_id
        return ""


class CniDefault(unittest.TestCase):
    """dist/cni-default.sh: `make run` and `make install` install crid's conflist only
    into a directory with no CNI configuration (the first file wins)."""

    def run_script(self, d):
        return subprocess.run([os.path.join(REPO, "dist", "cni-default.sh"), d,
                               os.path.join(REPO, "cni", "10-crid-bridge.conflist")],
                              capture_output=True, text=True, check=True).stdout

    def test_empty_and_existing(self):
        tmp = tempfile.mkdtemp(prefix="crid-it-cnidef-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        empty = os.path.join(tmp, "empty", "net.d")
        self.assertIn("installed", self.run_script(empty))
        self.assertEqual(os.listdir(empty), ["10-crid-bridge.conflist"])
        for other in ("10-flannel.conflist", "99-loopback.conf", "87-podman.json"):
            d = os.path.join(tmp, other)
            os.makedirs(d)
            open(os.path.join(d, other), "w").close()
            out = self.run_script(d)
            self.assertIn("not installed", out)
            self.assertEqual(os.listdir(d), [other])
