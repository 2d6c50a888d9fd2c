"""crid under a real systemd (issue 15): `--cgroup-manager systemd` and dist/crid.service.

This machine's PID 1 is not systemd, so the module boots the host's own
systemd as PID 1 of a container (systemd-nspawn --volatile=yes: a tmpfs root
over the host's /usr, no image to build) with the module's temp dir and the
build dir bound in at the same paths. dist/crid.service (paths filled in as
`make install` does) runs the built crid there with cgroup_manager systemd;
this process talks to its socket through the shared temp dir and looks at
systemd with systemctl inside (nsenter into the container's leader).

Checked: `systemctl start crid` returns once crid said READY=1 (Type=notify)
and the socket then serves; Status/RuntimeConfig tell kubelet `systemd`;
crun is refused with the reason on this cgroup v1 layout and runc used; a
pod's cgroup_parent must be a slice name; the pod's PID namespace holder is
in crid-pod-<id>.scope of the pod's slice (sd-bus from crid); a container is
in crid-<id>.scope under the expanded slice (systemctl show and
/proc/<pid>/cgroup agree), ContainerStats and PodSandboxStats read real
numbers there, UpdateContainerResources lands in that cgroup; `systemctl
restart crid` leaves the container running (KillMode=process) and crid
recovers it; stop and remove leave no unit behind; after systemd re-executes
(crid's bus connection closes) crid keeps serving, reconnects by itself and
places the next pod in a scope again.

Skipped with the reason where no container can be booted (not root, no
systemd-nspawn, no systemd binary, no registry tools).
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

import ctr_fixture
from crid_fixture import BUILD, REPO, api_pb2, api_pb2_grpc, is_root, socket_accepts

NSPAWN = shutil.which("systemd-nspawn")
SYSTEMD = "/lib/systemd/systemd"
BOOT_TIMEOUT = 40.0
CONTROLLERS = ("blkio", "cpu", "cpuacct", "cpuset", "devices", "freezer", "memory", "pids",
               "hugetlb", "net_cls", "net_prio", "perf_event", "rdma", "misc")

MASKED = ("containerd.service", "docker-registry.service", "cni-dhcp.service",
          "cni-dhcp.socket", "postgresql.service", "systemd-networkd.service",
          "systemd-networkd.socket", "systemd-timesyncd.service", "docker.service",
          "docker.socket", "crio.service")

NODE = None


def skip_reason():
    if not is_root():
        return "needs root (systemd-nspawn)"
    if not NSPAWN:
        return "systemd-nspawn missing (Debian systemd-container)"
    if not os.path.exists(SYSTEMD):
        return "%s missing" % SYSTEMD
    if not os.path.exists(os.path.join(BUILD, "crid-pinns")):
        return "crid-pinns not built in %s" % BUILD
    return ctr_fixture.missing()


class Node:
    """A systemd booted as PID 1 of a volatile nspawn container."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="crid-sd-")
        self.name = "crid-sd-%d" % os.getpid()
        self.console = open(os.path.join(self.tmp, "console.log"), "wb")
        self.proc = None
        self.leader = None

    def boot(self):
        t0 = time.monotonic()
        argv = [NSPAWN, "--volatile=yes", "-D", "/", "-b", "-M", self.name, "--register=no",
                "--keep-unit", "--console=passive", "--bind=" + self.tmp, "--bind=" + BUILD,
                # runc joins a session keyring; nspawn's payload may not by default
                "--system-call-filter=@keyring", "--capability=all", "systemd.firstboot=off",
                # the unit wants network-online.target; nothing manages this payload's
                # (the host's) network, so networkd's wait would hold the start for 2 min
                "systemd.mask=systemd-networkd-wait-online.service"] + [
                # the payload shares the host's network and sees the host's enabled units:
                # nothing but systemd and crid may run there (ports, links, other runtimes)
                "systemd.mask=" + u for u in MASKED]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.console,
                                     stderr=subprocess.STDOUT)
        state = ""
        while time.monotonic() - t0 < BOOT_TIMEOUT and self.proc.poll() is None:
            self.leader = self._find_leader()
            if self.leader:
                state = self.sh("systemctl is-system-running", check=False).stdout.strip()
                if state in ("running", "degraded"):
                    self.boot_time = time.monotonic() - t0
                    return
            time.sleep(0.2)
        raise unittest.SkipTest("systemd did not boot in a container within %.0fs (state %r, "
                                "nspawn %s): %s" % (BOOT_TIMEOUT, state, self.proc.poll(),
                                                    self.console_tail()))

    def _find_leader(self):
        try:
            with open("/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)) as f:
                kids = f.read().split()
        except OSError:
            return None
        for k in kids:  # nspawn forks an intermediate child first; the leader runs systemd
            try:
                with open("/proc/%s/comm" % k) as f:
                    if f.read().strip() == "systemd":
                        return int(k)
            except OSError:
                pass
        return None

    def console_tail(self):
        with open(os.path.join(self.tmp, "console.log"), "rb") as f:
            return f.read()[-1500:].decode("utf-8", "replace")

    def sh(self, cmd, check=True, timeout=60):
        """Runs |cmd| with sh inside the container (all its namespaces, its root)."""
        r = subprocess.run(["nsenter", "-t", str(self.leader), "-a", "sh", "-c", cmd],
                           capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError("in the container: %s -> %d\n%s%s"
                                 % (cmd, r.returncode, r.stdout, r.stderr))
        return r

    def note_cgroup_roots(self):
        """Where the payload's cgroup trees sit in the host's hierarchies (for cleanup)."""
        self.cg_roots = {}
        with open("/proc/%d/cgroup" % self.leader) as f:
            for line in f:
                _, ctrls, path = line.rstrip("\n").split(":", 2)
                if ctrls and not ctrls.startswith("name="):
                    for c in ctrls.split(","):
                        self.cg_roots[c] = path

    def remove_cgroups(self):
        """runc made the slices' directories in the v1 controllers, which the payload's
        systemd does not manage (read-only when it booted): remove the empty ones it left.
        nspawn's own `payload` directories stay: the next boot expects them."""
        seen = set()
        for ctrl, root in getattr(self, "cg_roots", {}).items():
            base = os.path.realpath("/sys/fs/cgroup/%s%s" % (ctrl, root))
            if base in seen or not os.path.isdir(base):
                continue
            seen.add(base)
            for d, _, _ in sorted(os.walk(os.path.join(base, "kubepods.slice")),
                                  key=lambda w: -w[0].count("/")):
                try:
                    os.rmdir(d)
                except OSError:
                    pass

    def make_cgroups_writable(self):
        # nspawn mounts the v1 controllers read-only for its payload; runc's
        # systemd driver on v1 makes the scope's directory in each itself
        for c in CONTROLLERS:
            self.sh("! mountpoint -q /sys/fs/cgroup/%s || mount -o remount,bind,rw "
                    "/sys/fs/cgroup/%s" % (c, c))

    def show(self, unit, *props):
        out = self.sh("systemctl show %s %s" % (unit, " ".join("-p " + p for p in props))).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def shutdown(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # nspawn: an orderly poweroff of the payload
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.console.close()
        self.remove_cgroups()
        if not os.environ.get("CRID_KEEP"):
            subprocess.run(["umount", "-R", "-l", self.tmp], capture_output=True)
            shutil.rmtree(self.tmp, ignore_errors=True)


def setUpModule():
    global NODE
    why = skip_reason()
    if why:
        raise unittest.SkipTest(why)
    ctr_fixture.setup_registry()
    NODE = Node()
    try:
        NODE.boot()
        NODE.note_cgroup_roots()
        NODE.make_cgroups_writable()
    except BaseException:
        NODE.shutdown()
        NODE = None
        ctr_fixture.teardown_registry()
        raise
    print("systemd booted in a container in %.1fs" % NODE.boot_time)


def tearDownModule():
    global NODE
    if NODE:
        NODE.sh("systemctl stop crid", check=False)
        NODE.shutdown()
        NODE = None
    ctr_fixture.teardown_registry()


def unit_text(conf):
    """dist/crid.service.in with the paths `make install` fills in pointing at the build."""
    with open(os.path.join(REPO, "dist", "crid.service.in")) as f:
        text = f.read()
    text = text.replace("@BINDIR@/crid --config @SYSCONFDIR@/crid/crid.toml",
                        "%s/crid --config %s" % (BUILD, conf))
    assert "%s/crid --config" % BUILD in text, text
    env = [k + "=" + os.environ[k] for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS") if k in os.environ]
    if env:  # a sanitizer build reports the way the suite asks
        text = text.replace("[Service]\n", "[Service]\nEnvironment=%s\n" % " ".join(env))
    return text


class TestSystemd(unittest.TestCase):
    """One crid (the unit) and one pod for the module; tests run in name order."""

    @classmethod
    def setUpClass(cls):
        if NODE is None:
            raise unittest.SkipTest("no systemd container")
        t = NODE.tmp
        cls.sock = os.path.join(t, "crid.sock")
        cls.uid = "u%d" % os.getpid()
        cls.slice = "kubepods-besteffort-pod%s.slice" % cls.uid
        conf = os.path.join(t, "crid.toml")
        with open(conf, "w") as f:
            f.write('[crid]\nlisten = "%s"\nroot = "%s/root"\nrunroot = "%s/run"\n'
                    'log_level = "debug"\n[crid.runtime]\ncgroup_manager = "systemd"\n'
                    '[crid.runtime.runtimes.crun]\nruntime_path = "/usr/bin/crun"\n'
                    '[crid.runtime.runtimes.runc]\nruntime_path = "/usr/sbin/runc"\n'
                    '[crid.network]\ncni_config_dir = "%s/cni"\n'
                    '[crid.image]\ninsecure_registries = ["%s"]\n'
                    % (cls.sock, t, t, t, ctr_fixture.REGISTRY.addr))
        os.makedirs(os.path.join(t, "cni"), exist_ok=True)
        root = "/proc/%d/root" % NODE.leader
        with open(root + "/run/systemd/system/crid.service", "w") as f:
            f.write(unit_text(conf))
        NODE.sh("systemctl daemon-reload")
        cls.channel = None

    @classmethod
    def connect(cls):
        if cls.channel:
            cls.channel.close()
        cls.channel = grpc.insecure_channel("unix://" + cls.sock)
        cls.rt = api_pb2_grpc.RuntimeServiceStub(cls.channel)
        cls.img = api_pb2_grpc.ImageServiceStub(cls.channel)

    @classmethod
    def tearDownClass(cls):
        if cls.channel:
            try:
                for p in cls.rt.ListPodSandbox(api_pb2.ListPodSandboxRequest(), timeout=10).items:
                    cls.rt.StopPodSandbox(api_pb2.StopPodSandboxRequest(pod_sandbox_id=p.id),
                                          timeout=60)
                    cls.rt.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=p.id),
                                            timeout=60)
            except Exception as e:  # the report says why; teardown goes on
                print("teardown: %s" % e)
            cls.channel.close()
        out = NODE.sh("systemctl stop crid; systemctl show crid -p Result -p ExecMainStatus",
                      check=False).stdout
        if "ExecMainStatus=0" not in out:
            print(NODE.sh("journalctl -u crid --no-pager | tail -60", check=False).stdout)
            raise AssertionError("crid did not stop cleanly: %s" % out)

    def journal(self, n=60):
        return NODE.sh("journalctl -u crid --no-pager | tail -%d" % n, check=False).stdout

    def run(self, result=None):
        before = (len(result.failures), len(result.errors)) if result is not None else None
        out = super().run(result)
        if result is not None and (len(result.failures), len(result.errors)) != before:
            print("\n----- crid journal after %s -----\n%s" % (self.id(), self.journal()))
        return out

    # ---- the unit ----

    def test_01_start_waits_for_ready(self):
        self.assertFalse(os.path.exists(self.sock))
        NODE.sh("systemctl start crid")  # Type=notify: returns once READY=1 came
        # the socket serves the moment the start job is over: READY=1 meant it
        self.assertTrue(socket_accepts(self.sock), "socket not serving after systemctl start")
        p = NODE.show("crid", "Type", "ActiveState", "SubState", "NotifyAccess", "KillMode",
                      "Delegate", "ExecMainStartTimestampMonotonic",
                      "ActiveEnterTimestampMonotonic", "MainPID", "FileDescriptorStoreMax")
        self.assertEqual((p["Type"], p["ActiveState"], p["SubState"], p["KillMode"]),
                         ("notify", "active", "running", "process"), p)
        self.assertEqual(p["Delegate"], "yes")
        # active was entered after the main process started, not with it (simple would)
        self.assertGreater(int(p["ActiveEnterTimestampMonotonic"]),
                           int(p["ExecMainStartTimestampMonotonic"]), p)
        type(self).main_pid = int(p["MainPID"])
        self.assertIn("cgroup manager: systemd", self.journal(200))
        self.connect()

    def test_02_status_says_systemd(self):
        cfg = self.rt.RuntimeConfig(api_pb2.RuntimeConfigRequest(), timeout=10)
        self.assertEqual(cfg.linux.cgroup_driver, api_pb2.SYSTEMD)
        st = self.rt.Status(api_pb2.StatusRequest(verbose=True), timeout=10)
        info = {k: json.loads(v) for k, v in st.info.items()}
        self.assertIn('"cgroupManager": "systemd"', json.dumps(info))
        host = [v for v in info.values() if isinstance(v, dict) and "runtimes" in v][0]
        crun = [h for h in host["runtimes"] if h["name"] == "crun"][0]
        self.assertFalse(crun["usable"])
        self.assertIn("systemd scopes", crun["reason"])
        self.assertEqual(host["defaultRuntime"], "runc", host)

    def test_03_cgroupfs_parent_refused(self):
        cfg = self.pod_config("bad", cgroup_parent="/kubepods/besteffort/pod1")
        with self.assertRaises(Exception) as cm:
            self.rt.RunPodSandbox(api_pb2.RunPodSandboxRequest(config=cfg), timeout=30)
        self.assertEqual(cm.exception.code().name, "INVALID_ARGUMENT")
        self.assertIn("config.linux.cgroup_parent", cm.exception.details())
        self.assertIn("slice", cm.exception.details())

    def pod_config(self, name, cgroup_parent=None):
        lin = api_pb2.LinuxPodSandboxConfig(
            cgroup_parent=cgroup_parent if cgroup_parent is not None else self.slice,
            security_context=api_pb2.LinuxSandboxSecurityContext(
                namespace_options=api_pb2.NamespaceOption(network=api_pb2.NODE,
                                                          pid=api_pb2.POD)))
        return api_pb2.PodSandboxConfig(
            metadata=api_pb2.PodSandboxMetadata(name=name, uid=self.uid, namespace="sd"),
            hostname=name, log_directory=os.path.join(NODE.tmp, "logs", name), linux=lin)

    def test_04_pod_holder_in_scope(self):
        ref = ctr_fixture.REGISTRY.ref("busybox")
        type(self).image = self.img.PullImage(api_pb2.PullImageRequest(
            image=api_pb2.ImageSpec(image=ref)), timeout=120).image_ref
        pod = self.rt.RunPodSandbox(api_pb2.RunPodSandboxRequest(
            config=self.pod_config("p1"), runtime_handler=""), timeout=60).pod_sandbox_id
        type(self).pod = pod
        p = NODE.show("crid-pod-%s.scope" % pod, "ActiveState", "Slice", "ControlGroup",
                      "MainPID", "Delegate")
        self.assertEqual((p["ActiveState"], p["Slice"], p["Delegate"]),
                         ("active", self.slice, "yes"), p)
        self.assertEqual(p["ControlGroup"], "/kubepods.slice/kubepods-besteffort.slice/%s/"
                         "crid-pod-%s.scope" % (self.slice, pod))
        procs = NODE.sh("cat /sys/fs/cgroup/systemd%s/cgroup.procs" % p["ControlGroup"]).stdout
        st = self.rt.PodSandboxStatus(api_pb2.PodSandboxStatusRequest(pod_sandbox_id=pod,
                                                                      verbose=True), timeout=10)
        holder = json.loads(st.info["info"])["pid"]
        self.assertGreater(holder, 0)
        # crid-pinns's PID namespace holder, and only it (host pids: the container shares them)
        self.assertEqual(procs.split(), [str(holder)])

    def test_05_container_in_its_scope(self):
        c = self.rt.CreateContainer(api_pb2.CreateContainerRequest(
            pod_sandbox_id=self.pod, sandbox_config=self.pod_config("p1"),
            config=api_pb2.ContainerConfig(
                metadata=api_pb2.ContainerMetadata(name="c1"),
                image=api_pb2.ImageSpec(image=self.image),
                command=["/bin/sh", "-c", "echo up; while :; do sleep 1; done"],
                log_path="c1.log")), timeout=60).container_id
        type(self).ctr = c
        self.rt.StartContainer(api_pb2.StartContainerRequest(container_id=c), timeout=60)
        st = self.rt.ContainerStatus(api_pb2.ContainerStatusRequest(container_id=c, verbose=True),
                                     timeout=10)
        self.assertEqual(st.status.state, api_pb2.CONTAINER_RUNNING)
        info = json.loads(st.info["info"])
        pid = info["pid"]
        type(self).ctr_pid = pid
        cg = "/kubepods.slice/kubepods-besteffort.slice/%s/crid-%s.scope" % (self.slice, c)
        type(self).ctr_cg = cg
        self.assertEqual(info["cgroupsPath"], "%s:crid:%s" % (self.slice, c))
        p = NODE.show("crid-%s.scope" % c, "ActiveState", "Slice", "ControlGroup")
        self.assertEqual((p["ActiveState"], p["Slice"], p["ControlGroup"]),
                         ("active", self.slice, cg), p)
        lines = NODE.sh("cat /proc/%d/cgroup" % pid).stdout.splitlines()
        by = {l.split(":")[1]: l.split(":", 2)[2] for l in lines}
        for hier in ("name=systemd", "memory", "cpu,cpuacct" if "cpu,cpuacct" in by else "cpu",
                     "pids"):
            self.assertEqual(by[hier], cg, lines)
        # the container is not in crid's unit: a restart of crid cannot touch it
        self.assertNotIn("crid.service", "\n".join(lines))

    def cgroup_file(self, name, controller="memory"):
        """A file of the container's scope as the payload sees it (its own cgroup namespace)."""
        return NODE.sh("cat /sys/fs/cgroup/%s%s/%s" % (controller, self.ctr_cg, name)).stdout

    def test_06_stats_read_the_scope(self):
        s = self.rt.ContainerStats(api_pb2.ContainerStatsRequest(container_id=self.ctr),
                                   timeout=10).stats
        self.assertGreater(s.memory.working_set_bytes.value, 0)
        self.assertGreater(s.cpu.usage_core_nano_seconds.value, 0)
        self.assertGreater(int(self.cgroup_file("memory.usage_in_bytes")), 0)
        ps = self.rt.PodSandboxStats(api_pb2.PodSandboxStatsRequest(pod_sandbox_id=self.pod),
                                     timeout=10).stats
        self.assertGreater(ps.linux.memory.working_set_bytes.value, 0)
        self.assertGreater(ps.linux.cpu.usage_core_nano_seconds.value, 0)

    def test_07_update_resources_in_the_scope(self):
        limit = 96 * 1024 * 1024
        self.rt.UpdateContainerResources(api_pb2.UpdateContainerResourcesRequest(
            container_id=self.ctr, linux=api_pb2.LinuxContainerResources(
                memory_limit_in_bytes=limit)), timeout=30)
        self.assertEqual(int(self.cgroup_file("memory.limit_in_bytes")), limit)

    def test_08_restart_keeps_container(self):
        NODE.sh("systemctl restart crid")
        p = NODE.show("crid", "ActiveState", "MainPID")
        self.assertEqual(p["ActiveState"], "active")
        self.assertNotEqual(int(p["MainPID"]), self.main_pid)
        self.assertTrue(socket_accepts(self.sock))
        self.connect()
        # still running (pids are the container's PID namespace's): KillMode=process
        NODE.sh("kill -0 %d" % self.ctr_pid)
        st = self.rt.ContainerStatus(api_pb2.ContainerStatusRequest(container_id=self.ctr,
                                                                    verbose=True), timeout=10)
        self.assertEqual(st.status.state, api_pb2.CONTAINER_RUNNING)
        self.assertEqual(json.loads(st.info["info"])["pid"], self.ctr_pid)
        self.assertEqual(NODE.show("crid-%s.scope" % self.ctr, "ActiveState")["ActiveState"],
                         "active")
        # and crid still drives it: stop ends it with the exit code read
        self.rt.StopContainer(api_pb2.StopContainerRequest(container_id=self.ctr, timeout=2),
                              timeout=60)
        st = self.rt.ContainerStatus(api_pb2.ContainerStatusRequest(container_id=self.ctr),
                                     timeout=10).status
        self.assertEqual(st.state, api_pb2.CONTAINER_EXITED)

    def test_09_remove_leaves_no_unit(self):
        self.rt.RemoveContainer(api_pb2.RemoveContainerRequest(container_id=self.ctr),
                                timeout=60)
        self.assertIn(NODE.show("crid-%s.scope" % self.ctr, "LoadState",
                                "ActiveState")["ActiveState"], ("inactive",))
        self.rt.StopPodSandbox(api_pb2.StopPodSandboxRequest(pod_sandbox_id=self.pod),
                               timeout=60)
        self.rt.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=self.pod),
                                 timeout=60)
        left = NODE.sh("systemctl list-units --all --no-legend 'crid-*' | grep -v '^crid.service'",
                       check=False).stdout.strip()
        self.assertEqual(left, "", left)
        NODE.sh("! test -e /sys/fs/cgroup/memory" + self.ctr_cg)

    def test_10_systemd_reexec_reconnects(self):
        """systemd re-executing closes crid's private bus connection: crid says so,
        keeps serving, reconnects on its own, and pods get scopes again."""
        NODE.sh("systemctl daemon-reexec")
        deadline = time.monotonic() + 30
        while "systemd bus: reconnected" not in self.journal(200) and \
                time.monotonic() < deadline:
            time.sleep(0.2)
        journal = self.journal(200)
        self.assertIn("systemd bus: connection lost", journal)
        self.assertIn("systemd bus: reconnected", journal)
        self.assertLess(journal.index("systemd bus: connection lost"),
                        journal.rindex("systemd bus: reconnected"))
        self.rt.Version(api_pb2.VersionRequest(), timeout=10)
        pod = self.rt.RunPodSandbox(api_pb2.RunPodSandboxRequest(
            config=self.pod_config("p2")), timeout=60).pod_sandbox_id
        p = NODE.show("crid-pod-%s.scope" % pod, "ActiveState", "Slice")
        self.assertEqual((p["ActiveState"], p["Slice"]), ("active", self.slice), p)
        self.rt.StopPodSandbox(api_pb2.StopPodSandboxRequest(pod_sandbox_id=pod), timeout=60)
        self.rt.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=pod),
                                 timeout=60)
        self.assertEqual(NODE.show("crid", "ActiveState")["ActiveState"], "active")

if __name__ == "__main__":
    unittest.main()
