"""Shared set-up for the container integration tests (test_containers*.py).

One registry per module (Debian docker-registry, tests/fixtures/registry.sh)
holding the busybox and sleep images of tests/fixtures/images.py plus two
built here on the same base layer: `whiteout` (two more layers: the second
deletes a file with a whiteout and makes a directory opaque) and `nobody`
(config User "nobody"). One daemon per test class, started with
`--insecure-registry`, a private CNI bridge conflist with its own host-local
dataDir, and the images pulled. A class names the OCI runtime handler its pods
use (`runtime`); when the daemon reports that handler unusable (Status verbose
info "runtime") the class is skipped with that reason printed.
"""
import hashlib
import importlib.util
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import unittest

from crid_fixture import (CNI_PLUGIN_DIR, REPO, Crid, DaemonError, daemon_mounts_under, is_root,
                          sanitizer_report)

import grpc  # noqa: E402

import api_pb2  # noqa: E402
import api_pb2_grpc  # noqa: E402

FIXTURES = os.path.join(REPO, "tests", "fixtures")
PY = "/usr/bin/python3"

# `<RFC3339Nano UTC> <stream> <P|F> <msg>\n`, as kubelet parses it.
LOG_RECORD = re.compile(rb"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z) (stdout|stderr) ([PF]) "
                        rb"([^\n]*)\n")


def missing():
    if not is_root():
        return "needs root (euid=%d) for containers, namespaces and CNI" % os.geteuid()
    for t in ("docker-registry", "skopeo", "curl", "runc"):
        if not shutil.which(t):
            return "missing tool %s" % t
    for p in ("bridge", "host-local"):
        if not os.access(os.path.join(CNI_PLUGIN_DIR, p), os.X_OK):
            return "CNI plugin %s missing in %s" % (p, CNI_PLUGIN_DIR)
    if not os.path.exists(os.environ.get("BUSYBOX", "/bin/busybox")):
        return "busybox-static missing"
    return None


