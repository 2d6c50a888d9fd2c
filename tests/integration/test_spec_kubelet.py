"""What a container's OCI spec must say for kubelet, checked through
python3-grpcio against the real daemon and runc (crun classes skip where it is
unusable):

- mount propagation: a privileged container's Bidirectional hostPath mount
  carries a mount made inside the container out to the host, and a
  HostToContainer one carries host mounts in (both need the source on a shared
  mount, which the tests make: a tmpdir bound onto itself and made shared);
  Bidirectional for an unprivileged container, and either mode over a private
  source, are refused with a status naming the mount;
- the PID namespace follows the CRI enum: with no namespace_options (its
  default is POD) two containers of a pod see each other's processes and
  PodSandboxStatus says POD; with CONTAINER they do not.

Every mount a test makes is undone by the test."""
import json
import os
import shutil
import subprocess
import tempfile

import grpc

import api_pb2
from ctr_fixture import CtrBase, setup_registry, teardown_registry

CODE = grpc.StatusCode
BIDI = api_pb2.PROPAGATION_BIDIRECTIONAL
H2C = api_pb2.PROPAGATION_HOST_TO_CONTAINER


def setUpModule():
    setup_registry()


def tearDownModule():
    teardown_registry()


def host_mount(path):
    """The host's (this process's) mountinfo line mounted at |path|, split, or None."""
    with open("/proc/self/mountinfo") as f:
        for ln in f:
            fields = ln.split()
            if fields[4] == path:
                return fields
    return None


def mount_tags(path):
    """The optional fields (shared:N, master:N) of the host mount holding |path|."""
    best, tags = "", []
    with open("/proc/self/mountinfo") as f:
        for ln in f:
            fields = ln.split()
            mp = fields[4]
            if (path == mp or path.startswith(mp.rstrip("/") + "/")) and len(mp) >= len(best):
                best, tags = mp, fields[6:fields.index("-")]
    return tags


