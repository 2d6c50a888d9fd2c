#!/usr/bin/python3
"""kill -9 chaos driver for crid (issue 14).

A kubelet-like workload runs against the real daemon (real crun/runc, real CNI
bridge + host-local + portmap, a real docker-registry) while crid is killed
with SIGKILL and restarted on the same root and run dirs, again and again:

  * random kills: a timer SIGKILLs crid at a seeded random moment while the
    workload drives it (pods with 1-3 containers, some with host ports, some
    logging a numbered line every 10 ms, some exiting by themselves with a
    chosen code, ExecSync probes, pulls of images not yet present, stops,
    removes);
  * targeted kills: crid is started with CRID_TEST=1 and
    CRID_DEBUG_ABORT_AT=<step> (reactor/debug_point.h) and driven until it
    kills itself at that step; every step of STEPS is armed in every run of
    at least len(STEPS) kills.

After every restart, and at the end, the invariants of `Invariants` are
checked against the driver's own record of what it asked for and what crid
answered (see check_*). A violation prints the seed, the kill number and the
step, keeps the temp dir, and exits 1; `make chaos CHAOS_SEED=<seed>` (with
the same CHAOS_KILLS) replays the same choices.

  tests/chaos/chaos.py --kills 100 [--seed N] [--build build]

The seed fixes the driver's choices (actions, kill delays, armed steps);
timing on a loaded machine still varies, as it does for a real node.
"""
import argparse
import array
import errno
import gzip
import hashlib
import io
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
INTEGRATION = os.path.join(REPO, "tests", "integration")

# Every named step the driver arms (crid_debug_point() calls in the daemon).
STEPS = (
    "pod-after-pinns",           # namespaces pinned, CNI ADD not started (runtime/pod/pod.c)
    "pod-during-cni-add",        # the CNI ADD child running (runtime/pod/pod.c)
    "record-after-rename",       # a pod/container record in place, caller not told (records.c)
    "ctr-after-mount",           # the overlay root mounted, no record yet (ctr.c)
    "ctr-create-sent",           # `runtime create` running (ctr.c)
    "ctr-after-runtime-create",  # the runtime created it, the record says nothing yet (ctr.c)
    "ctr-between-create-start",  # StartContainer received, `runtime start` not sent (ctr.c)
    "ctr-start-sent",            # `runtime start` running (ctr.c)
    "image-mid-layer-commit",    # a layer staged, not yet renamed into layers/ (image_pull.c)
    "pod-teardown-exited",       # the pod's containers stopped, CNI DEL not started (pod.c)
    "pod-teardown-joined",       # DEL and container round done, namespaces not released (pod.c)
    "pod-ns-unmounted",          # a namespace pin unmounted, its file not removed (pod_ns.c)
    "log-after-intent",          # log journal written, log line not (io/cri_log.c)
    "log-after-write",           # log line written, journal not cleared (io/cri_log.c)
    "log-after-read",            # bytes read from the FIFO, nothing written (io/cri_log.c)
)

LOG_RECORD = re.compile(rb"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z) (stdout|stderr) ([PF]) "
                        rb"([^\n]*)\n")
HEX64 = re.compile(r"[0-9a-f]{64}")

MAX_PODS = 5
MAX_CTRS = 10


def setup_env(build):
    """Points crid_fixture at |build| and its stubs; returns the imported modules."""
    b = build if os.path.isabs(build) else os.path.join(REPO, build)
    os.environ["CRID_BUILD"] = b
    os.environ.setdefault("CRID_PY", os.path.join(b, "py"))
    if INTEGRATION not in sys.path:
        sys.path.insert(0, INTEGRATION)


# SIGUSR1 ends a run early and cleanly: the kill in progress, a final check, the summary.
STOP = threading.Event()


class Violation(Exception):
    pass


class ArmedHit(Exception):
    """crid reached its armed step while being started or checked."""


class DriverError(Exception):
    """The driver could not do its job (not a crid invariant): also a failure."""


def msg(s):
    sys.stdout.write("chaos: %s\n" % s)
    sys.stdout.flush()


# ---------------------------------------------------------------------------
# What the driver asked and what crid answered
# ---------------------------------------------------------------------------

class Pod:
    def __init__(self, name, cfg, handler, port):
        self.name, self.cfg, self.handler, self.port = name, cfg, handler, port
        self.id = None
        self.stop_asked = False   # StopPodSandbox or RemovePodSandbox issued
        self.removed = False      # RemovePodSandbox answered OK (or gone after an unknown outcome)
        self.remove_asked = False


class Ctr:
    def __init__(self, pod, name, kind, code, nlines):
        self.pod, self.name, self.kind, self.code, self.nlines = pod, name, kind, code, nlines
        self.id = None
        self.start_asked = False
        self.reported_running = False   # StartContainer OK or a status said RUNNING
        self.stop_asked = False
        self.remove_asked = False
        self.removed = False
        self.exited = None              # exit code once a status said EXITED

    def log_path(self):
        return os.path.join(self.pod.cfg.log_directory, self.name + ".log")

    def self_exiting(self):
        return self.kind in ("logger", "exiter")


# ---------------------------------------------------------------------------
# Facts read from the host, independently of crid
# ---------------------------------------------------------------------------

