"""The container side of streaming (runtime/container/ctr_stream.c) through
python3-grpcio against the real daemon and runc: what is observable without a
streaming client.

- A container created with stdin gets its stdin FIFO's read end only
  (O_RDONLY, no longer O_RDWR): crid holds the one write end, deposited in the
  fd store (crid-keeper holds a copy), so the container never reads EOF while
  crid lives or is down, and reads EOF exactly when crid lets go (the first
  attach's end with stdin_once). Bytes written to the FIFO (what an attach
  does) reach the container; closing that writer is no EOF for it.
- kill -9 of crid and a restart: the container keeps running and reading,
  crid holds exactly one writer again (no fd leaked, none lost), with and
  without stdin_once.
- A tty container with stdin: crid holds its master twice (the log writer's
  and the stdin writer stdin_once drops), before and after a restart, and
  the terminal's output is still logged.
- Exec, attach and resize themselves through tests/helpers/ctr_stream_probe
  (crid's own start-up without the gRPC socket, one ctr_stream.h call relayed
  to its stdio; crid is killed meanwhile and restarted after): exec with
  pipes (stdin in, stdout and stderr apart, the exit code), 3 MB through the
  pipes, exec with a terminal (a pty, 80x24, TERM=xterm), a missing executable and an
  unknown container as errors; attach with stdin: bytes in, the container's
  output out through the log tap, stdin_once closing the container's stdin
  at the attach's end (cat exits; a second attach gets no stdin) while
  without stdin_once it stays open; an attach pausing after every slice
  still gets every byte, in order, and so does the log; resize reaching the
  terminal (SIGWINCH, stty size).
ExecSync's behaviour (moved onto the shared spawn queue) is checked by
test_exec_timeout and test_containers_ops."""
import contextlib
import json
import os
import re
import signal
import subprocess
import time
import unittest

import api_pb2
from crid_fixture import BUILD
from ctr_fixture import CtrBase, setup_registry, teardown_registry

PROBE = os.path.join(BUILD, "tests", "helpers", "ctr_stream_probe")


def setUpModule():
    setup_registry()


def tearDownModule():
    teardown_registry()


def fds_on(pid, ino):
    """(fd, access mode) of process |pid|'s fds open on inode |ino|."""
    out = []
    d = "/proc/%d/fd" % pid
    for fd in os.listdir(d):
        try:
            if os.stat(os.path.join(d, fd)).st_ino != ino:
                continue
            with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                flags = int(f.read().split("flags:")[1].split()[0], 8)
        except (FileNotFoundError, IndexError):
            continue
        out.append((int(fd), flags & os.O_ACCMODE))
    return out


def pty_masters(pid):
    """(mnt_id, tty-index) of each pty master process |pid| holds."""
    out = []
    d = "/proc/%d/fdinfo" % pid
    for fd in os.listdir(d):
        try:
            with open(os.path.join(d, fd)) as f:
                info = dict(ln.split(":", 1) for ln in f.read().splitlines() if ":" in ln)
        except FileNotFoundError:
            continue
        if "tty-index" in info:
            out.append((info["mnt_id"].strip(), info["tty-index"].strip()))
    return out


