"""Pod sandboxes through python3-grpcio against the real daemon, with Debian's
CNI plugins (bridge + host-local + portmap) on a private bridge and subnet:
RunPodSandbox, PodSandboxStatus, ListPodSandbox (filters, prefixes),
StopPodSandbox and RemovePodSandbox (idempotent, IP released), pinned
namespaces (hostname, sysctls, DNS files, two pods ping each other, host
network), bad input, failing and hanging plugins, and recovery after kill -9
in the middle of RunPodSandbox and after a simulated reboot."""
import json
import os
import shutil
import signal
import subprocess
import time
import unittest

import grpc

import api_pb2
import api_pb2_grpc
from crid_fixture import CNI_PLUGIN_DIR, Crid, DaemonError, daemon_mounts_under, is_root

BUSYBOX = shutil.which("busybox") or "/bin/busybox"
NSENTER = shutil.which("nsenter")


def why_not():
    if not is_root():
        return "needs root (euid=%d) for namespaces and CNI" % os.geteuid()
    for p in ("bridge", "host-local", "portmap"):
        if not os.access(os.path.join(CNI_PLUGIN_DIR, p), os.X_OK):
            return "CNI plugin %s missing in %s" % (p, CNI_PLUGIN_DIR)
    if not NSENTER or not os.access(BUSYBOX, os.X_OK):
        return "nsenter or busybox missing"
    return None


def conflist(name, bridge, subnet, data_dir, plugin="bridge", extra=()):
    plugins = [{"type": plugin, "bridge": bridge, "isGateway": True, "ipMasq": False,
                "ipam": {"type": "host-local", "dataDir": data_dir,
                         "ranges": [[{"subnet": subnet}]],
                         "routes": [{"dst": "0.0.0.0/0"}]}},
               {"type": "portmap", "capabilities": {"portMappings": True}}]
    plugins.extend(extra)
    return json.dumps({"cniVersion": "1.0.0", "name": name, "plugins": plugins})


# pods' log directories: private to this run, removed by the module's tearDownModule
LOG_ROOT = "/tmp/crid-it-logs-%d" % os.getpid()


def tearDownModule():
    shutil.rmtree(LOG_ROOT, ignore_errors=True)


def pod_config(name, uid=None, namespace="default", attempt=0, hostname=None, **kw):
    c = api_pb2.PodSandboxConfig(
        metadata=api_pb2.PodSandboxMetadata(name=name, uid=uid or "uid-" + name,
                                            namespace=namespace, attempt=attempt),
        hostname=hostname if hostname is not None else name,
        log_directory=os.path.join(LOG_ROOT, name),
        labels=kw.pop("labels", {"app": name}),
        annotations=kw.pop("annotations", {"note": "crid test"}))
    for k, v in kw.items():
        if k == "dns":
            c.dns_config.CopyFrom(v)
        elif k == "sysctls":
            c.linux.sysctls.update(v)
        elif k == "network":
            c.linux.security_context.namespace_options.network = v
        elif k == "pid":
            c.linux.security_context.namespace_options.pid = v
        elif k == "ports":
            c.port_mappings.extend(v)
    return c


def nsexec(netns, *argv, uts=None, timeout=10):
    cmd = [NSENTER, "--net=" + netns]
    if uts:
        cmd.append("--uts=" + uts)
    return subprocess.run(cmd + list(argv), capture_output=True, text=True, timeout=timeout)