class _Tests:
    def tearDown(self):
        self.doCleanups()
        try:
            self.assertNothingLeft()
        finally:
            self.crid.remove_all_pods()

    # -- helpers ----------------------------------------------------------------------

    def tmpdir(self, shared):
        """A fresh dir with a `sub` dir in it; |shared|: bound onto itself, made shared."""
        d = tempfile.mkdtemp(prefix="crid-prop-")
        os.mkdir(os.path.join(d, "sub"))

        def undo():
            # -l detaches d and whatever the test or a container left under it
            if host_mount(d):
                subprocess.run(["umount", "-l", d], check=True)
            shutil.rmtree(d)
        self.addCleanup(undo)
        if shared:
            subprocess.run(["mount", "--bind", d, d], check=True)
            subprocess.run(["mount", "--make-shared", d], check=True)
        return d

    def pod_with(self, pid=None):
        """A pod; |pid| None = no namespace_options at all, else that NamespaceMode."""
        name = self.uniq("pod")
        cfg = api_pb2.PodSandboxConfig(
            metadata=api_pb2.PodSandboxMetadata(name=name, uid="uid-" + name,
                                                namespace="spec-test"),
            hostname=name, log_directory=os.path.join(self.log_root, name))
        if pid is not None:
            cfg.linux.security_context.namespace_options.pid = pid
        pod = self.rt.RunPodSandbox(api_pb2.RunPodSandboxRequest(
            config=cfg, runtime_handler=self.runtime), timeout=60).pod_sandbox_id
        self.addCleanup(self.remove_pod, pod)
        self.pod_cfgs = getattr(self, "pod_cfgs", {})
        self.pod_cfgs[pod] = cfg
        return pod

    def mount_ctr(self, pod, name, d, propagation, privileged):
        m = api_pb2.Mount(container_path="/mnt/x", host_path=d, propagation=propagation)
        cfg = self.ctr_config(name, image="sleep", mounts=[m])
        cfg.linux.security_context.privileged = privileged
        return cfg

    def ctr_mounts(self, cid):
        r = self.exec_sync(cid, ["cat", "/proc/self/mountinfo"])
        self.assertEqual(r.exit_code, 0, r.stderr)
        return [ln.split()[4] for ln in r.stdout.decode().splitlines()]

    def ok(self, cid, cmd):
        r = self.exec_sync(cid, cmd)
        self.assertEqual(r.exit_code, 0, "%s: %r %r" % (cmd, r.stdout, r.stderr))
        return r

    # -- mount propagation -------------------------------------------------------------

    def test_bidirectional_mount_reaches_host(self):
        d = self.tmpdir(shared=True)
        sub = os.path.join(d, "sub")
        pod = self.run_pod()
        cid = self.create(pod, self.mount_ctr(pod, "bidi", d, BIDI, privileged=True))
        self.start(cid)
        self.ok(cid, ["mount", "-t", "tmpfs", "crid-bidi", "/mnt/x/sub"])
        try:
            got = host_mount(sub)
            self.assertIsNotNone(got, "a tmpfs mounted in the container at /mnt/x/sub "
                                 "is not on the host at %s" % sub)
            self.assertEqual(got[got.index("-") + 1], "tmpfs", got)
            # and it is the same filesystem: a file written inside shows on the host
            self.ok(cid, ["sh", "-c", "echo from-ctr > /mnt/x/sub/f"])
            with open(os.path.join(sub, "f")) as f:
                self.assertEqual(f.read(), "from-ctr\n")
        finally:
            self.exec_sync(cid, ["umount", "/mnt/x/sub"])
        self.assertIsNone(host_mount(sub), "the container's umount did not reach the host")
        # the other way works on the same mount too
        subprocess.run(["mount", "-t", "tmpfs", "crid-bidi-host", sub], check=True)
        try:
            self.assertIn("/mnt/x/sub", self.ctr_mounts(cid))
        finally:
            subprocess.run(["umount", sub], check=True)

    def test_host_to_container_mount_reaches_container(self):
        d = self.tmpdir(shared=True)
        sub = os.path.join(d, "sub")
        pod = self.run_pod()
        cid = self.create(pod, self.mount_ctr(pod, "h2c", d, H2C, privileged=False))
        self.start(cid)
        self.assertNotIn("/mnt/x/sub", self.ctr_mounts(cid))
        subprocess.run(["mount", "-t", "tmpfs", "crid-h2c", sub], check=True)
        try:
            with open(os.path.join(sub, "f"), "w") as f:
                f.write("from-host\n")
            self.assertIn("/mnt/x/sub", self.ctr_mounts(cid))
            self.assertEqual(self.ok(cid, ["cat", "/mnt/x/sub/f"]).stdout, b"from-host\n")
        finally:
            subprocess.run(["umount", sub], check=True)
        self.assertNotIn("/mnt/x/sub", self.ctr_mounts(cid), "the host's umount did not "
                         "reach the container")

    def test_host_to_container_privileged_mount_stays_inside(self):
        # rslave: a privileged container's own mount under a HostToContainer path stays its own
        d = self.tmpdir(shared=True)
        pod = self.run_pod()
        cid = self.create(pod, self.mount_ctr(pod, "h2cp", d, H2C, privileged=True))
        self.start(cid)
        self.ok(cid, ["mount", "-t", "tmpfs", "crid-h2cp", "/mnt/x/sub"])
        self.assertIsNone(host_mount(os.path.join(d, "sub")),
                          "a HostToContainer mount carried a container's mount to the host")

    def test_bidirectional_unprivileged_refused(self):
        d = self.tmpdir(shared=True)
        pod = self.run_pod()
        self.assertRpcError(CODE.INVALID_ARGUMENT, self.create, pod,
                            self.mount_ctr(pod, "bidi-unpriv", d, BIDI, privileged=False),
                            contains=["mounts[0].propagation", "privileged"])

    def test_propagation_over_private_source_refused(self):
        d = self.tmpdir(shared=False)
        if any(f.startswith(("shared:", "master:")) for f in mount_tags(d)):
            self.skipTest("%s is on a shared or slave mount on this host" % d)
        pod = self.run_pod()
        for name, prop, priv, want in (("bidi-priv", BIDI, True, "shared"),
                                       ("h2c-priv", H2C, False, "shared or slave")):
            self.assertRpcError(CODE.FAILED_PRECONDITION, self.create, pod,
                                self.mount_ctr(pod, name, d, prop, privileged=priv),
                                contains=["mounts[0].propagation", d, want])

    # -- PID namespace ----------------------------------------------------------------

    def two_ctrs(self, pod, pid=None):
        """Container `a` (no linux config at all, or |pid|) and `b` running `sleep 4242`
        (a security_context without namespace_options, or |pid|)."""
        a = self.ctr_config("a", image="sleep")
        b = self.ctr_config("b", script="exec sleep 4242")
        if pid is None:
            b.linux.security_context.SetInParent()
        else:
            a.linux.security_context.namespace_options.pid = pid
            b.linux.security_context.namespace_options.pid = pid
        ca, cb = self.create(pod, a), self.create(pod, b)
        self.start(ca)
        self.start(cb)
        return ca, cb

    def sees_sleep_4242(self, cid):
        r = self.ok(cid, ["sh", "-c", "cat /proc/[0-9]*/cmdline"])
        return b"sleep\x004242\x00" in r.stdout

    def pod_pid_mode(self, pod):
        st = self.rt.PodSandboxStatus(api_pb2.PodSandboxStatusRequest(pod_sandbox_id=pod),
                                      timeout=10).status
        return st.linux.namespaces.options.pid

    def spec_pid_ns(self, cid):
        """The pid entry of linux.namespaces in the container's config.json, or None."""
        with open(os.path.join(self.crid.runroot, "containers", cid, "config.json")) as f:
            spec = json.load(f)
        return next((n for n in spec["linux"]["namespaces"] if n["type"] == "pid"), None)

    def pod_pid_path(self, pod):
        st = self.rt.PodSandboxStatus(api_pb2.PodSandboxStatusRequest(
            pod_sandbox_id=pod, verbose=True), timeout=10)
        return json.loads(st.info["info"])["namespaces"]["pid"]

    def test_pid_namespace_default_is_pod(self):
        pod = self.pod_with(pid=None)
        self.assertEqual(self.pod_pid_mode(pod), api_pb2.POD)
        ca, cb = self.two_ctrs(pod, pid=None)
        pinned = self.pod_pid_path(pod)
        self.assertTrue(pinned, "a POD pid mode pod has no pinned PID namespace")
        for cid in (ca, cb):
            self.assertEqual(self.spec_pid_ns(cid), {"type": "pid", "path": pinned})
        self.assertTrue(self.sees_sleep_4242(ca), "container a does not see b's process "
                        "though neither pod nor containers set namespace_options (POD)")
        # and a's own process is not the namespace's init: the pod's holder is
        r = self.ok(ca, ["cat", "/proc/1/cmdline"])
        self.assertNotIn(b"while", r.stdout)

    def test_pid_namespace_container(self):
        pod = self.pod_with(pid=api_pb2.CONTAINER)
        self.assertEqual(self.pod_pid_mode(pod), api_pb2.CONTAINER)
        ca, cb = self.two_ctrs(pod, pid=api_pb2.CONTAINER)
        self.assertEqual(self.pod_pid_path(pod), "", "a CONTAINER pid mode pod pinned one")
        for cid in (ca, cb):
            self.assertEqual(self.spec_pid_ns(cid), {"type": "pid"})
        self.assertFalse(self.sees_sleep_4242(ca), "CONTAINER pid namespaces are shared")
        self.assertTrue(self.sees_sleep_4242(cb))

    def test_pid_namespace_pod_explicit(self):
        pod = self.pod_with(pid=api_pb2.POD)
        self.assertEqual(self.pod_pid_mode(pod), api_pb2.POD)
        ca, cb = self.two_ctrs(pod, pid=api_pb2.POD)
        self.assertTrue(self.sees_sleep_4242(ca))


class SpecRunc(_Tests, CtrBase):
    runtime = "runc"


class SpecCrun(_Tests, CtrBase):
    runtime = "crun"
