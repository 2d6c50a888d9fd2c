"""Shared fixture for crid's integration tests.

Every test module drives the REAL daemon (built at $CRID_BUILD/crid) through
independent client implementations: Debian's python3-grpcio with stubs that
run.sh generates from proto/api.proto at test time, python-h2 for raw HTTP/2,
and a tiny hyperframe/hpack frame client (FrameConn) for the cases h2 refuses
to produce or to parse (frames after GOAWAY, protocol violations).

Environment (set by run.sh; sane defaults when a module is run by hand):
  CRID_BUILD  build dir relative to the repo root or absolute (default: build)
  CRID_BIN    the daemon binary (default: $CRID_BUILD/crid)
  CRID_PY     generated python stubs (default: $CRID_BUILD/py)
  CRID_KEEP   if set, temp dirs are kept even when everything passes

Run one module by hand:  /usr/bin/python3 tests/integration/crid_fixture.py test_runtime_info
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def _abs(p):
    return p if os.path.isabs(p) else os.path.join(REPO, p)


BUILD = _abs(os.environ.get("CRID_BUILD", "build"))
CRID_BIN = _abs(os.environ.get("CRID_BIN", os.path.join(BUILD, "crid")))
PY_DIR = _abs(os.environ.get("CRID_PY", os.path.join(BUILD, "py")))
CNI_PLUGIN_DIR = "/usr/lib/cni"

if PY_DIR not in sys.path:
    sys.path.insert(0, PY_DIR)

import grpc  # noqa: E402

try:
    import api_pb2  # noqa: E402,F401
    import api_pb2_grpc  # noqa: E402,F401
except ImportError as e:  # pragma: no cover - reported clearly instead of a traceback
    sys.stderr.write(
        "crid_fixture: cannot import generated stubs from %s (%s); run tests/integration/run.sh\n"
        % (PY_DIR, e))
    raise

RUNTIME_SERVICE = "runtime.v1.RuntimeService"
IMAGE_SERVICE = "runtime.v1.ImageService"

GRPC_OK = 0
GRPC_CANCELLED = 1
GRPC_INVALID_ARGUMENT = 3
GRPC_DEADLINE_EXCEEDED = 4
GRPC_RESOURCE_EXHAUSTED = 8
GRPC_UNIMPLEMENTED = 12
GRPC_INTERNAL = 13

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def is_root():
    return os.geteuid() == 0


def require_root(testcase):
    """Skip (with a printed reason) when not root."""
    if not is_root():
        reason = "needs root (euid=%d)" % os.geteuid()
        print("SKIP %s: %s" % (testcase.id(), reason), file=sys.stderr)
        testcase.skipTest(reason)


# ---------------------------------------------------------------------------
# The daemon
# ---------------------------------------------------------------------------

class DaemonError(AssertionError):
    pass


def tail(path, lines=150):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        return "<cannot read %s: %s>" % (path, e)
    text = data.decode("utf-8", "replace").splitlines()
    if len(text) > lines:
        return "... (%d earlier lines in %s)\n" % (len(text) - lines, path) + "\n".join(text[-lines:])
    return "\n".join(text)


def socket_identity(path):
    """(device, inode, change time) of |path|, None when absent: tells a new file from an
    old one even when the inode number is reused."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_ctime_ns)


def socket_accepts(path, timeout=0.5):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


# What ASan, LSan and UBSan print when they find something: an ASan/LSan error line,
# the SUMMARY line of any of them, a UBSan "file.c:12:3: runtime error:" line.
SANITIZER_REPORT = re.compile(r"^==\d+==(?:ERROR|WARNING): \w*Sanitizer|^SUMMARY: \w*Sanitizer"
                              r"|\.[ch]:\d+:\d+: runtime error: ", re.M)


def sanitizer_report(text, context=40):
    """The lines around the first sanitizer report in |text|, or None when there is none."""
    m = SANITIZER_REPORT.search(text)
    if not m:
        return None
    lines = text[text.rfind("\n", 0, m.start()) + 1:].splitlines()
    return "\n".join(lines[:context])