class SandboxBase(unittest.TestCase):
    plugin_script = None  # (name, shell body) of an extra plugin in a private plugin dir

    @classmethod
    def setUpClass(cls):
        why = why_not()
        if why:
            print("SKIPPED %s: %s" % (cls.__name__, why))
            raise unittest.SkipTest(why)
        cls.n = os.getpid() % 200 + 20
        cls.bridge = "crt%d" % os.getpid()
        cls.subnet = "10.%d.%d.0/24" % (200 + (os.getpid() % 50), cls.n)
        cls.crid = None
        cls.start_daemon()

    @classmethod
    def start_daemon(cls, extra_conf=None, plugin="bridge"):
        cls.crid = Crid(extra_args=["--cni-plugin-dir", "PLACEHOLDER"])
        cls.data_dir = os.path.join(cls.crid.tmp, "cni-ipam")
        cls.plugin_dir = os.path.join(cls.crid.tmp, "plugins")
        os.makedirs(cls.plugin_dir)
        cls.crid.extra_args = ["--cni-plugin-dir", cls.plugin_dir]
        if cls.plugin_script:
            name, body = cls.plugin_script
            path = os.path.join(cls.plugin_dir, name)
            with open(path, "w") as f:
                f.write("#!/bin/sh\n" + body + "\n")
            os.chmod(path, 0o755)
            plugin = name
        with open(os.path.join(cls.crid.cni_dir, "10-test.conflist"), "w") as f:
            f.write(conflist("crid-test", cls.bridge, cls.subnet, cls.data_dir, plugin))
        cls.crid.start()
        cls.connect()

    @classmethod
    def connect(cls):
        cls.channel = cls.crid.channel()
        cls.rt = api_pb2_grpc.RuntimeServiceStub(cls.channel)

    @classmethod
    def restart(cls, kill=True):
        cls.channel.close()
        if kill:
            cls.crid.proc.send_signal(signal.SIGKILL)
            cls.crid.proc.wait()
        else:
            cls.crid.stop()
        cls.crid._close_files()
        cls.crid.start()
        cls.connect()

    @classmethod
    def tearDownClass(cls):
        if cls.crid is None:
            return
        try:
            for p in cls.rt.ListPodSandbox(api_pb2.ListPodSandboxRequest(), timeout=30).items:
                cls.rt.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=p.id),
                                        timeout=60)
        except grpc.RpcError:
            pass
        cls.channel.close()
        rc = cls.crid.stop()
        subprocess.run(["ip", "link", "del", cls.bridge], capture_output=True)
        if rc != 0:
            log = cls.crid.log(300)
            cls.crid.cleanup(keep=True)
            raise DaemonError("crid exited with %s after SIGTERM\n%s" % (rc, log))
        cls.crid.cleanup()

    def run_pod(self, config, timeout=60, **kw):
        return self.rt.RunPodSandbox(api_pb2.RunPodSandboxRequest(config=config, **kw),
                                     timeout=timeout).pod_sandbox_id

    def status(self, pid, verbose=False):
        return self.rt.PodSandboxStatus(
            api_pb2.PodSandboxStatusRequest(pod_sandbox_id=pid, verbose=verbose), timeout=10)

    def stop(self, pid):
        self.rt.StopPodSandbox(api_pb2.StopPodSandboxRequest(pod_sandbox_id=pid), timeout=60)

    def remove(self, pid):
        self.rt.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=pid), timeout=60)

    def info(self, pid):
        return json.loads(self.status(pid, verbose=True).info["info"])

    def ipam_ips(self):
        d = os.path.join(self.data_dir, "crid-test")
        if not os.path.isdir(d):
            return []
        return sorted(f for f in os.listdir(d) if f[0].isdigit())

    def pod_dirs(self):
        d = os.path.join(self.crid.runroot, "pods")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def records(self):
        d = os.path.join(self.crid.root, "sandboxes")
        return sorted(f for f in os.listdir(d) if f.endswith(".json")) if os.path.isdir(d) else []

    def mounts_under(self, path):
        return daemon_mounts_under(self.crid.runroot, path)

    def assertNothingLeft(self):
        self.assertEqual(self.ipam_ips(), [], "host-local still holds IPs")
        self.assertEqual(self.pod_dirs(), [], "pod dirs left under the run dir")
        self.assertEqual(self.records(), [], "sandbox records left")
        self.assertEqual(self.mounts_under(self.crid.runroot), [], "mounts left")


