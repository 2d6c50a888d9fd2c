"""Idle memory and answers from memory (issue 13). After start-up and a Version
call the daemon has not mapped the TLS libraries or the registry client
(libssl, libcrypto, libcurl and what it brings, libh2o: bound on first use);
a pull from a real registry (Debian's docker-registry, plain HTTP) still
works afterwards and maps libcurl then; ImageFsInfo's used bytes and inodes
equal an independent walk of the store (tests/integration/store_walk.py)
after pulls and after removes, answered from memory by a daemon that walks
the store in a `du` child after each change."""
import os
import shutil
import subprocess
import tempfile
import unittest

from crid_fixture import REPO, Crid, is_root  # first: puts the generated stubs on sys.path
import api_pb2  # noqa: E402
import api_pb2_grpc  # noqa: E402
from store_walk import wait_store_usage  # noqa: E402

FIXTURES = os.path.join(REPO, "tests", "fixtures")
PY = "/usr/bin/python3"
LAZY = ("libssl", "libcrypto", "libcurl", "libgnutls", "libh2o")


def mapped(pid):
    """Basenames of the files mapped by |pid| that one of LAZY names."""
    with open("/proc/%d/maps" % pid) as f:
        paths = {line.split()[-1] for line in f if "/" in line}
    return sorted({os.path.basename(p) for p in paths if os.path.basename(p).startswith(LAZY)})


def pss_kib(pid):
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return -1


class IdleTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not is_root():
            raise unittest.SkipTest("needs root to unpack layers")
        miss = [t for t in ("docker-registry", "skopeo") if not shutil.which(t)]
        if miss:
            raise unittest.SkipTest("missing: " + ", ".join(miss))
        cls.regdir = tempfile.mkdtemp(prefix="crid-registry-")
        cls.registry = subprocess.run(["bash", os.path.join(FIXTURES, "registry.sh"), "start",
                                       cls.regdir], check=True, capture_output=True,
                                      text=True).stdout.strip().splitlines()[-1]
        try:
            subprocess.run([PY, os.path.join(FIXTURES, "images.py"), "push", cls.registry,
                            "busybox", "sleep"], check=True)
            cls.crid = Crid(extra_args=["--insecure-registry", cls.registry]).start()
        except Exception:
            cls.stop_registry()
            raise
        cls.chan = cls.crid.channel()
        cls.rt = api_pb2_grpc.RuntimeServiceStub(cls.chan)
        cls.img = api_pb2_grpc.ImageServiceStub(cls.chan)
        cls.store = os.path.join(cls.crid.root, "images")

    @classmethod
    def stop_registry(cls):
        subprocess.run(["bash", os.path.join(FIXTURES, "registry.sh"), "stop", cls.regdir])
        shutil.rmtree(cls.regdir, ignore_errors=True)

    @classmethod
    def tearDownClass(cls):
        cls.chan.close()
        rc = cls.crid.stop()
        cls.crid.cleanup(keep=rc != 0)
        cls.stop_registry()
        if rc != 0:
            raise AssertionError("crid exited with %s" % rc)

    def ref(self, key):
        return "%s/crid-test/%s:latest" % (self.registry, key)

    def pull(self, key):
        return self.img.PullImage(api_pb2.PullImageRequest(
            image=api_pb2.ImageSpec(image=self.ref(key))), timeout=120).image_ref

    def remove(self, name):
        self.img.RemoveImage(api_pb2.RemoveImageRequest(image=api_pb2.ImageSpec(image=name)),
                             timeout=10)

    def fs_info(self):
        return self.img.ImageFsInfo(api_pb2.ImageFsInfoRequest(), timeout=5).image_filesystems[0]

    def assertUsageIsWalk(self, what):
        got, want = wait_store_usage(self.fs_info, self.store)
        self.assertEqual(got, want, "%s: ImageFsInfo (bytes, inodes) against the walk" % what)

    def test_1_idle_maps_no_tls_nor_registry_client(self):
        v = self.rt.Version(api_pb2.VersionRequest(), timeout=5)
        self.assertEqual(v.runtime_name, "crid")
        self.rt.Status(api_pb2.StatusRequest(verbose=True), timeout=5)
        self.img.ListImages(api_pb2.ListImagesRequest(), timeout=5)
        self.assertEqual(mapped(self.crid.pid), [],
                         "libraries an idle daemon must not map yet")
        print("idle daemon after Version, Status, ListImages: Pss %d KiB" % pss_kib(self.crid.pid))

    def test_2_pull_after_idle(self):
        ref = self.pull("busybox")
        self.assertTrue(ref.startswith("sha256:"), ref)
        libs = mapped(self.crid.pid)
        self.assertTrue(any(lib.startswith("libcurl") for lib in libs),
                        "a pull binds libcurl on first use: %s" % libs)
        imgs = self.img.ListImages(api_pb2.ListImagesRequest(), timeout=5).images
        self.assertIn(self.ref("busybox"), [t for i in imgs for t in i.repo_tags])

    def test_3_fsinfo_is_the_walk_after_pulls(self):
        fs = self.fs_info()
        self.assertEqual(fs.fs_id.mountpoint, self.store)
        self.assertUsageIsWalk("busybox pulled")
        before = self.fs_info().used_bytes.value
        self.pull("sleep")  # shares busybox's base layer, adds its own
        self.assertUsageIsWalk("sleep pulled too")
        self.assertGreater(self.fs_info().used_bytes.value, before)

    def test_4_fsinfo_is_the_walk_after_removes(self):
        full = self.fs_info().used_bytes.value
        self.remove(self.ref("sleep"))
        self.assertUsageIsWalk("sleep removed")
        self.assertLess(self.fs_info().used_bytes.value, full)
        self.remove(self.ref("busybox"))
        self.assertUsageIsWalk("busybox removed")
        self.assertEqual(os.listdir(os.path.join(self.store, "layers")), [])


if __name__ == "__main__":
    unittest.main()
