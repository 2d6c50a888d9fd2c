"""The per-step timing trace and the pod's teardown, through python3-grpcio
against the real daemon, runc and CNI plugins (one daemon for the module).

- Every traced RPC (RunPodSandbox, CreateContainer, StartContainer,
  StopContainer, RemoveContainer, StopPodSandbox, RemovePodSandbox) leaves one
  `trace` line at debug level naming its object, with its steps, whose sum
  stays within the total; a daemon at info level writes none.
- StopPodSandbox of a pod with three containers (one exited by itself with
  3, two running) kills both at once, reports all three exit codes, and has
  deleted them from the runtime and unmounted their roots (concurrently with
  CNI DEL); RemovePodSandbox then leaves nothing behind: no container or pod,
  mounts, netns pins, cgroups, IPs or records.
- kill -9 of the daemon between the teardown's steps (debug points
  pod-teardown-exited and pod-teardown-joined): the restarted daemon finishes
  or redoes the stop, and the removal leaves nothing behind.
"""
import os
import re
import signal
import subprocess
import time

import grpc

import api_pb2
import api_pb2_grpc
from crid_fixture import Crid
from ctr_fixture import CtrBase, setup_registry, teardown_registry

TRACE = re.compile(r" debug trace (\w+) (pod|container)=([0-9a-f]{12}) "
                   r"total=(\d+\.\d)ms((?: \w+=\d+\.\d)*)$")


def setUpModule():
    setup_registry()


def tearDownModule():
    teardown_registry()


def traces(text):
    """[(rpc, kind, id12, total_ms, {step: ms})] of the trace lines of a log."""
    out = []
    for line in text.splitlines():
        m = TRACE.search(line)
        if m:
            steps = {}
            for f in m.group(5).split():
                k, v = f.split("=")
                steps[k] = float(v)
            out.append((m.group(1), m.group(2), m.group(3), float(m.group(4)), steps))
    return out