class SandboxLifecycle(SandboxBase):
    def test_run_status_list_stop_remove(self):
        cfg = pod_config("web", labels={"app": "web", "tier": "front"},
                         dns=api_pb2.DNSConfig(servers=["10.0.0.10"], searches=["svc.local"],
                                               options=["ndots:5"]),
                         sysctls={"net.ipv4.ip_unprivileged_port_start": "80"})
        pid = self.run_pod(cfg)
        self.assertEqual(len(pid), 64)
        st = self.status(pid).status
        self.assertEqual(st.state, api_pb2.SANDBOX_READY)
        self.assertEqual(st.metadata.name, "web")
        self.assertEqual(st.labels["tier"], "front")
        self.assertEqual(st.annotations["note"], "crid test")
        prefix = self.subnet.rsplit(".", 1)[0] + "."
        self.assertTrue(st.network.ip.startswith(prefix), st.network.ip)
        self.assertGreater(st.created_at, 0)
        self.assertEqual(self.ipam_ips(), [st.network.ip])

        info = self.info(pid)
        netns, uts = info["namespaces"]["net"], info["namespaces"]["uts"]
        r = nsexec(netns, BUSYBOX, "ip", "-4", "addr", "show", "eth0")
        self.assertIn(st.network.ip, r.stdout, r.stderr)
        r = nsexec(netns, BUSYBOX, "hostname", uts=uts)
        self.assertEqual(r.stdout.strip(), "web")
        r = nsexec(netns, BUSYBOX, "cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start")
        self.assertEqual(r.stdout.strip(), "80")
        with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as f:
            self.assertNotEqual(f.read().strip(), "80", "sysctl leaked to the host")
        pod_dir = os.path.join(self.crid.runroot, "pods", pid)
        with open(os.path.join(pod_dir, "resolv.conf")) as f:
            resolv = f.read()
        self.assertIn("nameserver 10.0.0.10", resolv)
        self.assertIn("search svc.local", resolv)
        self.assertIn("options ndots:5", resolv)
        with open(os.path.join(pod_dir, "hostname")) as f:
            self.assertEqual(f.read(), "web\n")
        with open(os.path.join(pod_dir, "hosts")) as f:
            self.assertIn(st.network.ip, f.read())

        items = self.rt.ListPodSandbox(api_pb2.ListPodSandboxRequest(), timeout=10).items
        self.assertIn(pid, [p.id for p in items])
        f = api_pb2.PodSandboxFilter(id=pid[:12])
        items = self.rt.ListPodSandbox(api_pb2.ListPodSandboxRequest(filter=f), timeout=10).items
        self.assertEqual([p.id for p in items], [pid])
        self.assertEqual(items[0].labels["app"], "web")
        f = api_pb2.PodSandboxFilter(label_selector={"tier": "back"})
        self.assertEqual(len(self.rt.ListPodSandbox(
            api_pb2.ListPodSandboxRequest(filter=f), timeout=10).items), 0)
        self.assertEqual(self.status(pid[:10]).status.id, pid)

        self.stop(pid)
        self.stop(pid)  # idempotent
        st = self.status(pid).status
        self.assertEqual(st.state, api_pb2.SANDBOX_NOTREADY)
        self.assertEqual(self.ipam_ips(), [], "IP not released by StopPodSandbox")
        self.assertFalse(os.path.exists(netns) and self.mounts_under(netns), "netns still pinned")
        f = api_pb2.PodSandboxFilter(state=api_pb2.PodSandboxStateValue(state=api_pb2.SANDBOX_READY))
        items = self.rt.ListPodSandbox(api_pb2.ListPodSandboxRequest(filter=f), timeout=10).items
        self.assertNotIn(pid, [p.id for p in items])
        self.remove(pid)
        self.remove(pid)  # idempotent
        self.stop(pid)    # stop of a removed pod is fine too
        with self.assertRaises(grpc.RpcError) as cm:
            self.status(pid)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.NOT_FOUND)
        self.assertNothingLeft()

    def test_two_pods_ping(self):
        a = self.run_pod(pod_config("ping-a"))
        b = self.run_pod(pod_config("ping-b"))
        ip_b = self.status(b).status.network.ip
        r = nsexec(self.info(a)["namespaces"]["net"], BUSYBOX, "ping", "-c", "1", "-W", "3", ip_b)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.remove(a)
        self.remove(b)
        self.assertNothingLeft()

    def test_name_is_reserved(self):
        pid = self.run_pod(pod_config("dup"))
        with self.assertRaises(grpc.RpcError) as cm:
            self.run_pod(pod_config("dup"))
        self.assertIn("reserved", cm.exception.details())
        self.assertIn(pid, cm.exception.details())
        pid2 = self.run_pod(pod_config("dup", attempt=1))
        self.remove(pid)
        self.remove(pid2)
        self.assertNothingLeft()

    def test_host_network(self):
        pid = self.run_pod(pod_config("hostnet", network=api_pb2.NODE))
        st = self.status(pid).status
        self.assertEqual(st.state, api_pb2.SANDBOX_READY)
        self.assertEqual(st.linux.namespaces.options.network, api_pb2.NODE)
        self.assertEqual(st.network.ip, "")
        self.assertEqual(self.info(pid)["namespaces"]["net"], "")
        self.assertEqual(self.ipam_ips(), [])
        self.remove(pid)
        self.assertNothingLeft()

    def test_pod_pid_namespace_holder(self):
        pid = self.run_pod(pod_config("pidns", pid=api_pb2.POD))
        holder = self.info(pid)["namespaces"]["pidHolder"]
        self.assertGreater(holder, 0)
        self.assertTrue(os.path.exists("/proc/%d" % holder))
        self.assertNotEqual(os.readlink("/proc/%d/ns/pid" % holder), os.readlink("/proc/self/ns/pid"))
        self.remove(pid)
        deadline = time.monotonic() + 5
        while os.path.exists("/proc/%d" % holder) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertFalse(os.path.exists("/proc/%d/ns" % holder), "pid holder still alive")
        self.assertNothingLeft()

    def test_restart_keeps_pods(self):
        pid = self.run_pod(pod_config("survivor"))
        ip = self.status(pid).status.network.ip
        type(self).restart(kill=True)
        st = self.status(pid).status
        self.assertEqual(st.state, api_pb2.SANDBOX_READY)
        self.assertEqual(st.network.ip, ip)
        self.remove(pid)
        self.assertNothingLeft()

    def test_reboot_makes_pods_notready(self):
        pid = self.run_pod(pod_config("rebooted"))
        self.crid.stop()
        self.channel.close()
        # a reboot ends every process (the pod's PID holder, the fd store), empties the run
        # dir (tmpfs) and drops every mount
        for p in os.listdir("/proc"):
            try:
                with open("/proc/%s/cmdline" % p, "rb") as f:
                    if p.isdigit() and self.crid.runroot.encode() + b"/" in f.read():
                        os.kill(int(p), signal.SIGKILL)
            except OSError:
                pass
        with open("/proc/self/mountinfo") as f:  # the daemon's own pins too
            points = [ln.split()[4] for ln in f]
        for m in sorted((m for m in points if m.startswith(self.crid.runroot + "/")),
                        reverse=True):
            subprocess.run(["umount", "-l", m], check=True)
        shutil.rmtree(self.crid.runroot)
        self.crid._close_files()
        self.crid.start()
        type(self).connect()
        self.assertEqual(self.status(pid).status.state, api_pb2.SANDBOX_NOTREADY)
        self.stop(pid)  # releases the IP the lost pod held
        self.remove(pid)
        self.assertNothingLeft()


