"""Shared set-up of the fault-injection modules (test_faults_runtime,
test_faults_cni): one daemon per class whose handler `faulty` runs
tests/fixtures/faults/faulty-runtime (the real runc unless its mode file
names a verb to fail or hang) and whose pod network chains the real bridge
with tests/fixtures/faults/faulty-cni (a pass-through unless its mode file
names a command), crid.runtime.runtime_timeout and crid.network.cni_timeout
at TIMEOUT seconds; switches for both faults, the leftovers to look for
(runc's state, rootfs mounts, netns binds, host-local IPs, the hung child)."""
import json
import os
import shutil
import subprocess
import time
import unittest

import grpc

import api_pb2
import ctr_fixture
from crid_fixture import Crid, version_ok
from ctr_fixture import REPO, CtrBase

CODE = grpc.StatusCode
FAULTS = os.path.join(REPO, "tests", "fixtures", "faults")
TIMEOUT = 10  # runtime_timeout and cni_timeout of the module's daemon: a real call on a loaded 2-core machine can take seconds


class SleepRegistry(ctr_fixture.Registry):
    """The fixture's registry with the sleep image only: all these tests run."""

    def __init__(self):
        super().__init__(keys=("sleep",), prefix="crid-faults-registry-")


def setup_sleep_registry():
    why = ctr_fixture.missing()
    if why:
        raise unittest.SkipTest(why)
    ctr_fixture.REGISTRY = SleepRegistry()


def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


class ContainerFaults:
    """tearDown of the modules whose faults are a pod's containers' (test_faults_runtime,
    test_faults_orphans), put before FaultsBase: the pod stays for the class, so no
    container, runc state or rootfs mount may be left once a test's cleanups ran."""

    def tearDown(self):
        self.set_rt(None)
        self.doCleanups()
        try:
            self.assertEqual(self.ctr_ids(), [], "containers left")
            self.assertEqual(self.runc_list(), [], "runc still knows containers")
            self.assertEqual(self.rootfs_mounts(), [], "rootfs mounts left")
        finally:
            for cid in self.ctr_ids():
                self.rt.RemoveContainer(api_pb2.RemoveContainerRequest(container_id=cid),
                                        timeout=60)


class FaultsBase(CtrBase):
    pull = True  # the sleep image, from the module's registry
    chain_cni = True  # faulty-cni after the bridge
    runtime = "faulty"

    @classmethod
    def setUpClass(cls):
        cls.crid = None
        cls.bridge = "crf%d" % (os.getpid() % 100000)
        cls.subnet = "10.%d.%d.0/24" % (200 + os.getpid() % 20, (os.getpid() // 20) % 250)
        cls.start_daemon()
        cls.check_runtime()
        if cls.pull:
            cls.img.PullImage(api_pb2.PullImageRequest(image=api_pb2.ImageSpec(
                image=ctr_fixture.REGISTRY.ref("sleep"))), timeout=120)
        cls.n = 0

    @classmethod
    def start_daemon(cls):
        reg = ctr_fixture.REGISTRY
        cls.crid = Crid(extra_args=["--insecure-registry", reg.addr] if reg else [])
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
                      "ranges": [[{"subnet": cls.subnet}]]}}]}
        if cls.chain_cni:
            conf["plugins"].append({"type": "faulty-cni", "modeFile": cls.cni_mode})
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

