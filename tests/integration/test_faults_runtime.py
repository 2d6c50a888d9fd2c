"""Faults of the parts crid drives, injected around the real ones (issue 14):
the OCI runtime binary failing (non-zero exit, a message on stderr) and
hanging (never exiting) on create, start, exec and delete, and a CNI plugin
failing and hanging on ADD and DEL. The runtime is a handler `faulty` whose
binary (tests/fixtures/faults/faulty-runtime) runs the real runc except for
the verb its mode file names; the pod network chains the real bridge plugin
with tests/fixtures/faults/faulty-cni, which passes the result through
except for the command its mode file names. One daemon for the module with
crid.runtime.runtime_timeout and crid.network.cni_timeout at 3 s, so a hang
costs seconds. Each case asserts the RPC in flight fails with a status and a
message naming the cause, that nothing half-made is left (records, runc's
state, rootfs mounts, netns binds, host-local IPs, the hung child), and that
the same daemon pid serves the next RPC and a clean retry."""
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

import grpc

import api_pb2
from crid_fixture import CNI_PLUGIN_DIR, Crid, version_ok
import ctr_fixture
from ctr_fixture import REPO, CtrBase, teardown_registry

CODE = grpc.StatusCode
FAULTS = os.path.join(REPO, "tests", "fixtures", "faults")
TIMEOUT = 3  # runtime_timeout and cni_timeout of the module's daemon


