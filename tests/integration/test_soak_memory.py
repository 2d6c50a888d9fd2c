"""The daemon's memory stays flat under kubelet's kind of load (issue 14's soak target).

Verbose Status info "memory" gives what crid allocated itself and what glibc's heap holds
in use and free. On one long-lived connection, 1,200 unary calls after a warm-up leave the
heap in use where it was (nghttp2 kept every closed stream, ~240 B each, up to
MAX_CONCURRENT_STREAMS per connection: ~190 KiB more here before the fix), and 45 pod
churns after a warm-up leave both crid's own bytes and the heap in use where they were.
A burst of calls is followed by one heap trim (reactor/mem_trim.h) 10 s later, and its
freed pages leave the daemon's resident memory: without the trim and the fixed mmap
threshold (reactor/malloc_policy.h) glibc keeps every page a burst ever touched inside the
heap, and the daemon's memory ratchets up to its largest burst.
Under ASan glibc's heap is not the allocator in use: those checks skip there (the soak's
fd verdict and test_churn_leaks cover that pass)."""
import json
import os
import time
import unittest

import api_pb2
from crid_fixture import CRID_BIN, CridTestCase, is_root

# Bounds of growth after the warm-up: a few size classes of glibc's per-size caches
# (tcache) may still fill, and a pod record's strings vary by a few bytes; a kept
# closed stream per call (the bug) is 1,200 x ~240 B.
CALLS_GROWTH_KIB = 16
CHURN_GROWTH_KIB = 16


def asan_build():
    with open(CRID_BIN, "rb") as f:
        return b"__asan_init" in f.read()


class MemoryFlat(CridTestCase):
    @classmethod
    def setUpClass(cls):
        if asan_build():
            raise unittest.SkipTest("ASan build: glibc's heap figures say nothing there")
        super().setUpClass()

    def memory(self):
        r = self.rt.Status(api_pb2.StatusRequest(verbose=True), timeout=30)
        return json.loads(r.info["memory"])

    def test_memory_info(self):
        m = self.memory()
        self.assertEqual(set(m), {"cridBytes", "heapInUse", "heapFree", "heapTopFree",
                                  "mmapped", "trims", "trimMaxUs", "trimMaxCpuUs"}, m)
        # crid's own allocations are part of glibc's heap in use, with the libraries'
        self.assertGreater(m["cridBytes"], 0, m)
        self.assertGreater(m["heapInUse"], m["cridBytes"], m)
        self.assertLessEqual(m["heapTopFree"], m["heapFree"], m)

    def calls(self, n):
        for _ in range(n):
            self.rt.Version(api_pb2.VersionRequest(), timeout=30)

    def test_calls_on_one_connection_keep_no_heap(self):
        self.calls(200)
        before = self.memory()
        self.calls(1200)
        after = self.memory()
        grew = (after["heapInUse"] - before["heapInUse"]) / 1024.0
        self.assertLess(grew, CALLS_GROWTH_KIB,
                        "1,200 calls on one connection kept %.0f KiB of heap (%s -> %s)"
                        % (grew, before, after))
        self.assertLess(abs(after["cridBytes"] - before["cridBytes"]), 4096, (before, after))

    def anon_kib(self):
        with open("/proc/%d/smaps_rollup" % self.crid.pid) as f:
            for line in f:
                if line.startswith("Anonymous:"):
                    return int(line.split()[1])
        self.fail("no Anonymous line in smaps_rollup")

    def test_burst_is_trimmed(self):
        t0 = self.memory()["trims"]  # this call arms the trim: 10 s from now
        base = self.anon_kib()
        # a burst: requests of 1.5 MiB (a label selector), buffered whole, decoded into
        # 30,000 small entries, and freed
        sel = {"k%06d" % i: "v" * 40 for i in range(30000)}
        for _ in range(4):
            self.rt.ListPodSandbox(api_pb2.ListPodSandboxRequest(
                filter=api_pb2.PodSandboxFilter(label_selector=sel)), timeout=30)
        during = self.anon_kib()
        time.sleep(12)  # CRID_MEM_TRIM_DELAY (10 s) and a margin
        after = self.anon_kib()
        m = self.memory()
        self.assertEqual(m["trims"], t0 + 1, "one trim after the burst: %s" % m)
        # the large buffers are mapped and unmapped with the call (reactor/malloc_policy.h),
        # the small chunks' pages go at the trim; with neither, all ~2.2 MiB stayed resident
        self.assertLess(after, base + 256, "the burst's freed pages stayed resident "
                        "(%d KiB anonymous before it, %d just after, %d after the trim)"
                        % (base, during, after))

    def churn(self, n):
        for i in range(n):
            name = "memflat-%d-%d" % (os.getpid(), i)
            cfg = api_pb2.PodSandboxConfig(
                metadata=api_pb2.PodSandboxMetadata(name=name, uid="uid-" + name,
                                                    namespace="crid-memflat"),
                hostname="memflat",
                linux=api_pb2.LinuxPodSandboxConfig(security_context=api_pb2.LinuxSandboxSecurityContext(
                    namespace_options=api_pb2.NamespaceOption(network=api_pb2.NODE))))
            pod = self.rt.RunPodSandbox(api_pb2.RunPodSandboxRequest(config=cfg),
                                        timeout=60).pod_sandbox_id
            self.rt.StopPodSandbox(api_pb2.StopPodSandboxRequest(pod_sandbox_id=pod), timeout=60)
            self.rt.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=pod),
                                     timeout=60)

    def test_pod_churn_keeps_no_memory(self):
        if not is_root():
            self.skipTest("needs root for pods (namespaces)")
        self.churn(15)
        before = self.memory()
        self.churn(45)
        after = self.memory()
        self.assertLess(abs(after["cridBytes"] - before["cridBytes"]), 4096,
                        "crid's own bytes moved over 45 churns: %s -> %s" % (before, after))
        grew = (after["heapInUse"] - before["heapInUse"]) / 1024.0
        self.assertLess(grew, CHURN_GROWTH_KIB,
                        "45 pod churns kept %.0f KiB of heap (%s -> %s)" % (grew, before, after))


if __name__ == "__main__":
    unittest.main()
