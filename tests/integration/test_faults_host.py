"""Faults of the host and the network around crid (issue 14): running out of
file descriptors (RLIMIT_NOFILE lowered on the live daemon), a registry that
stalls or drops the connection in the middle of a layer blob (a TCP proxy in
front of the real docker-registry), ENOSPC on the filesystem holding the
state and the image store (a small tmpfs mounted as crid's root), and the
fd store (crid-keeper) killed under running containers. Each case asserts a
clear status on the RPC in flight, nothing half-made left behind, and that
the same daemon pid goes on serving, and serves fully again once the fault
is gone."""
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.request

import grpc

import api_pb2
import api_pb2_grpc
from crid_fixture import Crid, is_root, version_ok
from ctr_fixture import FIXTURES, PY, missing

CODE = grpc.StatusCode
STALL = 2  # crid.image.pull_progress_timeout of the pull daemons, seconds


def ticks(pid):
    """utime + stime of |pid|, in clock ticks."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def nofile(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def rpc_error(fn, *a, **kw):
    try:
        fn(*a, **kw)
    except grpc.RpcError as e:
        return e
    return None


class _Base(unittest.TestCase):
    """One daemon per class; |config| (TOML text) and |extra| go to its command line."""
    config = None
    extra = ()

    @classmethod
    def start_crid(cls, tmpdir=None):
        cls.crid = Crid(tmpdir=tmpdir, extra_args=list(cls.extra))
        if cls.config:
            path = os.path.join(cls.crid.tmp, "crid.toml")
            with open(path, "w") as f:
                f.write(cls.config)
            cls.crid.config = path
        try:
            cls.crid.start()
        except Exception:
            cls.crid.cleanup(keep=True)
            raise
        cls.connect()
        cls.pid0 = cls.crid.pid

    @classmethod
    def connect(cls):
        cls.channel = cls.crid.channel()
        cls.rt = api_pb2_grpc.RuntimeServiceStub(cls.channel)
        cls.img = api_pb2_grpc.ImageServiceStub(cls.channel)

    @classmethod
    def stop_crid(cls):
        """SIGTERM, exit 0 and no sanitizer report (Crid.finish), keeper and pins gone."""
        c, cls.crid = cls.crid, None
        if c is None:
            return
        cls.channel.close()
        if c.alive():
            c.remove_all_pods()
        c.finish()

    def assertServing(self):
        self.assertTrue(self.crid.alive(), "crid died:\n" + self.crid.log(80))
        self.assertEqual(self.crid.pid, self.pid0)
        version_ok(self.crid)

    def assertRpcError(self, code, fn, *a, contains=(), **kw):
        e = rpc_error(fn, *a, **kw)
        self.assertIsNotNone(e, "%s succeeded" % getattr(fn, "__name__", fn))
        self.assertEqual(e.code(), code, "%s: %s" % (e.code(), e.details()))
        for s in (contains if isinstance(contains, (list, tuple)) else [contains]):
            self.assertIn(s, e.details())
        return e.details()


# ---------------------------------------------------------------------------
# EMFILE
# ---------------------------------------------------------------------------

class FaultsFds(_Base):
    @classmethod
    def setUpClass(cls):
        if not is_root():
            raise unittest.SkipTest("needs root to lower another process's RLIMIT_NOFILE")
        cls.start_crid()

    @classmethod
    def tearDownClass(cls):
        cls.stop_crid()

    def test_out_of_fds(self):
        pid = self.crid.pid
        version_ok(self.crid)  # the module's channel is connected before the limit
        self.rt.Version(api_pb2.VersionRequest(), timeout=10)
        soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (nofile(pid) + 4, hard))
        socks = []
        try:
            for _ in range(24):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.setblocking(False)
                try:
                    s.connect(self.crid.sock)
                except BlockingIOError:
                    pass
                socks.append(s)
            self.assertIsNotNone(self.crid.wait_for_log(r"accept: Too many open files", 10),
                             "crid never ran out of fds accepting")
            n0, t0 = self.accept_warnings(), ticks(pid)
            time.sleep(2)
            n1, t1 = self.accept_warnings(), ticks(pid)
            hz = os.sysconf("SC_CLK_TCK")
            # a level-triggered listener retried on EMFILE logs one warning per loop turn
            self.assertLess(n1 - n0, 20, "accept retried %d times in 2 s (busy loop; crid used "
                            "%.2f s of CPU)" % (n1 - n0, (t1 - t0) / hz))
            # an RPC needing fds answers (an error naming the cause), one needing none succeeds
            e = rpc_error(self.rt.RunPodSandbox, api_pb2.RunPodSandboxRequest(
                config=self.host_pod("emfile")), timeout=30)
            self.assertIsNotNone(e, "RunPodSandbox succeeded with no fd to spare")
            self.assertIn("Too many open files", e.details())
            self.rt.Version(api_pb2.VersionRequest(), timeout=10)
        finally:
            for s in socks:
                s.close()
            resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
        self.assertServing()  # a new connection: accepting again
        p = self.rt.RunPodSandbox(api_pb2.RunPodSandboxRequest(config=self.host_pod("ok")),
                                  timeout=30).pod_sandbox_id
        self.rt.StopPodSandbox(api_pb2.StopPodSandboxRequest(pod_sandbox_id=p), timeout=30)
        self.rt.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=p), timeout=30)
        self.assertEqual(list(self.rt.ListPodSandbox(api_pb2.ListPodSandboxRequest(),
                                                     timeout=10).items), [])

    def accept_warnings(self):
        return self.crid.log_text().count("accept: Too many open files")

    @staticmethod
    def host_pod(name):
        cfg = api_pb2.PodSandboxConfig(metadata=api_pb2.PodSandboxMetadata(
            name=name, uid="uid-" + name, namespace="faults"), hostname=name)
        cfg.linux.security_context.namespace_options.network = api_pb2.NODE
        return cfg


# ---------------------------------------------------------------------------
# A registry that stalls or drops the connection mid-blob; ENOSPC
# ---------------------------------------------------------------------------

REGISTRY = None  # (dir, address) of the module's docker-registry holding `sleep`


def setUpModule():
    global REGISTRY
    why = missing()
    if why:
        raise unittest.SkipTest(why)
    d = tempfile.mkdtemp(prefix="crid-faults-registry-")
    addr = subprocess.run(["bash", os.path.join(FIXTURES, "registry.sh"), "start", d],
                          check=True, capture_output=True, text=True).stdout.split()[-1]
    REGISTRY = (d, addr)
    subprocess.run([PY, os.path.join(FIXTURES, "images.py"), "push", addr, "sleep"], check=True)


def tearDownModule():
    global REGISTRY
    if REGISTRY:
        subprocess.run(["bash", os.path.join(FIXTURES, "registry.sh"), "stop", REGISTRY[0]])
        shutil.rmtree(REGISTRY[0], ignore_errors=True)
        REGISTRY = None


def layer_digests(addr, repo="crid-test/sleep"):
    req = urllib.request.Request("http://%s/v2/%s/manifests/latest" % (addr, repo), headers={
        "Accept": "application/vnd.oci.image.manifest.v1+json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return [layer["digest"] for layer in json.load(r)["layers"]]


class BlobProxy:
    """A TCP proxy to |upstream| ("host:port"). While |mode| is "stall" or "close", the
    response to a GET of a blob in |targets| is cut after |limit| bytes: held open
    without another byte, or closed. Otherwise every byte passes."""

    def __init__(self, upstream, targets, limit=32768):
        host, port = upstream.rsplit(":", 1)
        self.upstream = (host, int(port))
        self.targets, self.limit, self.mode = set(targets), limit, "pass"
        self.cut = threading.Event()  # a response was cut
        self.stop = threading.Event()
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(64)
        self.addr = "127.0.0.1:%d" % self.ls.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.stop.set()
        self.ls.close()

    def _accept(self):
        while not self.stop.is_set():
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            u = socket.create_connection(self.upstream)
        except OSError:
            c.close()
            return
        req = {"target": False}

        def up():
            try:
                while True:
                    d = c.recv(65536)
                    if not d:
                        break
                    if d.startswith(b"GET "):
                        path = d.split(b" ", 2)[1].decode()
                        req["target"] = any(path.endswith("/blobs/" + t) for t in self.targets)
                    u.sendall(d)
            except OSError:
                pass
            finally:
                try:
                    u.shutdown(socket.SHUT_WR)
                except OSError:
                    pass

        threading.Thread(target=up, daemon=True).start()
        sent = 0
        try:
            while True:
                d = u.recv(65536)
                if not d:
                    break
                if self.mode != "pass" and req["target"] and sent + len(d) >= self.limit:
                    c.sendall(d[:self.limit - sent])
                    self.cut.set()
                    if self.mode == "stall":
                        self.stop.wait(120)
                    break
                sent += len(d)
                c.sendall(d)
        except OSError:
            pass
        finally:
            c.close()
            u.close()


class _Pulls(_Base):
    def pull(self, ref, timeout=60):
        return self.img.PullImage(api_pb2.PullImageRequest(image=api_pb2.ImageSpec(image=ref)),
                                  timeout=timeout).image_ref

    def images(self):
        return [i.id for i in self.img.ListImages(api_pb2.ListImagesRequest(),
                                                  timeout=10).images]

    def assertNoStaging(self):
        """staging/ empty (a failed pull's directory goes to trash/, emptied in the background)."""
        base = os.path.join(self.crid.root, "images")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            left = os.listdir(os.path.join(base, "staging")) + os.listdir(
                os.path.join(base, "trash"))
            if not left:
                break
            time.sleep(0.05)
        self.assertEqual(left, [], "staging or trash not emptied")
        self.assertEqual(self.images(), [], "an image from a failed pull")


class FaultsRegistry(_Pulls):
    config = "[crid.image]\npull_progress_timeout = %d\n" % STALL

    @classmethod
    def setUpClass(cls):
        cls.proxy = BlobProxy(REGISTRY[1], layer_digests(REGISTRY[1]))
        cls.extra = ("--insecure-registry", cls.proxy.addr)
        cls.ref = "%s/crid-test/sleep:latest" % cls.proxy.addr
        cls.start_crid()

    @classmethod
    def tearDownClass(cls):
        cls.proxy.close()
        cls.stop_crid()

    def tearDown(self):
        self.proxy.mode = "pass"
        for i in self.images():
            self.img.RemoveImage(api_pb2.RemoveImageRequest(image=api_pb2.ImageSpec(image=i)),
                                 timeout=30)

    def check_cut(self, mode):
        self.proxy.mode = mode
        self.proxy.cut.clear()
        t0 = time.monotonic()
        e = rpc_error(self.pull, self.ref)
        took = time.monotonic() - t0
        self.assertIsNotNone(e, "pull through a %s blob succeeded" % mode)
        self.assertTrue(self.proxy.cut.is_set(), "the proxy never cut a blob")
        self.assertIn(e.code(), (CODE.UNAVAILABLE, CODE.DEADLINE_EXCEEDED, CODE.UNKNOWN,
                                 CODE.INTERNAL), e.details())
        digest = sorted(self.proxy.targets)[0]
        self.assertIn(digest.split(":")[1][:12], e.details(), "the blob is not named")
        self.assertNoStaging()
        self.assertServing()
        self.proxy.mode = "pass"
        self.pull(self.ref)
        return e, took

    def test_blob_stalls(self):
        e, took = self.check_cut("stall")
        self.assertGreaterEqual(took, STALL - 0.5, "failed before the stall timeout: %s"
                                % e.details())

    def test_blob_dropped(self):
        self.check_cut("close")


class FaultsDiskFull(_Pulls):
    """crid's root (records, image store, rootfs layers) on a 24 MiB tmpfs."""

    @classmethod
    def setUpClass(cls):
        if not is_root():
            raise unittest.SkipTest("needs root to mount a tmpfs")
        cls.tmp = tempfile.mkdtemp(prefix="crid-faults-enospc-")
        cls.rootfs = os.path.join(cls.tmp, "root")
        os.mkdir(cls.rootfs)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m,mode=0700", "tmpfs",
                        cls.rootfs], check=True)
        cls.extra = ("--insecure-registry", REGISTRY[1])
        cls.ref = "%s/crid-test/sleep:latest" % REGISTRY[1]
        try:
            cls.start_crid(tmpdir=cls.tmp)
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.stop_crid()
        finally:
            subprocess.run(["umount", "-l", cls.rootfs], capture_output=True)
            Crid(tmpdir=cls.tmp).unmount_leftovers()
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def fill(self, leave):
        """Fills the tmpfs but for |leave| bytes; returns a function freeing it again."""
        path = os.path.join(self.rootfs, "filler")
        st = os.statvfs(self.rootfs)
        n = max(st.f_bavail * st.f_frsize - leave, 0)
        with open(path, "wb", buffering=0) as f:
            try:
                while n > 0:
                    k = f.write(b"\0" * min(n, 1 << 20))
                    n -= k
                if leave == 0:
                    while True:
                        f.write(b"\0" * 4096)
            except OSError:
                pass
        self.addCleanup(lambda: os.path.exists(path) and os.unlink(path))
        return lambda: os.unlink(path)

    @staticmethod
    def host_pod(name):
        return FaultsFds.host_pod(name)

    def pods(self):
        return {p.id: p.state for p in self.rt.ListPodSandbox(api_pb2.ListPodSandboxRequest(),
                                                               timeout=10).items}

    def test_1_pull_on_a_full_disk(self):
        free = self.fill(64 << 10)
        e = rpc_error(self.pull, self.ref)
        self.assertIsNotNone(e, "pull onto a full disk succeeded")
        self.assertIn(e.code(), (CODE.RESOURCE_EXHAUSTED, CODE.INTERNAL), e.details())
        self.assertIn("No space left on device", e.details())
        self.assertNoStaging()
        self.assertServing()
        free()
        self.pull(self.ref)

    def test_2_records_on_a_full_disk(self):
        first = self.rt.RunPodSandbox(api_pb2.RunPodSandboxRequest(
            config=self.host_pod("first")), timeout=30).pod_sandbox_id
        rec = os.path.join(self.rootfs, "sandboxes")
        before = {f: open(os.path.join(rec, f), "rb").read() for f in os.listdir(rec)}
        free = self.fill(0)
        e = rpc_error(self.rt.RunPodSandbox, api_pb2.RunPodSandboxRequest(
            config=self.host_pod("second")), timeout=30)
        self.assertIsNotNone(e, "RunPodSandbox on a full disk succeeded")
        self.assertIn("No space left on device", e.details())
        self.assertEqual(list(self.pods()), [first], "a half-made pod")
        # a record update that cannot be written keeps the previous record whole
        e = rpc_error(self.rt.StopPodSandbox, api_pb2.StopPodSandboxRequest(
            pod_sandbox_id=first), timeout=30)
        after = {f: open(os.path.join(rec, f), "rb").read() for f in os.listdir(rec)
                 if not f.startswith(".")}
        if e is not None:
            self.assertIn("No space left on device", e.details())
            self.assertEqual(after, before, "a record changed by a failed write")
        for f, data in after.items():
            json.loads(data)  # whole JSON, never a torn write
        self.assertServing()
        free()
        # kill -9: the records on disk are what the next daemon knows
        self.channel.close()
        self.crid.kill()
        self.crid.start()
        self.connect()
        self.pid0 = self.crid.pid
        self.assertEqual(list(self.pods()), [first])
        self.rt.StopPodSandbox(api_pb2.StopPodSandboxRequest(pod_sandbox_id=first), timeout=30)
        self.rt.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=first),
                                 timeout=30)
        self.assertEqual(self.pods(), {})


