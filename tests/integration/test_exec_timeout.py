"""ExecSync's timeout through python3-grpcio against the real daemon and runc:
after ExecSync(timeout=1) answers DEADLINE_EXCEEDED, no process of that exec
remains in the container's PID namespace (seen from the host's /proc), and
what it started in its process group dies with it; ExecSync's output and
exit codes stay right."""
import os
import signal
import time

import grpc

import api_pb2
from ctr_fixture import CtrBase, setup_registry, teardown_registry

CODE = grpc.StatusCode


def setUpModule():
    setup_registry()


def tearDownModule():
    teardown_registry()


def procs_in_ns(ns):
    """{pid: argv} of the host's processes whose PID namespace is |ns|."""
    out = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            if os.readlink("/proc/%s/ns/pid" % p) != ns:
                continue
            with open("/proc/%s/cmdline" % p, "rb") as f:
                argv = f.read().split(b"\0")[:-1]
        except OSError:
            continue  # gone meanwhile
        if argv:
            out[int(p)] = [a.decode(errors="replace") for a in argv]
    return out


class _Tests:
    def tearDown(self):
        self.doCleanups()
        try:
            self.assertNothingLeft()
        finally:
            self.crid.remove_all_pods()

    def container(self):
        pod = self.run_pod()
        # its own PID namespace, as kubelet asks unless the pod shares one: what is in that
        # namespace is then the container's alone (a shared one also holds the pod's holder)
        cid = self.run_ctr(pod, "box", script="sleep 100000", pid_namespace=api_pb2.CONTAINER)
        ns = self.exec_sync(cid, ["readlink", "/proc/self/ns/pid"]).stdout.decode().strip()
        self.assertTrue(ns.startswith("pid:["), ns)
        return cid, ns

    def matching(self, ns, *argvs):
        return {p: a for p, a in procs_in_ns(ns).items() if a in [list(x) for x in argvs]}

    def wait_gone(self, ns, *argvs, within=5):
        # SIGKILL is asynchronous: the process may need a moment to leave /proc after the answer
        deadline = time.monotonic() + within
        while True:
            left = self.matching(ns, *argvs)
            if not left or time.monotonic() > deadline:
                return left
            time.sleep(0.05)

    def timeout_of(self, cid, cmd):
        t0 = time.monotonic()
        self.assertRpcError(CODE.DEADLINE_EXCEEDED, self.exec_sync, cid, cmd, timeout=1)
        took = time.monotonic() - t0
        self.assertGreaterEqual(took, 0.9)
        self.assertLess(took, 10)

    def test_timeout_kills_the_process(self):
        cid, ns = self.container()
        sleep = ["sleep", "4321"]
        for i in range(3):
            self.timeout_of(cid, sleep)
            left = self.wait_gone(ns, sleep)
            self.assertEqual(left, {}, "round %d: the timed-out exec's process remains" % i)
        # the container itself lives on, and exec still works
        self.assertTrue(self.matching(ns, ["sleep", "100000"]), "the container's init died")
        r = self.exec_sync(cid, ["sh", "-c", "echo alive"])
        self.assertEqual((r.stdout, r.exit_code), (b"alive\n", 0))

    def test_timeout_kills_the_process_group(self):
        # sh with a background child and a foreground one: a non-interactive shell keeps both
        # in its process group, which is the exec's (runc makes it a session leader); all die
        cid, ns = self.container()
        cmd = ["sh", "-c", "sleep 4322 & sleep 4323"]
        self.timeout_of(cid, cmd)
        left = self.wait_gone(ns, cmd, ["sleep", "4322"], ["sleep", "4323"])
        self.assertEqual(left, {}, "processes of the timed-out exec remain")
        self.assertTrue(self.matching(ns, ["sleep", "100000"]), "the container's init died")

    def test_output_and_exit_codes(self):
        cid, ns = self.container()
        r = self.exec_sync(cid, ["sh", "-c", "echo out; echo err >&2; exit 7"])
        self.assertEqual((r.stdout, r.stderr, r.exit_code), (b"out\n", b"err\n", 7))
        r = self.exec_sync(cid, ["sh", "-c", "kill -TERM $$"])
        self.assertEqual(r.exit_code, 128 + 15)
        r = self.exec_sync(cid, ["true"])
        self.assertEqual((r.stdout, r.stderr, r.exit_code), (b"", b"", 0))
        big = self.exec_sync(cid, ["sh", "-c", "head -c 3000000 /dev/zero; echo e >&2"],
                             timeout=30)
        self.assertEqual((len(big.stdout), big.stderr), (3000000, b"e\n"))
        # output written by a child that outlives the exec'd process is still captured
        r = self.exec_sync(cid, ["sh", "-c", "(sleep 0.3; echo late) & echo early"])
        self.assertEqual((r.stdout, r.exit_code), (b"early\nlate\n", 0))
        try:  # the runtime's failure names the binary (or a non-zero code, as Docker gives)
            r = self.exec_sync(cid, ["/no/such/binary"])
            self.assertNotEqual(r.exit_code, 0)
        except grpc.RpcError as e:
            self.assertIn("/no/such/binary", e.details())
        # no exec leaves anything behind in the container
        self.assertEqual(sorted(a for a in procs_in_ns(ns).values()),
                         [["sleep", "100000"]])

    def test_many_timeouts_at_once(self):
        # probes with timeouts arriving together (some time out while their runtime is still
        # starting them): none piles up in the container
        cid, ns = self.container()
        futs = [self.rt.ExecSync.future(api_pb2.ExecSyncRequest(
            container_id=cid, cmd=["sleep", "4324"], timeout=1), timeout=60)
            for _ in range(24)]
        for f in futs:
            with self.assertRaises(grpc.RpcError) as cm:
                f.result()
            self.assertEqual(cm.exception.code(), CODE.DEADLINE_EXCEEDED)
        self.assertEqual(self.wait_gone(ns, ["sleep", "4324"]), {},
                         "processes of timed-out execs remain")

    def test_restart_kills_exec_left_running(self):
        # kill -9 of crid during an exec without timeout: the next daemon kills what it left
        cid, ns = self.container()
        fut = self.rt.ExecSync.future(api_pb2.ExecSyncRequest(
            container_id=cid, cmd=["sleep", "4325"], timeout=0), timeout=120)
        deadline = time.monotonic() + 20
        while not self.matching(ns, ["sleep", "4325"]):
            self.assertLess(time.monotonic(), deadline, "the exec never started")
            time.sleep(0.05)
        self.crid.proc.send_signal(signal.SIGKILL)
        self.crid.proc.wait()
        self.crid._close_files()
        self.channel.close()
        with self.assertRaises(grpc.RpcError):
            fut.result()
        self.crid.start()
        type(self).connect()
        self.rt = type(self).rt
        self.assertEqual(self.wait_gone(ns, ["sleep", "4325"], within=10), {},
                         "the exec the crashed daemon left runs on")
        self.assertTrue(self.matching(ns, ["sleep", "100000"]), "the container's init died")
        r = self.exec_sync(cid, ["echo", "after"])
        self.assertEqual((r.stdout, r.exit_code), (b"after\n", 0))


class ExecTimeoutRunc(_Tests, CtrBase):
    runtime = "runc"


class ExecTimeoutCrun(_Tests, CtrBase):
    runtime = "crun"