class TraceRunc(CtrBase):
    runtime = "runc"

    def tearDown(self):
        self.doCleanups()
        try:
            self.assertNothingLeft()
        finally:
            self.crid.remove_all_pods()

    def trace_of(self, rpc, oid, timeout=10):
        """The trace line of |rpc| on object |oid| (waits for the log to have it)."""
        deadline = time.monotonic() + timeout
        while True:
            got = [t for t in traces(self.crid.log_text()) if t[0] == rpc and t[2] == oid[:12]]
            if got or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertTrue(got, "no trace line for %s %s in the log" % (rpc, oid[:12]))
        return got[-1]

    def check_trace(self, rpc, oid, kind, need):
        name, k, _, total, steps = self.trace_of(rpc, oid)
        self.assertEqual(k, kind, name)
        for s in need:
            self.assertIn(s, steps, "%s lacks step %s: %s" % (rpc, s, steps))
        # each step is printed rounded down to 0.1 ms, the total too: allow the rounding
        self.assertLessEqual(sum(steps.values()), total + 0.1 * len(steps),
                             "%s: steps %s sum over the total %.1f" % (rpc, steps, total))
        self.assertGreater(total, 0.0, rpc)
        print("\n  %s total=%.1fms %s"
              % (rpc, total, " ".join("%s=%.1f" % kv for kv in steps.items())), end="")
        return total, steps

    def test_trace_lines(self):
        pod = self.run_pod(cleanup=False)
        cid = self.create(pod, self.ctr_config("traced", image="sleep"))
        self.start(cid)
        self.stop(cid)
        self.remove(cid)
        self.remove_pod(pod)
        self.check_trace("RunPodSandbox", pod, "pod", ["record", "files", "pin", "save",
                                                       "cni_add", "hosts"])
        self.check_trace("CreateContainer", cid, "container",
                         ["record", "mount", "spec", "fifos", "save", "rt_create", "adopt"])
        self.check_trace("StartContainer", cid, "container", ["rt_start", "save"])
        self.check_trace("StopContainer", cid, "container", ["signal", "exit"])
        self.check_trace("RemoveContainer", cid, "container",
                         ["rt_delete", "unmount", "bundle", "record"])
        self.check_trace("StopPodSandbox", pod, "pod", ["cni_del", "ns_release", "save"])
        self.check_trace("RemovePodSandbox", pod, "pod", ["files", "record"])

    def test_no_trace_at_info(self):
        # a daemon of its own at info level: a pod on the node's network needs no CNI
        c = Crid(name="info", extra_args=["--log-level", "info"])
        try:
            c.start()
            ch = c.channel()
            rt = api_pb2_grpc.RuntimeServiceStub(ch)
            sc = api_pb2.LinuxSandboxSecurityContext(
                namespace_options=api_pb2.NamespaceOption(network=api_pb2.NODE))
            cfg = api_pb2.PodSandboxConfig(
                metadata=api_pb2.PodSandboxMetadata(name="info", uid="uid-info",
                                                    namespace="trace"),
                linux=api_pb2.LinuxPodSandboxConfig(security_context=sc))
            pod = rt.RunPodSandbox(api_pb2.RunPodSandboxRequest(config=cfg),
                                   timeout=60).pod_sandbox_id
            rt.StopPodSandbox(api_pb2.StopPodSandboxRequest(pod_sandbox_id=pod), timeout=60)
            rt.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=pod), timeout=60)
            ch.close()
            text = c.log_text()
            self.assertIn("pod %s" % pod[:12], text, "the info lines are there")
            self.assertNotIn(" trace ", text)
            self.assertEqual(c.stop(), 0)
        finally:
            if c.alive():
                c.kill()
            c.cleanup()

    # -- teardown -------------------------------------------------------------------

    def runtime_knows(self, cid):
        return subprocess.run(["runc", "state", cid], capture_output=True).returncode == 0

    def cgroups_of(self, cid):
        """The container's cgroup directories (cgroupfs driver: <controller>/crid/crid-<id>)."""
        base = "/sys/fs/cgroup"
        out = []
        for ctl in os.listdir(base):
            p = os.path.join(base, ctl, "crid", "crid-" + cid)
            if os.path.isdir(p):
                out.append(p)
        return out

    def names_under(self, top, ids):
        """Paths under |top| whose name holds one of |ids| (records, bundles, pins, layers)."""
        found = []
        for d, dirs, files in os.walk(top):
            for n in dirs + files:
                if any(i in n for i in ids):
                    found.append(os.path.join(d, n))
        return found

    def three_containers(self, pid=api_pb2.POD):
        """A pod with one container exited by itself (3) and two sleeping; |pid|: their PID
        namespace (POD: the pod's, whose holder their children are reparented to)."""
        pod = self.run_pod(cleanup=False)
        done = self.run_ctr(pod, "three", script="exit 3", pid_namespace=pid)
        self.wait_exited(done)
        ids = [done] + [self.run_ctr(pod, "sleep%d" % i, image="sleep", pid_namespace=pid)
                        for i in (1, 2)]
        return pod, ids

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
            self.assertFalse(self.runtime_knows(cid), "runc still knows %s" % cid[:12])
            self.assertEqual(self.cgroups_of(cid), [], "cgroups left")

    def test_parallel_teardown(self):
        self.check_parallel_teardown(api_pb2.CONTAINER)  # what kubelet asks by default

    def test_parallel_teardown_shared_pid(self):
        self.check_parallel_teardown(api_pb2.POD)  # shareProcessNamespace

    def check_parallel_teardown(self, pid):
        pod, ids = self.three_containers(pid)
        self.rt.StopPodSandbox(api_pb2.StopPodSandboxRequest(pod_sandbox_id=pod), timeout=60)
        codes = []
        for cid in ids:
            st = self.status(cid).status
            self.assertEqual(st.state, api_pb2.CONTAINER_EXITED, cid[:12])
            codes.append(st.exit_code)
            self.assertEqual(st.reason, "Error")
            # the stop took it out of the runtime and unmounted its root; the record stays
            self.assertFalse(self.runtime_knows(cid), "runc still knows %s" % cid[:12])
            self.assertEqual([m for m in self.mounts_under(self.crid.root) if cid in m], [])
        self.assertEqual(codes, [3, 137, 137])
        st = self.rt.PodSandboxStatus(api_pb2.PodSandboxStatusRequest(pod_sandbox_id=pod),
                                      timeout=10).status
        self.assertEqual(st.state, api_pb2.SANDBOX_NOTREADY)
        total, steps = self.check_trace("StopPodSandbox", pod, "pod",
                                        ["ctrs_exit", "cni_del", "ctrs_down", "ns_release"])
        # every container was killed at once: no wait for a drain of their output (2 s)
        self.assertLess(steps["ctrs_exit"], 1500, "the exits took %.0f ms" % steps["ctrs_exit"])
        for cid in ids:
            self.check_trace("RetireContainer", cid, "container", ["rt_delete", "unmount"])
        self.rt.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=pod),
                                 timeout=60)
        for cid in ids:
            _, _, _, _, rsteps = self.trace_of("RemoveContainer", cid)
            self.assertLess(rsteps.get("rt_delete", 0), 1.0, "removal skips the runtime again")
        self.assertPodGone(pod, ids)

    def test_remove_without_stop(self):
        # RemovePodSandbox alone: the containers' removals run beside CNI DEL
        pod, ids = self.three_containers()
        self.rt.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=pod),
                                 timeout=60)
        self.check_trace("RemovePodSandbox", pod, "pod",
                         ["ctrs_exit", "cni_del", "ctrs_down", "ns_release", "record"])
        self.assertPodGone(pod, ids)

    def kill_at(self, step, call):
        """Runs |call| on a daemon armed to kill itself at debug point |step|, then restarts."""
        self.restart(kill=True)
        self.crid.env = {"CRID_TEST": "1", "CRID_DEBUG_ABORT_AT": step}
        try:
            self.restart(kill=True)
            with self.assertRaises(grpc.RpcError):
                call(type(self).rt)
            self.assertEqual(self.crid.proc.wait(30), -signal.SIGKILL)
            self.crid._close_files()
        finally:
            self.crid.env = None
        self.channel.close()
        self.crid.start()
        type(self).connect()
        self.rt = type(self).rt

    def wait_pod_state(self, pod, state, timeout=20):
        deadline = time.monotonic() + timeout
        while True:
            st = self.rt.PodSandboxStatus(api_pb2.PodSandboxStatusRequest(pod_sandbox_id=pod),
                                          timeout=10).status
            if st.state == state or time.monotonic() > deadline:
                return st
            time.sleep(0.05)

    def check_kill(self, step, remove, finished_by_restart):
        pod, ids = self.three_containers()
        req = (api_pb2.RemovePodSandboxRequest(pod_sandbox_id=pod) if remove
               else api_pb2.StopPodSandboxRequest(pod_sandbox_id=pod))
        self.kill_at(step, lambda rt: (rt.RemovePodSandbox if remove else rt.StopPodSandbox)(
            req, timeout=60))
        for cid in ids:  # the first round had ended: every exit was recorded
            items = self.rt.ListContainers(api_pb2.ListContainersRequest(),
                                           timeout=10).containers
            if any(c.id == cid for c in items):
                self.assertEqual(self.status(cid).status.state, api_pb2.CONTAINER_EXITED)
        if finished_by_restart:
            st = self.wait_pod_state(pod, api_pb2.SANDBOX_NOTREADY)
            self.assertEqual(st.state, api_pb2.SANDBOX_NOTREADY, "the restart finished the stop")
        self.remove_pod(pod)
        self.assertPodGone(pod, ids)

    def test_kill_after_exits(self):
        self.check_kill("pod-teardown-exited", remove=False, finished_by_restart=False)

    def test_kill_after_join(self):
        self.check_kill("pod-teardown-joined", remove=False, finished_by_restart=True)

    def test_kill_after_join_remove(self):
        self.check_kill("pod-teardown-joined", remove=True, finished_by_restart=True)
