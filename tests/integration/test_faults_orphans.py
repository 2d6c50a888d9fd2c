"""A live `runtime create` that fails or hangs after its init stage entered
the container's cgroups (issue 14): faulty-runtime's `create orphan*` modes
(faults_fixture) leave a real process, ignoring SIGTERM, in the container's
real cgroups of every hierarchy and then exit 1, hang past
crid.runtime.runtime_timeout, or freeze the process first. CreateContainer
answers the runtime's error; the undo kills what the create left and waits
for it (runtime/container/ctr_orphans.h) before removing the cgroups and
the record, so nothing stays: no process, no cgroup directory in any
hierarchy, no record, bundle or layer, nothing in runc's state, and the
same name can be created again. A process that SIGKILL cannot end yet (a
frozen one) holds the undo and the RPC, not the loop: other calls are
served, the client may go away, its pod may be removed, the daemon may stop
(SIGTERM, exit 0) and its recovery finishes the undo once the process can
die."""
import os
import signal
import time

import grpc

import api_pb2
from crid_fixture import sanitizer_report
from ctr_fixture import teardown_registry
from faults_fixture import (TIMEOUT, ContainerFaults, FaultsBase, pid_alive,
                            setup_sleep_registry)

CODE = grpc.StatusCode
CG = "/sys/fs/cgroup"


def setUpModule():
    setup_sleep_registry()


def tearDownModule():
    teardown_registry()


def hierarchies():
    """Where a runtime puts a container's cgroup: the cgroup2 root alone, else every
    mounted hierarchy (v1 and the hybrid's unified)."""
    if os.path.exists(os.path.join(CG, "cgroup.controllers")):
        return [CG]
    return [os.path.join(CG, h) for h in sorted(os.listdir(CG))
            if not os.path.islink(os.path.join(CG, h))
            and os.path.exists(os.path.join(CG, h, "cgroup.procs"))]