class Crid:
    """One crid process on a private temp dir.

    Layout: $T/crid.sock, $T/root, $T/run, $T/cni (empty unless a test writes
    a conflist), stderr in $T/crid.stderr, stdout in $T/crid.stdout.
    """

    def __init__(self, tmpdir=None, name="crid", socket_path=None, extra_args=(), config=None,
                 env=None):
        self.owns_tmp = tmpdir is None
        self.tmp = tmpdir or tempfile.mkdtemp(prefix="crid-it-")
        self.name = name
        self.sock = socket_path or os.path.join(self.tmp, "crid.sock")
        self.root = os.path.join(self.tmp, name + "-root" if name != "crid" else "root")
        self.runroot = os.path.join(self.tmp, name + "-run" if name != "crid" else "run")
        self.cni_dir = os.path.join(self.tmp, "cni")
        self.stderr_path = os.path.join(self.tmp, name + ".stderr")
        self.stdout_path = os.path.join(self.tmp, name + ".stdout")
        self.extra_args = list(extra_args)
        self.config = config
        self.env = env
        self.proc = None
        self.returncode = None
        os.makedirs(self.cni_dir, exist_ok=True)

    def argv(self):
        a = [CRID_BIN]
        if self.config is not None:
            a += ["--config", self.config]
        a += ["--listen", self.sock, "--root", self.root, "--runroot", self.runroot,
              "--cni-config-dir", self.cni_dir, "--cni-plugin-dir", CNI_PLUGIN_DIR,
              "--log-level", "debug"]
        return a + self.extra_args

    def spawn(self):
        if not os.access(CRID_BIN, os.X_OK):
            raise DaemonError("daemon binary %s missing; build it first (make all)" % CRID_BIN)
        env = dict(os.environ)
        if self.env:
            env.update(self.env)
        self.finished = False
        self._err = open(self.stderr_path, "ab")
        self._out = open(self.stdout_path, "ab")
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=self._out,
                                     stderr=self._err, env=env, close_fds=True)
        return self.proc

    def start(self, timeout=20.0):
        # a socket left by a daemon killed a moment ago may still accept: a child it was
        # spawning holds a copy of the listener until its exec. Only a socket made after
        # this spawn counts (crid always binds a new one).
        stale = socket_identity(self.sock)
        self.spawn()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                self.returncode = rc
                raise DaemonError("crid exited with %d during start-up; argv %s\nstderr:\n%s"
                                  % (rc, " ".join(self.argv()), self.log()))
            ident = socket_identity(self.sock)
            if ident is not None and ident != stale and socket_accepts(self.sock):
                return self
            time.sleep(0.02)
        raise DaemonError("crid did not accept on %s within %.0fs\nstderr:\n%s"
                          % (self.sock, timeout, self.log()))

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self, lines=150):
        return tail(self.stderr_path, lines)

    def log_text(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout):
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.returncode

    def stop(self, timeout=15.0):
        """SIGTERM, wait; returns the exit status (negative = killed by signal).
        SIGKILLs and raises if it does not exit in time."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            rc = self.wait(timeout)
            if rc is None:
                self.proc.kill()
                self.proc.wait()
                self.returncode = self.proc.returncode
                self._close_files()
                raise DaemonError("crid did not exit within %.0fs of SIGTERM (SIGKILLed)\nstderr:\n%s"
                                  % (timeout, self.log()))
        self.returncode = self.proc.returncode
        self._close_files()
        return self.returncode

    def finish(self, timeout=30.0):
        """Ends a test's daemon the way the fixture promises: SIGTERM, exit status 0 and no
        sanitizer report in its stderr (under ASan the leak checker runs at this exit), then
        cleanup() (crun's pinned namespace unmounted, the keeper killed, an owned temp dir
        removed). Raises DaemonError otherwise, keeping the files. Idempotent, so a test can
        both call it and register it with addCleanup."""
        if self.proc is None or getattr(self, "finished", False):
            return
        self.finished = True
        try:
            rc = self.stop(timeout)
        except DaemonError:
            self.cleanup(keep=True)
            raise
        try:
            report = sanitizer_report(self.log_text())
        except OSError as e:
            self.cleanup(keep=True)
            raise DaemonError("crid (%s) exited with status %s; its stderr cannot be read "
                              "(%s): was its dir removed under it?" % (self.name, rc, e))
        if rc != 0 or report:
            self.cleanup(keep=True)
            raise DaemonError("crid (%s) exited with status %s after SIGTERM (expected 0)%s\n"
                              "stderr (%s):\n%s" % (self.name, rc,
                                                     ", with a sanitizer report" if report else "",
                                                     self.stderr_path, report or self.log(300)))
        self.cleanup()

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close_files()

    def _close_files(self):
        for f in (getattr(self, "_err", None), getattr(self, "_out", None)):
            if f and not f.closed:
                f.close()

    def remove_all_pods(self, timeout=60):
        """Best effort: remove every pod (and so its containers, namespaces, IPs)."""
        ch = self.channel(separate=True)
        try:
            rt = api_pb2_grpc.RuntimeServiceStub(ch)
            for p in rt.ListPodSandbox(api_pb2.ListPodSandboxRequest(), timeout=10).items:
                rt.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=p.id),
                                    timeout=timeout)
        except grpc.RpcError:
            pass
        finally:
            ch.close()

    def unmount_leftovers(self, under=None):
        """A daemon killed mid-test may leave pinned namespaces or rootfs mounts in its dirs."""
        under = under or self.tmp
        try:
            with open("/proc/self/mountinfo") as f:
                points = [line.split()[4] for line in f]
        except OSError:
            return
        for m in sorted((p for p in points if p == under or p.startswith(under + "/")),
                        reverse=True):
            subprocess.run(["umount", "-l", m], capture_output=True)

    def keeper_pids(self):
        """Pids of the crid-keeper serving this daemon's run dir (it outlives the daemon)."""
        sock = os.path.join(self.runroot, "keeper.sock").encode()
        out = []
        for p in os.listdir("/proc"):
            try:
                with open("/proc/%s/cmdline" % p, "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if argv[0].endswith(b"crid-keeper") and sock in argv:
                out.append(int(p))
        return out

    def cleanup(self, keep=False):
        self.kill()
        for pid in self.keeper_pids():  # the node's fd store goes with the test's node
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if os.environ.get("CRID_KEEP"):
            return  # kept whole, mounts too, for whoever asked
        if is_root():
            # crun's pinned mount namespace outlives a daemon on purpose (the next start
            # reuses it); a test's daemon has no next start. A dir kept after a failure
            # keeps its files (logs, records), not its mounts.
            self.unmount_leftovers(self.tmp if self.owns_tmp else
                                   os.path.join(self.runroot, "crun-ns"))
        if self.owns_tmp and not keep:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # -- clients ----------------------------------------------------------

    def target(self):
        return "unix://" + self.sock

    def channel(self, separate=False, options=()):
        opts = list(options)
        if separate:
            opts.append(("grpc.use_local_subchannel_pool", 1))
        return grpc.insecure_channel(self.target(), options=opts)

    def wait_for_log(self, pattern, timeout=3.0, flags=re.IGNORECASE):
        """Poll the stderr log for a regex; return the first matching line or None."""
        rx = re.compile(pattern, flags)
        deadline = time.monotonic() + timeout
        while True:
            for line in self.log_text().splitlines():
                if rx.search(line):
                    return line
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.05)


