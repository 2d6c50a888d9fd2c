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
from crid_fixture import Crid
from ctr_fixture import CtrBase, setup_registry, teardown_registry

TRACE = re.compile(r" debug trace (\w+) (pod|container)=([0-9a-f]{12}) total=(\d+\.\d)ms((?: \w+=\d+\.\d)*)$")


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
        print("\n  %s total=%.1fms %s" % (rpc, total, " ".join("%s=%.1f" % kv for kv in steps.items())),
              end="")
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
            import api_pb2_grpc
            rt = api_pb2_grpc.RuntimeServiceStub(ch)
            cfg = api_pb2.PodSandboxConfig(
                metadata=api_pb2.PodSandboxMetadata(name="info", uid="uid-info",
                                                    namespace="trace"),
                linux=api_pb2.LinuxPodSandboxConfig(security_context=api_pb2.LinuxSandboxSecurityContext(
                    namespace_options=api_pb2.NamespaceOption(network=api_pb2.NODE))))
            pod = rt.RunPodSandbox(api_pb2.RunPodSandboxRequest(config=cfg), timeout=60).pod_sandbox_id
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
