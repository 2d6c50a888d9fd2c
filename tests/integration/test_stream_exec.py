"""Exec and attach sessions end to end (runtime/stream/remote_cmd.c): the Exec and
Attach RPCs' URLs driven by two independent clients, the real client-go SPDY
executor in crictl (cri-tools 1.29; skipped with a printed reason when
../shared/bin/crictl is absent, as in a fresh clone) and the test suite's own
SPDY client (spdy_client.py).

Checked: exit codes 0/1/137 in the v4 status (and v2's plain text), client-go
decoding them in crictl (which exits 1 with "command terminated with exit
code N" for any non-zero code); exec with a terminal under a real pty (the size
crictl sends, an interactive shell); 10 MB through stdout and 10 MB through
stdin with checksums; stdin EOF reaching the process; a resize message seen by
`stty size`; attach to a container that logs (every line once in the session
and in the CRI log); attach stdin to a `cat` container with stdin_once; a resize reaching a tty
container's terminal through attach;
200 concurrent sessions; the client killed mid-stream; the container stopped
mid-session; crid killed -9 mid-session. After every test the daemon's fd
count is back to what it was and no exec'd process is left in the container.
"""
import fcntl
import hashlib
import json
import os
import select
import signal
import socket
import struct
import subprocess
import termios
import time

import api_pb2
from ctr_fixture import REPO, CtrBase, setup_registry, teardown_registry
from spdy_client import ExecSession, SpdyConn, exit_code

CRICTL = os.environ.get("CRICTL", os.path.join(os.path.dirname(REPO), "shared", "bin", "crictl"))
if not os.access(CRICTL, os.X_OK):
    CRICTL = "/work/shared/bin/crictl"
MB10 = 10 << 20
SLEEP = ["sleep", "100000"]
PID_POD, PID_CONTAINER = 0, 1  # runtime.v1.NamespaceMode


def setUpModule():
    setup_registry()


def tearDownModule():
    teardown_registry()


def crictl_missing():
    if not os.access(CRICTL, os.X_OK):
        return "crictl (cri-tools 1.29) not at %s: the real client-go SPDY executor is " \
               "not available in this checkout" % CRICTL
    return None


def pidns(pid):
    try:
        return os.readlink("/proc/%d/ns/pid" % pid)
    except OSError:
        return None