def version_ok(target_or_crid, timeout=5.0):
    """A brand-new client (own connection) gets Version OK; returns the response."""
    target = target_or_crid.target() if isinstance(target_or_crid, Crid) else target_or_crid
    ch = grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])
    try:
        stub = api_pb2_grpc.RuntimeServiceStub(ch)
        return stub.Version(api_pb2.VersionRequest(version="0.1.0"), timeout=timeout)
    finally:
        ch.close()


def run_cleanups(cleanups):
    """Runs every callable of |cleanups|, last first, even when one raises; then raises the
    first error (a daemon's non-zero exit must not leave the registries running)."""
    first = None
    for c in reversed(cleanups):
        try:
            c()
        except Exception as e:  # noqa: BLE001 - re-raised below
            first = first or e
    if first is not None:
        raise first


def daemon_mounts_under(runroot, path):
    """Mounts below |path|, but for the daemon's own: the pinned mount namespace crun
    runs in on a cgroup hybrid host (<runroot>/crun-ns, kept for the daemon's life
    and the next one's)."""
    pin = os.path.join(runroot, "crun-ns")
    with open("/proc/self/mountinfo") as f:
        points = [ln.split()[4] for ln in f]
    return [m for m in points if (m == path or m.startswith(path + "/"))
            and m != pin and not m.startswith(pin + "/")]


def delete_bridges(cni_dir):
    """Deletes the Linux bridges the bridge plugin made for the CNI configs in |cni_dir|
    (the plugin creates them and never removes them: a class deletes what it made)."""
    try:
        names = os.listdir(cni_dir)
    except OSError:
        return
    for name in names:
        try:
            with open(os.path.join(cni_dir, name)) as f:
                conf = json.load(f)
        except (OSError, ValueError):
            continue
        plugins = conf.get("plugins", [conf]) if isinstance(conf, dict) else []
        for p in plugins:
            if isinstance(p, dict) and p.get("type") == "bridge" and p.get("bridge"):
                subprocess.run(["ip", "link", "del", p["bridge"]], capture_output=True)