class FaultsOrphans(ContainerFaults, FaultsBase):
    """One pod for the faults; a second one where a test removes it during the undo."""
    chain_cni = False

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pod = cls.new_pod("orphans")

    @classmethod
    def new_pod(cls, name):
        cfg = cls.pod_config(name)
        pod = cls.rt.RunPodSandbox(api_pb2.RunPodSandboxRequest(
            config=cfg, runtime_handler=cls.runtime), timeout=60).pod_sandbox_id
        cls.pod_cfgs = dict(getattr(cls, "pod_cfgs", {}), **{pod: cfg})
        return pod

    def setUp(self):
        super().setUp()
        for f in ("orphan.pid", "orphan.cgroup"):
            try:
                os.unlink(os.path.join(self.fdir, f))
            except FileNotFoundError:
                pass
        self.addCleanup(self.kill_orphan)

    # -- the process and cgroups the failed create left ---------------------------

    def orphan(self):
        """(pid, cgroup path below each hierarchy, container id) of what the runtime left."""
        with open(os.path.join(self.fdir, "orphan.pid")) as f:
            pid = int(f.read())
        with open(os.path.join(self.fdir, "orphan.cgroup")) as f:
            rel = f.read().strip()
        return pid, rel, rel.rsplit("/crid-", 1)[-1]

    @staticmethod
    def in_cgroup(pid, rel):
        """Is |pid| alive (not a zombie) and in the container's cgroup?"""
        try:
            with open("/proc/%d/cgroup" % pid) as f:
                return pid_alive(pid) and (":%s\n" % rel) in f.read()
        except OSError:
            return False

    @staticmethod
    def cgroups_left(rel):
        return [h + rel for h in hierarchies() if os.path.isdir(h + rel)]

    def thaw(self, rel):
        state = CG + "/freezer" + rel + "/freezer.state"
        if os.path.exists(state):
            with open(state, "w") as f:
                f.write("THAWED")

    def kill_orphan(self):
        """Whatever a failed case left: the process killed (thawed first), its cgroups removed."""
        try:
            pid, rel, _ = self.orphan()
        except (OSError, ValueError):
            return
        if self.in_cgroup(pid, rel):
            os.kill(pid, signal.SIGKILL)
        self.thaw(rel)
        deadline = time.monotonic() + 10
        while self.in_cgroup(pid, rel) and time.monotonic() < deadline:
            time.sleep(0.05)
        for d in self.cgroups_left(rel):
            try:
                os.rmdir(d)
            except OSError:
                pass

    def leftovers(self, pid, rel, cid):
        """What is left of the create: its process, cgroup dirs, record, layer and bundle."""
        left = ["process %d" % pid] if self.in_cgroup(pid, rel) else []
        left += self.cgroups_left(rel)
        records = os.path.join(self.crid.root, "containers", "records")
        left += [os.path.join(records, f) for f in os.listdir(records) if f.startswith(cid)]
        return left + [d for d in (os.path.join(self.crid.root, "containers", cid),
                                   os.path.join(self.crid.runroot, "containers", cid))
                       if os.path.exists(d)]

    def assertOrphanGone(self, within=15):
        """Within |within| s nothing of the create is left, in crid, runc or the kernel."""
        pid, rel, cid = self.orphan()
        self.assertTrue(rel.endswith("/crid-" + cid) and len(cid) == 64, rel)
        deadline = time.monotonic() + within
        while self.leftovers(pid, rel, cid) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.leftovers(pid, rel, cid), [], "the create's leftovers")
        self.assertNotIn(cid, self.ctr_ids())
        self.assertEqual(self.runc_list(), [])
        return cid

    def create_again(self, pod, name):
        """The same name in the same pod, the fault off: created (the name is free), removed."""
        self.set_rt(None)
        cid = self.create(pod, self.sleeper_cfg(name))
        self.assertIn(cid, self.ctr_ids(pod))
        self.remove(cid)

    def request(self, pod, name):
        return api_pb2.CreateContainerRequest(pod_sandbox_id=pod, config=self.sleeper_cfg(name),
                                              sandbox_config=self.pod_cfgs[pod])

    def wait_undo_holds(self, cid):
        """Until crid has killed the frozen process (it stays: SIGKILL waits for the thaw)."""
        pat = r"container %s: unfinished create: killing process in its cgroups pid" % cid[:12]
        self.assertIsNotNone(self.crid.wait_for_log(pat, timeout=4 * TIMEOUT),
                             "no kill of the frozen process logged:\n" + self.crid.log(40))

    # -- the cases ------------------------------------------------------------------

    def test_create_fails_leaving_a_process(self):
        self.set_rt("create orphan")
        self.assertRpcError(CODE.UNKNOWN, self.create, self.pod, self.sleeper_cfg("c"),
                            contains=["create", "injected create failure"])
        self.assertOrphanGone()
        self.assertServing()
        self.create_again(self.pod, "c")

    def test_create_hangs_leaving_a_process(self):
        self.set_rt("create orphan-hang")
        self.assertRpcError(CODE.DEADLINE_EXCEEDED, self.create, self.pod,
                            self.sleeper_cfg("h"), contains=["create", "%d" % TIMEOUT])
        self.assertReaped(os.path.join(self.fdir, "hang.pid"))
        self.assertOrphanGone()
        self.assertServing()
        self.create_again(self.pod, "h")

    def test_frozen_process_holds_the_undo_not_the_loop(self):
        """The RPC waits for the undo; the client leaves, the pod is removed meanwhile."""
        pod = self.new_pod(self.uniq("frozen"))
        self.set_rt("create orphan-frozen")
        call = self.rt.CreateContainer.future(self.request(pod, "f"), timeout=60)
        self.addCleanup(call.cancel)
        _, rel, cid = self.wait_orphan_file()
        self.wait_undo_holds(cid)
        self.assertTrue(self.cgroups_left(rel), "cgroups removed under a live process")
        self.assertFalse(call.done(), "CreateContainer answered before its undo was done")
        self.assertNotIn(cid, self.ctr_ids())
        self.assertServing()
        self.cancel(call)  # the client goes: the undo goes on without it
        self.remove_pod(pod)
        self.assertServing()
        self.thaw_in_time(rel, cid)
        self.assertOrphanGone()
        self.create_again(self.pod, "f")

    def test_shutdown_during_the_undo(self):
        """SIGTERM while the undo waits: exit 0; the restarted daemon's recovery finishes it."""
        self.set_rt("create orphan-frozen")
        call = self.rt.CreateContainer.future(self.request(self.pod, "s"), timeout=60)
        self.addCleanup(call.cancel)
        _, rel, cid = self.wait_orphan_file()
        self.wait_undo_holds(cid)
        self.cancel(call)
        self.restart_daemon()
        pat = r"recovery: container %s was being created: undoing it" % cid[:12]
        self.assertIsNotNone(self.crid.wait_for_log(pat, timeout=10), self.crid.log(40))
        self.assertTrue(self.cgroups_left(rel), "cgroups removed under a live process")
        self.thaw_in_time(rel, cid)
        self.assertOrphanGone()
        self.assertServing()
        self.create_again(self.pod, "s")

    # -- helpers of the frozen cases --------------------------------------------------

    def wait_orphan_file(self):
        deadline = time.monotonic() + 4 * TIMEOUT
        while time.monotonic() < deadline:
            try:
                return self.orphan()
            except (OSError, ValueError):
                time.sleep(0.05)
        self.fail("faulty-runtime left no process:\n" + self.crid.log(40))

    def thaw_in_time(self, rel, cid):
        """Thaws the process, checking first that crid's wait for it (10 s) has not given up."""
        gave_up = self.crid.wait_for_log("%s: its unfinished create still has" % cid[:12],
                                         timeout=0)
        self.thaw(rel)
        self.assertIsNone(gave_up, "the test's steps outlived crid's 10 s wait for the frozen "
                          "process (a very loaded machine?): the case proves nothing")

    def cancel(self, call):
        """Cancels |call| and waits until crid has heard it (a new log line)."""
        start = len(self.crid.log_text())
        call.cancel()
        deadline = time.monotonic() + 10
        while "call ended by the client" not in self.crid.log_text()[start:]:
            self.assertLess(time.monotonic(), deadline, "crid never heard the cancel")
            time.sleep(0.05)

    @classmethod
    def restart_daemon(cls):
        cls.channel.close()
        rc = cls.crid.stop()
        report = sanitizer_report(cls.crid.log_text())
        if rc != 0 or report:
            raise AssertionError("crid exited with %s after SIGTERM during the undo (expected "
                                 "0 and no sanitizer report)\n%s" % (rc, report or
                                                                      cls.crid.log(60)))
        cls.crid.start()
        cls.connect()
        cls.pid0 = cls.crid.pid
