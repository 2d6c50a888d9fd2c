"""The last runtime.v1 details kubelet reads, through python3-grpcio against
the real daemon and runc: Status runtime_handlers[].features (recursive
read-only mounts true exactly when `runc features` lists rro on a kernel
with mount_setattr, then honoured: a sub-mount under an rro bind mount is
read-only too; user namespaces false), features.supplemental_groups_policy
and SupplementalGroupsPolicy Strict against Merge on an image whose
/etc/group lists root in a group, UpdatePodSandboxResources read back from
the pod cgroup's files (and its bad input), and the ImageFsInfo split of
image and container filesystems. One daemon and one registry for the module."""
import ctypes
import json
import os
import shutil
import subprocess
import tempfile
import time

import grpc

import api_pb2
import ctr_fixture
from ctr_fixture import CtrBase, setup_registry, teardown_registry

CODE = grpc.StatusCode
GROUPS_IMAGE = "crid-test/groups:latest"


def _push_groups_image():
    """An image whose /etc/group makes root a member of wheel (10) and adm (4)."""
    im = ctr_fixture._images_module()
    d = tempfile.mkdtemp(prefix="crid-rtv1-oci-")
    try:
        lay = im.Layout(os.path.join(d, "oci"))
        base = lay.layer(im.busybox_tar(os.environ.get("BUSYBOX", "/bin/busybox")))
        l1 = lay.layer(ctr_fixture._layer_tar([
            ("etc/passwd", "f", 0o644, b"root:x:0:0:root:/root:/bin/sh\n"),
            ("etc/group", "f", 0o644, b"root:x:0:\nadm:x:4:root\nwheel:x:10:daemon,root\n")]))
        lay.image("groups", [base, l1], {"Env": [im.PATH_ENV], "Cmd": ["sh"]})
        lay.close()
        subprocess.run(["skopeo", "--insecure-policy", "copy", "-q", "--dest-tls-verify=false",
                        "oci:%s:groups" % os.path.join(d, "oci"),
                        "docker://%s/%s" % (ctr_fixture.REGISTRY.addr, GROUPS_IMAGE)],
                       check=True)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def setUpModule():
    setup_registry()
    try:
        _push_groups_image()
    except Exception:
        teardown_registry()
        raise


def tearDownModule():
    teardown_registry()


def runc_lists_rro():
    out = subprocess.run(["runc", "features"], capture_output=True, text=True)
    return out.returncode == 0 and "rro" in json.loads(out.stdout).get("mountOptions", [])


def kernel_has_mount_setattr():
    libc = ctypes.CDLL(None, use_errno=True)
    # SYS_mount_setattr is 442 on every architecture (unified syscall table since 5.x)
    r = libc.syscall(442, -1, b"", 0x1000 | 0x8000, None, 0)
    return r == 0 or ctypes.get_errno() != 38  # ENOSYS