def keeper_names(sock_path):
    """Names the node's crid-keeper holds ('L' of runtime/state/keeper/crid-keeper.c)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(5)
    names = []
    try:
        s.connect(sock_path)
        s.send(b"L")
        while True:
            data, anc, _, _ = s.recvmsg(512, socket.CMSG_SPACE(4 * 4))
            for level, typ, cdata in anc:
                if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                    fds = array.array("i")
                    fds.frombytes(cdata[:len(cdata) - len(cdata) % 4])
                    for fd in fds:
                        os.close(fd)
            if not data or data[:1] == b"E":
                return names
            if data[:1] == b"F":
                names.append(data[1:].decode())
    finally:
        s.close()


class KeeperWatch:
    """Who ends the node's crid-keeper, should it end: its exit status (a pidfd opened
    now, PIDFD_GET_INFO with PIDFD_INFO_EXIT once its parent reaped it, Linux 6.15+)
    and, where tracefs is mounted, every signal sent to it with the sender's name and
    pid (a private trace instance, filtered on the keeper's pid, removed by close()).
    Diagnostics only: what the host cannot give is said in explain(), never guessed."""

    TRACEFS = "/sys/kernel/tracing"
    GET_INFO = 0xC040FF0B  # _IOWR(0xFF, 11, struct pidfd_info), its 64-byte first version
    INFO_EXIT = 1 << 3

    def __init__(self, pid):
        self.pid, self.pidfd, self.trace = pid, None, None
        self.why_no_trace = None
        try:
            self.pidfd = os.pidfd_open(pid)
        except OSError as e:
            self.why_no_trace = "pidfd_open: %s" % e.strerror
            return
        inst = os.path.join(self.TRACEFS, "instances", "crid-chaos-%d" % os.getpid())
        try:
            os.mkdir(inst)
            self.trace = inst
            self._write("trace_clock", "mono")  # comparable with time.monotonic()
            for ev, flt in (("signal/signal_generate", "pid == %d" % pid),
                            ("sched/sched_process_exit", "pid == %d" % pid)):
                self._write("events/%s/filter" % ev, flt)
                self._write("events/%s/enable" % ev, "1")
        except OSError as e:
            self.why_no_trace = "no signal trace (%s: %s)" % (inst, e.strerror)
            self.close_trace()

    def _write(self, name, value):
        with open(os.path.join(self.trace, name), "w") as f:
            f.write(value)

    def exit_status(self, wait=3.0):
        """'running', 'exited N', 'killed by signal N', or why it is not known."""
        import fcntl
        import select
        import struct
        if self.pidfd is None:
            return "unknown (%s)" % self.why_no_trace
        if not select.select([self.pidfd], [], [], 0)[0]:
            return "running"
        deadline = time.monotonic() + wait  # its new parent reaps it within moments
        while True:
            buf = bytearray(struct.pack("=Q56x", self.INFO_EXIT))
            try:
                fcntl.ioctl(self.pidfd, self.GET_INFO, buf)
            except OSError as e:
                if e.errno != errno.ESRCH or time.monotonic() > deadline:
                    return "exited, status unknown (PIDFD_GET_INFO: %s)" % e.strerror
                time.sleep(0.1)
                continue
            mask, = struct.unpack_from("=Q", buf)
            if mask & self.INFO_EXIT:
                raw, = struct.unpack_from("=i", buf, 60)
                if os.WIFSIGNALED(raw):
                    return "killed by signal %d" % os.WTERMSIG(raw)
                return "exited %d" % os.WEXITSTATUS(raw)
            if time.monotonic() > deadline:
                return "exited, not reaped yet"
            time.sleep(0.1)

    def signals(self):
        """The trace's lines: signals sent to the keeper (sender comm-pid first) and its exit."""
        if not self.trace:
            return [self.why_no_trace or "no signal trace"]
        try:
            with open(os.path.join(self.trace, "trace")) as f:
                lines = [ln.rstrip() for ln in f if not ln.startswith("#")]
        except OSError as e:
            return ["trace unreadable: %s" % e.strerror]
        return lines or ["no signal sent to it was traced"]

    def explain(self):
        return "crid-keeper %d: %s, at driver time %.3f; trace:\n    %s" % (
            self.pid, self.exit_status(), time.monotonic(), "\n    ".join(self.signals()))

    def close_trace(self):
        if self.trace:
            for ev in ("signal/signal_generate", "sched/sched_process_exit"):
                try:
                    self._write("events/%s/enable" % ev, "0")
                except OSError:
                    pass
            try:
                os.rmdir(self.trace)
            except OSError as e:
                msg("could not remove trace instance %s: %s" % (self.trace, e.strerror))
            self.trace = None

    def close(self):
        self.close_trace()
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None


def mounts_under(path):
    with open("/proc/self/mountinfo") as f:
        points = [ln.split()[4] for ln in f]
    return [m for m in points if m == path or m.startswith(path + "/")]


def log_numbers(path):
    """The numbered lines (L<i>) of a CRI log, whole lines joined from P pieces.
    Raises Violation on anything but records."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    out, acc, pos = [], {}, 0
    for m in LOG_RECORD.finditer(data):
        if m.start() != pos:
            raise Violation("log %s: garbage at byte %d: %r" % (path, pos,
                                                                 data[pos:m.start()][:100]))
        pos = m.end()
        s, tag, body = m.group(2), m.group(3), m.group(4)
        acc[s] = acc.get(s, b"") + body
        if tag == b"F":
            line = acc.pop(s)
            if line.startswith(b"L") and line[1:].isdigit():
                out.append(int(line[1:]))
    if pos != len(data):
        raise Violation("log %s does not end with a whole record: %r" % (path, data[pos:][:100]))
    return out


class ImageTruth:
    """What the registry says an image is: its config digest, the chain ids of its
    layers and, per layer, every regular file's sha256 and every symlink's target
    (from the blobs, decompressed and re-hashed here)."""

    def __init__(self, addr, repo):
        base = "http://%s/v2/%s" % (addr, repo)
        req = urllib.request.Request(base + "/manifests/latest", headers={"Accept": ", ".join((
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.docker.distribution.manifest.v2+json"))})
        man = json.loads(urllib.request.urlopen(req, timeout=30).read())
        self.image_id = man["config"]["digest"]
        self.layers = []  # (chain hex, {path: ('f', sha) | ('l', target)})
        chain = None
        for d in man["layers"]:
            blob = urllib.request.urlopen(base + "/blobs/" + d["digest"], timeout=60).read()
            if "sha256:" + hashlib.sha256(blob).hexdigest() != d["digest"]:
                raise DriverError("registry blob %s does not hash to its digest" % d["digest"])
            raw = gzip.decompress(blob) if blob[:2] == b"\x1f\x8b" else blob
            diff = "sha256:" + hashlib.sha256(raw).hexdigest()
            chain = diff if chain is None else "sha256:" + hashlib.sha256(
                ("%s %s" % (chain, diff)).encode()).hexdigest()
            files = {}
            with tarfile.open(fileobj=io.BytesIO(raw)) as t:
                for m in t:
                    name = m.name[2:] if m.name.startswith("./") else m.name
                    name = name.strip("/") if name != "." else ""
                    if not name or os.path.basename(name).startswith(".wh."):
                        continue
                    if m.isreg():
                        files[name] = ("f", hashlib.sha256(t.extractfile(m).read()).hexdigest())
                    elif m.issym():
                        files[name] = ("l", m.linkname)
            self.layers.append((chain.split(":", 1)[1], files))

    def check(self, store):
        """Problems of this image's layers in |store| (<root>/images): [] when complete."""
        bad = []
        for chain, files in self.layers:
            d = os.path.join(store, "layers", chain)
            if not os.path.isfile(os.path.join(d, "layer.json")):
                bad.append("layer %s: no layers/%s/layer.json" % (chain[:12], chain[:12]))
                continue
            for name, (kind, want) in files.items():
                p = os.path.join(d, "diff", name)
                try:
                    if kind == "l":
                        got = os.readlink(p)
                    else:
                        with open(p, "rb") as f:
                            got = hashlib.sha256(f.read()).hexdigest()
                except OSError as e:
                    bad.append("layer %s: %s: %s" % (chain[:12], name, e.strerror))
                    continue
                if got != want:
                    bad.append("layer %s: %s differs from the registry's blob" % (chain[:12], name))
        return bad


# ---------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------

class Chaos:
    """One chaos run: |kills| SIGKILLs of crid under the workload of |seed|.
    |registry| (ctr_fixture.Registry) may be shared between runs."""

    def __init__(self, seed, kills, registry=None, step_timeout=30.0, settle=None):
        import crid_fixture
        import ctr_fixture
        self.cf, self.xf = crid_fixture, ctr_fixture
        import api_pb2
        import api_pb2_grpc
        import grpc
        self.pb, self.pbg, self.grpc = api_pb2, api_pb2_grpc, grpc
        self.seed, self.kills = seed, kills
        self.rng = random.Random(seed)
        self.registry, self.own_registry = registry, registry is None
        self.step_timeout = step_timeout
        asan = "asan" in os.environ.get("CRID_BUILD", "")
        self.settle = settle or (45.0 if asan else 25.0)
        self.pods, self.ctrs = [], []
        self.images = {}        # key -> {"pulled": bool (answered OK, not removed since)}
        self.truth = {}         # key -> ImageTruth
        self.kill_no, self.step = 0, "start"
        self.checks = 0         # invariant checks passed (one per invariant per object)
        self.hits = {s: 0 for s in STEPS}
        self.random_kills = 0
        self.n = 0
        self.ports = set()
        self.crid = None
        self.killer = None
        self.keeper_pid = None
        self.keeper_watch = None

    # -- set-up and tear-down ---------------------------------------------------

    def setup(self):
        if self.registry is None:
            why = self.xf.missing()
            if why:
                raise DriverError("cannot run: %s" % why)
            self.registry = self.xf.Registry()
        tag = "%d%03d" % (os.getpid() % 10000, self.seed % 1000)
        self.cgroup_parent = "/crid-chaos-" + tag
        self.bridge = "crch%s" % tag[-7:]
        self.subnet = "10.%d.%d.0/24" % (200 + os.getpid() % 40, self.seed % 250)
        self.crid = self.cf.Crid(extra_args=["--insecure-registry", self.registry.addr],
                                 env={"CRID_TEST": "1"})
        self.net_name = "crid-chaos"
        self.ipam_dir = os.path.join(self.crid.tmp, "cni-ipam")
        conf = {"cniVersion": "1.0.0", "name": self.net_name, "plugins": [
            {"type": "bridge", "bridge": self.bridge, "isGateway": True, "ipMasq": False,
             "ipam": {"type": "host-local", "dataDir": self.ipam_dir,
                      "ranges": [[{"subnet": self.subnet}]]}},
            {"type": "portmap", "capabilities": {"portMappings": True}}]}
        with open(os.path.join(self.crid.cni_dir, "10-chaos.conflist"), "w") as f:
            json.dump(conf, f)
        self.start(armed=None)
        self.handlers = self.usable_handlers()
        for key in ("busybox", "sleep", "whiteout", "nobody"):
            self.truth[key] = ImageTruth(self.registry.addr, "crid-test/" + key)
        for key in ("busybox", "sleep"):
            self.img.PullImage(self.pb.PullImageRequest(
                image=self.pb.ImageSpec(image=self.registry.ref(key))), timeout=120)
            self.images[key] = {"pulled": True}
        for key in ("whiteout", "nobody"):
            self.images[key] = {"pulled": False}

    def usable_handlers(self):
        r = self.rt.Status(self.pb.StatusRequest(verbose=True), timeout=10)
        info = json.loads(r.info["runtime"])
        out = [h["name"] for h in info["runtimes"] if h["usable"] and h["name"] in ("crun", "runc")]
        if not out:
            raise DriverError("no usable OCI runtime handler: %s" % r.info["runtime"])
        return sorted(out)

    def teardown(self, keep):
        c = self.crid
        if c is not None:
            try:
                if not c.alive():
                    self.start(armed=None)
                self.channel.close()
                c.remove_all_pods()
                rc = c.stop()
                report = getattr(self.cf, "sanitizer_report", lambda _: None)(c.log_text())
                if report and rc == 0:
                    msg("sanitizer report in crid's stderr:\n%s" % report)
                    rc = "0 with a sanitizer report"
            except Exception as e:  # noqa: BLE001 - reported, then the rest is cleaned
                msg("teardown: %s" % e)
                rc = None
                c.kill()
            if self.keeper_watch:
                self.keeper_watch.close()
            for pid in c.keeper_pids():
                os.kill(pid, signal.SIGKILL)
            subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
            self.remove_cgroups()
            if rc not in (0, None) and not keep:
                msg("crid exited with %s after SIGTERM (under ASan: a leak or UB)\n%s"
                    % (rc, c.log(80)))
                keep = True
            c.cleanup(keep=keep)
            if keep:  # the files stay for a look; no mount of ours stays on the machine
                left = mounts_under(c.tmp)
                c.unmount_leftovers()
                msg("kept %s (unmounted %d mounts under it: %s)" % (c.tmp, len(left), left[:6]))
        if self.own_registry and self.registry:
            self.registry.stop()
        return c is None or rc in (0, None)

    def remove_cgroups(self):
        for top in self.cgroup_dirs():
            for sub in sorted((os.path.join(dp, d) for dp, ds, _ in os.walk(top) for d in ds),
                              key=len, reverse=True):
                try:
                    os.rmdir(sub)
                except OSError:
                    pass
            try:
                os.rmdir(top)
            except OSError:
                pass

    def cgroup_dirs(self):
        base = "/sys/fs/cgroup"
        cands = [os.path.join(base, self.cgroup_parent.lstrip("/"))]
        for d in os.listdir(base):
            cands.append(os.path.join(base, d, self.cgroup_parent.lstrip("/")))
        return [c for c in cands if os.path.isdir(c)]

    # -- the daemon -------------------------------------------------------------

    def start(self, armed):
        env = {"CRID_TEST": "1"}
        if armed:
            env["CRID_DEBUG_ABORT_AT"] = armed
        self.crid.env = env
        self.armed = armed
        try:
            self.log_from = os.path.getsize(self.crid.stderr_path)
        except OSError:
            self.log_from = 0
        self.crid.start(timeout=60)
        self.check_keeper()
        self.channel = self.crid.channel()
        self.rt = self.pbg.RuntimeServiceStub(self.channel)
        self.img = self.pbg.ImageServiceStub(self.channel)

    def check_keeper(self):
        """The node's crid-keeper outlives every kill of crid: the same process throughout.
        Its loss says how it ended and who signalled it (KeeperWatch)."""
        pids = self.crid.keeper_pids()
        if self.keeper_pid is not None and pids != [self.keeper_pid]:
            why = self.keeper_watch.explain() if self.keeper_watch else ""
            raise Violation("crid-keeper pid %d is gone (keepers now: %s): the fd store was "
                            "lost\n  %s\n  crid's word on it: %s"
                            % (self.keeper_pid, pids, why, self.keeper_lines()))
        if self.keeper_pid is None and len(pids) == 1:
            self.keeper_pid = pids[0]
            self.keeper_watch = KeeperWatch(self.keeper_pid)
            if self.keeper_watch.why_no_trace:
                msg("keeper watch: %s" % self.keeper_watch.why_no_trace)

    def keeper_lines(self):
        lines = [ln for ln in self.crid.log_text().splitlines()
                 if "keeper" in ln or "fd store" in ln]
        return "\n    ".join(lines[-8:]) or "nothing"

    def died(self):
        """After crid is gone: reaps it and says how (raises on a death nobody caused)."""
        c = self.crid
        rc = c.proc.wait()
        c._close_files()
        self.channel.close()
        if self.killer:
            self.killer.cancel()
        if rc != -signal.SIGKILL:
            raise Violation("crid exited by itself with status %s (not SIGKILL)\n%s"
                            % (rc, c.log(60)))
        return rc

    def arm_killer(self, delay):
        proc = self.crid.proc

        def fire():
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)

        self.killer = threading.Timer(delay, fire)
        self.killer.daemon = True
        self.killer.start()

    def alive(self):
        return self.crid.proc.poll() is None

    # -- the workload (each action is one kubelet-like step) ----------------------

    def live_pods(self):
        return [p for p in self.pods if p.id and not p.removed and not p.stop_asked]

    def live_ctrs(self):
        return [c for c in self.ctrs if c.id and not c.removed]

    def uniq(self, prefix):
        self.n += 1
        return "%s-%d" % (prefix, self.n)

    def act(self, focus=None):
        """One action chosen by the seeded RNG (|focus|: the armed step, to reach it)."""
        r = self.rng
        pods, ctrs = self.live_pods(), self.live_ctrs()
        focus = focus.split(":")[0] if focus else None
        choices = []
        if len(pods) < MAX_PODS and len(ctrs) < MAX_CTRS:
            choices += [self.run_pod] * 3
        if ctrs:
            choices += [self.probe, self.exec_probe, self.exec_probe, self.stop_ctr,
                        self.remove_ctr]
        if pods:
            choices += [self.stop_pod, self.remove_pod]
        if len(pods) >= MAX_PODS or len(ctrs) >= MAX_CTRS:
            choices += [self.remove_pod] * 3
        choices += [self.pull_or_remove_image]
        if focus in ("pod-teardown-exited", "pod-teardown-joined", "pod-ns-unmounted") and pods:
            choices = [self.stop_pod, self.remove_pod, self.run_pod]
        elif focus == "image-mid-layer-commit":
            choices = [self.pull_or_remove_image]
        elif focus and (focus.startswith("pod-") or focus.startswith("ctr-")):
            choices = ([self.run_pod] if len(pods) < MAX_PODS and len(ctrs) < MAX_CTRS else
                       [self.remove_pod])
        elif focus and focus.startswith("log-"):  # a logger writing, or a new pod for one
            writing = [c for c in ctrs if c.kind == "logger" and c.exited is None and
                       c.reported_running and not c.stop_asked]
            choices = ([lambda: self.probe(r.choice(writing), pause=0.05)] if writing else
                       [self.run_pod] if len(pods) < MAX_PODS and len(ctrs) < MAX_CTRS else
                       [self.remove_pod])
        fn = r.choice(choices)
        self.step = fn.__name__ if fn.__name__ != "<lambda>" else "probe"

        fn()

    def run_pod(self):
        r = self.rng
        name = self.uniq("cp")
        handler = r.choice(self.handlers)
        port = None
        if r.random() < 0.3:
            port = r.randrange(41000, 49000)
            while port in self.ports:
                port += 1
            self.ports.add(port)
        cfg = self.pb.PodSandboxConfig(
            metadata=self.pb.PodSandboxMetadata(name=name, uid="uid-" + name, namespace="chaos"),
            hostname=name, log_directory=os.path.join(self.crid.tmp, "logs", name))
        cfg.linux.cgroup_parent = self.cgroup_parent
        if port:
            cfg.port_mappings.add(protocol=self.pb.TCP, container_port=80, host_port=port)
        p = Pod(name, cfg, handler, port)
        self.pods.append(p)
        p.id = self.rt.RunPodSandbox(self.pb.RunPodSandboxRequest(
            config=cfg, runtime_handler=handler), timeout=60).pod_sandbox_id
        for _ in range(r.randint(1, 3)):
            self.add_ctr(p)

    def add_ctr(self, p):
        r = self.rng
        kind = r.choice(("logger", "logger", "exiter", "sleeper"))
        name = self.uniq(kind[0])
        code, nlines, image, script = None, 0, "busybox", None
        if kind == "logger":
            nlines, code = r.randint(50, 400), r.randint(0, 9)
            script = ("i=0; while [ $i -lt %d ]; do echo L$i; i=$((i+1)); sleep 0.01; done; "
                      "exit %d" % (nlines, code))
        elif kind == "exiter":
            code = r.randint(1, 120)
            script = "sleep 0.%d; exit %d" % (r.randint(0, 9), code)
        else:
            image = "sleep"
        c = Ctr(p, name, kind, code, nlines)
        self.ctrs.append(c)
        cfg = self.pb.ContainerConfig(
            metadata=self.pb.ContainerMetadata(name=name),
            image=self.pb.ImageSpec(image=self.registry.ref(image)), log_path=name + ".log")
        if script:
            cfg.command.extend(["/bin/sh", "-c", script])
        c.id = self.rt.CreateContainer(self.pb.CreateContainerRequest(
            pod_sandbox_id=p.id, config=cfg, sandbox_config=p.cfg), timeout=60).container_id
        c.start_asked = True
        self.rt.StartContainer(self.pb.StartContainerRequest(container_id=c.id), timeout=60)
        c.reported_running = True

    def pick_ctr(self, pred=lambda c: True):
        cs = [c for c in self.live_ctrs() if pred(c)]
        return self.rng.choice(cs) if cs else None

    def probe(self, c=None, pause=0):
        c = c or self.pick_ctr()
        time.sleep(pause)  # letting a logger write, without a flood of status calls
        if c:
            self.observe(c, self.rt.ContainerStatus(self.pb.ContainerStatusRequest(
                container_id=c.id), timeout=30).status)

    def exec_probe(self):
        c = self.pick_ctr(lambda c: c.reported_running and c.exited is None)
        if not c:
            return
        word = "probe-%d" % self.rng.randrange(1 << 30)
        try:
            res = self.rt.ExecSync(self.pb.ExecSyncRequest(container_id=c.id,
                                                           cmd=["echo", word], timeout=10),
                                   timeout=30)
        except self.grpc.RpcError as e:
            if e.code() in (self.grpc.StatusCode.NOT_FOUND,
                            self.grpc.StatusCode.FAILED_PRECONDITION,
                            self.grpc.StatusCode.UNKNOWN):
                return  # the container ended meanwhile (checked by the invariants)
            raise
        if (res.exit_code, res.stdout) != (0, word.encode() + b"\n"):
            # a container that exited while the exec ran may end it early
            st = self.rt.ContainerStatus(self.pb.ContainerStatusRequest(container_id=c.id),
                                         timeout=30).status
            if st.state == self.pb.CONTAINER_RUNNING:
                raise Violation("ExecSync echo in running %s (%s): exit %d stdout %r stderr %r"
                                % (c.name, c.id[:12], res.exit_code, res.stdout, res.stderr))

    def stop_ctr(self):
        c = self.pick_ctr(lambda c: c.start_asked)
        if c:
            c.stop_asked = True
            self.rt.StopContainer(self.pb.StopContainerRequest(
                container_id=c.id, timeout=self.rng.randint(0, 2)), timeout=60)

    def remove_ctr(self):
        c = self.pick_ctr()
        if c:
            c.stop_asked = c.remove_asked = True
            self.rt.RemoveContainer(self.pb.RemoveContainerRequest(container_id=c.id),
                                    timeout=60)
            c.removed = True

    def pick_pod(self, stopped_too=False):
        ps = [p for p in self.pods if p.id and not p.removed and (stopped_too or not p.stop_asked)]
        return self.rng.choice(ps) if ps else None

    def pod_ctrs(self, p):
        return [c for c in self.ctrs if c.pod is p]

    def stop_pod(self):
        p = self.pick_pod()
        if p:
            p.stop_asked = True
            for c in self.pod_ctrs(p):
                c.stop_asked = True
            self.rt.StopPodSandbox(self.pb.StopPodSandboxRequest(pod_sandbox_id=p.id),
                                   timeout=60)

    def remove_pod(self):
        p = self.pick_pod(stopped_too=True)
        if p:
            p.stop_asked = p.remove_asked = True
            for c in self.pod_ctrs(p):
                c.stop_asked = c.remove_asked = True
            self.rt.RemovePodSandbox(self.pb.RemovePodSandboxRequest(pod_sandbox_id=p.id),
                                     timeout=60)
            self.pod_gone(p)

    def pod_gone(self, p):
        p.removed = True
        self.ports.discard(p.port)
        for c in self.pod_ctrs(p):
            c.removed = True

    def pull_or_remove_image(self):
        # `nobody` is busybox's base layer only (kept by busybox): a pull commits nothing
        key = self.rng.choice(("whiteout", "whiteout", "nobody"))
        ref = self.registry.ref(key)
        if self.images[key]["pulled"]:
            self.images[key]["pulled"] = False  # from the request on: may be gone
            self.img.RemoveImage(self.pb.RemoveImageRequest(image=self.pb.ImageSpec(image=ref)),
                                 timeout=60)
        else:
            self.img.PullImage(self.pb.PullImageRequest(image=self.pb.ImageSpec(image=ref)),
                               timeout=120)
            self.images[key]["pulled"] = True

    def observe(self, c, st):
        if st.state == self.pb.CONTAINER_RUNNING:
            c.reported_running = True
        elif st.state == self.pb.CONTAINER_EXITED:
            c.exited = st.exit_code

    # -- invariants -------------------------------------------------------------

    def reconcile(self, pods_list, ctrs_list):
        """Learns the ids of calls cut short by a kill, and the outcome of cut removals."""
        by_name = {p.metadata.name: p.id for p in pods_list}
        pod_ids = set(by_name.values())
        for p in self.pods:
            if p.id is None and p.name in by_name:
                p.id = by_name[p.name]
            if p.id and not p.removed and p.remove_asked and p.id not in pod_ids:
                self.pod_gone(p)
        cby = {(c.pod_sandbox_id, c.metadata.name): c.id for c in ctrs_list}
        ctr_ids = set(cby.values())
        for c in self.ctrs:
            if c.id is None and c.pod.id and (c.pod.id, c.name) in cby:
                c.id = cby[(c.pod.id, c.name)]
            if c.id and not c.removed and c.remove_asked and c.id not in ctr_ids:
                c.removed = True

    def problems(self, final=False):
        """Every invariant violated now (an empty list when all hold)."""
        self.pending = 0  # counted into self.checks only when all of them hold
        pods_list = self.rt.ListPodSandbox(self.pb.ListPodSandboxRequest(), timeout=30).items
        ctrs_list = self.rt.ListContainers(self.pb.ListContainersRequest(), timeout=30).containers
        self.reconcile(pods_list, ctrs_list)
        pod_ids = {p.id for p in pods_list}
        ready = {p.id for p in pods_list if p.state == self.pb.SANDBOX_READY}
        ctr_ids = {c.id for c in ctrs_list}
        bad = []
        bad += self.check_removed(pod_ids, ctr_ids)
        bad += self.check_ctrs(ctr_ids, final)
        bad += self.check_ips(ready)
        bad += self.check_mounts(pod_ids | ctr_ids)
        bad += self.check_cgroups(ctr_ids)
        bad += self.check_fd_store(ctr_ids)
        bad += self.check_image_store()
        return bad

    def check_removed(self, pod_ids, ctr_ids):
        bad = []
        for p in self.pods:
            if p.removed and p.id in pod_ids:
                bad.append("pod %s (%s) was removed and is back" % (p.name, p.id[:12]))
            elif p.id and not p.removed and p.id not in pod_ids:
                bad.append("pod %s (%s) is lost: not removed, not listed" % (p.name, p.id[:12]))
            self.pending += 1
        for c in self.ctrs:
            if c.removed and c.id in ctr_ids:
                bad.append("container %s (%s) was removed and is back" % (c.name, c.id[:12]))
            self.pending += 1
        return bad

    def check_ctrs(self, ctr_ids, final):
        bad = []
        for c in self.ctrs:
            if not c.id or c.removed:
                continue
            if c.id not in ctr_ids:
                bad.append("container %s (%s) is lost: not removed, not listed"
                           % (c.name, c.id[:12]))
                continue
            st = self.rt.ContainerStatus(self.pb.ContainerStatusRequest(container_id=c.id),
                                         timeout=30).status
            bad += self.check_state(c, st)
            if c.kind == "logger":
                bad += self.check_log(c, st)
            self.pending += 2
        return bad

    def check_state(self, c, st):
        pb, where = self.pb, "container %s (%s, %s)" % (c.name, c.id[:12], c.kind)
        if st.state == pb.CONTAINER_RUNNING:
            c.reported_running = True
            if c.exited is not None:
                return ["%s: reported exited %d before, running now" % (where, c.exited)]
            return []
        if st.state != pb.CONTAINER_EXITED:
            if c.reported_running:
                return ["%s: reported running before, %s now"
                        % (where, pb.ContainerState.Name(st.state))]
            return []
        code, was = st.exit_code, c.exited
        c.exited = code
        if was is not None and was != code:
            return ["%s: exit code %d reported before, %d now" % (where, was, code)]
        if not c.reported_running and not c.start_asked and not c.stop_asked:
            return ["%s: exited (%d) but never started nor stopped" % (where, code)]
        if not c.stop_asked:
            if c.code is None:
                return ["%s: exited (%d, %s) though nobody stopped it" % (where, code, st.reason)]
            if code != c.code:
                return ["%s: exited %d, its process chose %d" % (where, code, c.code)]
        elif code not in (c.code, 0, 137, 143):
            return ["%s: stopped, exit code %d (want %s, 0, 137 or 143)" % (where, code, c.code)]
        return []

    def check_log(self, c, st):
        where = "log of %s (%s)" % (c.name, c.id[:12])
        nums = log_numbers(c.log_path())
        if nums != list(range(len(nums))):
            first = next(i for i, n in enumerate(nums) if n != i)
            return ["%s: line %d is L%d (lines %r..., %d in all): lost, doubled or out of order"
                    % (where, first, nums[first], nums[max(0, first - 2):first + 3], len(nums))]
        if st.state == self.pb.CONTAINER_EXITED and st.exit_code == c.code and len(nums) != c.nlines:
            return ["%s: exited %d after writing %d lines, %d in the log"
                    % (where, c.code, c.nlines, len(nums))]
        return []

    def check_ips(self, ready):
        bad, d = [], os.path.join(self.ipam_dir, self.net_name)
        held = {}
        for f in (os.listdir(d) if os.path.isdir(d) else []):
            if not f[0].isdigit():
                continue
            try:
                with open(os.path.join(d, f)) as fh:
                    owner = fh.read().split()[0]
            except (OSError, IndexError):
                continue
            held[f] = owner
            if owner not in ready:
                bad.append("host-local holds %s for %s, not a ready pod" % (f, owner[:12]))
            self.pending += 1
        for p in self.pods:
            if p.id in ready:
                st = self.rt.PodSandboxStatus(self.pb.PodSandboxStatusRequest(
                    pod_sandbox_id=p.id), timeout=30).status
                if held.get(st.network.ip) != p.id:
                    bad.append("ready pod %s (%s) reports IP %r, host-local has it for %s"
                               % (p.name, p.id[:12], st.network.ip,
                                  held.get(st.network.ip, "nobody")[:12]))
                self.pending += 1
        return bad

    def check_mounts(self, ids):
        bad, pin = [], os.path.join(self.crid.runroot, "crun-ns")
        for m in mounts_under(self.crid.tmp):
            if m == pin or m.startswith(pin + "/"):
                continue
            found = HEX64.findall(m)
            if not found:
                bad.append("mount %s belongs to no pod or container" % m)
            elif not any(i in ids for i in found):
                bad.append("mount %s outlived its pod or container" % m)
            self.pending += 1
        return bad

    def check_cgroups(self, ctr_ids):
        bad = []
        for top in self.cgroup_dirs():
            for e in os.listdir(top):
                path = os.path.join(top, e)
                if not os.path.isdir(path):
                    continue
                cid = e[len("crid-"):] if e.startswith("crid-") else None
                if cid not in ctr_ids:
                    bad.append("cgroup %s has no container" % path)
                self.pending += 1
        return bad

    def check_fd_store(self, ctr_ids):
        bad = []
        for name in keeper_names(os.path.join(self.crid.runroot, "keeper.sock")):
            found = HEX64.findall(name)
            if found and not any(i in ctr_ids for i in found):
                bad.append("fd store holds %s for a container that is gone" % name)
            self.pending += 1
        return bad

    def check_image_store(self):
        bad, store = [], os.path.join(self.crid.root, "images")
        for sub in ("staging", "trash"):
            left = os.listdir(os.path.join(store, sub))
            if left:
                bad.append("image store %s/ not empty after the sweep: %s" % (sub, left[:4]))
            self.pending += 1
        imgs = self.img.ListImages(self.pb.ListImagesRequest(), timeout=30).images
        tags = {t: i.id for i in imgs for t in i.repo_tags}
        for key, st in self.images.items():
            if not st["pulled"]:
                continue
            ref, truth = self.registry.ref(key), self.truth[key]
            if tags.get(ref) != truth.image_id:
                bad.append("image %s pulled OK, listed as %r" % (ref, tags.get(ref)))
            bad += ["image %s pulled OK: %s" % (key, b) for b in truth.check(store)]
            self.pending += 1
        return bad

    def check(self, final=False):
        """Polls the invariants until they hold (crid settles after a restart: DELs,
        drains, the trash) or the settle time is over; then fails with them."""
        deadline = time.monotonic() + self.settle
        while True:
            try:
                bad = self.problems(final)
            except self.grpc.RpcError as e:
                if not self.alive():
                    self.died()
                    if self.armed:
                        raise ArmedHit()
                    raise Violation("crid died while the invariants were checked")
                bad = ["%s: %s %s" % ("invariant check", e.code(), e.details())]
            if not bad:
                self.checks += self.pending
                return
            if time.monotonic() > deadline:
                raise Violation("\n  ".join(bad))
            time.sleep(0.2)

    # -- the kills --------------------------------------------------------------

    def schedule(self):
        """'t' (targeted) or 'r' (random) per kill, and the order steps are armed in:
        with at least len(STEPS) kills every step is armed at least once."""
        k = self.kills
        t = min(k, max(len(STEPS), k // 3)) if k >= len(STEPS) else k // 2
        kinds = ["t"] * t + ["r"] * (k - t)
        self.rng.shuffle(kinds)
        order = list(STEPS)
        self.rng.shuffle(order)
        return kinds, order

    def drive_until_dead(self, armed):
        """Runs the workload until crid dies (the armed step, or the killer timer)."""
        deadline = time.monotonic() + (self.step_timeout if armed else 120)
        while self.alive():
            if time.monotonic() > deadline:
                raise DriverError("step %s not reached in %.0f s of workload"
                                  % (armed or "random kill", self.step_timeout))
            try:
                self.act(focus=armed)
            except self.grpc.RpcError as e:
                if e.code() == self.grpc.StatusCode.UNAVAILABLE:
                    try:  # dying (a killed crid takes a moment to exit) or gone
                        self.crid.proc.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        pass
                elif self.alive() and e.code() not in (self.grpc.StatusCode.NOT_FOUND,
                                                     self.grpc.StatusCode.FAILED_PRECONDITION,
                                                     self.grpc.StatusCode.DEADLINE_EXCEEDED):
                    msg("kill %d: %s: %s %s" % (self.kill_no, self.step, e.code(), e.details()))
        self.died()
        if armed:
            reached = "debug point `%s` reached" % armed.split(":")[0]
            if reached not in self.crid.log_text()[self.log_from:]:
                raise DriverError("crid died armed at %s but its log does not say it reached it"
                                  % armed)

    def one_kill(self, kind, point, pre_hit):
        """Kill number self.kill_no: |pre_hit| when crid (armed at |point|) already
        reached it while starting or being checked."""
        self.step = point or "random"
        if kind == "t":
            if not pre_hit:
                self.drive_until_dead(point)
            self.hits[point.split(":")[0]] += 1
        else:
            delay = self.rng.uniform(0.05, 2.5)
            self.step = "random@%.2fs" % delay
            self.arm_killer(delay)
            self.drive_until_dead(None)
            self.random_kills += 1

    def restart(self, armed):
        """Starts crid (|armed| at a step for the next kill, or not) and checks every
        invariant; True when the armed step was reached meanwhile (the next kill's hit)."""
        try:
            self.start(armed=armed)
        except self.cf.DaemonError:
            if not armed or self.crid.proc.returncode != -signal.SIGKILL:
                raise
            self.crid._close_files()  # reached while recovering
            return True
        try:
            self.check()
        except ArmedHit:
            return True
        return False

    def plan(self, then):
        """(kind, armed step or None) per kill: the seeded schedule, then |then|, named
        steps armed in that order (deterministic cases found by earlier runs)."""
        kinds, order = self.schedule()
        out, nt = [], 0
        for kind in kinds:
            point = None
            if kind == "t":  # its 1st or 2nd hit: not always the same moment
                point, nt = order[nt % len(order)], nt + 1
                point += ":%d" % self.rng.randint(1, 2)
            out.append((kind, point))
        return out + [("t", p) for p in then]

    def run(self, then=()):
        """The whole run: self.kills seeded kills, then one at each step of |then|;
        returns 0, or 1 after printing the violation and its replay."""
        t0 = time.monotonic()
        msg("seed %d, %d kills%s" % (self.seed, self.kills,
                                     " then %s" % " ".join(then) if then else ""))
        ok = False
        try:
            self.setup()
            msg("crid %s, handlers %s, root %s" % (self.crid.pid, ",".join(self.handlers),
                                                  self.crid.tmp))
            self.check()
            plan = self.plan(then)
            kinds = [k for k, _ in plan]
            points = [p for _, p in plan] + [None]  # the last restart unarmed: final check
            pre_hit = False
            if points[0]:  # an idle kill, to start armed for the first
                self.crid.proc.send_signal(signal.SIGKILL)
                self.died()
                pre_hit = self.restart(points[0])
            for i, kind in enumerate(kinds, 1):
                self.kill_no = i
                self.one_kill(kind, points[i - 1], pre_hit)
                last = i == len(kinds) or STOP.is_set()
                pre_hit = self.restart(None if last else points[i])
                if last and i < len(kinds):
                    msg("SIGUSR1: stopping after %d of %d kills" % (i, len(kinds)))
                    break
                if i % 10 == 0 or i == len(kinds):
                    msg("%d/%d kills survived, %d invariant checks passed, %d pods and %d "
                        "containers live, %.0f s" % (i, len(kinds), self.checks,
                                                     len(self.live_pods()), len(self.live_ctrs()),
                                                     time.monotonic() - t0))
            self.step = "final"
            self.check(final=True)
            ok = True
        except (Violation, DriverError, self.cf.DaemonError) as e:
            # a restart crid refuses or dies in is a violation too: kubelet would be cut off
            what = "DRIVER FAILED" if isinstance(e, DriverError) else "INVARIANT VIOLATED"
            msg("%s: seed %d, kill %d, step %s:\n  %s" % (what, self.seed, self.kill_no,
                                                          self.step, e))
            msg("replay: make chaos CHAOS_SEED=%d CHAOS_KILLS=%d" % (self.seed, self.kills)
                if not then else "replay: tests/chaos/chaos.py --seed %d --kills %d --then %s"
                % (self.seed, self.kills, " ".join(then)))
            if self.crid is not None:
                msg("crid stderr (last lines):\n%s" % self.crid.log(40))
        finally:
            clean = self.teardown(keep=not ok)
        self.wall = time.monotonic() - t0
        if ok and clean:
            msg("PASS: seed %d: %d kills survived (%d random, %d at named steps: %s), "
                "%d invariant checks passed, %.1f s"
                % (self.seed, self.random_kills + sum(self.hits.values()), self.random_kills,
                   sum(self.hits.values()),
                   " ".join("%s=%d" % kv for kv in sorted(self.hits.items())), self.checks,
                   self.wall))
            return 0
        if ok:
            msg("FAIL: seed %d: crid did not exit cleanly at the end" % self.seed)
        return 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=100)
    ap.add_argument("--seed", type=int, default=None, help="default: a random one (printed)")
    ap.add_argument("--build", default=os.environ.get("CRID_BUILD", "build"))
    ap.add_argument("--then", nargs="*", default=[], metavar="STEP[:N]",
                    help="after the seeded kills, one kill at each of these steps")
    a = ap.parse_args()
    seed = a.seed if a.seed is not None else random.SystemRandom().randrange(1, 1 << 31)
    print("chaos: seed %d" % seed, flush=True)
    if os.geteuid() != 0:
        print("chaos: needs root (containers, namespaces, CNI)", file=sys.stderr)
        return 2
    setup_env(a.build)
    signal.signal(signal.SIGUSR1, lambda *_: STOP.set())
    return Chaos(seed, a.kills).run(then=a.then)


if __name__ == "__main__":
    sys.exit(main())