class SandboxNetworkOptions(SandboxBase):
    """Port mappings through portmap (also on 127.0.0.1) and the node's pod CIDR as ipRanges."""

    @classmethod
    def start_daemon(cls, extra_conf=None, plugin="bridge"):
        super().start_daemon(extra_conf, plugin)
        # host-local takes its range from runtimeConfig.ipRanges (the pod CIDR) when the bridge
        # declares the capability, as containerd's CNI template has it
        path = os.path.join(cls.crid.cni_dir, "10-test.conflist")
        with open(path) as f:
            conf = json.load(f)
        conf["plugins"][0]["capabilities"] = {"ipRanges": True}
        del conf["plugins"][0]["ipam"]["ranges"]  # host-local would add its own range as well
        with open(path, "w") as f:
            json.dump(conf, f)
        cls.pod_cidr = "10.%d.%d.0/24" % (150 + os.getpid() % 50, cls.n)

    def test_pod_cidr_from_update_runtime_config(self):
        # the bridge keeps the gateway address of an earlier range: start from a fresh one
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
        self.rt.UpdateRuntimeConfig(api_pb2.UpdateRuntimeConfigRequest(
            runtime_config=api_pb2.RuntimeConfig(
                network_config=api_pb2.NetworkConfig(pod_cidr=self.pod_cidr))), timeout=10)
        pid = self.run_pod(pod_config("cidr"))
        ip = self.status(pid).status.network.ip
        self.assertTrue(ip.startswith(self.pod_cidr.rsplit(".", 1)[0] + "."),
                        "%s not in the pod CIDR %s" % (ip, self.pod_cidr))
        self.remove(pid)
        self.assertNothingLeft()

    def test_host_port_on_localhost(self):
        self.rt.UpdateRuntimeConfig(api_pb2.UpdateRuntimeConfigRequest(
            runtime_config=api_pb2.RuntimeConfig(
                network_config=api_pb2.NetworkConfig(pod_cidr=self.pod_cidr))), timeout=10)
        port = 20000 + os.getpid() % 10000
        pid = self.run_pod(pod_config("ports", ports=[api_pb2.PortMapping(
            protocol=api_pb2.TCP, container_port=8080, host_port=port, host_ip="127.0.0.1")]))
        netns = self.info(pid)["namespaces"]["net"]
        srv = subprocess.Popen([NSENTER, "--net=" + netns, BUSYBOX, "sh", "-c",
                                "echo hello-from-pod | %s nc -l -p 8080" % BUSYBOX],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            got = b""
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and b"hello" not in got:
                try:
                    import socket
                    with socket.create_connection(("127.0.0.1", port), timeout=2) as c:
                        got = c.recv(100)
                except OSError:
                    time.sleep(0.1)
            self.assertIn(b"hello-from-pod", got, "127.0.0.1:%d did not reach the pod" % port)
        finally:
            srv.kill()
            srv.wait()
        self.remove(pid)
        self.assertNothingLeft()
        out = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
        self.assertNotIn(pid[:12], out, "portmap rules left after remove")


class SandboxBadInput(SandboxBase):
    def expect(self, code, config=None, needle=None, **kw):
        with self.assertRaises(grpc.RpcError) as cm:
            self.rt.RunPodSandbox(api_pb2.RunPodSandboxRequest(config=config, **kw), timeout=30)
        self.assertEqual(cm.exception.code(), code, cm.exception.details())
        if needle:
            self.assertIn(needle, cm.exception.details())
        self.assertNothingLeft()

    def test_missing_config_and_metadata(self):
        self.expect(grpc.StatusCode.INVALID_ARGUMENT, None, "config")
        self.expect(grpc.StatusCode.INVALID_ARGUMENT, api_pb2.PodSandboxConfig(hostname="x"),
                    "config.metadata")

    def test_empty_name(self):
        self.expect(grpc.StatusCode.INVALID_ARGUMENT, pod_config(""), "metadata.name")

    def test_unknown_runtime_handler(self):
        self.expect(grpc.StatusCode.INVALID_ARGUMENT, pod_config("rh"), "no-such-runtime",
                    runtime_handler="no-such-runtime")

    def test_bad_dns(self):
        self.expect(grpc.StatusCode.INVALID_ARGUMENT,
                    pod_config("dns1", dns=api_pb2.DNSConfig(servers=["not-an-ip"])),
                    "dns_config.servers")
        self.expect(grpc.StatusCode.INVALID_ARGUMENT,
                    pod_config("dns2", dns=api_pb2.DNSConfig(options=["nd ots\n5"])),
                    "dns_config.options")

    def test_non_namespaced_sysctl(self):
        self.expect(grpc.StatusCode.INVALID_ARGUMENT,
                    pod_config("sys", sysctls={"kernel.panic": "1"}), "kernel.panic")
        self.expect(grpc.StatusCode.INVALID_ARGUMENT,
                    pod_config("sys2", network=api_pb2.NODE,
                               sysctls={"net.ipv4.ip_forward": "1"}), "net.ipv4.ip_forward")

    def test_bad_stop_and_status(self):
        with self.assertRaises(grpc.RpcError) as cm:
            self.stop("")
        self.assertEqual(cm.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        with self.assertRaises(grpc.RpcError) as cm:
            self.status("f" * 64)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.NOT_FOUND)


class SandboxFailingPlugin(SandboxBase):
    """A plugin that fails: the error names it, nothing is left behind."""
    plugin_script = ("failbr", 'echo \'{"cniVersion":"1.0.0","code":11,"msg":"no bridge for you",'
                               '"details":"test"}\'; exit 1')

    def test_failing_plugin(self):
        with self.assertRaises(grpc.RpcError) as cm:
            self.run_pod(pod_config("fails"))
        self.assertIn("no bridge for you", cm.exception.details())
        self.assertNothingLeft()
        self.assertEqual(len(self.rt.ListPodSandbox(api_pb2.ListPodSandboxRequest(),
                                                    timeout=10).items), 0)


class SandboxHangingPlugin(SandboxBase):
    """A plugin that hangs on ADD: the CNI timeout kills it and the pod is undone."""
    plugin_script = ("hangbr", 'if [ "$CNI_COMMAND" = ADD ]; then exec sleep 600; fi\n'
                               'echo \'{"cniVersion":"1.0.0"}\'')

    @classmethod
    def start_daemon(cls, extra_conf=None, plugin="bridge"):
        conf = os.path.join("/tmp", "crid-it-cni-timeout-%d.toml" % os.getpid())
        with open(conf, "w") as f:
            f.write("[crid.network]\ncni_timeout = 2\n")
        cls.conf = conf
        orig = Crid.__init__

        def init(self, *a, **kw):
            kw["config"] = conf
            orig(self, *a, **kw)
        Crid.__init__ = init
        try:
            super().start_daemon(extra_conf, plugin)
        finally:
            Crid.__init__ = orig

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            if getattr(cls, "conf", None):
                os.unlink(cls.conf)

    def test_hanging_plugin_times_out(self):
        t0 = time.monotonic()
        with self.assertRaises(grpc.RpcError) as cm:
            self.run_pod(pod_config("hangs"), timeout=30)
        self.assertLess(time.monotonic() - t0, 15)
        self.assertIn("hangbr", cm.exception.details())
        self.assertNothingLeft()


class SandboxKilledDuringRun(SandboxBase):
    """kill -9 of crid while a (slow) CNI ADD runs: the restart undoes the pod."""
    plugin_script = ("slowbr", 'if [ "$CNI_COMMAND" = ADD ]; then sleep 2; fi\n'
                               'exec %s/bridge' % CNI_PLUGIN_DIR)

    @staticmethod
    def pid_holders(ppid):
        """The PID holders whose parent is |ppid| (crid is a subreaper): other
        modules' daemons running beside this one have holders of their own."""
        out = []
        for pid in os.listdir("/proc"):
            try:
                with open("/proc/%s/stat" % pid) as f:
                    stat = f.read()
            except OSError:
                continue
            comm = stat[stat.index("(") + 1:stat.rindex(")")]
            if comm == "crid-pod-pid" and int(stat[stat.rindex(")") + 2:].split()[1]) == ppid:
                out.append(pid)
        return sorted(out)

    @staticmethod
    def alive(pids):
        return [p for p in pids if os.path.exists("/proc/%s" % p)]

    def test_kill_during_cni_add(self):
        holders = self.pid_holders(self.crid.pid)
        # a pod-level PID namespace: its holder's pid is not recorded yet when crid dies
        fut = self.rt.RunPodSandbox.future(
            api_pb2.RunPodSandboxRequest(config=pod_config("killed", pid=api_pb2.POD)),
            timeout=30)
        deadline = time.monotonic() + 10
        while not self.records() and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertTrue(self.records(), "no record written before CNI ADD")
        time.sleep(0.5)  # inside the plugin's sleep
        ours = sorted(set(self.pid_holders(self.crid.pid)) - set(holders))
        self.assertTrue(ours, "the pod's PID holder is not running during CNI ADD")
        type(self).restart(kill=True)
        with self.assertRaises(grpc.RpcError):
            fut.result()
        deadline = time.monotonic() + 20
        while (self.records() or self.ipam_ips()) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertNothingLeft()
        deadline = time.monotonic() + 5
        while self.alive(ours) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.alive(ours), [], "the pod's PID holder outlived the undo")
        # the name is free again and the network works
        pid = self.run_pod(pod_config("killed"))
        self.assertEqual(self.status(pid).status.state, api_pb2.SANDBOX_READY)
        self.remove(pid)
        self.assertNothingLeft()


