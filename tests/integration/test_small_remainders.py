"""Loose ends of the last review, against the real daemon and runc.

RemaindersTest (one daemon, the module's registry): UpdatePodSandboxResources stores the
resized resources in the pod's record (the verbose PodSandboxStatus shows them, also after a
kill -9 and restart); ContainerStats and ListContainerStats report the writable layer under
the container filesystem's own mountpoint (`<root>/containers`, ImageFsInfo's container
filesystem), not the image store's; List*/Stream* still answer. TeardownTest: a runtime's
`features` probe still running when crid stops (frozen in a cgroup v1 freezer, so SIGKILL
cannot end it until thawed) does not hold the daemon's exit.
"""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import grpc

import api_pb2
from crid_fixture import Crid
from ctr_fixture import CtrBase, setup_registry, teardown_registry

FREEZER = "/sys/fs/cgroup/freezer"


def setUpModule():
    setup_registry()


def tearDownModule():
    teardown_registry()


class RemaindersTest(CtrBase):
    def pod_cgroup(self):
        """A cgroupfs pod cgroup made here, as kubelet would: its cgroup_parent."""
        name = "crid-small-%d-%s" % (os.getpid(), self.uniq("cg"))
        if os.path.isdir("/sys/fs/cgroup/cpu") and os.path.isdir("/sys/fs/cgroup/memory"):
            dirs = {"/sys/fs/cgroup/%s/%s" % (c, name) for c in ("cpu", "memory", "cpuset")}
        else:
            dirs = {"/sys/fs/cgroup/" + name}
        for d in dirs:
            os.makedirs(d, exist_ok=True)
            self.addCleanup(os.rmdir, d)
        return "/" + name

    def run_pod_in(self, cgroup_parent):
        name = self.uniq("rsz")
        cfg = api_pb2.PodSandboxConfig(
            metadata=api_pb2.PodSandboxMetadata(name=name, uid="uid-" + name,
                                                namespace="ctr-test"),
            hostname=name, log_directory=os.path.join(self.log_root, name))
        cfg.linux.cgroup_parent = cgroup_parent
        cfg.linux.resources.cpu_shares = 100
        pid = self.rt.RunPodSandbox(api_pb2.RunPodSandboxRequest(
            config=cfg, runtime_handler=self.runtime), timeout=60).pod_sandbox_id
        self.addCleanup(self.remove_pod, pid)
        return pid

    def stored_linux(self, pid):
        st = self.rt.PodSandboxStatus(api_pb2.PodSandboxStatusRequest(
            pod_sandbox_id=pid, verbose=True), timeout=10)
        return json.loads(st.info["info"])["config"]["linux"]

    def test_resize_stored_in_the_record(self):
        pid = self.run_pod_in(self.pod_cgroup())
        self.assertEqual(int(self.stored_linux(pid)["resources"]["cpu_shares"]), 100)
        req = api_pb2.UpdatePodSandboxResourcesRequest(pod_sandbox_id=pid)
        req.resources.cpu_shares = 512
        req.resources.memory_limit_in_bytes = 256 << 20
        req.overhead.cpu_shares = 10
        self.rt.UpdatePodSandboxResources(req, timeout=10)
        for when in ("after the update", "after kill -9 and restart"):
            linux = self.stored_linux(pid)
            self.assertEqual(int(linux["resources"]["cpu_shares"]), 512, when)
            self.assertEqual(int(linux["resources"]["memory_limit_in_bytes"]), 256 << 20, when)
            self.assertEqual(int(linux["overhead"]["cpu_shares"]), 10, when)
            if when.startswith("after the update"):
                self.restart(kill=True)
        # an update naming resources only keeps the stored overhead
        req = api_pb2.UpdatePodSandboxResourcesRequest(pod_sandbox_id=pid)
        req.resources.cpu_shares = 256
        self.rt.UpdatePodSandboxResources(req, timeout=10)
        linux = self.stored_linux(pid)
        self.assertEqual(int(linux["resources"]["cpu_shares"]), 256)
        self.assertEqual(int(linux["overhead"]["cpu_shares"]), 10)

    def test_writable_layer_under_the_container_fs(self):
        pod = self.run_pod()
        cid = self.run_ctr(pod, "wl", script="sleep 1000")
        self.addCleanup(self.remove, cid)
        ctr_fs = self.img.ImageFsInfo(api_pb2.ImageFsInfoRequest(),
                                      timeout=10).container_filesystems[0].fs_id.mountpoint
        self.assertEqual(ctr_fs, os.path.join(self.crid.root, "containers"))
        st = self.rt.ContainerStats(api_pb2.ContainerStatsRequest(container_id=cid),
                                    timeout=10).stats
        self.assertEqual(st.writable_layer.fs_id.mountpoint, ctr_fs)
        listed = self.rt.ListContainerStats(api_pb2.ListContainerStatsRequest(
            filter=api_pb2.ContainerStatsFilter(id=cid)), timeout=10).stats
        self.assertEqual([s.writable_layer.fs_id.mountpoint for s in listed], [ctr_fs])
        self.stop(cid)

    def test_images_filter_same_in_list_and_stream(self):
        ref = self.images["busybox"]
        for want in (ref, "", "registry.invalid/none:1"):
            f = api_pb2.ImageFilter(image=api_pb2.ImageSpec(image=want))
            listed = self.img.ListImages(api_pb2.ListImagesRequest(filter=f), timeout=10)
            streamed = [i for r in self.img.StreamImages(
                api_pb2.StreamImagesRequest(filter=f), timeout=10) for i in r.images]
            self.assertEqual(sorted(i.id for i in listed.images),
                             sorted(i.id for i in streamed), want)
            if want:
                self.assertEqual(len(listed.images), 1 if want == ref else 0, want)
            else:
                self.assertGreaterEqual(len(listed.images), 4)
        bad = api_pb2.ImageFilter(image=api_pb2.ImageSpec(image="UPPER/Case::bad"))
        self.assertRpcError(grpc.StatusCode.INVALID_ARGUMENT, self.img.ListImages,
                            api_pb2.ListImagesRequest(filter=bad), timeout=10,
                            contains="filter.image.image")
        self.assertRpcError(grpc.StatusCode.INVALID_ARGUMENT,
                            lambda **kw: list(self.img.StreamImages(
                                api_pb2.StreamImagesRequest(filter=bad), **kw)),
                            timeout=10, contains="filter.image.image")


