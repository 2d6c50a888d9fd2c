"""cridctl's crictl-compatible container verbs (create, start, run, ps, inspect,
stop, rm, logs, exec, update, stats, statsp, events) as subprocesses against a
real daemon. While the daemon answers the container RPCs with UNIMPLEMENTED,
each verb is checked for crictl's error line and exit code 1, and the real
flow (run -> ps -> inspect -> logs -> exec -> update -> stop -> rm, against a
private bridge CNI network and a busybox image pushed to a local registry) is
skipped with the reason printed."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from crid_fixture import (REPO, Crid, CridTestCase, require_root, valid_conflist,
                          write_conflist)

BUILD = os.environ.get("CRID_BUILD", "build")
CRIDCTL = os.path.join(BUILD if os.path.isabs(BUILD) else os.path.join(REPO, BUILD), "cridctl")
FIXTURES = os.path.join(REPO, "tests", "fixtures")
NOT_IMPLEMENTED = "CreateContainer not implemented by this daemon"
RPC_ERROR = re.compile(r"^cridctl: (\w+): rpc error: code = (\w+) desc = (.*)$", re.M)


class CridctlContainersTest(CridTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        tag = "%x" % (os.getpid() & 0xffff)
        conf = valid_conflist(name="crid-ctlctr-" + tag, bridge="cridc" + tag,
                              subnet="10.%d.0.0/16" % (100 + (os.getpid() + 7) % 100))
        conf["plugins"][0]["ipam"]["dataDir"] = os.path.join(cls.crid.tmp, "ipam")
        write_conflist(cls.crid.cni_dir, "10-ctlctr.conflist", conf)
        cls.conf = conf
        cls.n = 0

    def ctl(self, *args, rc=0, crid=None, timeout=120):
        p = subprocess.run([CRIDCTL, "-r", (crid or self.crid).target(), "-t", "30s"]
                           + list(args), capture_output=True, text=True, timeout=timeout)
        if rc is not None:
            self.assertEqual(p.returncode, rc, "cridctl %s: %s%s" % (" ".join(args), p.stdout,
                                                                      p.stderr))
        return p

    def write(self, name, doc):
        type(self).n += 1
        path = os.path.join(self.crid.tmp, "%d-%s" % (self.n, name))
        with open(path, "w") as f:
            json.dump(doc, f)
        return path

    def pod_file(self, name):
        return self.write("pod.json", {
            "metadata": {"name": name, "namespace": "ctl-test", "uid": "uid-%s" % name},
            "log_directory": os.path.join(self.crid.tmp, "logs", name),
            "linux": {}})

    def ctr_file(self, name, image, args):
        return self.write("ctr.json", {"metadata": {"name": name}, "image": {"image": image},
                                       "command": ["/bin/sh", "-c"], "args": args,
                                       "log_path": name + ".log"})

    def assert_rpc_error(self, args, method, code):
        """|args| fail with crictl's error line naming |method| and |code|, exit 1."""
        p = self.ctl(*args, rc=None)
        m = RPC_ERROR.search(p.stderr)
        self.assertTrue(m, "%s: %r" % (args, p.stderr))
        self.assertEqual(p.returncode, 1, args)
        self.assertEqual(p.stdout, "", args)
        self.assertEqual((m.group(1), m.group(2)), (method, code), args)

    # -- always run ------------------------------------------------------------

    def test_rpc_error_format(self):
        """A verb the daemon refuses prints crictl's error line for the RPC and exits 1."""
        missing = "f" * 64
        cases = [
            (["create", missing, self.ctr_file("c", "busybox", ["true"]),
              self.pod_file("nopod")], "CreateContainer"),
            (["start", missing], "StartContainer"),
            (["inspect", missing], "ContainerStatus"),
            (["logs", missing], "ContainerStatus"),
            (["exec", "-s", missing, "true"], "ExecSync"),
            (["update", "--memory", "1000000", missing], "UpdateContainerResources"),
        ]
        for args, method in cases:
            self.assert_rpc_error(args, method, "NotFound")

    def test_usage_errors(self):
        """Bad arguments are reported before any RPC, naming the problem."""
        path = self.write("bad.json", {"metadata": {"name": "x"}, "imag": {}})
        p = self.ctl("create", "pod", path, self.pod_file("u"), rc=1)
        self.assertEqual(p.stderr.strip(), "cridctl: create: container config `%s`: "
                         "unknown field `imag`" % path)
        path = self.write("noname.json", {"image": {"image": "busybox"}})
        p = self.ctl("run", path, self.pod_file("u2"), rc=1)
        self.assertIn("metadata.name must be set", p.stderr)
        self.assertIn("expected POD-ID and two config files", self.ctl("create", "x",
                                                                      rc=1).stderr)
        p = self.ctl("exec", "-s", "-it", "abc", "sh", rc=1)
        self.assertIn("cannot use --sync with -i or -t", p.stderr)
        p = self.ctl("update", "--memory", "1g", "abc", rc=1)
        self.assertIn('invalid value "1g" for flag --memory', p.stderr)
        self.assertIn("--state should be one of created, running, exited or unknown",
                      self.ctl("ps", "--state", "sleepy", rc=1).stderr)
        self.assertIn("cannot specify CONTAINER-ID(s) when using --all",
                      self.ctl("stop", "-a", "abc", rc=1).stderr)
        self.assertIn("invalid --since", self.ctl("logs", "--since", "soon", "abc",
                                                  rc=1).stderr)
        self.assertIn("Usage: cridctl logs", self.ctl("logs", "--help").stdout)
        help_text = self.ctl("--help").stdout
        for verb in ("create", "start", "run", "ps", "inspect", "stop", "rm", "logs", "exec",
                     "update", "stats", "statsp", "events"):
            self.assertRegex(help_text, r"\n  %s +\S" % verb)

    # -- need the container RPCs, root, CNI and an image -------------------------

    def implemented(self):
        ctr = self.ctr_file("probe", "busybox", ["true"])
        p = self.ctl("create", "no-such-pod", ctr, self.pod_file("probe"), rc=None)
        m = RPC_ERROR.search(p.stderr)
        if p.returncode != 0 and m and m.group(2) == "Unimplemented":
            print("SKIP %s: %s" % (self.id(), NOT_IMPLEMENTED), file=sys.stderr)
            self.skipTest(NOT_IMPLEMENTED)
        require_root(self)
        for tool in ("docker-registry", "skopeo"):
            if not shutil.which(tool):
                self.skipTest("missing " + tool)

    def with_registry(self):
        """A registry with busybox pushed and a daemon that trusts it; returns (crid, ref)."""
        regdir = tempfile.mkdtemp(prefix="crid-registry-")
        self.addCleanup(shutil.rmtree, regdir, ignore_errors=True)
        reg = subprocess.run(["bash", os.path.join(FIXTURES, "registry.sh"), "start", regdir],
                             check=True, capture_output=True, text=True).stdout.split()[-1]
        self.addCleanup(subprocess.run, ["bash", os.path.join(FIXTURES, "registry.sh"), "stop",
                                         regdir])
        subprocess.run([sys.executable, os.path.join(FIXTURES, "images.py"), "push", reg,
                        "busybox"], check=True)
        crid = Crid(extra_args=["--insecure-registry", reg])
        write_conflist(crid.cni_dir, "10-ctlctr.conflist", self.conf)
        crid.start()
        self.addCleanup(crid.cleanup)
        return crid, "%s/crid-test/busybox:latest" % reg

    def test_run_flow(self):
        self.implemented()
        crid, ref = self.with_registry()
        pod = self.pod_file("flow")
        ctr = self.ctr_file("flow", ref, ["echo hello; echo oops >&2; sleep 300"])
        cid = self.ctl("run", ctr, pod, crid=crid).stdout.strip()
        self.assertRegex(cid, r"^[0-9a-f]{64}$")
        try:
            out = self.ctl("ps", crid=crid).stdout.splitlines()
            self.assertRegex(out[0], r"^CONTAINER {3,}IMAGE {3,}CREATED {3,}STATE {3,}NAME"
                                     r" {3,}ATTEMPT {3,}POD ID {3,}POD$")
            row = [line for line in out[1:] if line.startswith(cid[:13] + " ")]
            self.assertEqual(len(row), 1, out)
            self.assertRegex(row[0], r" Running +flow +0 ")
            self.assertIn(cid + "\n", self.ctl("ps", "-q", crid=crid).stdout)
            doc = json.loads(self.ctl("inspect", cid, crid=crid).stdout)
            self.assertEqual(doc["status"]["state"], "CONTAINER_RUNNING")
            self.assertRegex(doc["status"]["startedAt"], r"^\d{4}-\d\d-\d\dT")
            for _ in range(50):
                p = self.ctl("logs", cid, crid=crid)
                if "hello" in p.stdout:
                    break
                time.sleep(0.1)
            self.assertEqual((p.stdout, p.stderr), ("hello\n", "oops\n"))
            p = self.ctl("logs", "-t", "--tail", "1", cid, crid=crid)
            self.assertRegex(p.stdout + p.stderr, r"^\d{4}-\d\d-\d\dT[\d:.]+Z \w+\n$")
            p = self.ctl("exec", "-s", cid, "sh", "-c", "echo out; echo err >&2; exit 3", rc=3,
                         crid=crid)
            self.assertEqual((p.stdout, p.stderr), ("out\n", "err\n"))
            self.assertEqual(self.ctl("update", "--cpu-share", "512", cid, crid=crid).stdout,
                             cid + "\n")
            p = self.ctl("rm", cid, rc=1, crid=crid)
            self.assertIn("is running, please stop it first", p.stderr)
            self.assertEqual(self.ctl("stop", "-t", "1", cid, crid=crid).stdout, cid + "\n")
            doc = json.loads(self.ctl("inspect", cid, crid=crid).stdout)
            self.assertEqual(doc["status"]["state"], "CONTAINER_EXITED")
            self.assertEqual(self.ctl("rm", cid, crid=crid).stdout, cid + "\n")
            self.assertNotIn(cid, self.ctl("ps", "-a", "-q", crid=crid).stdout)
        finally:
            self.ctl("rm", "-f", cid, rc=None, crid=crid)
            self.ctl("rmp", "-a", "-f", rc=None, crid=crid)
