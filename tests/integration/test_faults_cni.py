"""Faults of a CNI plugin, injected beside the real ones (issue 14): the
pod network chains the real bridge with faulty-cni (faults_fixture), which
fails (a CNI error, exit 1) or hangs on the ADD or DEL its mode file names;
crid.network.cni_timeout is 3 s. RunPodSandbox fails with the plugin's
message and leaves no pod, netns bind or host-local IP; a failing or hung
DEL makes StopPodSandbox fail with the cause and keep the IP, and the retry
kubelet makes (as with CRI-O) releases it. The same daemon pid serves on."""
import os
import unittest

import grpc

import api_pb2
from ctr_fixture import missing
from faults_fixture import FaultsBase

CODE = grpc.StatusCode


def setUpModule():
    why = missing()
    if why:
        raise unittest.SkipTest(why)


class FaultsCni(FaultsBase):
    pull = False  # pods only: no image, no registry

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