# ---------------------------------------------------------------------------
# crid-keeper killed
# ---------------------------------------------------------------------------

class FaultsKeeper(_Base):
    """The fd store killed under running containers: crid starts a new keeper and
    deposits every container's fds again, so a kill -9 of crid after that loses no
    exit code and no line a container wrote while crid was down."""

    @classmethod
    def setUpClass(cls):
        cls.extra = ("--insecure-registry", REGISTRY[1])
        cls.start_crid()
        cls.image = cls.img.PullImage(api_pb2.PullImageRequest(image=api_pb2.ImageSpec(
            image="%s/crid-test/sleep:latest" % REGISTRY[1])), timeout=120).image_ref

    @classmethod
    def tearDownClass(cls):
        cls.stop_crid()

    def run_ctr(self, pod, cfg, name, script, mounts=()):
        c = api_pb2.ContainerConfig(metadata=api_pb2.ContainerMetadata(name=name),
                                    image=api_pb2.ImageSpec(image=self.image),
                                    log_path=name + ".log", command=["/bin/sh", "-c", script],
                                    mounts=list(mounts))
        cid = self.rt.CreateContainer(api_pb2.CreateContainerRequest(
            pod_sandbox_id=pod, config=c, sandbox_config=cfg), timeout=60).container_id
        self.rt.StartContainer(api_pb2.StartContainerRequest(container_id=cid), timeout=60)
        return cid

    def status(self, cid):
        return self.rt.ContainerStatus(api_pb2.ContainerStatusRequest(container_id=cid),
                                       timeout=10).status

    def test_keeper_killed(self):
        cfg = FaultsFds.host_pod("keeper")
        cfg.log_directory = os.path.join(self.crid.tmp, "logs")
        pod = self.rt.RunPodSandbox(api_pb2.RunPodSandboxRequest(config=cfg),
                                    timeout=30).pod_sandbox_id
        a = self.run_ctr(pod, cfg, "a", "while :; do sleep 1; done")
        flags = os.path.join(self.crid.tmp, "flags")
        os.mkdir(flags)
        b = self.run_ctr(pod, cfg, "b", "echo early; while [ ! -e /flags/go ]; do sleep 0.1; "
                         "done; echo late; exit 7", mounts=[api_pb2.Mount(
                             host_path=flags, container_path="/flags", readonly=True)])
        old = self.crid.keeper_pids()
        self.assertEqual(len(old), 1, "keepers of this run dir: %s" % old)
        os.kill(old[0], signal.SIGKILL)
        self.assertIsNotNone(self.crid.wait_for_log("a new crid-keeper holds the fds again", 15),
                             "crid did not replace the keeper:\n" + self.crid.log(30))
        new = self.crid.keeper_pids()
        self.assertEqual(len(new), 1)
        self.assertNotEqual(new, old)
        self.assertServing()
        self.assertEqual(self.status(a).state, api_pb2.CONTAINER_RUNNING)
        # kill -9 crid; b writes and exits while crid is down
        self.channel.close()
        self.crid.kill()
        open(os.path.join(flags, "go"), "w").close()
        time.sleep(1.5)
        self.crid.start()
        self.connect()
        self.pid0 = self.crid.pid
        self.assertEqual(self.crid.keeper_pids(), new, "the new keeper served the restart")
        self.assertEqual(self.status(a).state, api_pb2.CONTAINER_RUNNING)
        deadline = time.monotonic() + 10
        while self.status(b).state != api_pb2.CONTAINER_EXITED and time.monotonic() < deadline:
            time.sleep(0.1)
        st = self.status(b)
        self.assertEqual(st.state, api_pb2.CONTAINER_EXITED)
        self.assertEqual(st.exit_code, 7, "exit code lost: %s" % st.reason)
        with open(os.path.join(cfg.log_directory, "b.log"), "rb") as f:
            log = f.read()
        self.assertIn(b" stdout F early\n", log)
        self.assertIn(b" stdout F late\n", log, "a line written while crid was down is lost")
        self.rt.StopPodSandbox(api_pb2.StopPodSandboxRequest(pod_sandbox_id=pod), timeout=30)
        self.rt.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=pod), timeout=30)