class _Tests:
    @contextlib.contextmanager
    def daemon_down(self):
        """crid killed (-9) for the probe's turn, restarted after."""
        cls = type(self)
        cls.channel.close()
        cls.crid.proc.send_signal(signal.SIGKILL)
        cls.crid.proc.wait()
        cls.crid._close_files()
        try:
            yield
        finally:
            cls.crid.start()
            cls.connect()

    def probe(self, action, cid, *args, input=b"", timeout=60):
        if not os.access(PROBE, os.X_OK):
            self.skipTest("%s not built (make %s)" % (PROBE, PROBE))
        r = subprocess.run([PROBE, action, cid] + list(args) + ["--"] + self.crid.argv()[1:],
                           input=input, capture_output=True, timeout=timeout)
        # crid's own log lines go to stderr too: keep the probe's and the process's
        err = b"\n".join(ln for ln in r.stderr.split(b"\n")
                         if not re.match(rb"^\d{4}-\d\d-\d\dT\S+Z (debug|info|warn|error) ",
                                         ln))
        if os.environ.get("PROBE_DEBUG"):
            print("PROBE %s rc=%d stderr:\n%s" % (action, r.returncode,
                                                  r.stderr.decode(errors="replace")))
        return r.returncode, r.stdout, err

    def tearDown(self):
        self.doCleanups()
        self.crid.remove_all_pods()

    def ctr_pid(self, cid):
        return json.loads(self.status(cid, verbose=True).info["info"])["pid"]

    def stdin_ctr(self, pod, name, once, tty=False, script="cat"):
        cfg = self.ctr_config(name, script=script)
        cfg.stdin = True
        cfg.stdin_once = once
        cfg.tty = tty
        cid = self.create(pod, cfg)
        self.start(cid)
        return cid

    def fifo(self, cid):
        return os.path.join(self.crid.runroot, "containers", cid, "stdin")

    def assertRunning(self, cid):
        st = self.status(cid).status
        self.assertEqual(st.state, api_pb2.CONTAINER_RUNNING,
                         "%s: %s %s" % (cid[:12], st.reason, st.message))

    def assertOneWriter(self, cid, what):
        ino = os.stat(self.fifo(cid)).st_ino
        mine = fds_on(self.crid.pid, ino)
        self.assertEqual([m for _, m in mine], [os.O_WRONLY],
                         "%s: crid should hold exactly one writer of the stdin FIFO" % what)
        kept = [m for k in self.crid.keeper_pids() for _, m in fds_on(k, ino)]
        self.assertEqual(kept, [os.O_WRONLY], "%s: the fd store should keep it" % what)

    def feed(self, pod, cid, name, text, expect=None):
        fd = os.open(self.fifo(cid), os.O_WRONLY | os.O_NONBLOCK)
        try:
            os.write(fd, text.encode() + b"\n")
        finally:
            os.close(fd)  # one writer less: no EOF, crid holds one
        want = (expect or text).encode()
        self.wait_log(pod, name, lambda ls: want in ls)

    def test_stdin_fifo_read_end_only_and_kept_across_kill9(self):
        pod = self.run_pod()
        once = self.stdin_ctr(pod, "once", True)
        many = self.stdin_ctr(pod, "many", False)
        for cid, name in ((once, "once"), (many, "many")):
            pid = self.ctr_pid(cid)
            ino = os.stat(self.fifo(cid)).st_ino
            self.assertEqual([m for _, m in fds_on(pid, ino)], [os.O_RDONLY],
                             "%s: the container's stdin is the FIFO's read end only" % name)
            self.assertOneWriter(cid, name)
            self.feed(pod, cid, name, "hello-" + name)
        time.sleep(0.3)  # an EOF would end cat now
        self.assertRunning(once)
        self.assertRunning(many)

        self.restart(kill=True)
        for cid, name in ((once, "once"), (many, "many")):
            self.assertRunning(cid)
            self.assertOneWriter(cid, name + " after kill -9")
            self.feed(pod, cid, name, "again-" + name)
        time.sleep(0.3)
        for cid, name in ((once, "once"), (many, "many")):
            self.assertRunning(cid)
            self.assertEqual(self.log_lines(pod, name),
                             [b"hello-" + name.encode(), b"again-" + name.encode()])

    def test_stdin_writer_dropped_with_the_container(self):
        pod = self.run_pod()
        cid = self.stdin_ctr(pod, "short", True, script="read x; echo got-$x")
        ino = os.stat(self.fifo(cid)).st_ino
        self.feed(pod, cid, "short", "one", expect="got-one")
        self.wait_exited(cid)
        self.assertEqual(self.log_lines(pod, "short"), [b"got-one"])
        self.assertEqual(fds_on(self.crid.pid, ino), [], "crid let go of the exited stdin")
        deadline = time.monotonic() + 5
        while any(fds_on(k, ino) for k in self.crid.keeper_pids()):
            self.assertLess(time.monotonic(), deadline, "the fd store still keeps it")
            time.sleep(0.05)

    def test_tty_stdin_master_kept_and_logged(self):
        pod = self.run_pod()
        cid = self.stdin_ctr(pod, "term", True, tty=True, script="echo hi; exec cat")
        self.wait_log(pod, "term", lambda ls: b"hi\r" in ls)
        masters = pty_masters(self.crid.pid)
        self.assertEqual(len(masters), 2, "log writer's master + stdin writer: %r" % masters)
        self.assertEqual(len(set(masters)), 1, "both on the container's terminal")
        self.restart(kill=True)
        self.assertRunning(cid)
        after = pty_masters(self.crid.pid)
        self.assertEqual(len(after), 2, "after kill -9: the master and its stdin dup: %r" %
                         after)
        self.assertEqual(self.log_lines(pod, "term"), [b"hi\r"])


    def test_exec_pipes_tty_and_errors(self):
        pod = self.run_pod()
        cid = self.run_ctr(pod, "target", script="sleep 3600")
        with self.daemon_down():
            rc, out, err = self.probe("exec", cid, "-i", "sh", "-c",
                                      "read x; echo out-$x; echo err-$x >&2; exit 3",
                                      input=b"abc\n")
            self.assertEqual((rc, out), (0, b"out-abc\n"), err)
            self.assertIn(b"err-abc\n", err)
            self.assertIn(b"exit=3", err)

            rc, out, err = self.probe("exec", cid, "sh", "-c", "yes abcdefg | head -c 3000000")
            self.assertEqual(rc, 0, err)
            self.assertEqual(len(out), 3000000)
            self.assertEqual(out, (b"abcdefg\n" * 375000), "3 MB through the pipe, intact")
            self.assertIn(b"exit=0", err)

            rc, out, err = self.probe("exec", cid, "-t", "-i", "sh", "-c",
                                      "tty; stty size; echo $TERM")
            self.assertEqual(rc, 0, err)
            self.assertRegex(out, rb"^/dev/pts/\d+\r\n24 80\r\nxterm\r\n$",
                             "a terminal, 80x24, TERM=xterm")
            self.assertIn(b"exit=0", err)

            rc, out, err = self.probe("exec", cid, "/no/such/tool")
            self.assertIn(b"exit=-1", err)
            self.assertIn(b"/no/such/tool", err)

            rc, out, err = self.probe("exec", "f" * 64, "true")
            self.assertEqual(rc, 3)
            self.assertIn(b"error code=2 ", err, "unknown container: ENOENT")
        self.assertRunning(cid)

    def test_exec_ends_with_its_container(self):
        """The pod's PID namespace (the CRI default) would keep an exec'd process alive
        after its container's init exited; crid kills it then, so its session ends."""
        pod = self.run_pod()
        cid = self.run_ctr(pod, "brief", script="while [ ! -e /tmp/stop ]; do sleep 0.05; done")
        with self.daemon_down():
            rc, out, err = self.probe("exec", cid, "sh", "-c",
                                      "echo up; touch /tmp/stop; exec sleep 1000", timeout=60)
            self.assertEqual((rc, out), (0, b"up\n"), err)
            self.assertIn(b"exit=137", err, "killed with its container")
        self.wait_exited(cid)

    def test_attach_stdin_once_closes_at_the_end(self):
        pod = self.run_pod()
        cid = self.stdin_ctr(pod, "once", True, script="cat; echo cat-done; sleep 3600")
        with self.daemon_down():
            rc, out, err = self.probe("attach", cid, "-i", "-n", str(len(b"hello\ncat-done\n")),
                                      input=b"hello\n")
            self.assertEqual((rc, out), (0, b"hello\ncat-done\n"),
                             "the input came back, then cat saw EOF: %r" % err)
            rc, out, err = self.probe("attach", cid, "-i")
            self.assertEqual(rc, 3)
            self.assertIn(b"error code=19 ", err, "stdin closed for good: ENODEV")
        self.assertRunning(cid)
        self.assertEqual(self.log_lines(pod, "once"), [b"hello", b"cat-done"])

    def test_attach_stdin_stays_open_without_once(self):
        pod = self.run_pod()
        cid = self.stdin_ctr(pod, "many", False, script="cat; echo cat-done; sleep 3600")
        with self.daemon_down():
            rc, out, err = self.probe("attach", cid, "-i", "-n", "6", input=b"first\n")
            self.assertEqual((rc, out), (0, b"first\n"), err)
            rc, out, err = self.probe("attach", cid, "-i", "-n", "7", input=b"second\n")
            self.assertEqual((rc, out), (0, b"second\n"), err)
        time.sleep(0.3)
        self.assertEqual(self.log_lines(pod, "many"), [b"first", b"second"], "cat still reads")

    def test_attach_ended_and_paced(self):
        pod = self.run_pod()
        cid = self.stdin_ctr(pod, "seq", False, script="read go; seq 1 20000")
        want = b"".join(b"%d\n" % i for i in range(1, 20001))
        with self.daemon_down():
            rc, out, err = self.probe("attach", cid, "-i", "-p", input=b"go\n", timeout=120)
            self.assertEqual(rc, 0, err)
            self.assertEqual(out, want, "every byte, in order, through a pausing attach")
            self.assertIn(b"ended", err, "the container's output ended")
        self.wait_exited(cid)
        self.assertEqual(self.log_lines(pod, "seq"), [b"%d" % i for i in range(1, 20001)])

    def test_resize_reaches_the_terminal(self):
        pod = self.run_pod()
        cfg = self.ctr_config("winch", script="trap 'stty size' WINCH; echo ready; "
                                              "while :; do sleep 0.1; done")
        cfg.tty = True
        cid = self.create(pod, cfg)
        self.start(cid)
        self.wait_log(pod, "winch", lambda ls: b"ready\r" in ls)
        with self.daemon_down():
            rc, out, err = self.probe("resize", cid, "100", "30")
            self.assertEqual(rc, 0, err)
            rc, out, err = self.probe("resize", "f" * 64, "100", "30")
            self.assertIn(b"error code=2 ", err)
        self.wait_log(pod, "winch", lambda ls: b"30 100\r" in ls)
        plain = self.run_ctr(pod, "plain", script="sleep 3600")
        with self.daemon_down():
            rc, out, err = self.probe("resize", plain, "100", "30")
            self.assertEqual(rc, 3)
            self.assertIn(b"error code=19 ", err, "no terminal: ENODEV")


class CtrStreamRunc(_Tests, CtrBase):
    runtime = "runc"


class CtrStreamCrun(_Tests, CtrBase):
    runtime = "crun"
