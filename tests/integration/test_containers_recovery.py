"""Containers survive kill -9 of the daemon (real runc/crun, one class per
handler, skipped with the daemon's reason where unusable): a container
writing a line every 10 ms keeps every line exactly once across the crash,
whether it is still running when crid returns or exits while crid is down,
in which case its real exit code is reported (the pidfd kept in the node's
fd store); stop, exec and removal work on the recovered containers, and a
graceful restart (SIGTERM) keeps them too."""
import json
import signal
import time

import grpc

import api_pb2
from ctr_fixture import CtrBase, setup_registry, teardown_registry


def setUpModule():
    setup_registry()


def tearDownModule():
    teardown_registry()


def ended(pid):
    """Whether host process |pid| has ended (a zombie has: its reaper may be slow)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def writer(n, code):
    """|n| numbered lines, one per 10 ms until the test makes /tmp/fast (once what it
    checks no longer needs the writer slow: the rest is written at once), then |code|."""
    return ("i=0; while [ $i -lt %d ]; do echo line-$i; i=$((i+1)); "
            "[ -e /tmp/fast ] || sleep 0.01; done; exit %d" % (n, code))


class _Tests:
    def tearDown(self):
        self.doCleanups()
        try:
            self.assertNothingLeft()
        finally:
            self.crid.remove_all_pods()

    def crash(self, down_for=0.0, until=None):
        """kill -9 of crid, restarted after |down_for| s or once |until()| holds."""
        self.crid.proc.send_signal(signal.SIGKILL)
        self.crid.proc.wait()
        self.crid._close_files()
        self.channel.close()
        time.sleep(down_for)
        deadline = time.monotonic() + 120
        while until is not None and not until():
            self.assertLess(time.monotonic(), deadline, "%s never held while crid was down"
                            % until.__doc__)
            time.sleep(0.05)
        self.crid.start()
        type(self).connect()
        self.rt = type(self).rt

    def test_exit_while_down(self):
        """300 lines, then exit 7, all while crid is down: every line once, exit code 7."""
        pod = self.run_pod()
        n = 300
        cid = self.run_ctr(pod, "gone", script=writer(n, 7))
        self.wait_log(pod, "gone", lambda ls: len(ls) >= 20)
        pid = json.loads(self.status(cid, verbose=True).info["info"])["pid"]

        def writer_ended():
            """the writer ended"""
            return ended(pid)
        self.crash(until=writer_ended)  # the writer ends while crid is down
        st = self.wait_exited(cid, timeout=20)
        self.assertEqual((st.exit_code, st.reason), (7, "Error"))
        self.assertEqual(self.log_lines(pod, "gone"), [b"line-%d" % i for i in range(n)])

    def test_running_across_crash(self):
        """Still writing when crid returns: reading resumes, nothing lost or doubled."""
        pod = self.run_pod()
        n = 600
        cid = self.run_ctr(pod, "live", script=writer(n, 3))
        other = self.run_ctr(pod, "idle", image="sleep")
        self.wait_log(pod, "live", lambda ls: len(ls) >= 50)
        self.crash(0.5)
        st = self.status(cid).status
        self.assertEqual(st.state, api_pb2.CONTAINER_RUNNING,
                         "finished too early for this test: log has %d lines" %
                         len(self.log_lines(pod, "live")))
        r = self.exec_sync(other, ["echo", "hi"])
        self.assertEqual(r.stdout, b"hi\n")
        try:
            self.exec_sync(cid, ["touch", "/tmp/fast"])
        except grpc.RpcError:
            pass  # the writer ended meanwhile: the lines are checked the same
        st = self.wait_exited(cid, timeout=30)
        self.assertEqual(st.exit_code, 3)
        self.assertEqual(self.log_lines(pod, "live"), [b"line-%d" % i for i in range(n)])
        self.stop(other, timeout=5)
        self.assertEqual(self.status(other).status.exit_code, 0)

    def test_graceful_restart_keeps_containers(self):
        pod = self.run_pod()
        cid = self.run_ctr(pod, "keep", image="sleep")
        exited = self.run_ctr(pod, "done", script="echo bye; exit 4")
        self.wait_exited(exited)
        self.channel.close()
        self.assertEqual(self.crid.stop(), 0)
        self.crid.start()
        type(self).connect()
        self.rt = type(self).rt
        self.assertEqual(self.status(cid).status.state, api_pb2.CONTAINER_RUNNING)
        st = self.status(exited).status
        self.assertEqual((st.state, st.exit_code), (api_pb2.CONTAINER_EXITED, 4))
        self.assertEqual(self.log_lines(pod, "done"), [b"bye"])
        self.stop(cid, timeout=5)
        self.assertEqual(self.status(cid).status.exit_code, 0)


class RecoveryRunc(_Tests, CtrBase):
    runtime = "runc"


class RecoveryCrun(_Tests, CtrBase):
    runtime = "crun"