def _images_module():
    spec = importlib.util.spec_from_file_location("crid_images", os.path.join(FIXTURES,
                                                                               "images.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _layer_tar(entries):
    """entries: (name, type, mode, data) with type 'd' dir or 'f' file."""
    im = _images_module()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, typ, mode, data in entries:
            im.tar_add(t, name, tarfile.DIRTYPE if typ == "d" else tarfile.REGTYPE, mode,
                       None if typ == "d" else data)
    return buf.getvalue()


def build_extra_layout(dest):
    """OCI layout with `whiteout` and `nobody` on the fixture's busybox base layer."""
    im = _images_module()
    lay = im.Layout(dest)
    base = lay.layer(im.busybox_tar(os.environ.get("BUSYBOX", "/bin/busybox")))
    l1 = lay.layer(_layer_tar([
        ("data", "d", 0o755, None), ("data/a", "f", 0o644, b"a\n"),
        ("data/b", "f", 0o644, b"b\n"), ("etc/gone", "f", 0o644, b"gone\n"),
        ("etc/kept", "f", 0o644, b"kept\n"), ("old", "d", 0o755, None),
        ("old/x", "f", 0o644, b"x\n")]))
    l2 = lay.layer(_layer_tar([
        ("etc/.wh.gone", "f", 0o644, b""), ("data/.wh..wh..opq", "f", 0o644, b""),
        ("data/c", "f", 0o644, b"c\n"), (".wh.old", "f", 0o644, b"")]))
    cfg = {"Env": [im.PATH_ENV], "Cmd": ["sh"]}
    lay.image("whiteout", [base, l1, l2], cfg)
    lay.image("nobody", [base], dict(cfg, User="nobody"))
    lay.close()


def _push_ctr_images(addr, keys):
    """Pushes |keys| to the registry at |addr|: images.py's own (busybox, sleep) and the
    two built here (whiteout, nobody)."""
    own = [k for k in keys if k not in ("whiteout", "nobody")]
    if own:
        subprocess.run([PY, os.path.join(FIXTURES, "images.py"), "push", addr] + own,
                       check=True)
    extra = [k for k in keys if k in ("whiteout", "nobody")]
    if not extra:
        return
    with tempfile.TemporaryDirectory(prefix="crid-ctr-layout-") as d:
        layout = os.path.join(d, "oci")
        build_extra_layout(layout)
        for k in extra:
            subprocess.run(["skopeo", "--insecure-policy", "copy", "-q",
                            "--dest-tls-verify=false", "oci:%s:%s" % (layout, k),
                            "docker://%s/crid-test/%s:latest" % (addr, k)], check=True)


def _served_digests(addr, keys):
    """{key: manifest digest the registry at |addr| serves} (None where it has none)."""
    return {k: _images_module().remote_digest(addr, "crid-test/" + k) for k in keys}


def _seed_storage(keys):
    """A docker-registry storage tree holding |keys|, pushed once per machine and per
    version of the images (cached beside images.py's layout, CRID_FIXTURES_CACHE): a
    module's registry starts on a copy of it instead of pushing them again (skopeo runs
    and layer gzips cost seconds a module). Returns (dir with data/, {key: digest})."""
    im = _images_module()
    h = hashlib.sha256(im.stamp(os.environ.get("BUSYBOX", "/bin/busybox")).encode())
    with open(os.path.abspath(__file__), "rb") as f:
        h.update(f.read())
    h.update(",".join(keys).encode())
    cache = os.environ.get("CRID_FIXTURES_CACHE", "/var/tmp/crid-fixtures")
    path = os.path.join(cache, "registry-" + h.hexdigest()[:20])
    try:
        with open(os.path.join(path, "digests.json")) as f:
            return path, json.load(f)
    except (OSError, ValueError):
        pass
    os.makedirs(cache, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=cache, prefix="registry-new-")
    try:
        addr = subprocess.run(["bash", os.path.join(FIXTURES, "registry.sh"), "start", tmp],
                              check=True, capture_output=True, text=True).stdout.split()[-1]
        try:
            _push_ctr_images(addr, keys)
            digests = _served_digests(addr, keys)
        finally:
            subprocess.run(["bash", os.path.join(FIXTURES, "registry.sh"), "stop", tmp])
        if None in digests.values():
            raise RuntimeError("seed registry lacks an image after the push: %r" % digests)
        with open(os.path.join(tmp, "digests.json"), "w") as f:
            json.dump(digests, f)
        try:
            os.rename(tmp, path)  # a module beside this one may have made it first
        except OSError:
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    with open(os.path.join(path, "digests.json")) as f:
        return path, json.load(f)


class Registry:
    KEYS = ("busybox", "sleep", "whiteout", "nobody")

    def __init__(self, keys=None, prefix="crid-ctr-registry-"):
        keys = tuple(keys or self.KEYS)
        self.dir = tempfile.mkdtemp(prefix=prefix)
        try:
            seed, digests = _seed_storage(keys)
            shutil.copytree(os.path.join(seed, "data"), os.path.join(self.dir, "data"),
                            symlinks=True)
            self.addr = subprocess.run(["bash", os.path.join(FIXTURES, "registry.sh"),
                                        "start", self.dir], check=True, capture_output=True,
                                       text=True).stdout.split()[-1]
        except BaseException:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise
        try:
            if _served_digests(self.addr, keys) != digests:  # the seed is not what it was
                _push_ctr_images(self.addr, keys)
        except Exception:
            self.stop()
            raise

    def ref(self, key):
        return "%s/crid-test/%s:latest" % (self.addr, key)

    def stop(self):
        subprocess.run(["bash", os.path.join(FIXTURES, "registry.sh"), "stop", self.dir])
        shutil.rmtree(self.dir, ignore_errors=True)


REGISTRY = None


def setup_registry():
    global REGISTRY
    why = missing()
    if why:
        raise unittest.SkipTest(why)
    REGISTRY = Registry()


def teardown_registry():
    global REGISTRY
    if REGISTRY:
        REGISTRY.stop()
        REGISTRY = None


class CtrBase(unittest.TestCase):
    runtime = "runc"

    @classmethod
    def setUpClass(cls):
        if REGISTRY is None:
            raise unittest.SkipTest(missing() or "no registry")
        cls.crid = None
        cls.bridge = "crc%d%s" % (os.getpid() % 10000, cls.runtime[:2])
        cls.subnet = "10.%d.%d.0/24" % (180 + os.getpid() % 20,
                                        (os.getpid() // 20 + len(cls.__name__)) % 250)
        cls.start_daemon()
        cls.check_runtime()
        cls.images = {}
        for k in ("busybox", "sleep", "whiteout", "nobody"):
            cls.images[k] = cls.img.PullImage(api_pb2.PullImageRequest(
                image=api_pb2.ImageSpec(image=REGISTRY.ref(k))), timeout=120).image_ref
        cls.n = 0

    @classmethod
    def start_daemon(cls):
        cls.crid = Crid(extra_args=["--insecure-registry", REGISTRY.addr])
        cls.data_dir = os.path.join(cls.crid.tmp, "cni-ipam")
        cls.log_root = os.path.join(cls.crid.tmp, "logs")
        conf = {"cniVersion": "1.0.0", "name": "crid-ctr", "plugins": [
            {"type": "bridge", "bridge": cls.bridge, "isGateway": True, "ipMasq": False,
             "ipam": {"type": "host-local", "dataDir": cls.data_dir,
                      "ranges": [[{"subnet": cls.subnet}]]}}]}
        with open(os.path.join(cls.crid.cni_dir, "10-ctr.conflist"), "w") as f:
            json.dump(conf, f)
        try:
            cls.crid.start()
        except Exception:
            cls.crid.cleanup(keep=True)
            cls.crid = None
            raise
        cls.connect()

    @classmethod
    def connect(cls):
        cls.channel = cls.crid.channel()
        cls.rt = api_pb2_grpc.RuntimeServiceStub(cls.channel)
        cls.img = api_pb2_grpc.ImageServiceStub(cls.channel)

    @classmethod
    def check_runtime(cls):
        r = cls.rt.Status(api_pb2.StatusRequest(verbose=True), timeout=10)
        info = json.loads(r.info["runtime"])
        for h in info["runtimes"]:
            if h["name"] == cls.runtime:
                if not h["usable"]:
                    why = "%s unusable on this host (Status info runtime): %s" % (
                        cls.runtime, h["reason"])
                    cls.tearDownClass()
                    raise unittest.SkipTest(why)
                return
        cls.tearDownClass()
        raise unittest.SkipTest("runtime handler %s not configured" % cls.runtime)

    @classmethod
    def restart(cls, kill=True):
        cls.channel.close()
        if kill:
            cls.crid.proc.send_signal(signal.SIGKILL)
            cls.crid.proc.wait()
            cls.crid._close_files()
        else:
            cls.crid.stop()
        cls.crid.start()
        cls.connect()

    @classmethod
    def tearDownClass(cls):
        c = cls.crid
        if c is None:
            return
        cls.crid = None
        failed = getattr(cls, "_failed", False)
        try:
            if c.alive():
                c.remove_all_pods()
            cls.channel.close()
            rc = c.stop()
        finally:
            for pid in c.keeper_pids():
                os.kill(pid, signal.SIGKILL)
            subprocess.run(["ip", "link", "del", cls.bridge], capture_output=True)
        report = sanitizer_report(c.log_text())
        if rc != 0 or report:
            log = report or c.log(300)
            c.cleanup(keep=True)
            raise DaemonError("crid exited with %s after SIGTERM (expected 0 and no sanitizer "
                              "report; under ASan: a leak or UB)\n%s" % (rc, log))
        c.cleanup(keep=failed)

    def run(self, result=None):
        before = (len(result.failures), len(result.errors)) if result is not None else None
        out = super().run(result)
        if result is not None and (len(result.failures), len(result.errors)) != before:
            type(self)._failed = True
            if self.crid is not None:
                sys.stderr.write("\n----- crid stderr after failure of %s -----\n%s\n-----\n"
                                 % (self.id(), self.crid.log(120)))
        return out

    # -- pods and containers ------------------------------------------------------

    def uniq(self, prefix):
        type(self).n += 1
        return "%s-%d" % (prefix, self.n)

    @classmethod
    def pod_config(cls, name):
        """The pod |name| as the tests run it: its uid and hostname from the name, its
        logs under the class's log_root (a classmethod: some classes share one pod)."""
        return api_pb2.PodSandboxConfig(
            metadata=api_pb2.PodSandboxMetadata(name=name, uid="uid-" + name,
                                                namespace="ctr-test"),
            hostname=name, log_directory=os.path.join(cls.log_root, name))

    def run_pod(self, name=None, cleanup=True):
        name = name or self.uniq("pod")
        cfg = self.pod_config(name)
        pid = self.rt.RunPodSandbox(api_pb2.RunPodSandboxRequest(
            config=cfg, runtime_handler=self.runtime), timeout=60).pod_sandbox_id
        if cleanup:
            self.addCleanup(self.remove_pod, pid)
        self.pod_cfgs = getattr(self, "pod_cfgs", {})
        self.pod_cfgs[pid] = cfg
        return pid

    def remove_pod(self, pid):
        self.rt.StopPodSandbox(api_pb2.StopPodSandboxRequest(pod_sandbox_id=pid), timeout=60)
        self.rt.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=pid),
                                 timeout=60)

    def ctr_config(self, name, image="busybox", script=None, command=None, args=None,
                   log_path=None, envs=None, **linux):
        cfg = api_pb2.ContainerConfig(
            metadata=api_pb2.ContainerMetadata(name=name),
            image=api_pb2.ImageSpec(image=REGISTRY.ref(image) if "/" not in image else image),
            log_path=log_path if log_path is not None else name + ".log")
        if script is not None:
            cfg.command.extend(["/bin/sh", "-c", script])
        if command is not None:
            cfg.command.extend(command)
        if args is not None:
            cfg.args.extend(args)
        for k, v in (envs or []):
            cfg.envs.add(key=k, value=v)
        sc = cfg.linux.security_context
        for k, v in linux.items():
            if k == "memory":
                cfg.linux.resources.memory_limit_in_bytes = v
                cfg.linux.resources.memory_swap_limit_in_bytes = v
            elif k == "cpu_shares":
                cfg.linux.resources.cpu_shares = v
            elif k == "run_as_user":
                sc.run_as_user.value = v
            elif k == "readonly_rootfs":
                sc.readonly_rootfs = v
            elif k == "add_caps":
                sc.capabilities.add_capabilities.extend(v)
            elif k == "drop_caps":
                sc.capabilities.drop_capabilities.extend(v)
            elif k == "seccomp":
                sc.seccomp.CopyFrom(v)
            elif k == "mounts":
                cfg.mounts.extend(v)
            elif k == "pid_namespace":
                sc.namespace_options.pid = v
            else:
                raise KeyError(k)
        return cfg

    def create(self, pod, cfg, timeout=60):
        return self.rt.CreateContainer(api_pb2.CreateContainerRequest(
            pod_sandbox_id=pod, config=cfg, sandbox_config=self.pod_cfgs[pod]),
            timeout=timeout).container_id

    def start(self, cid):
        self.rt.StartContainer(api_pb2.StartContainerRequest(container_id=cid), timeout=60)

    def run_ctr(self, pod, name, **kw):
        cid = self.create(pod, self.ctr_config(name, **kw))
        self.start(cid)
        return cid

    def status(self, cid, verbose=False):
        return self.rt.ContainerStatus(api_pb2.ContainerStatusRequest(
            container_id=cid, verbose=verbose), timeout=10)

    def stop(self, cid, timeout=0, rpc_timeout=60):
        self.rt.StopContainer(api_pb2.StopContainerRequest(container_id=cid, timeout=timeout),
                              timeout=rpc_timeout)

    def remove(self, cid):
        self.rt.RemoveContainer(api_pb2.RemoveContainerRequest(container_id=cid), timeout=60)

    def wait_exited(self, cid, timeout=20):
        deadline = time.monotonic() + timeout
        while True:
            st = self.status(cid).status
            if st.state == api_pb2.CONTAINER_EXITED:
                return st
            if time.monotonic() > deadline:
                self.fail("container %s not exited after %ss: state %s" % (
                    cid[:12], timeout, api_pb2.ContainerState.Name(st.state)))
            time.sleep(0.05)

    def log_file(self, pod, name):
        return os.path.join(self.pod_cfgs[pod].log_directory, name + ".log")

    def read_log(self, path):
        """Records of a CRI log file, checking that it is nothing but records."""
        with open(path, "rb") as f:
            data = f.read()
        recs, pos = [], 0
        for m in LOG_RECORD.finditer(data):
            self.assertEqual(m.start(), pos, "garbage in %s at byte %d: %r" % (
                path, pos, data[pos:m.start()][:200]))
            recs.append((m.group(1), m.group(2).decode(), m.group(3).decode(), m.group(4)))
            pos = m.end()
        self.assertEqual(pos, len(data), "%s does not end with a whole record: %r" % (
            path, data[pos:][:200]))
        return recs

    @staticmethod
    def lines(recs, stream=None):
        """Whole lines (P pieces joined up to their F) of one stream or of all."""
        out, acc = [], {}
        for _, s, tag, msg in recs:
            if stream and s != stream:
                continue
            acc[s] = acc.get(s, b"") + msg
            if tag == "F":
                out.append(acc.pop(s))
        return out

    def log_lines(self, pod, name, stream=None):
        return self.lines(self.read_log(self.log_file(pod, name)), stream)

    def wait_log(self, pod, name, pred, timeout=15):
        deadline = time.monotonic() + timeout
        while True:
            try:
                got = self.log_lines(pod, name)
            except FileNotFoundError:
                got = []
            if pred(got):
                return got
            if time.monotonic() > deadline:
                self.fail("log of %s: condition not met in %ss; have %r" % (name, timeout,
                                                                           got[-20:]))
            time.sleep(0.05)

    def exec_sync(self, cid, cmd, timeout=10, rpc_timeout=30):
        return self.rt.ExecSync(api_pb2.ExecSyncRequest(container_id=cid, cmd=cmd,
                                                        timeout=timeout), timeout=rpc_timeout)

    def assertRpcError(self, code, fn, *a, contains=(), **kw):
        with self.assertRaises(grpc.RpcError) as cm:
            fn(*a, **kw)
        e = cm.exception
        self.assertEqual(e.code(), code, "%s: %s" % (e.code(), e.details()))
        for s in (contains if isinstance(contains, (list, tuple)) else [contains]):
            self.assertIn(s, e.details())
        return e.details()

    # -- leftovers ------------------------------------------------------------------

    def mounts_under(self, path):
        return daemon_mounts_under(self.crid.runroot, path)

    def assertNothingLeft(self):
        items = self.rt.ListContainers(api_pb2.ListContainersRequest(), timeout=10).containers
        self.assertEqual([c.id for c in items], [], "containers left")
        pods = self.rt.ListPodSandbox(api_pb2.ListPodSandboxRequest(), timeout=10).items
        self.assertEqual([p.id for p in pods], [], "pods left")
        for d in (self.crid.root, self.crid.runroot):
            self.assertEqual(self.mounts_under(d), [], "mounts left under %s" % d)
        ipam = os.path.join(self.data_dir, "crid-ctr")
        if os.path.isdir(ipam):
            self.assertEqual([f for f in os.listdir(ipam) if f[0].isdigit()], [],
                             "host-local still holds IPs")


def event_collector(rt):
    """Starts collecting events; returns (events list, stop function)."""
    stop, ready, out = threading.Event(), threading.Event(), []
    call = rt.GetContainerEvents(api_pb2.GetEventsRequest())

    def body():
        try:
            for ev in call:
                out.append(ev)
        except grpc.RpcError:
            pass

    t = threading.Thread(target=body, daemon=True)
    t.start()

    def finish():
        call.cancel()
        t.join(5)

    return out, finish