class CridTestCase(unittest.TestCase):
    """One daemon per test class (one class per module, so one per module).

    setUpClass starts it; tearDownClass SIGTERMs it and asserts exit status 0
    (under ASan a leak makes the exit status non-zero, which fails the class).
    The daemon's stderr is printed when a test of the class fails.
    """

    daemon_args = ()
    crid = None

    @classmethod
    def setUpClass(cls):
        cls.crid = Crid(extra_args=cls.daemon_args)
        try:
            cls.crid.start()
        except Exception:
            cls.crid.cleanup(keep=True)
            raise
        cls.channel = cls.crid.channel()
        cls.rt = api_pb2_grpc.RuntimeServiceStub(cls.channel)
        cls.img = api_pb2_grpc.ImageServiceStub(cls.channel)
        cls._failed = False

    @classmethod
    def tearDownClass(cls):
        if cls.crid is None:
            return
        try:
            cls.channel.close()
        except Exception:
            pass
        if cls.crid.alive():
            cls.crid.remove_all_pods()
        try:
            rc = cls.crid.stop()
        except DaemonError:
            cls.crid.cleanup(keep=True)
            raise
        finally:
            delete_bridges(cls.crid.cni_dir)
        report = sanitizer_report(cls.crid.log_text())
        if rc != 0 or report:
            log = report or cls.crid.log(300)
            cls.crid.cleanup(keep=True)
            raise DaemonError("crid exited with status %s after SIGTERM (expected 0, and no "
                              "sanitizer report; under ASan non-zero usually means a leak or UB "
                              "report)\nstderr (%s):\n%s" % (rc, cls.crid.stderr_path, log))
        cls.crid.cleanup(keep=cls._failed)

    def run(self, result=None):
        before = (len(result.failures), len(result.errors)) if result is not None else None
        out = super().run(result)
        if result is not None and (len(result.failures), len(result.errors)) != before:
            type(self)._failed = True
            if self.crid is not None:
                sys.stderr.write("\n----- crid stderr (%s) after failure of %s -----\n%s\n"
                                 "----- end of crid stderr -----\n"
                                 % (self.crid.stderr_path, self.id(), self.crid.log()))
        return out

    def assertDaemonAlive(self, what=""):
        c = self.crid
        if not c.alive():
            self.fail("crid died %s (status %s)\nstderr:\n%s" % (what, c.proc.returncode, c.log()))
        try:
            version_ok(c)
        except grpc.RpcError as e:
            self.fail("after %s a new client does not get Version OK: %s %s"
                      % (what, e.code(), e.details()))


# ---------------------------------------------------------------------------
# gRPC wire helpers
# ---------------------------------------------------------------------------

def grpc_frame(msg_bytes, compressed=False):
    return bytes([1 if compressed else 0]) + len(msg_bytes).to_bytes(4, "big") + msg_bytes


def grpc_messages(data):
    """Split a gRPC body into messages; raises ValueError on a malformed body."""
    out = []
    i = 0
    data = bytes(data)
    while i < len(data):
        if len(data) - i < 5:
            raise ValueError("truncated gRPC frame header (%d bytes left)" % (len(data) - i))
        flag = data[i]
        n = int.from_bytes(data[i + 1:i + 5], "big")
        if flag not in (0, 1):
            raise ValueError("bad compressed flag %d" % flag)
        if len(data) - i - 5 < n:
            raise ValueError("truncated gRPC message: want %d have %d" % (n, len(data) - i - 5))
        out.append((flag, data[i + 5:i + 5 + n]))
        i += 5 + n
    return out


def percent_decode(s):
    from urllib.parse import unquote_to_bytes
    return unquote_to_bytes(s).decode("utf-8", "replace")


def grpc_request_headers(method_path, content_type="application/grpc", method="POST",
                         timeout=None, extra=()):
    h = [(":method", method), (":scheme", "http"), (":path", method_path),
         (":authority", "localhost")]
    if content_type is not None:
        h.append(("content-type", content_type))
    h.append(("te", "trailers"))
    if timeout is not None:
        h.append(("grpc-timeout", timeout))
    h.extend(extra)
    return h


