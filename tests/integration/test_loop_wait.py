"""The loop does not wait: teardown's unmounts and removals run in children,
stats lists are built a slice per loop iteration (real daemon, runc and crun,
bridge CNI; one daemon per class).

- kill -9 of the daemon right after it spawned a teardown child (debug points
  pod-release-spawned: the pod's namespace pins, shm and files;
  ctr-unmount-spawned: a container's root and bundle): the child finishes on
  its own (the root it was unmounting is unmounted), the restarted daemon
  finishes or redoes the stop or removal, and after the removal nothing is
  left behind (no pod, container, mount, IP, record, runtime
  state or cgroup).
- ListContainerStats, ListPodSandboxStats and ListPodSandboxMetrics (built
  over several iterations) list exactly the containers and pods they did
  when answered at once: every listed container with its own id and a
  CPU figure, every ready pod once, and a call made while a pod is torn
  down from another connection answers without error.
"""
import os
import signal
import subprocess
import threading
import time

import grpc

import api_pb2
from ctr_fixture import CtrBase, setup_registry, teardown_registry


def setUpModule():
    setup_registry()


def tearDownModule():
    teardown_registry()


class _Tests:
    def tearDown(self):
        self.doCleanups()
        try:
            self.assertNothingLeft()
        finally:
            self.crid.remove_all_pods()

    # -- helpers --------------------------------------------------------------------

    def kill_at(self, step, call):
        """Runs |call| on a daemon armed to kill itself at debug point |step|, then restarts."""
        self.restart(kill=True)
        self.crid.env = {"CRID_TEST": "1", "CRID_DEBUG_ABORT_AT": step}
        try:
            self.restart(kill=True)
            # the armed daemon answers first: the call's error is then its death, not a
            # channel that was not ready yet (that left it alive and the wait below timed out)
            type(self).rt.Version(api_pb2.VersionRequest(), timeout=30, wait_for_ready=True)
            with self.assertRaises(grpc.RpcError) as cm:
                call(type(self).rt)
            self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAVAILABLE,
                             cm.exception.details())
            self.assertEqual(self.crid.proc.wait(30), -signal.SIGKILL,
                             "the daemon was killed at %s" % step)
            self.crid._close_files()
        finally:
            self.crid.env = None
        self.channel.close()
        self.crid.start()
        type(self).connect()
        self.rt = type(self).rt

    def runtime_knows(self, cid):
        return subprocess.run([self.runtime, "state", cid],
                              capture_output=True).returncode == 0

    def names_under(self, top, ids):
        found = []
        for d, dirs, files in os.walk(top):
            for n in dirs + files:
                if any(i in n for i in ids):
                    found.append(os.path.join(d, n))
        return found

    def assertPodGone(self, pod, ids):
        self.assertNothingLeft()
        deadline = time.monotonic() + 20  # the trash is emptied off the loop, by a child
        while True:
            left = [p for d in (self.crid.root, self.crid.runroot)
                    for p in self.names_under(d, [pod] + ids)]
            if not left or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(left, [], "records or dirs left")
        for cid in ids:
            self.assertFalse(self.runtime_knows(cid), "%s still knows %s" % (self.runtime,
                                                                            cid[:12]))

    def two_containers(self):
        pod = self.run_pod(cleanup=False)
        ids = [self.run_ctr(pod, "sleep%d" % i, image="sleep") for i in (1, 2)]
        return pod, ids

    def pod_state(self, pod):
        return self.rt.PodSandboxStatus(api_pb2.PodSandboxStatusRequest(pod_sandbox_id=pod),
                                        timeout=10).status.state

    # -- kill -9 while a teardown child runs ----------------------------------------

    def check_pod_kill(self, step, remove):
        pod, ids = self.two_containers()
        req = (api_pb2.RemovePodSandboxRequest(pod_sandbox_id=pod) if remove
               else api_pb2.StopPodSandboxRequest(pod_sandbox_id=pod))
        self.kill_at(step, lambda rt: (rt.RemovePodSandbox if remove else rt.StopPodSandbox)(
            req, timeout=60))
        # the restart finishes (or redoes) the stop; a second stop is idempotent
        self.rt.StopPodSandbox(api_pb2.StopPodSandboxRequest(pod_sandbox_id=pod), timeout=60)
        self.assertEqual(self.pod_state(pod), api_pb2.SANDBOX_NOTREADY)
        left = {c.id for c in self.rt.ListContainers(api_pb2.ListContainersRequest(),
                                                     timeout=10).containers}
        for cid in ids:
            if remove and cid not in left:
                continue  # the removal had removed it before the kill
            st = self.status(cid).status
            self.assertEqual(st.state, api_pb2.CONTAINER_EXITED, cid[:12])
        if step == "ctr-unmount-spawned":
            # the child spawned before the kill unmounts its container's root on its own
            # (a root whose retire had not reached its unmount stays until the removal)
            deadline = time.monotonic() + 20
            while True:
                mounted = [c for c in ids
                           if any(c in m for m in self.mounts_under(self.crid.root))]
                if len(mounted) < len(ids) or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            self.assertLess(len(mounted), len(ids), "the spawned child unmounted a root")
        self.remove_pod(pod)
        self.assertPodGone(pod, ids)

    def test_kill_while_retire_unmount_child_runs(self):
        self.check_pod_kill("ctr-unmount-spawned", remove=False)

    # -- stats lists built a slice at a time ------------------------------------------

    def test_stats_lists(self):
        pod, ids = self.two_containers()
        other, more = self.two_containers()
        self.addCleanup(self.remove_pod, pod)
        self.addCleanup(self.remove_pod, other)
        st = self.rt.ListContainerStats(api_pb2.ListContainerStatsRequest(), timeout=30).stats
        self.assertEqual(sorted(s.attributes.id for s in st), sorted(ids + more))
        for s in st:
            self.assertTrue(s.attributes.metadata.name.startswith("sleep"))
            self.assertGreater(s.cpu.usage_core_nano_seconds.value, 0, s.attributes.id[:12])
        one = self.rt.ListContainerStats(api_pb2.ListContainerStatsRequest(
            filter=api_pb2.ContainerStatsFilter(pod_sandbox_id=other)), timeout=30).stats
        self.assertEqual(sorted(s.attributes.id for s in one), sorted(more))
        ps = self.rt.ListPodSandboxStats(api_pb2.ListPodSandboxStatsRequest(), timeout=30).stats
        self.assertEqual(sorted(s.attributes.id for s in ps), sorted([pod, other]))
        pm = self.rt.ListPodSandboxMetrics(api_pb2.ListPodSandboxMetricsRequest(),
                                           timeout=30).pod_metrics
        self.assertEqual(sorted(m.pod_sandbox_id for m in pm), sorted([pod, other]))
        # while the second pod is stopped from another connection, the lists still answer
        ch = self.crid.channel()
        self.addCleanup(ch.close)
        from api_pb2_grpc import RuntimeServiceStub
        rt2 = RuntimeServiceStub(ch)
        errors = []

        def lists():
            try:
                for _ in range(10):
                    got = rt2.ListContainerStats(api_pb2.ListContainerStatsRequest(),
                                                 timeout=30).stats
                    if not set(ids) <= {s.attributes.id for s in got}:
                        errors.append("the first pod's containers are missing")
                    rt2.ListPodSandboxMetrics(api_pb2.ListPodSandboxMetricsRequest(),
                                              timeout=30)
            except grpc.RpcError as e:
                errors.append(str(e))

        t = threading.Thread(target=lists)
        t.start()
        self.rt.StopPodSandbox(api_pb2.StopPodSandboxRequest(pod_sandbox_id=other), timeout=60)
        t.join(120)
        self.assertEqual(errors, [])
        pm = self.rt.ListPodSandboxMetrics(api_pb2.ListPodSandboxMetricsRequest(),
                                           timeout=30).pod_metrics
        self.assertEqual([m.pod_sandbox_id for m in pm], [pod], "only ready pods")


class _MoreKills:
    """The other kill points: the runtime does not matter to them, one class runs them."""

    def test_kill_while_pod_release_child_runs(self):
        self.check_pod_kill("pod-release-spawned", remove=False)

    def test_kill_while_pod_release_child_runs_remove(self):
        self.check_pod_kill("pod-release-spawned", remove=True)

    def test_kill_while_remove_unmount_child_runs(self):
        pod = self.run_pod(cleanup=False)
        cid = self.run_ctr(pod, "rm", image="sleep")
        self.stop(cid)
        self.kill_at("ctr-unmount-spawned", lambda rt: rt.RemoveContainer(
            api_pb2.RemoveContainerRequest(container_id=cid), timeout=60))
        self.remove(cid)  # again: the record was still there, the rest is idempotent
        items = self.rt.ListContainers(api_pb2.ListContainersRequest(), timeout=10).containers
        self.assertEqual([c.id for c in items], [], "the container is gone")
        self.remove_pod(pod)
        self.assertPodGone(pod, [cid])


class LoopWaitRunc(_MoreKills, _Tests, CtrBase):
    runtime = "runc"


class LoopWaitCrun(_Tests, CtrBase):
    runtime = "crun"