class RuntimeV1Runc(CtrBase):
    runtime = "runc"

    def tearDown(self):
        self.doCleanups()
        try:
            self.assertNothingLeft()
        finally:
            self.crid.remove_all_pods()

    def handler_features(self, deadline=15):
        """{handler: features} once the startup `features` probe answered (it runs async)."""
        want = runc_lists_rro() and kernel_has_mount_setattr()
        end = time.monotonic() + deadline
        while True:
            r = self.rt.Status(api_pb2.StatusRequest(), timeout=10)
            hs = {h.name: h.features for h in r.runtime_handlers}
            if hs[self.runtime].recursive_read_only_mounts == want or time.monotonic() > end:
                return r, hs, want
            time.sleep(0.2)

    # -- Status features ------------------------------------------------------------

    def test_status_features(self):
        r, hs, want_rro = self.handler_features()
        self.assertIn("", hs)
        self.assertIn(self.runtime, hs)
        self.assertEqual(hs[self.runtime].recursive_read_only_mounts, want_rro,
                         "rro must follow `runc features` and the kernel")
        for name, f in hs.items():
            self.assertFalse(f.user_namespaces, "crid makes no user namespaces (%r)" % name)
        self.assertTrue(r.features.supplemental_groups_policy)
        self.assertFalse(r.features.user_namespaces_host_network)

    # -- recursive read-only mounts -------------------------------------------------

    def rro_source(self):
        """A host dir with a tmpfs mounted inside it (the sub-mount rro must reach)."""
        d = tempfile.mkdtemp(prefix="crid-rtv1-rro-")
        sub = os.path.join(d, "sub")
        os.mkdir(sub)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "crid-rtv1", sub], check=True)
        self.addCleanup(shutil.rmtree, d, True)
        self.addCleanup(subprocess.run, ["umount", "-l", sub])
        return d

    def test_recursive_read_only_mount(self):
        _, hs, want = self.handler_features()
        src = self.rro_source()
        pod = self.run_pod()

        def mount(**kw):
            m = dict(container_path="/data", host_path=src, readonly=True,
                     recursive_read_only=True, propagation=api_pb2.PROPAGATION_PRIVATE)
            m.update(kw)
            return [api_pb2.Mount(**m)]

        self.assertRpcError(CODE.INVALID_ARGUMENT, self.create, pod,
                            self.ctr_config("rw", script="true", mounts=mount(readonly=False)),
                            contains="recursive_read_only")
        script = ("touch /data/x 2>/dev/null && echo top-rw || echo top-ro; "
                  "touch /data/sub/x 2>/dev/null && echo sub-rw || echo sub-ro")
        cfg = self.ctr_config("rro", script=script, mounts=mount())
        if not want:
            self.assertRpcError(CODE.FAILED_PRECONDITION, self.create, pod, cfg,
                                contains="recursive_read_only")
            return
        cid = self.create(pod, cfg)
        self.addCleanup(self.remove, cid)
        self.start(cid)
        self.wait_exited(cid)
        self.assertEqual(self.log_lines(pod, "rro"), [b"top-ro", b"sub-ro"])
        # the same mount without rro leaves the sub-mount writable: the check above means it
        cid = self.run_ctr(pod, "ro", script=script,
                           mounts=mount(recursive_read_only=False))
        self.addCleanup(self.remove, cid)
        self.wait_exited(cid)
        self.assertEqual(self.log_lines(pod, "ro"), [b"top-ro", b"sub-rw"])

    # -- supplemental groups policy ---------------------------------------------------

    def groups_run(self, pod, name, policy):
        cfg = self.ctr_config(name, image="%s/%s" % (ctr_fixture.REGISTRY.addr, GROUPS_IMAGE),
                              script="id -G")
        sc = cfg.linux.security_context
        sc.supplemental_groups.append(1234)
        sc.supplemental_groups_policy = policy
        cid = self.create(pod, cfg)
        self.addCleanup(self.remove, cid)
        self.start(cid)
        st = self.wait_exited(cid)
        return sorted(int(g) for g in self.log_lines(pod, name)[0].split()), st

    def test_supplemental_groups_policy(self):
        self.img.PullImage(api_pb2.PullImageRequest(image=api_pb2.ImageSpec(
            image="%s/%s" % (ctr_fixture.REGISTRY.addr, GROUPS_IMAGE))), timeout=120)
        pod = self.run_pod()
        merged, st = self.groups_run(pod, "merge", api_pb2.Merge)
        self.assertEqual(merged, [0, 4, 10, 1234], "Merge: the image's groups of root too")
        self.assertEqual(sorted(st.user.linux.supplemental_groups), [0, 4, 10, 1234])
        strict, st = self.groups_run(pod, "strict", api_pb2.Strict)
        self.assertEqual(strict, [0, 1234], "Strict: nothing from the image's /etc/group")
        self.assertEqual((st.user.linux.uid, st.user.linux.gid), (0, 0))
        self.assertEqual(sorted(st.user.linux.supplemental_groups), [0, 1234])

    # -- UpdatePodSandboxResources ----------------------------------------------------

    def pod_cgroup(self):
        """A cgroupfs pod cgroup made here (as kubelet would): {controller: dir}."""
        name = "crid-rtv1-%d-%s" % (os.getpid(), self.uniq("cg"))
        if os.path.isdir("/sys/fs/cgroup/cpu") and os.path.isdir("/sys/fs/cgroup/memory"):
            dirs = {c: "/sys/fs/cgroup/%s/%s" % (c, name) for c in ("cpu", "memory", "cpuset")}
        else:
            dirs = {c: "/sys/fs/cgroup/" + name for c in ("cpu", "memory", "cpuset")}
        for d in set(dirs.values()):
            os.makedirs(d, exist_ok=True)
            self.addCleanup(os.rmdir, d)
        return "/" + name, dirs

    def run_pod_in(self, cgroup_parent):
        name = self.uniq("rsz")
        cfg = api_pb2.PodSandboxConfig(
            metadata=api_pb2.PodSandboxMetadata(name=name, uid="uid-" + name,
                                                namespace="ctr-test"),
            hostname=name, log_directory=os.path.join(self.log_root, name))
        cfg.linux.cgroup_parent = cgroup_parent
        pid = self.rt.RunPodSandbox(api_pb2.RunPodSandboxRequest(
            config=cfg, runtime_handler=self.runtime), timeout=60).pod_sandbox_id
        self.addCleanup(self.remove_pod, pid)
        return pid

    def update(self, pid, resources=None, overhead=None, **kw):
        req = api_pb2.UpdatePodSandboxResourcesRequest(pod_sandbox_id=pid, **kw)
        if resources is not None:
            req.resources.CopyFrom(api_pb2.LinuxContainerResources(**resources))
        if overhead is not None:
            req.overhead.CopyFrom(api_pb2.LinuxContainerResources(**overhead))
        return self.rt.UpdatePodSandboxResources(req, timeout=10)

    @staticmethod
    def read(d, f):
        with open(os.path.join(d, f)) as fh:
            return fh.read().strip()

    def test_update_pod_sandbox_resources(self):
        parent, dirs = self.pod_cgroup()
        pid = self.run_pod_in(parent)
        self.update(pid, resources=dict(cpu_shares=512, cpu_period=100000, cpu_quota=50000,
                                        memory_limit_in_bytes=256 << 20, cpuset_cpus="0"),
                    overhead=dict(cpu_shares=10, cpu_quota=10000,
                                  memory_limit_in_bytes=16 << 20))
        v1 = dirs["cpu"] != dirs["memory"]
        if v1:
            self.assertEqual(self.read(dirs["cpu"], "cpu.shares"), "522")
            self.assertEqual(self.read(dirs["cpu"], "cpu.cfs_period_us"), "100000")
            self.assertEqual(self.read(dirs["cpu"], "cpu.cfs_quota_us"), "60000")
            self.assertEqual(self.read(dirs["memory"], "memory.limit_in_bytes"),
                             str(272 << 20))
        else:
            self.assertEqual(self.read(dirs["cpu"], "cpu.max"), "60000 100000")
            self.assertEqual(self.read(dirs["memory"], "memory.max"), str(272 << 20))
        self.assertEqual(self.read(dirs["cpuset"], "cpuset.cpus"), "0")
        # a resize down: the quota lifted (-1), memory lowered; unset fields stay as they are
        self.update(pid, resources=dict(cpu_quota=-1, memory_limit_in_bytes=128 << 20))
        if v1:
            self.assertEqual(self.read(dirs["cpu"], "cpu.cfs_quota_us"), "-1")
            self.assertEqual(self.read(dirs["cpu"], "cpu.shares"), "522")
            self.assertEqual(self.read(dirs["memory"], "memory.limit_in_bytes"),
                             str(128 << 20))
        else:
            self.assertEqual(self.read(dirs["cpu"], "cpu.max"), "max 100000")
        # the pod's own status is untouched by a resize
        st = self.rt.PodSandboxStatus(api_pb2.PodSandboxStatusRequest(pod_sandbox_id=pid),
                                      timeout=10).status
        self.assertEqual(st.state, api_pb2.SANDBOX_READY)

    def test_update_pod_sandbox_resources_bad_input(self):
        parent, dirs = self.pod_cgroup()
        pid = self.run_pod_in(parent)
        bad = [
            (CODE.INVALID_ARGUMENT, dict(pod_sandbox_id=""), "pod_sandbox_id"),
            (CODE.NOT_FOUND, dict(pod_sandbox_id="f" * 64, resources={}), "pod_sandbox_id"),
            (CODE.INVALID_ARGUMENT, dict(pod_sandbox_id=pid), "resources"),
            (CODE.INVALID_ARGUMENT, dict(pod_sandbox_id=pid,
                                         resources=dict(memory_limit_in_bytes=-1)),
             "resources.memory_limit_in_bytes"),
            (CODE.INVALID_ARGUMENT, dict(pod_sandbox_id=pid, resources=dict(cpu_quota=-2)),
             "resources.cpu_quota"),
            (CODE.INVALID_ARGUMENT, dict(pod_sandbox_id=pid, resources=dict(cpu_period=-5)),
             "resources.cpu_period"),
            (CODE.INVALID_ARGUMENT, dict(pod_sandbox_id=pid,
                                         resources=dict(cpuset_cpus="0;rm")),
             "resources.cpuset_cpus"),
            (CODE.INVALID_ARGUMENT, dict(pod_sandbox_id=pid, resources=dict(cpu_shares=2),
                                         overhead=dict(cpu_shares=-1)), "overhead.cpu_shares"),
        ]
        for code, kw, field in bad:
            pod_id = kw.pop("pod_sandbox_id")
            self.assertRpcError(code, self.update, pod_id, contains=field, **kw)
        # a pod cgroup the kernel refuses a value for: its file named
        self.assertRpcError(CODE.INVALID_ARGUMENT, self.update, pid,
                            resources=dict(cpu_period=1), contains="cpu")
        # no cgroup_parent, or one that does not exist: nothing to update
        self.assertRpcError(CODE.FAILED_PRECONDITION, self.update, self.run_pod(),
                            resources=dict(cpu_shares=100), contains="cgroup_parent")
        gone = self.run_pod_in("/crid-rtv1-missing-%d" % os.getpid())
        self.assertRpcError(CODE.FAILED_PRECONDITION, self.update, gone,
                            resources=dict(cpu_shares=100), contains="does not exist")
        self.assertRpcError(CODE.INVALID_ARGUMENT, self.update,
                            self.run_pod_in("/crid-rtv1/../etc"), resources=dict(cpu_shares=2),
                            contains="..")

    # -- ImageFsInfo ------------------------------------------------------------------

    def test_image_fs_info_split(self):
        r = self.img.ImageFsInfo(api_pb2.ImageFsInfoRequest(), timeout=10)
        self.assertEqual(len(r.image_filesystems), 1)
        self.assertEqual(len(r.container_filesystems), 1)
        img, ctr = r.image_filesystems[0], r.container_filesystems[0]
        self.assertEqual(ctr.fs_id.mountpoint, os.path.join(self.crid.root, "containers"))
        self.assertNotEqual(img.fs_id.mountpoint, ctr.fs_id.mountpoint)
        self.assertTrue(img.fs_id.mountpoint.startswith(self.crid.root))
        self.assertGreater(img.used_bytes.value, 0, "pulled images take space")
        self.assertGreater(ctr.timestamp, 0)
        # a container writing 2 MiB into its writable layer shows in the container fs only
        pod = self.run_pod()
        cid = self.run_ctr(pod, "writer", script="head -c 2097152 /dev/zero > /big; sync")
        self.addCleanup(self.remove, cid)
        self.wait_exited(cid)
        img_before = img.used_bytes.value
        end = time.monotonic() + 30
        while True:
            r = self.img.ImageFsInfo(api_pb2.ImageFsInfoRequest(), timeout=10)
            used = r.container_filesystems[0].used_bytes.value
            if used >= 2 << 20 or time.monotonic() > end:
                break
            time.sleep(0.5)
        self.assertGreaterEqual(used, 2 << 20, "the writable layer's 2 MiB (du, cached)")
        self.assertGreaterEqual(r.container_filesystems[0].inodes_used.value, 1)
        self.assertEqual(r.image_filesystems[0].used_bytes.value, img_before)


if __name__ == "__main__":
    import unittest
    unittest.main()