class SandboxKilledDuringStop(SandboxBase):
    """kill -9 of crid while a (slow) CNI DEL runs: the restart finishes the stop, once."""
    plugin_script = ("slowdel", 'if [ "$CNI_COMMAND" = DEL ]; then sleep 2; fi\n'
                                'exec %s/bridge' % CNI_PLUGIN_DIR)

    def test_kill_during_cni_del(self):
        pid = self.run_pod(pod_config("stopkill"))
        self.assertEqual(len(self.ipam_ips()), 1)
        fut = self.rt.StopPodSandbox.future(
            api_pb2.StopPodSandboxRequest(pod_sandbox_id=pid), timeout=30)
        time.sleep(0.7)  # inside the plugin's sleep
        type(self).restart(kill=True)
        with self.assertRaises(grpc.RpcError):
            fut.result()
        deadline = time.monotonic() + 20
        while self.ipam_ips() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(self.ipam_ips(), [], "IP not released after the interrupted stop")
        deadline = time.monotonic() + 10
        while (self.status(pid).status.state != api_pb2.SANDBOX_NOTREADY
               and time.monotonic() < deadline):
            time.sleep(0.1)
        self.assertEqual(self.status(pid).status.state, api_pb2.SANDBOX_NOTREADY)
        self.assertEqual(self.info(pid)["network"], "released")
        self.stop(pid)
        self.remove(pid)
        self.assertNothingLeft()


if __name__ == "__main__":
    unittest.main()