class StreamExecTests(CtrBase):
    """One daemon; one pod with a sleeper container every test execs into."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.n += 1
        cls.pod = None

    def setUp(self):
        if type(self).pod is None:
            type(self).pod = self.run_pod(cleanup=False)
            # its own pid namespace (kubelet's default) holding one process: what else is
            # in there was exec'd
            type(self).sleeper = self.run_ctr(self.pod, "sleeper", command=SLEEP,
                                              pid_namespace=PID_CONTAINER)
            type(self).base_procs = set(p for p, _ in self.ns_procs(self.sleeper))
            # one exec first: the daemon's lazily made fds (streaming listener) exist now
            self.spdy_exec(["true"])
        self.check_fds = True
        self.base_fds = self.daemon_fds()

    def tearDown(self):
        self.doCleanups()
        self.assertNoExecLeft(self.sleeper)
        if self.check_fds:
            self.assertFdsBack(self.base_fds)

    # -- what is left ---------------------------------------------------------------

    def daemon_fds(self):
        return sorted(os.listdir("/proc/%d/fd" % self.crid.pid), key=int)

    def assertFdsBack(self, base, timeout=20):
        deadline = time.monotonic() + timeout
        while True:
            now = self.daemon_fds()
            if len(now) <= len(base):
                return
            if time.monotonic() > deadline:
                extra = []
                for fd in set(now) - set(base):
                    try:
                        extra.append((fd, os.readlink("/proc/%d/fd/%s" % (self.crid.pid, fd))))
                    except OSError:
                        pass
                self.fail("daemon holds %d fds, %d before: %r" % (len(now), len(base), extra))
            time.sleep(0.1)

    def init_pid(self, cid):
        return json.loads(self.status(cid, verbose=True).info["info"])["pid"]

    def ns_procs(self, cid):
        """(pid, cmdline) of the processes in the container's pid namespace."""
        ns = pidns(self.init_pid(cid))
        out = []
        for d in os.listdir("/proc"):
            if d.isdigit() and pidns(int(d)) == ns:
                try:
                    with open("/proc/%s/cmdline" % d, "rb") as f:
                        out.append((int(d), f.read().replace(b"\0", b" ").strip()))
                except OSError:
                    pass
        return out

    def exec_procs(self, cid):
        """What the sleeper's pid namespace holds beyond its start: exec'd processes."""
        return [(p, c) for p, c in self.ns_procs(cid) if p not in self.base_procs]

    def assertNoExecLeft(self, cid, timeout=20):
        deadline = time.monotonic() + timeout
        while True:
            left = self.exec_procs(cid)
            if not left:
                return
            if time.monotonic() > deadline:
                self.fail("exec'd processes left in the container: %r" % left)
            time.sleep(0.1)

    def wait_exec_proc(self, cid, needle, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(needle in c for _, c in self.exec_procs(cid)):
                return
            time.sleep(0.05)
        self.fail("no exec'd process %r appeared" % needle)

    # -- clients --------------------------------------------------------------------

    def exec_url(self, cmd, cid=None, stdin=False, stdout=True, stderr=True, tty=False):
        return self.rt.Exec(api_pb2.ExecRequest(
            container_id=cid or self.sleeper, cmd=cmd, stdin=stdin, stdout=stdout,
            stderr=stderr and not tty, tty=tty), timeout=30).url

    def spdy_open(self, url, version=4, **kw):
        proto = "channel.k8s.io" if version == 1 else "v%d.channel.k8s.io" % version
        conn, resp = SpdyConn.upgrade(url, [proto])
        self.assertIsNotNone(conn, "upgrade refused: %r" % (resp,))
        return ExecSession(conn, version=version, **kw).open()

    def spdy_exec(self, cmd, stdin=None, tty=False, version=4, timeout=60, cid=None):
        url = self.exec_url(cmd, cid=cid, stdin=stdin is not None, tty=tty)
        ex = self.spdy_open(url, version=version, stdin=stdin is not None, stderr=not tty,
                            tty=tty)
        return ex.run(stdin=stdin, timeout=timeout)

    def crictl(self, args, input=None, timeout=180):
        return subprocess.run([CRICTL, "--runtime-endpoint", "unix://" + self.crid.sock,
                               "--timeout", "60s"] + args, input=input, capture_output=True,
                              timeout=timeout)

    def crictl_pty(self, args, script=(), rows=24, cols=80, timeout=60):
        """crictl under a real pty of |rows|x|cols|; |script|: (output to wait for, bytes to
        type) in order. Returns (exit code, everything the terminal showed)."""
        m, s = os.openpty()
        fcntl.ioctl(s, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        p = subprocess.Popen([CRICTL, "--runtime-endpoint", "unix://" + self.crid.sock] + args,
                             stdin=s, stdout=s, stderr=s, start_new_session=True, close_fds=True)
        os.close(s)
        out, steps, deadline = b"", list(script), time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if steps and steps[0][0] in out:
                    os.write(m, steps.pop(0)[1])
                r, _, _ = select.select([m], [], [], 0.2)
                if not r:
                    continue
                try:
                    b = os.read(m, 65536)
                except OSError:  # EIO: crictl and everything on the slave are gone
                    b = b""
                if not b:
                    break
                out += b
            else:
                self.fail("crictl %s did not end in %ss; terminal showed %r"
                          % (args, timeout, out[-500:]))
            return p.wait(timeout=10), out
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            os.close(m)

    def needs_crictl(self):
        why = crictl_missing()
        if why:
            print("\n  skipped: " + why)
            self.skipTest(why)

    # -- exec ------------------------------------------------------------------------

    def test_exit_codes_spdy(self):
        r = self.spdy_exec(["sh", "-c", "echo out; echo err >&2"])
        self.assertEqual((r["stdout"], r["stderr"]), (b"out\n", b"err\n"))
        self.assertEqual(r["status"], {"metadata": {}, "status": "Success"})
        r = self.spdy_exec(["sh", "-c", "echo gone; exit 1"])
        self.assertEqual(r["stdout"], b"gone\n")
        st = r["status"]
        self.assertEqual((st["status"], st["reason"], exit_code(st)),
                         ("Failure", "NonZeroExitCode", 1), st)
        self.assertEqual(st["message"], "command terminated with non-zero exit code: error "
                         "executing command [sh -c echo gone; exit 1], exit code 1")
        r = self.spdy_exec(["sh", "-c", "kill -9 $$"])
        self.assertEqual(exit_code(r["status"]), 137, r["status"])
        # v2: nothing on success, the text on failure
        self.assertEqual(self.spdy_exec(["true"], version=2)["error"], b"")
        r = self.spdy_exec(["sh", "-c", "exit 7"], version=2)
        self.assertIn(b"exit code 7", r["error"])
        self.assertIsNone(r["status"])

    def test_exec_no_such_command(self):
        r = self.spdy_exec(["/no/such/binary"])
        st = r["status"]
        self.assertEqual(st["status"], "Failure", st)
        self.assertIn(st.get("reason"), ("InternalError", "NonZeroExitCode"), st)

    def assertCrictlExit(self, rc, text, want):
        """crictl 1.29 exits 1 on any streaming-exec error; the exit code client-go decoded
        from the status is in its message (exec.CodeExitError: "command terminated with exit
        code N")."""
        if want == 0:
            self.assertEqual(rc, 0, text)
            return
        self.assertEqual(rc, 1, text)
        self.assertIn(b"command terminated with exit code %d" % want, text)

    def test_exit_codes_crictl(self):
        self.needs_crictl()
        for cmd, rc, out in ((["sh", "-c", "echo hi"], 0, b"hi\n"),
                             (["sh", "-c", "echo one; exit 1"], 1, b"one\n"),
                             (["sh", "-c", "kill -9 $$"], 137, b"")):
            p = self.crictl(["exec", self.sleeper] + cmd)
            self.assertEqual(p.stdout, out, p.stderr)
            self.assertCrictlExit(p.returncode, p.stderr, rc)

    def test_tty_crictl(self):
        self.needs_crictl()
        rc, out = self.crictl_pty(["exec", "-i", "-t", self.sleeper, "sh", "-c",
                                   "stty size; tty; exit 3"], rows=33, cols=101)
        self.assertIn(b"33 101", out, "the size crictl sent from its terminal")
        self.assertIn(b"/dev/pts/", out)
        self.assertCrictlExit(rc, out, 3)
        # an interactive shell: the prompt, a command, its answer, exit
        rc, out = self.crictl_pty(["exec", "-i", "-t", self.sleeper, "sh"],
                                  script=[(b"# ", b"echo $((6*7))\r"), (b"42", b"exit 5\r")])
        self.assertIn(b"42\r\n", out)
        self.assertCrictlExit(rc, out, 5)

    def test_stdout_10mb(self):
        r = self.exec_sync(self.sleeper, ["sh", "-c", "head -c %d /dev/urandom > /tmp/blob && "
                                          "sha256sum /tmp/blob" % MB10], timeout=60)
        self.assertEqual(r.exit_code, 0, r.stderr)
        want = r.stdout.split()[0].decode()
        got = self.spdy_exec(["cat", "/tmp/blob"], timeout=120)
        self.assertEqual(len(got["stdout"]), MB10)
        self.assertEqual(hashlib.sha256(got["stdout"]).hexdigest(), want)
        self.assertEqual(exit_code(got["status"]), 0)
        if crictl_missing():
            print("\n  crictl part skipped: " + crictl_missing())
            return
        p = self.crictl(["exec", self.sleeper, "cat", "/tmp/blob"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual((len(p.stdout), hashlib.sha256(p.stdout).hexdigest()), (MB10, want))

    def test_stdin_10mb(self):
        data = os.urandom(MB10)
        want = hashlib.sha256(data).hexdigest().encode()
        r = self.spdy_exec(["sha256sum"], stdin=data, timeout=120)
        self.assertEqual(r["stdout"].split()[0], want, r)
        self.assertEqual(exit_code(r["status"]), 0)
        if crictl_missing():
            print("\n  crictl part skipped: " + crictl_missing())
            return
        p = self.crictl(["exec", "-i", self.sleeper, "sha256sum"], input=data)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.split()[0], want)

    def test_stdin_eof(self):
        # cat ends only when its stdin reaches EOF
        r = self.spdy_exec(["cat"], stdin=b"hello\n", timeout=30)
        self.assertEqual(r["stdout"], b"hello\n")
        self.assertEqual(exit_code(r["status"]), 0)
        # stdin closed with nothing sent
        r = self.spdy_exec(["wc", "-c"], stdin=b"", timeout=30)
        self.assertEqual(r["stdout"].strip(), b"0")

    def test_resize(self):
        ex = self.spdy_open(self.exec_url(["sh", "-c", "read x; stty size"], stdin=True,
                                          tty=True), stdin=True, stderr=False, tty=True)
        ex.resize(100, 30)
        ex.send_stdin(b"go\n")
        r = ex.run(close_stdin=False, timeout=30)
        self.assertIn(b"30 100", r["stdout"], r)
        self.assertEqual(exit_code(r["status"]), 0)
        # split across frames, with garbage before it
        ex = self.spdy_open(self.exec_url(["sh", "-c", "read x; stty size"], stdin=True,
                                          tty=True), stdin=True, stderr=False, tty=True)
        sid = ex.s["resize"].sid
        ex.conn.send_data(sid, b"garbage\n{\"Width\":1")
        ex.conn.send_data(sid, b"32,\"Height\":4")
        ex.conn.send_data(sid, b"1}\n")
        ex.send_stdin(b"go\n")
        r = ex.run(close_stdin=False, timeout=30)
        self.assertIn(b"41 132", r["stdout"], r)

    def test_concurrent_200(self):
        n, sessions = 200, []
        t0 = time.monotonic()
        for i in range(n):
            sessions.append(self.spdy_open(self.exec_url(["sh", "-c", "sleep 2; echo %d" % i])))
        for i, ex in enumerate(sessions):
            r = ex.run(timeout=180)
            self.assertEqual((r["stdout"], exit_code(r["status"])), (b"%d\n" % i, 0), i)
        print("\n  %d concurrent exec sessions in %.1fs" % (n, time.monotonic() - t0))

    def test_client_killed(self):
        ex = self.spdy_open(self.exec_url(["sh", "-c", "echo started; exec sleep 1000"]))
        self.assertTrue(ex.conn.wait_for(lambda: b"started" in ex.s["stdout"].data, 30))
        self.wait_exec_proc(self.sleeper, b"sleep 1000")
        ex.conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        ex.conn.close()  # a reset, as a killed client's kernel sends
        self.assertNoExecLeft(self.sleeper)
        # a client gone while output flows
        ex = self.spdy_open(self.exec_url(["sh", "-c", "while :; do echo xxxxxxxxxxxxxxxx; "
                                           "done"]))
        self.assertTrue(ex.conn.wait_for(lambda: len(ex.s["stdout"].data) > 100000, 30))
        ex.conn.close()
        self.assertNoExecLeft(self.sleeper)

    # -- the container's side -------------------------------------------------------

    def test_container_exits_mid_session(self):
        # its own pid namespace (the kernel kills the exec with the init) and the pod's
        # shared one (the CRI default: crid kills the exec when the init exits)
        for mode in (PID_CONTAINER, PID_POD):
            pod = self.run_pod()
            cid = self.run_ctr(pod, "short", command=SLEEP, pid_namespace=mode)
            ex = self.spdy_open(self.exec_url(["sh", "-c", "echo up; exec sleep 1000"],
                                              cid=cid))
            self.assertTrue(ex.conn.wait_for(lambda: b"up" in ex.s["stdout"].data, 30))
            self.stop(cid, timeout=0)
            self.assertTrue(ex.conn.wait_for(ex.done, 30), "the session did not end (%d)" % mode)
            self.assertEqual(exit_code(ex.result()["status"]), 137, ex.result())
            ex.conn.close()

    def test_attach_logs(self):
        pod = self.run_pod()
        script = ("while [ ! -e /tmp/go ]; do sleep 0.05; done; i=1; "
                  "while [ $i -le 300 ]; do echo line-$i; i=$((i+1)); done; echo err-line >&2")
        cid = self.run_ctr(pod, "logger", script=script)
        url = self.rt.Attach(api_pb2.AttachRequest(container_id=cid, stdout=True, stderr=True),
                             timeout=30).url
        ex = self.spdy_open(url, stdout=True, stderr=True)
        self.exec_sync(cid, ["touch", "/tmp/go"])
        r = ex.run(timeout=60)
        want = [b"line-%d" % i for i in range(1, 301)]
        self.assertEqual(r["stdout"].split(b"\n"), want + [b""])
        self.assertEqual(r["stderr"], b"err-line\n")
        self.assertEqual(exit_code(r["status"]), 0, r)
        self.wait_exited(cid)
        self.assertEqual(self.log_lines(pod, "logger", "stdout"), want, "CRI log changed")
        self.assertEqual(self.log_lines(pod, "logger", "stderr"), [b"err-line"])

    def test_attach_stdin(self):
        pod = self.run_pod()
        cfg = self.ctr_config("cat", command=["cat"])
        cfg.stdin = True
        cfg.stdin_once = True
        cid = self.create(pod, cfg)
        self.start(cid)
        url = self.rt.Attach(api_pb2.AttachRequest(container_id=cid, stdin=True, stdout=True,
                                                   stderr=True), timeout=30).url
        ex = self.spdy_open(url, stdin=True, stdout=True, stderr=True)
        ex.send_stdin(b"ping\n")
        self.assertTrue(ex.conn.wait_for(lambda: b"ping\n" in ex.s["stdout"].data, 30),
                        ex.result())
        # stdin_once: the client's EOF is the container's; cat ends, so does the session
        r = ex.run(timeout=30)
        self.assertEqual(r["stdout"], b"ping\n")
        self.assertEqual(exit_code(r["status"]), 0, r)
        self.wait_exited(cid)
        self.assertEqual(self.status(cid).status.exit_code, 0)

    def test_attach_tty_resize(self):
        pod = self.run_pod()
        cfg = self.ctr_config("tty", script="while read x; do stty size; done")
        cfg.tty = cfg.stdin = True
        cid = self.create(pod, cfg)
        self.start(cid)
        url = self.rt.Attach(api_pb2.AttachRequest(container_id=cid, stdin=True, stdout=True,
                                                   tty=True), timeout=30).url
        ex = self.spdy_open(url, stdin=True, stderr=False, tty=True)
        ex.resize(77, 22)
        ex.send_stdin(b"\n")
        self.assertTrue(ex.conn.wait_for(lambda: b"22 77" in ex.s["stdout"].data, 30),
                        ex.result())
        ex.resize(91, 13)
        ex.send_stdin(b"\n")
        self.assertTrue(ex.conn.wait_for(lambda: b"13 91" in ex.s["stdout"].data, 30),
                        ex.result())
        ex.conn.close()  # the client leaves; the container stays
        time.sleep(0.5)
        self.assertEqual(self.status(cid).status.state, api_pb2.CONTAINER_RUNNING)

    def test_attach_crictl(self):
        self.needs_crictl()
        pod = self.run_pod()
        cid = self.run_ctr(pod, "ticker", script="i=0; while [ $i -lt 40 ]; do echo tick-$i; "
                           "i=$((i+1)); sleep 0.1; done")
        p = self.crictl(["attach", cid], timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        got = p.stdout.decode().split()
        # attached while it ran: a gapless tail of its output up to the last line
        self.assertTrue(got and got[-1] == "tick-39", got)
        first = int(got[0].split("-")[1])
        self.assertEqual(got, ["tick-%d" % i for i in range(first, 40)])
        self.wait_exited(cid)
        self.assertEqual(self.log_lines(pod, "ticker"), [b"tick-%d" % i for i in range(40)])
        # stdin: the client's EOF ends a stdin_once container's stdin
        cfg = self.ctr_config("cat", command=["cat"])
        cfg.stdin = cfg.stdin_once = True
        cid = self.create(pod, cfg)
        self.start(cid)
        p = self.crictl(["attach", "-i", cid], input=b"hello\nworld\n", timeout=60)
        self.assertEqual((p.returncode, p.stdout), (0, b"hello\nworld\n"), p.stderr)
        self.wait_exited(cid)

    def test_zz_crid_killed_mid_session(self):
        ex = self.spdy_open(self.exec_url(["sh", "-c", "echo up; exec sleep 1000"]))
        self.assertTrue(ex.conn.wait_for(lambda: b"up" in ex.s["stdout"].data, 30))
        self.check_fds = False  # a new daemon: its own fds
        type(self).restart(kill=True)
        self.assertTrue(ex.conn.wait_closed(10), "the connection outlived crid")
        ex.conn.close()
        self.assertEqual(self.status(self.sleeper).status.state, api_pb2.CONTAINER_RUNNING)
        self.assertNoExecLeft(self.sleeper)
        # and the new daemon streams
        r = self.spdy_exec(["echo", "again"])
        self.assertEqual(r["stdout"], b"again\n")
