"""Faults of the OCI runtime, injected around the real one (issue 14): the
runtime binary failing (non-zero exit, its message where runc puts it),
dying after doing its work, and hanging (never exiting) on create, start,
exec and delete; `kill` is never called (crid signals through pidfds), so a
broken kill verb must not matter. The handler `faulty` of faults_fixture
runs the real runc except for the verb its mode file names, with
crid.runtime.runtime_timeout at 3 s. Each case asserts the RPC in flight
fails with a status and a message naming the call and the cause, that
nothing half-made is left (crid's records, runc's state, rootfs mounts, the
hung runtime), and that the same daemon pid serves the next RPC and a clean
retry."""
import os
import time

import grpc

import api_pb2
from ctr_fixture import teardown_registry
from faults_fixture import TIMEOUT, ContainerFaults, FaultsBase, setup_sleep_registry

CODE = grpc.StatusCode


def setUpModule():
    setup_sleep_registry()


def tearDownModule():
    teardown_registry()


class FaultsRuntime(ContainerFaults, FaultsBase):
    """All cases in one pod: the faults are the containers'."""
    chain_cni = False

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cfg = cls.pod_config("faults")
        cls.pod = cls.rt.RunPodSandbox(api_pb2.RunPodSandboxRequest(
            config=cfg, runtime_handler=cls.runtime), timeout=60).pod_sandbox_id
        cls.pod_cfgs = {cls.pod: cfg}

    def create(self, pod, cfg, timeout=60):
        cid = super().create(pod, cfg, timeout)
        self.addCleanup(self.remove_quietly, cid)
        return cid

    def remove_quietly(self, cid):
        if cid in self.ctr_ids():
            self.remove(cid)
    # -- the OCI runtime ----------------------------------------------------------

    def test_create_fails(self):
        pod = self.pod
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
        pod = self.pod
        self.set_rt("create after")
        self.assertRpcError(CODE.UNKNOWN, self.create, pod, self.sleeper_cfg("c"),
                            contains=["injected failure after create"])
        self.assertEqual(self.ctr_ids(pod), [])
        self.assertEqual(self.runc_list(), [])
        self.assertEqual(self.rootfs_mounts(), [])
        self.assertServing()

    def test_create_hangs(self):
        pod = self.pod
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
        pod = self.pod
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
        pod = self.pod
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
        pod = self.pod
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
        pod = self.pod
        cid = self.run_ctr(pod, "c", image="sleep")
        self.set_rt("kill fail")
        self.stop(cid)
        self.assertEqual(self.status(cid).status.state, api_pb2.CONTAINER_EXITED)
        self.assertServing()

    def test_delete_fails_then_retried(self):
        pod = self.pod
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
        pod = self.pod
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
