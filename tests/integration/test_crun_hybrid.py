"""crun as the default OCI runtime on a cgroup hybrid host (issue 13): crun refuses
a host whose /sys/fs/cgroup/unified (cgroup2) has controllers, so crid runs every
crun call in a mount namespace without that mount, pinned under its run dir. One
daemon and its pods are shared by the tests: the pin and what Status says of it,
the namespace's mount table, a default-handler container driven by crun (limits
in its v1 cgroups, UpdateContainerResources, exec, stats), the runc handler
beside it, and a kill -9 of crid after which the same namespace is reused and the
crun container still runs, execs and stops. Skipped (with the reason) where the
host is not hybrid with controllers, or crun is missing."""
import json
import os
import subprocess
import unittest

import api_pb2
from ctr_fixture import CtrBase, setup_registry, teardown_registry

UNIFIED = "/sys/fs/cgroup/unified"


def setUpModule():
    setup_registry()


def tearDownModule():
    teardown_registry()


def mountinfo(path="/proc/self/mountinfo"):
    with open(path) as f:
        return [ln.split() for ln in f]


def unified_has_controllers():
    try:
        with open(os.path.join(UNIFIED, "cgroup.controllers")) as f:
            return bool(f.read().strip())
    except OSError:
        return False


class CrunHybrid(CtrBase):
    runtime = "crun"

    @classmethod
    def setUpClass(cls):
        if not any(m[4] == UNIFIED and m[m.index("-") + 1] == "cgroup2" for m in mountinfo()):
            raise unittest.SkipTest("not a cgroup hybrid host (no cgroup2 at %s)"
                                                  % UNIFIED)
        if not unified_has_controllers():
            raise unittest.SkipTest("%s has no controllers: crun needs no trick"
                                                  % UNIFIED)
        super().setUpClass()

    def info(self):
        r = self.rt.Status(api_pb2.StatusRequest(verbose=True), timeout=10)
        return json.loads(r.info["runtime"])

    def pod_with(self, handler):
        name = self.uniq("pod")
        cfg = api_pb2.PodSandboxConfig(
            metadata=api_pb2.PodSandboxMetadata(name=name, uid="uid-" + name,
                                                namespace="crun-test"),
            hostname=name, log_directory=os.path.join(self.log_root, name))
        pid = self.rt.RunPodSandbox(api_pb2.RunPodSandboxRequest(
            config=cfg, runtime_handler=handler), timeout=60).pod_sandbox_id
        self.addCleanup(self.remove_pod, pid)
        self.pod_cfgs = getattr(self, "pod_cfgs", {})
        self.pod_cfgs[pid] = cfg
        return pid

    def pin(self):
        return os.path.join(self.crid.runroot, "crun-ns", "mnt")

    def ns_mounts(self):
        """The mount points crun sees: nsenter into the pinned namespace."""
        out = subprocess.run(["nsenter", "--mount=" + self.pin(), "cat", "/proc/self/mountinfo"],
                             capture_output=True, text=True, check=True).stdout
        return [ln.split()[4] for ln in out.splitlines()]

    def verbose(self, cid):
        r = self.rt.ContainerStatus(api_pb2.ContainerStatusRequest(container_id=cid,
                                                                   verbose=True), timeout=10)
        return json.loads(r.info["info"])

    def memory_limit(self, cid):
        cg = self.verbose(cid)["cgroupsPath"]
        with open("/sys/fs/cgroup/memory/%s/memory.limit_in_bytes" % cg.lstrip("/")) as f:
            return int(f.read())

    # -----------------------------------------------------------------------------

    def test_1_status_names_crun_and_the_namespace(self):
        info = self.info()
        self.assertEqual(info["defaultRuntime"], "crun", info)
        crun = [h for h in info["runtimes"] if h["name"] == "crun"][0]
        runc = [h for h in info["runtimes"] if h["name"] == "runc"][0]
        self.assertTrue(crun["usable"] and runc["usable"], info["runtimes"])
        ns = info["crunMountNamespace"]
        self.assertTrue(ns["needed"] and ns["active"], ns)
        self.assertEqual((ns["pin"], ns["hiddenMount"], ns["reason"]), (self.pin(), UNIFIED, ""))
        self.assertRegex(self.crid.log_text(), r"crun: runs in a mount namespace without "
                         r"`/sys/fs/cgroup/unified` .*pinned at")

    def test_2_pin_is_a_private_nsfs_mount_without_unified(self):
        mi = mountinfo()
        pin = [m for m in mi if m[4] == self.pin()]
        self.assertEqual(len(pin), 1, "the pin is mounted once")
        self.assertEqual(pin[0][pin[0].index("-") + 1], "nsfs")
        self.assertTrue(pin[0][3].startswith("mnt:["), pin[0])
        pdir = [m for m in mi if m[4] == os.path.dirname(self.pin())][0]
        self.assertFalse(any(f.startswith(("shared:", "master:")) for f in
                             pdir[6:pdir.index("-")]), "the pin's dir is a private mount")
        inside = self.ns_mounts()
        self.assertNotIn(UNIFIED, inside, "crun's namespace still has the cgroup2 mount")
        self.assertIn("/sys/fs/cgroup/memory", inside)
        self.assertIn(UNIFIED, [m[4] for m in mountinfo()], "the host keeps its cgroup2 mount")

    def test_3_default_handler_container_runs_on_crun(self):
        pod = self.pod_with("")
        cid = self.run_ctr(pod, "lim", script="echo started; exec sleep 300",
                           memory=64 << 20)
        self.wait_log(pod, "lim", lambda ls: b"started" in ls)
        v = self.verbose(cid)
        self.assertEqual(v["runtimeHandler"], "crun", "the default handler, resolved")
        self.assertTrue(v["runtimeType"].endswith("crun"), v["runtimeType"])
        self.assertTrue(os.path.isdir("/run/crun/" + cid), "crun's state dir for it")
        self.assertEqual(self.memory_limit(cid), 64 << 20, "the limit in its v1 memory cgroup")
        r = self.exec_sync(cid, ["cat", "/proc/self/cgroup"])
        self.assertEqual(r.exit_code, 0, r.stderr)
        self.assertIn(b":memory:", r.stdout)
        self.rt.UpdateContainerResources(api_pb2.UpdateContainerResourcesRequest(
            container_id=cid, linux=api_pb2.LinuxContainerResources(
                memory_limit_in_bytes=96 << 20, memory_swap_limit_in_bytes=96 << 20)),
            timeout=30)
        self.assertEqual(self.memory_limit(cid), 96 << 20, "crun update reached the cgroup")
        st = self.rt.ContainerStats(api_pb2.ContainerStatsRequest(container_id=cid),
                                    timeout=10).stats
        self.assertGreater(st.memory.working_set_bytes.value, 0)
        r = self.exec_sync(cid, ["sh", "-c", "exit 3"])
        self.assertEqual(r.exit_code, 3)
        self.stop(cid, timeout=5)
        self.assertEqual(self.status(cid).status.state, api_pb2.CONTAINER_EXITED)

    def test_4_runc_handler_beside_it(self):
        pod = self.pod_with("runc")
        cid = self.run_ctr(pod, "r", script="echo hi; exec sleep 300")
        self.wait_log(pod, "r", lambda ls: b"hi" in ls)
        self.assertTrue(self.verbose(cid)["runtimeType"].endswith("runc"))
        self.assertFalse(os.path.exists("/run/crun/" + cid))
        self.assertEqual(self.exec_sync(cid, ["true"]).exit_code, 0)

    def test_5_kill_9_reuses_the_namespace(self):
        pod = self.pod_with("")
        cid = self.run_ctr(pod, "survivor", script="echo up; exec sleep 300")
        self.wait_log(pod, "survivor", lambda ls: b"up" in ls)
        ns_before = os.stat(self.pin()).st_ino
        type(self).restart(kill=True)
        self.rt = type(self).rt
        ns = self.info()["crunMountNamespace"]
        self.assertTrue(ns["active"] and ns["reused"], ns)
        self.assertEqual(os.stat(self.pin()).st_ino, ns_before, "the same namespace")
        self.assertEqual(len([m for m in mountinfo() if m[4] == self.pin()]), 1,
                         "pinned once, not stacked")
        self.assertEqual(self.status(cid).status.state, api_pb2.CONTAINER_RUNNING)
        r = self.exec_sync(cid, ["echo", "still"])
        self.assertEqual((r.exit_code, r.stdout), (0, b"still\n"))
        # a new container after the restart, through the reused namespace
        cid2 = self.run_ctr(pod, "after", script="echo again; exec sleep 300")
        self.wait_log(pod, "after", lambda ls: b"again" in ls)
        self.stop(cid, timeout=5)
        self.stop(cid2, timeout=5)
        self.assertEqual(self.status(cid).status.state, api_pb2.CONTAINER_EXITED)
