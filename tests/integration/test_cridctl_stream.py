"""cridctl's streaming verbs against the real daemon (cli/stream_client.c,
stream_exec.c, ws_exec.c, portforward.c): exec (streaming unless -s) and
attach over SPDY and over WebSocket, port-forward over SPDY and SPDY
tunnelled in a WebSocket.

Checked: stdout, stderr and the exit code from the v4/v5 status; 1 MiB of
stdin through `cat` back byte for byte (stdin's end reaches the process: FIN
on SPDY, v5's close on WebSocket); -i -t under a real pty: the size sent at
start, a resize on SIGWINCH seen by `stty size`, the local terminal restored
afterwards; attach -i to a stdin_once `cat` container; the RPC's error for a
missing container; bad transports; port-forward to a busybox httpd in the pod
(two connections, one at a time and at once; a port nothing listens on
gives the server's error and the session goes on).
"""
import fcntl
import os
import re
import select
import signal
import socket
import struct
import subprocess
import termios
import time

from crid_fixture import REPO
from ctr_fixture import CtrBase, setup_registry, teardown_registry

BUILD = os.environ.get("CRID_BUILD", "build")
CRIDCTL = os.path.join(BUILD if os.path.isabs(BUILD) else os.path.join(REPO, BUILD), "cridctl")


def setUpModule():
    setup_registry()


def tearDownModule():
    teardown_registry()