class StreamResult:
    def __init__(self, sid):
        self.sid = sid
        self.headers = None          # list of (name, value) of the first HEADERS
        self.headers_ended = False   # first HEADERS carried END_STREAM (Trailers-Only)
        self.trailers = None
        self.data = bytearray()
        self.data_frames = 0
        self.ended = False
        self.reset = None            # error code of RST_STREAM from the server
        self.t_first = None
        self.t_end = None

    def _hdict(self, hs):
        return {k: v for k, v in (hs or [])}

    @property
    def header_map(self):
        return self._hdict(self.headers)

    @property
    def trailer_map(self):
        return self._hdict(self.trailers)

    @property
    def http_status(self):
        s = self.header_map.get(":status")
        return int(s) if s is not None else None

    @property
    def grpc_status(self):
        t = self.trailer_map if self.trailers is not None else self.header_map
        s = t.get("grpc-status")
        return int(s) if s is not None else None

    @property
    def grpc_message(self):
        t = self.trailer_map if self.trailers is not None else self.header_map
        m = t.get("grpc-message")
        return percent_decode(m) if m is not None else None

    @property
    def raw_grpc_message(self):
        t = self.trailer_map if self.trailers is not None else self.header_map
        return t.get("grpc-message")

    @property
    def done(self):
        return self.ended or self.reset is not None

    def messages(self):
        return grpc_messages(self.data)

    def describe(self):
        return ("stream %d: headers=%s trailers=%s data=%d bytes in %d frames ended=%s reset=%s"
                % (self.sid, self.headers, self.trailers, len(self.data), self.data_frames,
                   self.ended, self.reset))


