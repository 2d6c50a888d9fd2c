"""Container log lines across kill -9 of the daemon (real runc, python3-grpcio):
every line a container wrote is in its CRI log exactly once and in order.

- crid killed at a named step of the log writer (a debug point armed with
  CRID_TEST=1 CRID_DEBUG_ABORT_AT=<step>): after the bytes left the FIFO but
  before they reached the log ("log-after-read"), after the writer noted
  what it is about to write ("log-after-intent"), and after they reached
  the log but before the writer noted that ("log-after-write");
- a random kill loop: N containers each printing a numbered line every
  10 ms, crid killed K times at random moments and restarted. Short by
  default; CRID_LOG_KILL_CONTAINERS / CRID_LOG_KILL_KILLS make it longer.
"""
import os
import random
import signal
import time

import grpc

import api_pb2
from ctr_fixture import CtrBase, setup_registry, teardown_registry


def setUpModule():
    setup_registry()


def tearDownModule():
    teardown_registry()


def writer(tag, n):
    """|n| numbered lines, one per 10 ms until the test makes /tmp/fast (after its last
    kill: the rest is written at once)."""
    return ("i=0; while [ $i -lt %d ]; do echo %s-$i; i=$((i+1)); "
            "[ -e /tmp/fast ] || sleep 0.01; done" % (n, tag))


class _Tests:
    def tearDown(self):
        self.doCleanups()
        try:
            self.assertNothingLeft()
        finally:
            self.crid.remove_all_pods()

    def kill(self):
        self.channel.close()
        self.crid.proc.send_signal(signal.SIGKILL)
        self.crid.proc.wait()
        self.crid._close_files()

    def start_again(self, env=None):
        self.crid.env = env
        self.crid.start(timeout=60)
        type(self).connect()
        self.rt = type(self).rt

    def die_at(self, step):
        """Starts crid with |step| armed and waits for it to kill itself there."""
        self.crid.env = {"CRID_TEST": "1", "CRID_DEBUG_ABORT_AT": step}
        self.crid.spawn()
        try:
            rc = self.crid.proc.wait(60)
        except Exception:
            self.fail("crid did not reach debug point %s within 60 s:\n%s"
                      % (step, self.crid.log(60)))
        finally:
            self.crid._close_files()
            self.crid.env = None
        self.assertEqual(rc, -signal.SIGKILL, "crid ended with %s, not at debug point %s:\n%s"
                         % (rc, step, self.crid.log(60)))
        self.assertIn("debug point `%s` reached" % step, self.crid.log(40))

    def hurry(self, cid):
        """The writer |cid| writes its remaining lines at once (it may have ended)."""
        try:
            self.exec_sync(cid, ["touch", "/tmp/fast"])
        except grpc.RpcError as e:  # it ends at its own pace: expect_all checks it the same
            print("\n  writer %s not hurried: %s" % (cid[:12], e.details()))

    def expect_all(self, pod, name, tag, n, cid):
        # a line costs a fork of sleep: on a loaded 2-core host far more than 10 ms
        self.wait_exited(cid, timeout=120 + 0.2 * n)
        got = self.log_lines(pod, name)
        want = [("%s-%d" % (tag, i)).encode() for i in range(n)]
        if got != want:
            missing = sorted(set(want) - set(got), key=want.index)
            doubled = sorted({x for x in got if got.count(x) > 1})
            self.fail("log of %s: %d lines, want %d; missing %r, doubled %r" % (
                name, len(got), n, missing[:10], doubled[:10]))

    def crash_at(self, step):
        pod = self.run_pod()
        n = 800  # ~8 s of output at 10 ms a line, more on a busy host
        cid = self.run_ctr(pod, "w", script=writer("w", n))
        self.wait_log(pod, "w", lambda ls: len(ls) >= 20)
        self.kill()
        time.sleep(0.3)  # lines wait in the FIFO: the first read after start has them
        self.die_at(step)
        self.start_again()
        self.hurry(cid)
        self.expect_all(pod, "w", "w", n, cid)

    def test_kill_after_read(self):
        """Killed after the bytes left the FIFO, before they were in the log: none lost."""
        self.crash_at("log-after-read")

    def test_kill_after_intent(self):
        """Killed after the writer said what it will write, before writing: none lost."""
        self.crash_at("log-after-intent")

    def test_kill_after_write(self):
        """Killed after the bytes reached the log, before the writer noted it: none doubled."""
        self.crash_at("log-after-write")

    def test_random_kills(self):
        """N writers, K kills at random moments: every log has each number once, in order."""
        nctr = int(os.environ.get("CRID_LOG_KILL_CONTAINERS", "5"))
        kills = int(os.environ.get("CRID_LOG_KILL_KILLS", "3"))
        runs = int(os.environ.get("CRID_LOG_KILL_RUNS", "1"))
        seed = os.environ.get("CRID_LOG_KILL_SEED") or str(time.time_ns())
        rnd = random.Random(seed)
        total_kills = total_lines = 0
        for run in range(runs):
            k, lines = self.random_kills(rnd, nctr, kills)
            total_kills += k
            total_lines += lines
            print("\nlog-kill run %d/%d (seed %s): %d containers, %d kills, %d lines checked"
                  % (run + 1, runs, seed, nctr, k, lines))
        print("log-kill total: %d runs, %d kills, %d lines checked"
              % (runs, total_kills, total_lines))

    def random_kills(self, rnd, nctr, kills):
        n = 300 + kills * 150
        pod = self.run_pod(cleanup=False)
        cids = [self.run_ctr(pod, "c%d" % i, script=writer("c%d" % i, n))
                for i in range(nctr)]
        for i in range(nctr):
            self.wait_log(pod, "c%d" % i, lambda ls: len(ls) >= 5, timeout=30)
        done = 0
        for _ in range(kills):
            time.sleep(rnd.uniform(0.05, 1.0))
            if all(self.status(c).status.state == api_pb2.CONTAINER_EXITED for c in cids):
                break
            self.kill()
            done += 1
            time.sleep(rnd.uniform(0.0, 0.3))
            self.start_again()
        for cid in cids:
            self.hurry(cid)
        for i, cid in enumerate(cids):
            self.expect_all(pod, "c%d" % i, "c%d" % i, n, cid)
        self.remove_pod(pod)
        return done, nctr * n


class LogKillRunc(_Tests, CtrBase):
    runtime = "runc"
