"""The Debian package (issue 15), opt-in: `make deb-test` builds it (several
minutes: the whole daemon is compiled again with the package's hardening
flags) and runs this module with CRID_DEB_DIR set; without it the module
skips. The package is unpacked with `dpkg-deb -x` into a temporary root (a
chroot from debootstrap needs the network) and the daemon is run from there:
its helpers come from the package's /usr/libexec/crid, its config is the
package's /etc/crid/crid.toml (paths overridden by flags)."""
import glob
import os
import shutil
import subprocess
import tempfile
import unittest

import api_pb2
import api_pb2_grpc
from crid_fixture import Crid, is_root, version_ok

DEB_DIR = os.environ.get("CRID_DEB_DIR")


@unittest.skipUnless(DEB_DIR, "opt-in: `make deb-test` builds the package and runs this module")
class Package(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        debs = glob.glob(os.path.join(DEB_DIR, "crid_*_*.deb"))
        if len(debs) != 1:
            raise AssertionError("want one crid_*.deb in %s, found %s" % (DEB_DIR, debs))
        cls.deb = debs[0]
        cls.root = tempfile.mkdtemp(prefix="crid-it-deb-")
        subprocess.run(["dpkg-deb", "-x", cls.deb, cls.root], check=True)
        cls.ctrl = os.path.join(cls.root, "DEBIAN")
        subprocess.run(["dpkg-deb", "-e", cls.deb, cls.ctrl], check=True)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.root, ignore_errors=True)

    def field(self, name):
        return subprocess.run(["dpkg-deb", "-f", self.deb, name], capture_output=True,
                              text=True, check=True).stdout.strip()

    def test_metadata(self):
        self.assertRegex(os.path.basename(self.deb), r"^crid_[0-9][^_]*_amd64\.deb$")
        deps = self.field("Depends")
        for d in ("libev4", "libnghttp2-14", "libcurl4", "libseccomp2", "runc | crun",
                  "containernetworking-plugins"):
            self.assertIn(d, deps)
        with open(os.path.join(self.ctrl, "conffiles")) as f:
            self.assertEqual(f.read().split(), ["/etc/crid/crid.toml"])
        with open(os.path.join(self.ctrl, "postinst")) as f:
            post = f.read()
        self.assertIn("deb-systemd-helper", post, "postinst enables the unit")
        self.assertIn("10-crid-bridge.conflist", post)
        for s in ("postinst", "prerm", "postrm"):
            p = subprocess.run(["sh", "-n", os.path.join(self.ctrl, s)], capture_output=True)
            self.assertEqual(p.returncode, 0, p.stderr)

    def test_tree(self):
        for p in ("usr/bin/crid", "usr/bin/cridctl", "usr/libexec/crid/crid-pinns",
                  "usr/libexec/crid/crid-keeper", "lib/systemd/system/crid.service",
                  "etc/crid/crid.toml", "usr/share/crid/10-crid-bridge.conflist",
                  "usr/share/man/man8/crid.8.gz", "usr/share/man/man5/crid.toml.5.gz",
                  "usr/share/man/man1/cridctl.1.gz",
                  "usr/share/bash-completion/completions/cridctl",
                  "usr/share/doc/crid/examples/pod.yaml"):
            self.assertTrue(os.path.isfile(os.path.join(self.root, p)), p)
        self.assertFalse(os.path.exists(os.path.join(self.root, "etc/cni")),
                         "the CNI default is installed by postinst only where none is")
        with open(os.path.join(self.root, "lib/systemd/system/crid.service")) as f:
            self.assertIn("ExecStart=/usr/bin/crid --config /etc/crid/crid.toml\n", f.read())

    @unittest.skipUnless(is_root(), "needs root to run pods")
    def test_daemon_runs_from_the_package(self):
        c = Crid(config=os.path.join(self.root, "etc/crid/crid.toml"))
        c.argv = lambda orig=c.argv: [os.path.join(self.root, "usr/bin/crid")] + orig()[1:]
        self.addCleanup(c.cleanup)
        c.start()
        self.assertEqual(version_ok(c).runtime_name, "crid")
        keepers = c.keeper_pids()
        self.assertEqual([os.readlink("/proc/%d/exe" % p) for p in keepers],
                         [os.path.join(self.root, "usr/libexec/crid/crid-keeper")])
        ch = c.channel()
        self.addCleanup(ch.close)
        rt = api_pb2_grpc.RuntimeServiceStub(ch)
        cfg = api_pb2.PodSandboxConfig(
            metadata=api_pb2.PodSandboxMetadata(name="deb", uid="uid-deb", namespace="t"),
            hostname="deb")
        cfg.linux.security_context.namespace_options.network = api_pb2.NODE
        pid = rt.RunPodSandbox(api_pb2.RunPodSandboxRequest(config=cfg), timeout=60).pod_sandbox_id
        st = rt.PodSandboxStatus(api_pb2.PodSandboxStatusRequest(pod_sandbox_id=pid), timeout=10)
        self.assertEqual(st.status.state, api_pb2.SANDBOX_READY)
        rt.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=pid), timeout=60)
        self.assertEqual(c.stop(), 0, c.log())
