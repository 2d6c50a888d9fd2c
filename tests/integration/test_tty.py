"""Containers with tty: true through python3-grpcio against the real daemon and runc:
the OCI runtime gets --console-socket, crid receives the pty master and logs it as the
stdout stream. A container running `sh -c 'tty; echo hi'` logs "/dev/pts/0" and "hi"
as F records ending in '\\r' (the tty's ONLCR turns '\\n' into '\\r\\n'; the log keeps the
'\\r' as CRI-O and containerd do), no stderr record, and exits 0. Setup as
test_sandbox.py (pods on a private CNI bridge) and test_pull.py (registry.sh + images.py
push busybox; the daemon trusts the registry as insecure)."""
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

from crid_fixture import CNI_PLUGIN_DIR, REPO, Crid, is_root  # first: puts the stubs on sys.path

import grpc  # noqa: E402

import api_pb2  # noqa: E402
import api_pb2_grpc  # noqa: E402
from test_sandbox import LOG_ROOT, conflist, pod_config  # noqa: E402

FIXTURES = os.path.join(REPO, "tests", "fixtures")
PY = "/usr/bin/python3"
RECORD = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) ([FP]) (.*)$")


def why_not():
    if not is_root():
        return "needs root (euid=%d) for containers" % os.geteuid()
    miss = [t for t in ("docker-registry", "skopeo", "runc") if not shutil.which(t)]
    miss += [p for p in ("bridge", "host-local", "portmap")
             if not os.access(os.path.join(CNI_PLUGIN_DIR, p), os.X_OK)]
    if not os.path.exists(os.environ.get("BUSYBOX", "/bin/busybox")):
        miss.append("busybox-static")
    return "missing: " + ", ".join(miss) if miss else None


class TtyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        why = why_not()
        if why:
            print("SKIPPED %s: %s" % (cls.__name__, why))
            raise unittest.SkipTest(why)
        cls.regdir = tempfile.mkdtemp(prefix="crid-registry-")
        cls.registry = subprocess.run(["bash", os.path.join(FIXTURES, "registry.sh"), "start",
                                       cls.regdir], check=True, capture_output=True,
                                      text=True).stdout.strip().splitlines()[-1]
        cls.crid = None
        try:
            subprocess.run([PY, os.path.join(FIXTURES, "images.py"), "push", cls.registry,
                            "busybox"], check=True)
            cls.bridge = "crtty%d" % (os.getpid() % 10000)
            subnet = "10.%d.%d.0/24" % (200 + (os.getpid() % 50), os.getpid() % 200 + 20)
            cls.crid = Crid(extra_args=["--insecure-registry", cls.registry])
            with open(os.path.join(cls.crid.cni_dir, "10-test.conflist"), "w") as f:
                f.write(conflist("crid-tty", cls.bridge, subnet,
                                 os.path.join(cls.crid.tmp, "cni-ipam")))
            cls.crid.start()
        except Exception:
            cls.stop_registry()
            raise
        cls.chan = cls.crid.channel()
        cls.rt = api_pb2_grpc.RuntimeServiceStub(cls.chan)
        cls.img = api_pb2_grpc.ImageServiceStub(cls.chan)
        cls.image = "%s/crid-test/busybox:latest" % cls.registry
        cls.img.PullImage(api_pb2.PullImageRequest(image=api_pb2.ImageSpec(image=cls.image)),
                          timeout=120)

    @classmethod
    def stop_registry(cls):
        subprocess.run(["bash", os.path.join(FIXTURES, "registry.sh"), "stop", cls.regdir])
        shutil.rmtree(cls.regdir, ignore_errors=True)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.crid.remove_all_pods()
        except grpc.RpcError:
            pass
        cls.chan.close()
        cls.crid.stop()
        subprocess.run(["ip", "link", "del", cls.bridge], capture_output=True)
        cls.crid.cleanup()
        cls.stop_registry()

    def run(self, result=None):
        failures = len(result.failures) + len(result.errors) if result else 0
        r = super().run(result)
        if result and len(result.failures) + len(result.errors) > failures:
            print("\n--- crid log ---\n" + self.crid.log(80))
        return r

    def wait_exited(self, cid, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            st = self.rt.ContainerStatus(api_pb2.ContainerStatusRequest(container_id=cid),
                                         timeout=10).status
            if st.state == api_pb2.CONTAINER_EXITED or time.monotonic() > deadline:
                return st
            time.sleep(0.1)

    def test_tty_output_in_log(self):
        pc = pod_config("tty-pod")
        shutil.rmtree(pc.log_directory, ignore_errors=True)
        pod = self.rt.RunPodSandbox(api_pb2.RunPodSandboxRequest(config=pc),
                                    timeout=60).pod_sandbox_id
        cc = api_pb2.ContainerConfig(
            metadata=api_pb2.ContainerMetadata(name="tty", attempt=0),
            image=api_pb2.ImageSpec(image=self.image),
            command=["sh", "-c", "tty; echo hi"], tty=True, log_path="tty.log")
        cid = self.rt.CreateContainer(api_pb2.CreateContainerRequest(
            pod_sandbox_id=pod, config=cc, sandbox_config=pc), timeout=120).container_id
        self.rt.StartContainer(api_pb2.StartContainerRequest(container_id=cid), timeout=60)
        st = self.wait_exited(cid)
        self.assertEqual(st.state, api_pb2.CONTAINER_EXITED)
        self.assertEqual(st.exit_code, 0, st.message)
        self.assertEqual(st.reason, "Completed")
        with open(os.path.join(pc.log_directory, "tty.log"), "rb") as f:
            raw = f.read().decode()
        records = [RECORD.match(line) for line in raw.split("\n")[:-1]]
        self.assertTrue(raw.endswith("\n") and all(records), repr(raw))
        self.assertEqual([(m.group(1), m.group(2), m.group(3)) for m in records],
                         [("stdout", "F", "/dev/pts/0\r"), ("stdout", "F", "hi\r")], repr(raw))
        self.rt.RemoveContainer(api_pb2.RemoveContainerRequest(container_id=cid), timeout=60)
        self.rt.StopPodSandbox(api_pb2.StopPodSandboxRequest(pod_sandbox_id=pod), timeout=60)
        self.rt.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=pod), timeout=60)
        left = [d for d in os.listdir(self.crid.runroot) if d.startswith("cs-")]
        self.assertEqual(left, [], "short console socket directories left in the runroot")


def tearDownModule():
    # pod_config's log directories live under test_sandbox's LOG_ROOT
    shutil.rmtree(LOG_ROOT, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
