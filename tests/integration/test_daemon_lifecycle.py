"""Start-up, shutdown and command line of the real daemon: socket file mode,
stale sockets, a second instance, graceful SIGTERM with calls in flight,
--version/--help, configuration-file errors. Every test starts its own daemon(s)."""

import os
import re
import signal
import socket
import stat
import subprocess
import tempfile
import time
import unittest

from crid_fixture import (CRID_BIN, RUNTIME_SERVICE, Crid, FrameConn, api_pb2, grpc_frame,
                          grpc_request_headers, socket_accepts, stream_end_seen, stream_summary,
                          version_ok)

VERSION_PATH = "/%s/Version" % RUNTIME_SERVICE


class LifecycleTest(unittest.TestCase):

    def setUp(self):
        self.daemons = []
        self.tmp = tempfile.mkdtemp(prefix="crid-it-life-")

    def tearDown(self):
        failed = self._outcome_failed()
        for d in self.daemons:
            if failed:
                print("\n----- %s stderr (%s) -----\n%s\n-----" % (d.name, d.stderr_path, d.log()))
            d.cleanup()  # killed, its keeper too, crun's pin unmounted (else rmtree fails on it)
        if not failed and not os.environ.get("CRID_KEEP"):
            import shutil
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _outcome_failed(self):
        outcome = getattr(self, "_outcome", None)
        if outcome is None:
            return False
        errs = getattr(outcome, "errors", None)
        if errs is not None:  # python <= 3.10
            return any(e for _, e in errs)
        res = getattr(outcome, "result", None)
        if res is None:
            return False
        return any(t is self for t, _ in res.failures + res.errors)

    def daemon(self, name="crid", **kw):
        d = Crid(tmpdir=self.tmp, name=name, **kw)
        self.daemons.append(d)
        return d

    def assertCleanExit(self, d, timeout=15):
        rc = d.stop(timeout)
        self.assertEqual(rc, 0, "crid exited %s after SIGTERM (want 0)\nstderr:\n%s"
                         % (rc, d.log()))

    def run_cli(self, args, timeout=20):
        return subprocess.run([CRID_BIN] + args, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=timeout, text=True, errors="replace")

    # -- socket ---------------------------------------------------------------

    def test_socket_mode_0660(self):
        d = self.daemon().start()
        st = os.stat(d.sock)
        self.assertTrue(stat.S_ISSOCK(st.st_mode), "listen path is not a socket")
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o660,
                         "socket mode %o, want 0660" % stat.S_IMODE(st.st_mode))
        version_ok(d)
        self.assertCleanExit(d)
        self.assertFalse(os.path.exists(d.sock), "socket file left behind after SIGTERM")

    def test_socket_mode_independent_of_umask(self):
        d = self.daemon()
        old = os.umask(0o000)
        try:
            d.start()
        finally:
            os.umask(old)
        self.assertEqual(stat.S_IMODE(os.stat(d.sock).st_mode), 0o660)
        self.assertCleanExit(d)

    def test_stale_socket_replaced(self):
        d = self.daemon()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(d.sock)
        s.close()  # socket file remains, nobody listens
        self.assertTrue(os.path.exists(d.sock))
        self.assertFalse(socket_accepts(d.sock))
        d.start()
        version_ok(d)
        self.assertCleanExit(d)

    def test_stale_plain_file_replaced(self):
        d = self.daemon()
        with open(d.sock, "w") as f:
            f.write("stale")
        d.start()
        self.assertTrue(stat.S_ISSOCK(os.stat(d.sock).st_mode))
        version_ok(d)
        self.assertCleanExit(d)

    def test_socket_parent_dir_created(self):
        d = self.daemon(socket_path=os.path.join(self.tmp, "sub", "dir", "crid.sock"))
        d.start()
        version_ok(d)
        self.assertCleanExit(d)

    def test_second_instance_refused(self):
        first = self.daemon().start()
        second = self.daemon(name="second", socket_path=first.sock)
        second.spawn()
        rc = second.wait(15)
        self.assertIsNotNone(rc, "second daemon on a live socket did not exit\nstderr:\n%s"
                             % second.log())
        self.assertNotEqual(rc, 0, "second daemon on a live socket exited 0")
        err = second.log_text().lower()
        self.assertTrue("another" in err and "listen" in err,
                        "second daemon's message does not say another instance is listening:\n%s"
                        % second.log())
        # the first is undisturbed
        self.assertTrue(first.alive())
        self.assertTrue(os.path.exists(first.sock), "second daemon removed the live socket")
        version_ok(first)
        self.assertCleanExit(first)

    # -- signals / graceful shutdown ------------------------------------------

    def _open_inflight(self, d):
        """A Version call whose body has not been sent (a stream in flight)."""
        fc = FrameConn(d.sock)
        self.addCleanup(fc.close)
        # let the daemon's SETTINGS arrive first
        fc.collect(lambda fs: len(fs) >= 1, timeout=2)
        sid = fc.new_sid()
        fc.send_headers(sid, grpc_request_headers(VERSION_PATH, timeout="60S"), end_stream=False)
        time.sleep(0.2)
        return fc, sid

    def test_sigterm_drains_inflight_call(self):
        from hyperframe.frame import GoAwayFrame
        d = self.daemon().start()
        fc, sid = self._open_inflight(d)
        t0 = time.monotonic()
        d.signal(signal.SIGTERM)
        frames = fc.collect(lambda fs: any(isinstance(f, GoAwayFrame) for f in fs), timeout=5)
        ga = [f for f in frames if isinstance(f, GoAwayFrame)]
        self.assertTrue(ga, "no GOAWAY after SIGTERM; frames: %s" % frames)
        self.assertEqual(ga[0].error_code, 0, "GOAWAY with an error code on graceful shutdown")
        self.assertGreaterEqual(ga[-1].last_stream_id, sid,
                                "GOAWAY last-stream-id %d drops in-flight stream %d"
                                % (ga[-1].last_stream_id, sid))
        # the in-flight call completes normally once its body arrives
        body = grpc_frame(api_pb2.VersionRequest(version="0.1.0").SerializeToString())
        try:
            fc.send_data(sid, body, end_stream=True)
        except (BrokenPipeError, ConnectionResetError):
            self.fail("daemon closed the connection before the in-flight call finished\n" + d.log())
        frames += fc.collect(lambda fs: stream_end_seen(frames + fs, sid), timeout=5)
        hs, data, rst = stream_summary(frames, sid)
        self.assertIsNone(rst, "in-flight stream reset instead of answered: %s" % frames)
        self.assertTrue(hs, "no response on the in-flight stream: %s" % frames)
        self.assertEqual(dict(hs[-1]).get("grpc-status"), "0", "in-flight call failed: %s" % hs)
        self.assertTrue(data, "in-flight call got no response message")
        r = api_pb2.VersionResponse.FromString(data[5:])
        self.assertEqual(r.runtime_name, "crid")
        # then the daemon exits 0 and removes its socket
        rc = d.wait(10)
        self.assertEqual(rc, 0, "exit status %s after SIGTERM\nstderr:\n%s" % (rc, d.log()))
        self.assertLess(time.monotonic() - t0, 10)
        self.assertFalse(os.path.exists(d.sock), "socket file left behind after SIGTERM")

    def test_sigterm_bounded_when_client_stalls(self):
        d = self.daemon().start()
        fc, sid = self._open_inflight(d)
        t0 = time.monotonic()
        d.signal(signal.SIGTERM)
        # the client never finishes its request: the daemon must still answer
        # (or reset) the stream and exit within its grace bound (~5 s)
        frames = fc.collect(lambda fs: stream_end_seen(fs, sid), timeout=8)
        answered = stream_end_seen(frames, sid) or fc.eof
        self.assertTrue(answered, "stalled in-flight stream not answered within 8 s of SIGTERM; "
                        "frames: %s" % frames)
        rc = d.wait(10)
        elapsed = time.monotonic() - t0
        self.assertIsNotNone(rc, "daemon still running %.1f s after SIGTERM with a stalled "
                             "client\nstderr:\n%s" % (elapsed, d.log()))
        self.assertEqual(rc, 0, "exit status %s\nstderr:\n%s" % (rc, d.log()))
        self.assertLess(elapsed, 8.0, "shutdown took %.1f s (bound ~5 s)" % elapsed)
        self.assertFalse(os.path.exists(d.sock))

    def test_sigterm_idle_connections(self):
        d = self.daemon().start()
        socks = []
        for _ in range(10):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(d.sock)
            socks.append(s)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(d.sock)
        s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        socks.append(s)
        t0 = time.monotonic()
        self.assertCleanExit(d, timeout=10)
        self.assertLess(time.monotonic() - t0, 8.0)
        for s in socks:
            s.close()
        self.assertFalse(os.path.exists(d.sock))

    def test_sigint_clean_exit(self):
        d = self.daemon().start()
        version_ok(d)
        d.signal(signal.SIGINT)
        rc = d.wait(10)
        self.assertEqual(rc, 0, "exit status %s after SIGINT\nstderr:\n%s" % (rc, d.log()))

    def test_restart_same_dirs(self):
        d = self.daemon().start()
        version_ok(d)
        self.assertCleanExit(d)
        d2 = self.daemon(name="crid")
        d2.start()
        version_ok(d2)
        self.assertCleanExit(d2)

    # -- command line / configuration -----------------------------------------

    def test_version_flag(self):
        r = self.run_cli(["--version"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("0.1.0", r.stdout + r.stderr)

    def test_help_flag(self):
        r = self.run_cli(["--help"])
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout + r.stderr
        self.assertIn("--listen", out)
        self.assertIn("--config", out)

    def test_unknown_flag(self):
        r = self.run_cli(["--no-such-flag"])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("no-such-flag", r.stderr)

    def test_bad_config_unknown_key(self):
        cfg = os.path.join(self.tmp, "bad.toml")
        with open(cfg, "w") as f:
            f.write("# crid test config\n\nno_such_key_xyz = 1\n")
        d = self.daemon(config=cfg)
        d.spawn()
        rc = d.wait(15)
        self.assertIsNotNone(rc, "daemon started with an unknown config key")
        self.assertNotEqual(rc, 0)
        err = d.log_text()
        self.assertRegex(err, r":\d+:\d+:", "config error has no file:line:col location")
        self.assertIn(cfg, err, "config error does not name the file")
        self.assertRegex(err, re.escape(cfg) + r":3:\d+:", "config error points at the wrong line")
        self.assertIn("no_such_key_xyz", err)
        self.assertFalse(socket_accepts(d.sock))

    def test_bad_config_syntax(self):
        cfg = os.path.join(self.tmp, "syntax.toml")
        with open(cfg, "w") as f:
            f.write('[crid]\nlisten = "unterminated\n')
        d = self.daemon(config=cfg)
        d.spawn()
        rc = d.wait(15)
        self.assertIsNotNone(rc, "daemon started with a syntactically broken config")
        self.assertNotEqual(rc, 0)
        self.assertRegex(d.log_text(), re.escape(cfg) + r":\d+:\d+:")

    def test_missing_config_file(self):
        cfg = os.path.join(self.tmp, "does-not-exist.toml")
        d = self.daemon(config=cfg)
        d.spawn()
        rc = d.wait(15)
        self.assertIsNotNone(rc, "daemon started with a missing --config file")
        self.assertNotEqual(rc, 0)
        self.assertIn(cfg, d.log_text(), "error does not name the missing config path")

    def test_example_config_loads(self):
        example = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__)))), "config.example.toml")
        if not os.path.exists(example):
            self.skipTest("config.example.toml not present")
        d = self.daemon(config=example)
        d.start()
        version_ok(d)
        self.assertCleanExit(d)


if __name__ == "__main__":
    unittest.main(verbosity=2)
