"""sd_notify (issue 15): crid tells systemd its state over $NOTIFY_SOCKET, tested
against a datagram socket this test listens on, as systemd would: READY=1
once the CRI socket serves (exactly once), STOPPING=1 on SIGTERM, RELOADING=1
then READY=1 again from the re-executed image on SIGHUP (same pid), the
abstract-namespace form (@name), and a daemon that starts without the
variable sends nothing."""
import array
import os
import select
import shutil
import signal
import socket
import tempfile
import time
import unittest

from crid_fixture import Crid, socket_accepts, version_ok


class Listener:
    """A unix datagram socket standing in for systemd's notification socket."""

    def __init__(self, abstract=False):
        self.tmp = tempfile.mkdtemp(prefix="crid-it-notify-")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = "crid-it-notify-%d-%s" % (os.getpid(), os.path.basename(self.tmp))
            self.sock.bind("\0" + name)
            self.env = "@" + name
        else:
            self.env = os.path.join(self.tmp, "notify")
            self.sock.bind(self.env)

    def recv(self, timeout):
        """One datagram's text (fds passed with it closed), or None after |timeout|."""
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            return None
        fds = array.array("i")
        msg, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(64 * fds.itemsize))
        for level, typ, data in anc:
            if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                fds.frombytes(data[:len(data) - len(data) % fds.itemsize])
        for fd in fds:
            os.close(fd)
        return msg.decode()

    def wait_for(self, want, timeout=20.0):
        """The states received until one equal to |want| (included); fails on timeout."""
        seen, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = self.recv(deadline - time.monotonic())
            if m is None:
                break
            seen.append(m)
            if m == want:
                return seen
        raise AssertionError("no %r within %.0fs; got %r" % (want, timeout, seen))

    def close(self):
        self.sock.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


class SdNotify(unittest.TestCase):
    def daemon(self, listener):
        c = Crid(env={"NOTIFY_SOCKET": listener.env} if listener else None)
        self.addCleanup(c.cleanup)
        return c

    def listener(self, abstract=False):
        lst = Listener(abstract)
        self.addCleanup(lst.close)
        return lst

    def test_ready_then_stopping(self):
        lst = self.listener()
        c = self.daemon(lst)
        c.spawn()
        seen = lst.wait_for("READY=1")
        # READY=1 means the socket serves: connect at once, no polling
        self.assertTrue(socket_accepts(c.sock), "READY=1 before the CRI socket listened")
        version_ok(c)
        self.assertEqual(seen.count("READY=1"), 1)
        self.assertIsNone(lst.recv(0.5), "nothing more while idle")
        c.signal(signal.SIGTERM)
        self.assertEqual(lst.wait_for("STOPPING=1"), ["STOPPING=1"])
        self.assertEqual(c.wait(20), 0, c.log())

    def test_sighup_reloading_then_ready(self):
        lst = self.listener()
        c = self.daemon(lst)
        c.spawn()
        lst.wait_for("READY=1")
        pid = c.pid
        c.signal(signal.SIGHUP)
        self.assertEqual(lst.wait_for("RELOADING=1"), ["RELOADING=1"])
        lst.wait_for("READY=1")
        self.assertEqual(c.pid, pid)
        self.assertTrue(c.alive())
        version_ok(c)
        self.assertEqual(c.stop(), 0, c.log())

    def test_abstract_socket(self):
        lst = self.listener(abstract=True)
        c = self.daemon(lst)
        c.spawn()
        lst.wait_for("READY=1")
        version_ok(c)
        self.assertEqual(c.stop(), 0, c.log())

    def test_without_notify_socket(self):
        """Not under systemd: nothing sent, nothing logged about it."""
        lst = self.listener()
        c = self.daemon(None)
        c.start()
        self.assertIsNone(lst.recv(0.3))
        self.assertEqual(c.stop(), 0, c.log())
        self.assertNotIn("sd_notify", c.log_text())

    def test_unreachable_socket_is_not_fatal(self):
        """A NOTIFY_SOCKET nobody listens on: a warning, and crid serves all the same."""
        tmp = tempfile.mkdtemp(prefix="crid-it-notify-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        c = Crid(env={"NOTIFY_SOCKET": os.path.join(tmp, "gone")})
        self.addCleanup(c.cleanup)
        c.start()
        version_ok(c)
        self.assertIsNotNone(c.wait_for_log(r"warn sd_notify READY=1: send"), c.log())
        self.assertEqual(c.stop(), 0, c.log())