class SleepRegistry(ctr_fixture.Registry):
    """The fixture's registry with the sleep image only: all these tests run."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="crid-faults-registry-")
        self.addr = subprocess.run(["bash", os.path.join(ctr_fixture.FIXTURES, "registry.sh"),
                                    "start", self.dir], check=True, capture_output=True,
                                   text=True).stdout.split()[-1]
        try:
            subprocess.run([ctr_fixture.PY, os.path.join(ctr_fixture.FIXTURES, "images.py"),
                            "push", self.addr, "sleep"], check=True)
        except Exception:
            self.stop()
            raise


def setUpModule():
    why = ctr_fixture.missing()
    if why:
        raise unittest.SkipTest(why)
    ctr_fixture.REGISTRY = SleepRegistry()


def tearDownModule():
    teardown_registry()


def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


class FaultsRuntime(CtrBase):
    runtime = "faulty"

    @classmethod
    def setUpClass(cls):
        cls.crid = None
        cls.bridge = "crf%d" % (os.getpid() % 100000)
        cls.subnet = "10.%d.%d.0/24" % (200 + os.getpid() % 20, (os.getpid() // 20) % 250)
        cls.start_daemon()
        cls.check_runtime()
        cls.img.PullImage(api_pb2.PullImageRequest(image=api_pb2.ImageSpec(
            image=ctr_fixture.REGISTRY.ref("sleep"))), timeout=120)
        cls.n = 0

    @classmethod
    def start_daemon(cls):
        reg = ctr_fixture.REGISTRY
        cls.crid = Crid(extra_args=["--insecure-registry", reg.addr])
        t = cls.crid.tmp
        cls.fdir = os.path.join(t, "faults")
        cls.plugins = os.path.join(t, "cni-plugins")
        cls.runc_root = os.path.join(t, "runc-root")
        for d in (cls.fdir, cls.plugins, cls.runc_root):
            os.makedirs(d)
        shutil.copy(os.path.join(FAULTS, "faulty-runtime"), cls.fdir)
        shutil.copy(os.path.join(FAULTS, "faulty-cni"), cls.plugins)
        cls.rt_mode = os.path.join(cls.fdir, "mode")
        cls.cni_mode = os.path.join(cls.fdir, "cni-mode")
        cfg = os.path.join(t, "crid.toml")
        with open(cfg, "w") as f:
            f.write('[crid.runtime]\nruntime_timeout = %d\n'
                    '[crid.runtime.runtimes.faulty]\nruntime_path = "%s"\nruntime_root = "%s"\n'
                    '[crid.network]\ncni_timeout = %d\n'
                    % (TIMEOUT, os.path.join(cls.fdir, "faulty-runtime"), cls.runc_root,
                       TIMEOUT))
        cls.crid.config = cfg
        cls.crid.extra_args += ["--cni-plugin-dir", cls.plugins]
        cls.data_dir = os.path.join(t, "cni-ipam")
        cls.log_root = os.path.join(t, "logs")
        conf = {"cniVersion": "1.0.0", "name": "crid-ctr", "plugins": [
            {"type": "bridge", "bridge": cls.bridge, "isGateway": True, "ipMasq": False,
             "ipam": {"type": "host-local", "dataDir": cls.data_dir,
                      "ranges": [[{"subnet": cls.subnet}]]}},
            {"type": "faulty-cni", "modeFile": cls.cni_mode}]}
        with open(os.path.join(cls.crid.cni_dir, "10-ctr.conflist"), "w") as f:
            json.dump(conf, f)
        try:
            cls.crid.start()
        except Exception:
            cls.crid.cleanup(keep=True)
            cls.crid = None
            raise
        cls.connect()
        cls.pid0 = cls.crid.pid

    def setUp(self):
        self.set_rt(None)
        self.set_cni(None)

    def tearDown(self):
        self.set_rt(None)
        self.set_cni(None)
        self.doCleanups()
        try:
            self.assertNothingLeft()
            self.assertEqual(self.runc_list(), [], "runc still knows containers")
            self.assertEqual(self.netns_binds(), [], "netns binds left")
        finally:
            self.crid.remove_all_pods()

    # -- fault switches and leftovers ---------------------------------------------

    def set_rt(self, mode):
        self._set(self.rt_mode, mode)

    def set_cni(self, mode):
        self._set(self.cni_mode, mode)

    @staticmethod
    def _set(path, mode):
        """Writes the fault |mode| ("VERB fail"...) or, for None, clears it and its hang pid."""
        if mode is not None:
            with open(path, "w") as f:
                f.write(mode + "\n")
            return
        for p in (path, path + ".pid", os.path.join(os.path.dirname(path), "hang.pid")):
            if p.endswith("/hang.pid") and not path.endswith("/mode"):
                continue
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass

    def hung_pid(self, path):
        with open(path) as f:
            return int(f.read())

    def assertReaped(self, pid_file):
        pid = self.hung_pid(pid_file)
        deadline = time.monotonic() + 10
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertFalse(pid_alive(pid), "hung child %d still running" % pid)

    def runc_list(self):
        out = subprocess.run(["runc", "--root", self.runc_root, "list", "-q"],
                             capture_output=True, text=True)
        return out.stdout.split()

    def netns_binds(self):
        return [m for m in self.mounts_under(self.crid.runroot) if "/netns" in m or "net" ==
                os.path.basename(m)]

    def ipam_ips(self):
        d = os.path.join(self.data_dir, "crid-ctr")
        return [f for f in os.listdir(d) if f[0].isdigit()] if os.path.isdir(d) else []

    def ctr_ids(self, pod=None):
        f = api_pb2.ContainerFilter(pod_sandbox_id=pod) if pod else None
        return [c.id for c in self.rt.ListContainers(api_pb2.ListContainersRequest(filter=f),
                                                     timeout=10).containers]

    def rootfs_mounts(self):
        return self.mounts_under(self.crid.root)

    def assertServing(self):
        self.assertEqual(self.crid.pid, self.pid0)
        self.assertTrue(self.crid.alive(), "crid died:\n" + self.crid.log(60))
        version_ok(self.crid)

    def sleeper_cfg(self, name):
        return self.ctr_config(name, image="sleep")

    # -- the OCI runtime ----------------------------------------------------------

    def test_create_fails(self):
        pod = self.run_pod()
        self.set_rt("create fail")
        msg = self.assertRpcError(CODE.UNKNOWN, self.create, pod, self.sleeper_cfg("c"),
                                  contains=["create", "injected create failure"])
        self.assertNotIn("\n", msg)
        self.assertEqual(self.ctr_ids(pod), [])
        self.assertEqual(self.runc_list(), [])
        self.assertEqual(self.rootfs_mounts(), [])
        self.assertServing()
        self.set_rt(None)
        self.start(self.create(pod, self.sleeper_cfg("c")))

    def test_create_fails_after_runc_made_it(self):
        """The runtime made the container, then died: crid deletes it from the runtime."""
        pod = self.run_pod()
        self.set_rt("create after")
        self.assertRpcError(CODE.UNKNOWN, self.create, pod, self.sleeper_cfg("c"),
                            contains=["injected failure after create"])
        self.assertEqual(self.ctr_ids(pod), [])
        self.assertEqual(self.runc_list(), [])
        self.assertEqual(self.rootfs_mounts(), [])
        self.assertServing()

    def test_create_hangs(self):
        pod = self.run_pod()
        self.set_rt("create hang")
        t0 = time.monotonic()
        self.assertRpcError(CODE.DEADLINE_EXCEEDED, self.create, pod, self.sleeper_cfg("c"),
                            contains=["create", "%d" % TIMEOUT])
        self.assertLess(time.monotonic() - t0, 50, "CreateContainer outlived the runtime timeout")
        self.assertReaped(os.path.join(self.fdir, "hang.pid"))
        self.assertEqual(self.ctr_ids(pod), [])
        self.assertEqual(self.runc_list(), [])
        self.assertEqual(self.rootfs_mounts(), [])
        self.assertServing()
        self.set_rt(None)
        self.start(self.create(pod, self.sleeper_cfg("c")))

    def test_start_fails(self):
        pod = self.run_pod()
        cid = self.create(pod, self.sleeper_cfg("c"))
        self.set_rt("start fail")
        self.assertRpcError(CODE.UNKNOWN, self.start, cid,
                            contains=["start", "injected start failure"])
        st = self.status(cid).status
        self.assertIn(st.state, (api_pb2.CONTAINER_CREATED, api_pb2.CONTAINER_EXITED))
        self.assertServing()
        self.set_rt(None)
        self.remove(cid)
        self.assertEqual(self.runc_list(), [])

    def test_start_hangs(self):
        pod = self.run_pod()
        cid = self.create(pod, self.sleeper_cfg("c"))
        self.set_rt("start hang")
        self.assertRpcError(CODE.DEADLINE_EXCEEDED, self.start, cid,
                            contains=["start", "%d" % TIMEOUT])
        self.assertReaped(os.path.join(self.fdir, "hang.pid"))
        self.assertServing()
        self.set_rt(None)
        self.remove(cid)
        self.assertEqual(self.runc_list(), [])

    def test_exec_fails_and_hangs(self):
        pod = self.run_pod()
        cid = self.run_ctr(pod, "c", image="sleep")
        self.set_rt("exec fail")
        self.assertRpcError(CODE.UNKNOWN, self.exec_sync, cid, ["true"],
                            contains=["exec", "injected exec failure"])
        self.set_rt("exec hang")
        t0 = time.monotonic()
        self.assertRpcError(CODE.DEADLINE_EXCEEDED, self.exec_sync, cid, ["true"], timeout=2)
        self.assertLess(time.monotonic() - t0, 25)
        self.assertReaped(os.path.join(self.fdir, "hang.pid"))
        self.assertServing()
        self.set_rt(None)
        self.assertEqual(self.exec_sync(cid, ["echo", "ok"]).stdout, b"ok\n")

    def test_kill_fault_does_not_matter(self):
        """crid signals through the pidfd, never `runtime kill`: a broken kill verb stops nothing."""
        pod = self.run_pod()
        cid = self.run_ctr(pod, "c", image="sleep")
        self.set_rt("kill fail")
        self.stop(cid)
        self.assertEqual(self.status(cid).status.state, api_pb2.CONTAINER_EXITED)
        self.assertServing()

    def test_delete_fails_then_retried(self):
        pod = self.run_pod()
        cid = self.run_ctr(pod, "c", image="sleep")
        self.stop(cid)
        self.set_rt("delete fail")
        self.assertRpcError(CODE.UNKNOWN, self.remove, cid,
                            contains=["delete", "injected delete failure"])
        self.assertIn(cid, self.ctr_ids(pod), "container half-removed: gone from crid")
        self.assertServing()
        self.set_rt(None)
        self.remove(cid)
        self.assertEqual(self.ctr_ids(pod), [])
        self.assertEqual(self.runc_list(), [])

    def test_delete_hangs_then_retried(self):
        pod = self.run_pod()
        cid = self.run_ctr(pod, "c", image="sleep")
        self.stop(cid)
        self.set_rt("delete hang")
        self.assertRpcError(CODE.DEADLINE_EXCEEDED, self.remove, cid,
                            contains=["delete", "%d" % TIMEOUT])
        self.assertReaped(os.path.join(self.fdir, "hang.pid"))
        self.assertIn(cid, self.ctr_ids(pod))
        self.assertServing()
        self.set_rt(None)
        self.remove(cid)
        self.assertEqual(self.runc_list(), [])

    # -- the CNI plugin -----------------------------------------------------------

    def pod_cfg(self, name):
        return api_pb2.PodSandboxConfig(
            metadata=api_pb2.PodSandboxMetadata(name=name, uid="uid-" + name,
                                                namespace="ctr-test"),
            hostname=name, log_directory=os.path.join(self.log_root, name))

    def run_pod_raw(self, name):
        return self.rt.RunPodSandbox(api_pb2.RunPodSandboxRequest(
            config=self.pod_cfg(name), runtime_handler=self.runtime), timeout=60).pod_sandbox_id

    def assertNoPod(self):
        self.assertEqual(list(self.rt.ListPodSandbox(api_pb2.ListPodSandboxRequest(),
                                                     timeout=10).items), [])
        self.assertEqual(self.netns_binds(), [])
        self.assertEqual(self.ipam_ips(), [], "IP not released")

    def test_cni_add_fails(self):
        self.set_cni("ADD fail")
        self.assertRpcError(CODE.UNKNOWN, self.run_pod_raw, self.uniq("pod"),
                            contains=["faulty-cni", "injected ADD failure"])
        self.assertNoPod()
        self.assertServing()
        self.set_cni(None)
        self.run_pod()

    def test_cni_add_hangs(self):
        self.set_cni("ADD hang")
        self.assertRpcError(CODE.DEADLINE_EXCEEDED, self.run_pod_raw, self.uniq("pod"),
                            contains=["faulty-cni"])
        self.assertReaped(self.cni_mode + ".pid")
        self.assertNoPod()
        self.assertServing()

    def stop_pod(self, pid):
        self.rt.StopPodSandbox(api_pb2.StopPodSandboxRequest(pod_sandbox_id=pid), timeout=60)

    def pod_state(self, pid):
        return self.rt.PodSandboxStatus(api_pb2.PodSandboxStatusRequest(pod_sandbox_id=pid),
                                        timeout=10).status.state

    def test_cni_del_fails_then_retried(self):
        pid = self.run_pod()
        self.set_cni("DEL fail")
        self.assertRpcError(CODE.UNKNOWN, self.stop_pod, pid,
                            contains=["faulty-cni", "injected DEL failure"])
        self.assertNotEqual(self.ipam_ips(), [], "IP released though DEL failed")
        self.assertServing()
        self.set_cni(None)
        self.stop_pod(pid)  # kubelet retries StopPodSandbox
        self.assertEqual(self.pod_state(pid), api_pb2.SANDBOX_NOTREADY)
        self.assertEqual(self.ipam_ips(), [])

    def test_cni_del_hangs_then_retried(self):
        pid = self.run_pod()
        self.set_cni("DEL hang")
        self.assertRpcError(CODE.DEADLINE_EXCEEDED, self.stop_pod, pid, contains=["faulty-cni"])
        self.assertReaped(self.cni_mode + ".pid")
        self.assertServing()
        self.set_cni(None)
        self.stop_pod(pid)
        self.assertEqual(self.ipam_ips(), [])

