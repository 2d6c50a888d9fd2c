"""LeakSanitizer after pod churn: an ASan build of crid through CRID_CHURNS (40; `make
lsan-churn` runs 1,000) RunPodSandbox -> (CreateContainer + StartContainer for every fifth)
-> StopPodSandbox -> RemovePodSandbox cycles, six at a time, alternating the crun and runc
handlers where both are usable; then SIGTERM. Asserts every cycle answered OK, nothing is
left (pods, containers, mounts, IPs), the daemon's open fds did not grow, and it exits 0
with no sanitizer report in its stderr (ASAN_OPTIONS detect_leaks=1: LeakSanitizer runs at
exit). The leak checker exists only in an ASan build: the module skips itself, saying so,
when $CRID_BIN is not one (the first pass of `make test`)."""
import json
import os
import threading
import unittest

import grpc

import api_pb2
from crid_fixture import CRID_BIN
import ctr_fixture
from ctr_fixture import CtrBase

CHURNS = int(os.environ.get("CRID_CHURNS", "40"))
WORKERS = 6
FD_SLACK = 4  # a connection or watcher of the moment, not a leak per pod
SANITIZER_MARKS = ("LeakSanitizer", "AddressSanitizer", "runtime error:")


def asan_build():
    with open(CRID_BIN, "rb") as f:
        return b"__asan_init" in f.read()


class SleepRegistry(ctr_fixture.Registry):
    """The fixture's registry with the sleep image only (the others are not churned)."""

    def __init__(self):
        super().__init__(keys=("sleep",), prefix="crid-churn-registry-")


def setUpModule():
    if not asan_build():
        raise unittest.SkipTest("%s is not an ASan build: LeakSanitizer runs in the ASan pass "
                                "(make BUILD=build-asan SAN=1; make lsan-churn)" % CRID_BIN)
    why = ctr_fixture.missing()
    if why:
        raise unittest.SkipTest(why)
    ctr_fixture.REGISTRY = SleepRegistry()


def tearDownModule():
    if ctr_fixture.REGISTRY:
        ctr_fixture.REGISTRY.stop()
        ctr_fixture.REGISTRY = None


class ChurnLeaks(CtrBase):
    @classmethod
    def setUpClass(cls):
        if ctr_fixture.REGISTRY is None:
            raise unittest.SkipTest("no registry")
        cls.crid = None
        cls.bridge = "crl%d" % (os.getpid() % 100000)
        cls.subnet = "10.%d.%d.0/24" % (250 + os.getpid() % 5, os.getpid() // 5 % 256)
        cls.start_daemon()
        r = cls.rt.Status(api_pb2.StatusRequest(verbose=True), timeout=30)
        cls.handlers = [h["name"] for h in json.loads(r.info["runtime"])["runtimes"]
                        if h["name"] in ("crun", "runc") and h["usable"]]
        if not cls.handlers:
            cls.tearDownClass()
            raise unittest.SkipTest("neither crun nor runc usable: %s" % r.info["runtime"])
        cls.image = cls.img.PullImage(api_pb2.PullImageRequest(
            image=api_pb2.ImageSpec(image=ctr_fixture.REGISTRY.ref("sleep"))),
            timeout=300).image_ref
        cls.n = 0

    def cycle(self, i):
        """One churn: a pod (with a running container when i % 5 == 0), stopped and removed."""
        name = "churn-%d" % i
        cfg = api_pb2.PodSandboxConfig(
            metadata=api_pb2.PodSandboxMetadata(name=name, uid="uid-" + name,
                                                namespace="churn"),
            hostname=name, log_directory=os.path.join(self.log_root, name))
        pod = self.rt.RunPodSandbox(api_pb2.RunPodSandboxRequest(
            config=cfg, runtime_handler=self.handlers[i % len(self.handlers)]),
            timeout=120).pod_sandbox_id
        if i % 5 == 0:
            c = api_pb2.ContainerConfig(metadata=api_pb2.ContainerMetadata(name="main"),
                                        image=api_pb2.ImageSpec(image=self.image),
                                        log_path="main.log")
            cid = self.rt.CreateContainer(api_pb2.CreateContainerRequest(
                pod_sandbox_id=pod, config=c, sandbox_config=cfg), timeout=120).container_id
            self.rt.StartContainer(api_pb2.StartContainerRequest(container_id=cid), timeout=120)
        self.rt.StopPodSandbox(api_pb2.StopPodSandboxRequest(pod_sandbox_id=pod), timeout=120)
        self.rt.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=pod),
                                 timeout=120)

    def churn(self, first, count):
        """Cycles first..first+count-1, WORKERS at a time; the errors, one line each."""
        todo, errors, lock = list(range(first, first + count)), [], threading.Lock()

        def worker():
            while True:
                with lock:
                    if not todo or len(errors) > 5:
                        return
                    i = todo.pop(0)
                try:
                    self.cycle(i)
                except grpc.RpcError as e:
                    with lock:
                        errors.append("churn %d: %s %s" % (i, e.code().name, e.details()))

        threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return errors

    def fds(self):
        return len(os.listdir("/proc/%d/fd" % self.crid.pid))

    def test_churn_then_sigterm_is_leak_free(self):
        # a warm-up round per handler, with and without a container (cycles 0 and 5 run
        # one each on crun and runc): lazily opened fds (crun's pinned namespace, the fd
        # store's connection) are not a leak per pod
        warm = 5 * len(self.handlers)
        self.assertEqual(self.churn(0, warm), [])
        before = self.fds()
        errors = self.churn(warm, max(0, CHURNS - warm))
        self.assertEqual(errors, [], "churn RPCs failed")
        after = self.fds()
        self.assertNothingLeft()
        self.assertLessEqual(after, before + FD_SLACK,
                             "daemon fds grew from %d to %d over %d churns" % (before, after,
                                                                             CHURNS - warm))
        self.channel.close()
        rc = self.crid.stop(timeout=60)
        log = self.crid.log_text()
        found = [m for m in SANITIZER_MARKS if m in log]
        self.assertEqual(found, [], "sanitizer report after %d churns:\n%s"
                         % (CHURNS, self.crid.log(200)))
        self.assertEqual(rc, 0, "crid exited %s after SIGTERM:\n%s" % (rc, self.crid.log(100)))
        print("\n  %d churns (%s, every fifth with a container): fds %d -> %d, exit 0, "
              "no LeakSanitizer report" % (max(CHURNS, warm), "+".join(self.handlers), before,
                                           after))