class CridctlStreamTests(CtrBase):
    """One daemon, one pod with a sleeper container the exec tests use."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pod = None

    def setUp(self):
        if type(self).pod is None:
            type(self).pod = self.run_pod(cleanup=False)
            type(self).sleeper = self.run_ctr(self.pod, "sleeper", image="sleep")

    def ctl(self, *args, input=None, rc=0, timeout=120):
        p = subprocess.run([CRIDCTL, "-r", self.crid.target(), "-t", "30s"] + list(args),
                           input=input, capture_output=True, timeout=timeout)
        if rc is not None:
            self.assertEqual(p.returncode, rc, "cridctl %s: %r %r" % (" ".join(args), p.stdout,
                                                                      p.stderr[-2000:]))
        return p

    def test_exec_output_and_exit_code(self):
        for transport in ("spdy", "websocket"):
            p = self.ctl("exec", "--transport", transport, self.sleeper, "sh", "-c",
                         "echo out; echo err >&2; exit 3", rc=3)
            self.assertEqual((p.stdout, p.stderr), (b"out\n", b"err\n"), transport)
            p = self.ctl("exec", "--transport", transport, self.sleeper, "true")
            self.assertEqual((p.stdout, p.stderr), (b"", b""), transport)
            # -t without -i: a terminal for the command's output, no stdin stream
            p = self.ctl("exec", "-t", "--transport", transport, self.sleeper, "sh", "-c",
                         "test -t 1 && echo on-a-tty; test -t 0 || echo no-stdin-tty", rc=0)
            self.assertIn(b"on-a-tty\r\n", p.stdout, transport)
            # the same command through ExecSync (-s) gives the same
            p = self.ctl("exec", "-s", self.sleeper, "sh", "-c", "echo out; exit 3", rc=3)
            self.assertEqual(p.stdout, b"out\n")

    def test_exec_stdin_round_trip(self):
        data = os.urandom(1 << 20)
        for transport in ("spdy", "websocket"):
            p = self.ctl("exec", "-i", "--transport", transport, self.sleeper, "cat",
                         input=data)
            self.assertEqual(len(p.stdout), len(data), transport)
            self.assertTrue(p.stdout == data, "%s: bytes differ" % transport)
            # the process sees stdin's end: wc prints and exits with its status
            p = self.ctl("exec", "-i", "--transport", transport, self.sleeper, "sh", "-c",
                         "wc -c; exit 5", input=b"12345", rc=5)
            self.assertEqual(p.stdout.strip(), b"5", transport)

    def pty_session(self, args, script, rows=24, cols=80, resize=None, timeout=60):
        """cridctl under a real pty; |script|: (output awaited, bytes typed or a callable).
        Returns (exit code, output, whether the terminal settings came back)."""
        m, s = os.openpty()
        fcntl.ioctl(s, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        before = termios.tcgetattr(s)
        p = subprocess.Popen([CRIDCTL, "-r", self.crid.target()] + args, stdin=s, stdout=s,
                             stderr=s, start_new_session=True, close_fds=True)
        out, steps, deadline = b"", list(script), time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if steps and steps[0][0] in out:
                    step = steps.pop(0)[1]
                    if callable(step):
                        step(m, p)
                    else:
                        os.write(m, step)
                r, _, _ = select.select([m], [], [], 0.2)
                if not r:
                    if p.poll() is not None and not select.select([m], [], [], 0.2)[0]:
                        break
                    continue
                try:
                    b = os.read(m, 65536)
                except OSError:
                    b = b""
                if not b:
                    break
                out += b
            else:
                self.fail("cridctl %s did not end; terminal showed %r" % (args, out[-500:]))
            rc = p.wait(timeout=10)
            return rc, out, termios.tcgetattr(s) == before
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            os.close(m)
            os.close(s)

    def test_exec_tty(self):
        def resize(m, p):
            fcntl.ioctl(m, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
            p.send_signal(signal.SIGWINCH)
            time.sleep(0.5)  # the resize message travels before the next command
            os.write(m, b"stty size; echo R-$((6*7))\r")

        for transport in ("spdy", "websocket"):
            rc, out, restored = self.pty_session(
                ["exec", "-i", "-t", "--transport", transport, self.sleeper, "sh"],
                [(b"#", b"stty size; echo A-$((2*3))\r"), (b"A-6", resize),
                 (b"R-42", b"exit 7\r")], rows=33, cols=101)
            self.assertIn(b"33 101", out, "%s: the size at start: %r" % (transport, out))
            self.assertIn(b"40 120", out, "%s: the size after SIGWINCH: %r" % (transport, out))
            self.assertEqual(rc, 7, "%s: %r" % (transport, out))
            self.assertTrue(restored, "%s: the terminal was left changed" % transport)

    def test_exec_tty_sigterm_restores_terminal(self):
        for transport in ("spdy", "websocket"):
            rc, out, restored = self.pty_session(
                ["exec", "-i", "-t", "--transport", transport, self.sleeper, "sh"],
                [(b"#", b"echo B-$((3*3))\r"),
                 (b"B-9", lambda m, p: p.send_signal(signal.SIGTERM))])
            self.assertEqual(rc, 1, "%s: %r" % (transport, out))
            self.assertIn(b"Terminated: the session is left", out, transport)
            self.assertTrue(restored, "%s: SIGTERM left the terminal raw" % transport)

    def test_exec_killed_command(self):
        """A command killed by SIGKILL: NonZeroExitCode 137 in the status, cridctl's too."""
        for transport in ("spdy", "websocket"):
            p = self.ctl("exec", "--transport", transport, self.sleeper, "sh", "-c",
                         "echo before; kill -9 $$", rc=137)
            self.assertEqual(p.stdout, b"before\n", transport)

    def test_attach_stdin(self):
        for transport in ("spdy", "websocket"):
            cfg = self.ctr_config("cat-" + transport, command=["cat"])
            cfg.stdin = True
            cfg.stdin_once = True
            cid = self.create(self.pod, cfg)
            self.start(cid)
            p = self.ctl("attach", "-i", "--transport", transport, cid, input=b"ping\npong\n")
            self.assertEqual(p.stdout, b"ping\npong\n", transport)
            self.wait_exited(cid)
            self.assertEqual(self.status(cid).status.exit_code, 0)

    def test_errors(self):
        missing = "f" * 64
        p = self.ctl("exec", missing, "true", rc=1)
        self.assertRegex(p.stderr.decode(), r"^cridctl: Exec: rpc error: code = NotFound")
        p = self.ctl("attach", missing, rc=1)
        self.assertRegex(p.stderr.decode(), r"^cridctl: Attach: rpc error: code = NotFound")
        p = self.ctl("exec", "--transport", "carrier-pigeon", self.sleeper, "true", rc=1)
        self.assertIn(b"unknown transport `carrier-pigeon`", p.stderr)
        p = self.ctl("port-forward", self.pod, "99999", rc=1)
        self.assertIn(b"invalid port `99999`", p.stderr)
        p = self.ctl("exec", "-s", "-t", self.sleeper, "true", rc=1)
        self.assertIn(b"cannot use --sync with -i or -t", p.stderr)

    def test_port_forward(self):
        pod = self.run_pod()
        self.run_ctr(pod, "httpd", script="mkdir -p /www && echo hello-from-pod > "
                     "/www/index.html && exec httpd -f -p 8080 -h /www")
        for transport in ("spdy", "websocket"):
            with self.subTest(transport=transport):
                self.port_forward(pod, transport)

    def port_forward(self, pod, transport):
        p = subprocess.Popen([CRIDCTL, "-r", self.crid.target(), "port-forward", "--transport",
                              transport, pod, ":8080", ":8081"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        self.addCleanup(lambda: (p.poll() is None and p.kill(), p.wait()))
        line = p.stdout.readline().decode()
        m = re.match(r"^Forwarding from 127\.0\.0\.1:(\d+) -> 8080$", line.strip())
        if not m:
            p.wait(timeout=30)  # no line: cridctl ended (or the test fails on the timeout)
            err = p.stderr.read().decode()
            if "port-forward sessions not built yet" in err or " 500 " in err:
                self.skipTest("the daemon has no port-forward sessions yet: %s" % err.strip())
            self.fail("no Forwarding line: %r %r" % (line, err))
        port = int(m.group(1))
        lines = []  # then [::1] for 8080 when the host has IPv6, then 127.0.0.1 for 8081
        while not lines or not lines[-1].startswith("Forwarding from 127.0.0.1:"):
            lines.append(p.stdout.readline().decode().strip())
            self.assertTrue(lines[-1], "cridctl ended: %r" % lines)
        self.assertTrue(lines[-1].endswith(" -> 8081"), lines)
        closed_port = int(lines[-1].split(":")[1].split(" ")[0])

        def get():
            with socket.create_connection(("127.0.0.1", port), timeout=30) as c:
                c.sendall(b"GET /index.html HTTP/1.0\r\n\r\n")
                data = b""
                while True:
                    b = c.recv(65536)
                    if not b:
                        return data
                    data += b

        deadline = time.monotonic() + 30
        while True:  # httpd may not listen yet: the server reports it on the error stream
            r = get()
            if b"hello-from-pod" in r or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertIn(b"200 OK", r)
        self.assertIn(b"hello-from-pod", get())
        # two at once on the one SPDY connection
        a = socket.create_connection(("127.0.0.1", port), timeout=30)
        b = socket.create_connection(("127.0.0.1", port), timeout=30)
        for c in (a, b):
            c.sendall(b"GET /index.html HTTP/1.0\r\n\r\n")
        for c in (a, b):
            data = b""
            while True:
                chunk = c.recv(65536)
                if not chunk:
                    break
                data += chunk
            c.close()
            self.assertIn(b"hello-from-pod", data)
        # nothing listens on 8081 in the pod: the local connection ends, the error is
        # printed, and the session goes on serving 8080
        with socket.create_connection(("127.0.0.1", closed_port), timeout=30) as c:
            c.sendall(b"GET / HTTP/1.0\r\n\r\n")
            self.assertEqual(c.recv(65536), b"")
        self.assertIn(b"hello-from-pod", get())
        self.assertIsNone(p.poll(), "port-forward ended early")
        p.send_signal(signal.SIGINT)
        p.wait(timeout=10)
        err = p.stderr.read().decode()
        self.assertRegex(err, r"E an error occurred forwarding %d -> 8081: .*8081" % closed_port)