class RawH2:
    """A python-h2 client on a raw unix socket, for frame-level gRPC tests."""

    def __init__(self, sock_path, local_settings=None, connect_timeout=5.0):
        import h2.config
        import h2.connection
        import h2.settings
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(connect_timeout)
        self.sock.connect(sock_path)
        cfg = h2.config.H2Configuration(client_side=True, header_encoding="utf-8",
                                        validate_outbound_headers=False,
                                        normalize_outbound_headers=False)
        self.conn = h2.connection.H2Connection(config=cfg)
        if local_settings:
            init = {h2.settings.SettingCodes.ENABLE_PUSH: 0}
            init.update(local_settings)
            self.conn.local_settings = h2.settings.Settings(client=True, initial_values=init)
        self.conn.initiate_connection()
        self.streams = {}
        self.goaway = None
        self.eof = False
        self.ping_acks = []
        self.settings_acked = False
        self.remote_settings_seen = False
        self.events = []
        self.auto_ack = True
        self.flush()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def new_stream_id(self):
        return self.conn.get_next_available_stream_id()

    def send_headers(self, headers, end_stream=False, stream_id=None):
        sid = stream_id if stream_id is not None else self.new_stream_id()
        self.streams[sid] = StreamResult(sid)
        self.conn.send_headers(sid, headers, end_stream=end_stream)
        self.flush()
        return sid

    def send_data(self, sid, data, end_stream=False):
        self.conn.send_data(sid, data, end_stream=end_stream)
        self.flush()

    def end_stream(self, sid):
        self.conn.end_stream(sid)
        self.flush()

    def reset_stream(self, sid, code):
        self.conn.reset_stream(sid, error_code=code)
        self.flush()

    def ping(self, opaque):
        self.conn.ping(opaque)
        self.flush()

    def grpc_call(self, method_path, body, timeout=None, extra=(), content_type="application/grpc",
                  method="POST", end_stream=True):
        """Send one request (HEADERS, one DATA with `body` (already framed), END_STREAM)."""
        hs = grpc_request_headers(method_path, content_type=content_type, method=method,
                                  timeout=timeout, extra=extra)
        if body is None:
            return self.send_headers(hs, end_stream=end_stream)
        sid = self.send_headers(hs, end_stream=False)
        self.send_data(sid, body, end_stream=end_stream)
        return sid

    def _handle(self, ev):
        import h2.events as E
        self.events.append(ev)
        now = time.monotonic()
        sid = getattr(ev, "stream_id", None)
        st = self.streams.get(sid) if sid else None
        if st is None and sid:
            st = self.streams[sid] = StreamResult(sid)
        if isinstance(ev, E.ResponseReceived):
            st.headers = list(ev.headers)
            st.t_first = st.t_first or now
            if ev.stream_ended is not None:
                st.headers_ended = True
        elif isinstance(ev, E.InformationalResponseReceived):
            pass
        elif isinstance(ev, E.DataReceived):
            st.data += ev.data
            st.data_frames += 1
            st.t_first = st.t_first or now
            if self.auto_ack and ev.flow_controlled_length:
                try:
                    self.conn.acknowledge_received_data(ev.flow_controlled_length, sid)
                except Exception:
                    pass
        elif isinstance(ev, E.TrailersReceived):
            st.trailers = list(ev.headers)
        elif isinstance(ev, E.StreamEnded):
            st.ended = True
            st.t_end = now
        elif isinstance(ev, E.StreamReset):
            if ev.remote_reset:
                st.reset = int(ev.error_code)
                st.t_end = st.t_end or now
        elif isinstance(ev, E.ConnectionTerminated):
            self.goaway = ev
        elif isinstance(ev, E.PingAckReceived):
            self.ping_acks.append(ev.ping_data)
        elif isinstance(ev, E.SettingsAcknowledged):
            self.settings_acked = True
        elif isinstance(ev, E.RemoteSettingsChanged):
            self.remote_settings_seen = True

    def pump(self, timeout):
        """Read once (up to `timeout`); returns False on EOF/timeout-with-nothing."""
        if self.eof:
            return False
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            self.eof = True
            return False
        if not data:
            self.eof = True
            return False
        for ev in self.conn.receive_data(data):
            self._handle(ev)
        try:
            self.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        return True

    def wait(self, pred, timeout=5.0):
        deadline = time.monotonic() + timeout
        while not pred():
            left = deadline - time.monotonic()
            if left <= 0 or self.eof:
                return pred()
            self.pump(min(left, 0.5))
        return True

    def wait_stream(self, sid, timeout=5.0):
        self.wait(lambda: self.streams[sid].done or self.goaway is not None and self.eof, timeout)
        return self.streams[sid]

    def wait_eof(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while not self.eof and time.monotonic() < deadline:
            try:
                self.pump(min(0.5, deadline - time.monotonic()))
            except Exception:
                # h2 may refuse frames after it considers the connection closed; keep reading raw
                self.sock.settimeout(0.5)
                try:
                    if not self.sock.recv(65536):
                        self.eof = True
                except socket.timeout:
                    pass
                except OSError:
                    self.eof = True
        return self.eof


# ---------------------------------------------------------------------------
# A frame-level client (hyperframe + hpack), tolerant of anything the server sends.
# ---------------------------------------------------------------------------

class FrameConn:
    """Speaks HTTP/2 frame by frame; used where python-h2's state machine is
    stricter than the protocol (h2 closes its state on GOAWAY, although streams
    below the last-stream-id must still complete) and to send protocol violations."""

    def __init__(self, sock_path, settings=None, send_preface=True):
        import hpack
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect(sock_path)
        self.enc = hpack.Encoder()
        self.dec = hpack.Decoder()
        self.buf = b""
        self.eof = False
        self._hdr_acc = None
        self.next_sid = 1
        if send_preface:
            from hyperframe.frame import SettingsFrame
            sf = SettingsFrame(0)
            sf.settings = dict(settings or {})
            self.sock.sendall(H2_PREFACE + sf.serialize())

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send_raw(self, b):
        self.sock.sendall(b)

    def send(self, frame):
        self.sock.sendall(frame.serialize())

    def _send_quiet(self, frame):
        try:
            self.send(frame)
        except OSError:
            pass

    def new_sid(self):
        sid = self.next_sid
        self.next_sid += 2
        return sid

    def send_headers(self, sid, headers, end_stream=False):
        from hyperframe.frame import HeadersFrame
        f = HeadersFrame(sid)
        f.data = self.enc.encode(headers)
        f.flags.add("END_HEADERS")
        if end_stream:
            f.flags.add("END_STREAM")
        self.send(f)

    def send_header_block(self, sid, block, end_stream=False, chunk=16384):
        """An encoded header block as HEADERS + CONTINUATION frames of `chunk` bytes."""
        from hyperframe.frame import ContinuationFrame, HeadersFrame
        first = HeadersFrame(sid)
        first.data = block[:chunk]
        if end_stream:
            first.flags.add("END_STREAM")
        frames = [first]
        for off in range(chunk, len(block), chunk):
            c = ContinuationFrame(sid)
            c.data = block[off:off + chunk]
            frames.append(c)
        frames[-1].flags.add("END_HEADERS")
        self.sock.sendall(b"".join(f.serialize() for f in frames))

    def send_data(self, sid, data, end_stream=False):
        from hyperframe.frame import DataFrame
        f = DataFrame(sid)
        f.data = data
        if end_stream:
            f.flags.add("END_STREAM")
        self.send(f)

    def _recv_exact(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                d = self.sock.recv(65536)
            except socket.timeout:
                return None
            except (ConnectionResetError, BrokenPipeError):
                d = b""
            if not d:
                self.eof = True
                return None
            self.buf += d
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_frame(self, timeout=5.0):
        """Next frame (hyperframe object; HEADERS get a .headers list with
        CONTINUATIONs folded in). None on EOF or timeout (check .eof)."""
        from hyperframe.frame import (ContinuationFrame, Frame, HeadersFrame, PingFrame,
                                      SettingsFrame)
        deadline = time.monotonic() + timeout
        while True:
            hdr = self._recv_exact(9, deadline)
            if hdr is None:
                return None
            frame, length = Frame.parse_frame_header(memoryview(hdr))
            body = self._recv_exact(length, deadline) if length else b""
            if body is None:
                return None
            frame.parse_body(memoryview(body))
            if isinstance(frame, SettingsFrame) and "ACK" not in frame.flags:
                ack = SettingsFrame(0)
                ack.flags.add("ACK")
                self._send_quiet(ack)
            if isinstance(frame, PingFrame) and "ACK" not in frame.flags:
                pong = PingFrame(0)
                pong.opaque_data = frame.opaque_data
                pong.flags.add("ACK")
                self._send_quiet(pong)
            if isinstance(frame, HeadersFrame):
                if "END_HEADERS" in frame.flags:
                    frame.headers = [(k.decode() if isinstance(k, bytes) else k,
                                      v.decode() if isinstance(v, bytes) else v)
                                     for k, v in self.dec.decode(frame.data)]
                    return frame
                self._hdr_acc = (frame, bytearray(frame.data))
                continue
            if isinstance(frame, ContinuationFrame) and self._hdr_acc is not None:
                self._hdr_acc[1].extend(frame.data)
                if "END_HEADERS" in frame.flags:
                    hf, block = self._hdr_acc
                    self._hdr_acc = None
                    hf.headers = [(k.decode() if isinstance(k, bytes) else k,
                                   v.decode() if isinstance(v, bytes) else v)
                                  for k, v in self.dec.decode(bytes(block))]
                    return hf
                continue
            return frame

    def collect(self, until, timeout=5.0):
        """Read frames into a list until until(frames) is true, EOF or timeout."""
        frames = []
        deadline = time.monotonic() + timeout
        while not until(frames):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            f = self.read_frame(left)
            if f is None:
                break
            frames.append(f)
        return frames


def stream_end_seen(frames, sid):
    """True if the server ended (END_STREAM) or reset stream sid."""
    from hyperframe.frame import DataFrame, HeadersFrame, RstStreamFrame
    for f in frames:
        if f.stream_id != sid:
            continue
        if isinstance(f, RstStreamFrame):
            return True
        if isinstance(f, (HeadersFrame, DataFrame)) and "END_STREAM" in f.flags:
            return True
    return False


def stream_summary(frames, sid):
    """(headers list of lists, data bytes, rst code or None) for sid."""
    from hyperframe.frame import DataFrame, HeadersFrame, RstStreamFrame
    hs, data, rst = [], bytearray(), None
    for f in frames:
        if f.stream_id != sid:
            continue
        if isinstance(f, HeadersFrame):
            hs.append(f.headers)
        elif isinstance(f, DataFrame):
            data += f.data
        elif isinstance(f, RstStreamFrame):
            rst = f.error_code
    return hs, bytes(data), rst


# ---------------------------------------------------------------------------
# CNI helpers
# ---------------------------------------------------------------------------

def valid_conflist(name="crid-it", bridge="crid-it0", subnet="10.88.0.0/16"):
    return {
        "cniVersion": "1.0.0",
        "name": name,
        "plugins": [
            {
                "type": "bridge",
                "bridge": bridge,
                "isGateway": True,
                "ipMasq": True,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "ranges": [[{"subnet": subnet}]],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def write_atomic(path, data):
    tmp = path + ".tmp-%d" % os.getpid()
    with open(tmp, "w" if isinstance(data, str) else "wb") as f:
        f.write(data)
    os.rename(tmp, path)


def write_conflist(cni_dir, filename="10-crid-it.conflist", conf=None):
    path = os.path.join(cni_dir, filename)
    write_atomic(path, json.dumps(conf if conf is not None else valid_conflist(), indent=2))
    return path


# ---------------------------------------------------------------------------
# Runner: `crid_fixture.py test_module [...]` runs modules and prints a summary line
# ---------------------------------------------------------------------------

def reap_orphan_keepers():
    """Kills every crid-keeper whose socket dir is gone: a test daemon's fd store outlives
    the daemon on purpose (the restart tests need it), but not the test's temp dir."""
    gone = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if not argv[0].endswith(b"crid-keeper") or len(argv) < 2:
            continue
        sock = argv[-2] if argv[-1] == b"" else argv[-1]
        if sock.startswith(b"/") and not os.path.isdir(os.path.dirname(sock)):
            try:
                os.kill(int(pid), signal.SIGKILL)
                gone += 1
            except OSError:
                pass
    return gone


def test_ids(suite):
    """Ids of every test in |suite| (taken before the run: a run drops its tests)."""
    out, stack = [], [suite]
    while stack:
        t = stack.pop()
        if isinstance(t, unittest.TestSuite):
            stack.extend(t)
        elif t is not None:
            out.append(t.id())
    return out


def count_tests(ids, holder_id):
    """Tests of |ids| in the class or module a setUpClass/setUpModule skip names
    (|holder_id| is unittest's "setUpClass (mod.Class)" or "setUpModule (mod)")."""
    m = re.fullmatch(r"setUp(?:Class|Module) \((.+)\)", holder_id)
    if not m:
        return 0
    return sum(1 for i in ids if i.startswith(m.group(1) + "."))


class _TimedResult(unittest.TextTestResult):
    """Writes each test's wall time after its status ("ok (3.2 s)") and keeps the
    times, so a module's slow tests show in every run's log (make test's length)."""

    def startTest(self, test):
        self._t0 = time.monotonic()
        super().startTest(test)

    def _write_status(self, test, status):
        took = time.monotonic() - getattr(self, "_t0", time.monotonic())
        if not isinstance(test, unittest.case._SubTest):
            self.times = getattr(self, "times", []) + [(took, test.id())]
            status = "%s (%.1f s)" % (status, took)
        super()._write_status(test, status)


def _run_modules(names):
    sys.path.insert(0, HERE)
    loader = unittest.TestLoader()
    suite = unittest.TestSuite()
    for n in names:
        n = os.path.basename(n)
        if n.endswith(".py"):
            n = n[:-3]
        suite.addTests(loader.loadTestsFromName(n))
    ids = test_ids(suite)
    runner = unittest.TextTestRunner(verbosity=2, stream=sys.stdout, buffer=False,
                                     resultclass=_TimedResult)
    res = runner.run(suite)
    for t, reason in res.skipped:
        print("SKIPPED %s: %s" % (t.id(), reason))
    # count tests, not subtests; errors outside a test (setUpClass,
    # tearDownClass: e.g. a non-zero daemon exit) are counted separately
    failed, fixture_errors = set(), 0
    for t, _ in res.failures + res.errors:
        case = getattr(t, "test_case", t)
        if isinstance(case, unittest.TestCase) and not case.id().startswith("unittest."):
            failed.add(case.id())
        else:
            fixture_errors += 1
    run_skipped = {getattr(t, "test_case", t).id() for t, _ in res.skipped
                   if isinstance(t, unittest.TestCase)}
    # a class (or module) that skips in setUpClass (setUpModule) is one _ErrorHolder skip
    # and none of its tests is run or counted: count them as the skipped tests they are
    unrun = sum(count_tests(ids, t.id()) for t, _ in res.skipped
                if not isinstance(t, unittest.TestCase))
    passed = res.testsRun - len(failed) - len(run_skipped)
    print("CRID-SUMMARY tests=%d passed=%d failed=%d fixture_errors=%d skipped=%d"
          % (res.testsRun + unrun, passed, len(failed), fixture_errors,
             len(run_skipped) + unrun))
    n = reap_orphan_keepers()
    if n:
        print("crid_fixture: killed %d crid-keeper(s) whose run dir is gone" % n)
    sys.stdout.flush()
    return 0 if res.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(_run_modules(sys.argv[1:]))
