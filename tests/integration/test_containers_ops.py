"""Operations on running containers through python3-grpcio against the real
daemon and runc/crun (one class per handler, skipped with the daemon's
reason where unusable): 50 concurrent ExecSync calls while Version keeps
answering, the ExecSync timeout (DEADLINE_EXCEEDED, the process killed),
UpdateContainerResources reported back by ContainerStatus, the container
and pod stats RPCs, the GetContainerEvents stream, and ReopenContainerLog
under a writer losing nothing across the rotated and the new file."""
import json
import os
import threading
import time

import grpc

import api_pb2
from crid_fixture import CRID_BIN, version_ok
from ctr_fixture import CtrBase, event_collector, setup_registry, teardown_registry

CODE = grpc.StatusCode


def setUpModule():
    setup_registry()


def tearDownModule():
    teardown_registry()


class _Tests:
    def tearDown(self):
        self.doCleanups()
        try:
            self.assertNothingLeft()
        finally:
            self.crid.remove_all_pods()

    def max_busy_us(self):
        """(wall, cpu) of the daemon's worst loop iteration since the last call, in us."""
        r = self.rt.Status(api_pb2.StatusRequest(verbose=True), timeout=10)
        loop = json.loads(r.info["loop"])
        return loop["maxIterationUs"], loop["maxIterationCpuUs"]

    def sleeper(self, pod, name="sleeper", **kw):
        return self.run_ctr(pod, name, image="sleep", **kw)

    def test_exec_sync_concurrent(self):
        pod = self.run_pod()
        cid = self.sleeper(pod)
        n = 50
        lat, stop = [], threading.Event()

        def versions():
            while not stop.is_set():
                t0 = time.monotonic()
                version_ok(self.crid, timeout=5)
                lat.append(time.monotonic() - t0)
                time.sleep(0.02)

        self.max_busy_us()  # resets the daemon's longest-iteration counter
        vt = threading.Thread(target=versions, daemon=True)
        vt.start()
        t0 = time.monotonic()
        futs = [self.rt.ExecSync.future(api_pb2.ExecSyncRequest(
            container_id=cid, timeout=60,
            cmd=["sh", "-c", "echo out-%d; echo err-%d >&2; exit %d" % (i, i, i % 5)]),
            timeout=120) for i in range(n)]
        res = [f.result() for f in futs]
        took = time.monotonic() - t0
        busy, cpu = self.max_busy_us()
        stop.set()
        vt.join(10)
        for i, r in enumerate(res):
            self.assertEqual((r.stdout, r.stderr, r.exit_code),
                             (b"out-%d\n" % i, b"err-%d\n" % i, i % 5), i)
        print("\n  %d concurrent ExecSync: %.2fs; Version during them: %d calls, max %.0f ms; "
              "longest loop iteration %.1f ms (%.1f ms of CPU)"
              % (n, took, len(lat), 1000 * max(lat), busy / 1e3, cpu / 1e3))
        # the loop itself never stalls: crid's own work per iteration is CPU time; the wall
        # time also counts waiting for a core behind 50 runtime processes on 2 cores, so it
        # only catches a callback that blocks
        # ASan+UBSan makes crid's own work 2 to 3 times slower (128 ms seen once at load 2)
        with open(CRID_BIN, "rb") as f:
            cpu_bound = 250e3 if b"__asan_init" in f.read() else 100e3
        self.assertLess(cpu, cpu_bound, "one loop iteration used %.0f ms of CPU" % (cpu / 1e3))
        self.assertLess(busy, 2e6, "one loop iteration took %.0f ms" % (busy / 1e3))
        self.assertGreaterEqual(len(lat), 2, "Version did not answer while the execs ran")
        self.assertLess(max(lat), 2.0, "Version stalled during the execs")

    def test_exec_sync_timeout_and_output(self):
        pod = self.run_pod()
        cid = self.sleeper(pod)
        t0 = time.monotonic()
        self.assertRpcError(CODE.DEADLINE_EXCEEDED, self.exec_sync, cid,
                            ["sh", "-c", "echo started > /tmp/started; sleep 30"], timeout=1)
        self.assertLess(time.monotonic() - t0, 8)
        r = self.exec_sync(cid, ["sh", "-c", "cat /tmp/started; ps -o args | grep -c '[s]leep 30'"])
        self.assertEqual(r.stdout, b"started\n0\n", "the timed-out process is not killed")
        big = self.exec_sync(cid, ["sh", "-c", "head -c 3000000 /dev/zero"], timeout=30)
        self.assertEqual(len(big.stdout), 3000000)
        try:  # containerd answers with an error, Docker with exit code 127: either names it
            r = self.exec_sync(cid, ["/no/such/binary"])
            self.assertNotEqual(r.exit_code, 0)
        except grpc.RpcError as e:
            self.assertIn("/no/such/binary", e.details())
        self.stop(cid)
        self.assertRpcError(CODE.FAILED_PRECONDITION, self.exec_sync, cid, ["true"])

    def test_update_resources(self):
        pod = self.run_pod()
        cid = self.sleeper(pod, memory=64 << 20, cpu_shares=256)
        res = self.status(cid).status.resources.linux
        self.assertEqual((res.memory_limit_in_bytes, res.cpu_shares), (64 << 20, 256))
        upd = api_pb2.LinuxContainerResources(cpu_shares=512, memory_limit_in_bytes=96 << 20,
                                              memory_swap_limit_in_bytes=96 << 20,
                                              cpu_period=100000, cpu_quota=50000)
        self.rt.UpdateContainerResources(api_pb2.UpdateContainerResourcesRequest(
            container_id=cid, linux=upd), timeout=30)
        res = self.status(cid).status.resources.linux
        self.assertEqual((res.memory_limit_in_bytes, res.cpu_shares, res.cpu_quota,
                          res.cpu_period), (96 << 20, 512, 50000, 100000))
        # and the kernel has it: the container's own memory cgroup
        r = self.exec_sync(cid, ["sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes "
                                 "/sys/fs/cgroup/memory.max 2>/dev/null"])
        self.assertIn(str(96 << 20).encode(), r.stdout)

    def test_stats(self):
        pod = self.run_pod()
        cid = self.run_ctr(pod, "worker", script=(
            "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; "
            "dd if=/dev/zero of=/blob bs=1M count=6 2>/dev/null; sync; echo done; "
            "exec sleep 300"))
        self.wait_log(pod, "worker", lambda ls: b"done" in ls, timeout=60)
        st = self.rt.ContainerStats(api_pb2.ContainerStatsRequest(container_id=cid),
                                    timeout=10).stats
        self.assertEqual(st.attributes.id, cid)
        self.assertGreater(st.cpu.usage_core_nano_seconds.value, 10_000_000)
        self.assertGreater(st.memory.working_set_bytes.value, 0)
        deadline = time.monotonic() + 15
        while True:
            st = self.rt.ContainerStats(api_pb2.ContainerStatsRequest(container_id=cid),
                                        timeout=10).stats
            if st.writable_layer.used_bytes.value >= 6 << 20:
                break
            self.assertLess(time.monotonic(), deadline, "writable layer bytes: %d" %
                            st.writable_layer.used_bytes.value)
            time.sleep(0.5)
        self.assertGreater(st.writable_layer.inodes_used.value, 0)
        lst = self.rt.ListContainerStats(api_pb2.ListContainerStatsRequest(
            filter=api_pb2.ContainerStatsFilter(pod_sandbox_id=pod)), timeout=10).stats
        self.assertEqual([s.attributes.id for s in lst], [cid])
        self.assertGreater(lst[0].cpu.usage_core_nano_seconds.value, 0)
        ps = self.rt.PodSandboxStats(api_pb2.PodSandboxStatsRequest(pod_sandbox_id=pod),
                                     timeout=10).stats
        self.assertEqual(ps.attributes.id, pod)
        self.assertGreater(ps.linux.cpu.usage_core_nano_seconds.value, 0)
        self.assertGreater(ps.linux.memory.working_set_bytes.value, 0)
        self.assertEqual([c.attributes.id for c in ps.linux.containers], [cid])
        lps = self.rt.ListPodSandboxStats(api_pb2.ListPodSandboxStatsRequest(), timeout=10).stats
        self.assertIn(pod, [s.attributes.id for s in lps])
        self.assertRpcError(CODE.NOT_FOUND, self.rt.ContainerStats,
                            api_pb2.ContainerStatsRequest(container_id="d" * 64), timeout=10)

    def test_events(self):
        events, finish = event_collector(self.rt)
        pod = self.run_pod()
        time.sleep(0.2)  # the stream is open before the first change
        cid = self.run_ctr(pod, "ev", script="exec sleep 300")
        self.stop(cid)
        self.remove(cid)
        want = [api_pb2.CONTAINER_CREATED_EVENT, api_pb2.CONTAINER_STARTED_EVENT,
                api_pb2.CONTAINER_STOPPED_EVENT, api_pb2.CONTAINER_DELETED_EVENT]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            mine = [e for e in events if e.container_id == cid]
            if len(mine) >= 4:
                break
            time.sleep(0.05)
        finish()
        mine = [e for e in events if e.container_id == cid]
        self.assertEqual([e.container_event_type for e in mine], want)
        for e in mine:
            self.assertEqual(e.pod_sandbox_status.id, pod)
            self.assertGreater(e.created_at, 0)
        self.assertEqual(mine[1].containers_statuses[0].state, api_pb2.CONTAINER_RUNNING)
        self.assertEqual(mine[2].containers_statuses[0].state, api_pb2.CONTAINER_EXITED)

    def test_reopen_log_under_writer(self):
        pod = self.run_pod()
        n = 400
        # a line every 10 ms until the reopen is done; the rest at once (/tmp/fast)
        cid = self.run_ctr(pod, "rot", script=(
            "i=0; while [ $i -lt %d ]; do echo line-$i; i=$((i+1)); "
            "[ -e /tmp/fast ] || sleep 0.01; done" % n))
        path = self.log_file(pod, "rot")
        self.wait_log(pod, "rot", lambda ls: len(ls) >= 50)
        os.rename(path, path + ".1")
        self.rt.ReopenContainerLog(api_pb2.ReopenContainerLogRequest(container_id=cid),
                                   timeout=10)
        self.assertTrue(os.path.exists(path), "ReopenContainerLog did not create the file")
        try:
            self.exec_sync(cid, ["touch", "/tmp/fast"])
        except grpc.RpcError:
            pass  # the writer ended meanwhile: the lines are checked the same
        self.wait_exited(cid, timeout=60)
        old = self.lines(self.read_log(path + ".1"))
        new = self.lines(self.read_log(path))
        self.assertGreater(len(old), 0)
        self.assertGreater(len(new), 0, "nothing written to the reopened file")
        self.assertEqual(old + new, [b"line-%d" % i for i in range(n)])
        self.stop(cid)
        self.assertRpcError(CODE.FAILED_PRECONDITION, self.rt.ReopenContainerLog,
                            api_pb2.ReopenContainerLogRequest(container_id=cid), timeout=10)


class OpsRunc(_Tests, CtrBase):
    runtime = "runc"


class OpsCrun(_Tests, CtrBase):
    runtime = "crun"