class TeardownTest(unittest.TestCase):
    def setUp(self):
        if not os.path.isfile(os.path.join(FREEZER, "cgroup.procs")):
            self.skipTest("no cgroup v1 freezer at %s: cannot hold a SIGKILLed probe" % FREEZER)
        self.tmp = tempfile.mkdtemp(prefix="crid-small-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def freeze(self, pid):
        cg = os.path.join(FREEZER, "crid-small-%d" % os.getpid())
        os.makedirs(cg, exist_ok=True)
        self.addCleanup(self.thaw_and_remove, cg)
        with open(os.path.join(cg, "cgroup.procs"), "w") as f:
            f.write(str(pid))
        with open(os.path.join(cg, "freezer.state"), "w") as f:
            f.write("FROZEN")
        end = time.monotonic() + 20
        while time.monotonic() < end:
            with open(os.path.join(cg, "freezer.state")) as f:
                if f.read().strip() == "FROZEN":
                    return
            time.sleep(0.05)
        self.fail("the probe's cgroup did not freeze")

    @staticmethod
    def thaw_and_remove(cg):
        with open(os.path.join(cg, "freezer.state"), "w") as f:
            f.write("THAWED")
        end = time.monotonic() + 20
        while time.monotonic() < end:
            try:
                os.rmdir(cg)
                return
            except OSError:
                time.sleep(0.1)  # the thawed probe dies of its pending SIGKILL first

    def test_stop_with_a_frozen_features_probe(self):
        script = os.path.join(self.tmp, "frozen-rt")
        pidfile = os.path.join(self.tmp, "probe.pid")
        with open(script, "w") as f:
            f.write("#!/bin/sh\necho $$ > %s.tmp && mv %s.tmp %s\nexec sleep 1000\n"
                    % (pidfile, pidfile, pidfile))
        os.chmod(script, 0o755)
        conf = os.path.join(self.tmp, "crid.toml")
        with open(conf, "w") as f:
            f.write('[crid.runtime.runtimes.frozen]\nruntime_path = "%s"\n' % script)
        c = Crid(config=conf)
        try:
            c.start()
            end = time.monotonic() + 20
            while not os.path.exists(pidfile) and time.monotonic() < end:
                time.sleep(0.05)
            with open(pidfile) as f:
                probe = int(f.read())
            self.freeze(probe)
            c.signal(signal.SIGTERM)
            rc = c.wait(30)
            self.assertEqual(rc, 0, "crid must not wait for its SIGKILLed probe\n" + c.log())
        finally:
            if c.alive():
                c.signal(signal.SIGKILL)
                c.wait(10)
            c.cleanup()


if __name__ == "__main__":
    unittest.main()
