"""The Stream* list RPCs (KEP-5825) through python3-grpcio and a raw python-h2
client against the real daemon:

- StreamPodSandboxes, StreamContainers, StreamContainerStats,
  StreamPodSandboxStats and StreamImages answer what their List counterparts
  answer on the same state, with and without filters (id, id prefix, state,
  label selector, pod id, image), with real pods and runc containers;
- 1,000 pod sandboxes (NotReady records written as a reboot leaves them and
  loaded at start: 1,000 RunPodSandbox calls take ~60 s here) arrive in
  several messages of at most 32 KiB each, every pod once;
- a client that stops reading (no WINDOW_UPDATE) holds one message in the
  daemon: its VmRSS stays flat while a 2 MiB list waits, other RPCs are
  served, and the list completes once the client reads again;
- pods removed while a stream waits are skipped (never used after free:
  the ASan run checks), cancellation (RST_STREAM, a closed connection, a
  grpcio cancel) ends the stream at once and frees it (fds back to base,
  no leak at exit under ASan);
- bad filter values: INVALID_ARGUMENT naming the field.
"""
import glob
import json
import os
import re
import secrets
import time
import unittest

import grpc

import api_pb2
import api_pb2_grpc
from crid_fixture import Crid, DaemonError, RawH2, grpc_frame, is_root
from ctr_fixture import CtrBase, setup_registry, teardown_registry
from fd_check import settle_fds

CODE = grpc.StatusCode
BOUND = 32 << 10
RT = "/runtime.v1.RuntimeService/"


def setUpModule():
    setup_registry()


def tearDownModule():
    teardown_registry()


def stream_items(call, field):
    """All items of a Stream* answer, and the size of each message."""
    items, sizes = [], []
    for m in call:
        sizes.append(m.ByteSize())
        items.extend(getattr(m, field))
    return items, sizes


class _Compare:
    """Stream* vs List* on the same state."""

    def assertStreamEqualsList(self, stream, sreq, lst, lreq, sfield, lfield, norm=None):
        got, sizes = stream_items(stream(sreq, timeout=30), sfield)
        want = list(getattr(lst(lreq, timeout=30), lfield))
        if norm:
            got, want = [norm(x) for x in got], [norm(x) for x in want]
        self.assertEqual(want, got)
        for s in sizes:
            self.assertLessEqual(s, BOUND)
        return got


def strip_layer(wl):
    """The writable layer's figures come from a du walk done in the background: they move."""
    for f in ("timestamp", "used_bytes", "inodes_used"):
        wl.ClearField(f)


def strip_stats(st):
    """A stats message without what moves between two reads (timestamps, usage figures)."""
    st = type(st).FromString(st.SerializeToString())
    fields = st.DESCRIPTOR.fields_by_name
    for f in ("cpu", "memory", "swap"):
        if f in fields:
            st.ClearField(f)
    if "writable_layer" in fields:
        strip_layer(st.writable_layer)
    if "linux" in fields and st.HasField("linux"):
        for f in ("cpu", "memory", "network", "process"):
            st.linux.ClearField(f)
        for c in st.linux.containers:
            for f in ("cpu", "memory", "swap"):
                c.ClearField(f)
            strip_layer(c.writable_layer)
    return st


class StreamEqualsList(_Compare, CtrBase):
    """Three pods, containers running, created and exited, two images."""
    runtime = "runc"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        self = cls("run")
        cls.pods = [self.run_pod(name="sl-pod-%d" % i, cleanup=False) for i in range(3)]
        cls.pod_cfgs = self.pod_cfgs
        cls.ctrs = []
        for i, pod in enumerate(cls.pods):
            made = []
            for what in ("run", "made"):
                cfg = self.ctr_config("%s-%d" % (what, i), image="sleep")
                cfg.labels.update({"app": "sl", "what": what, "idx": str(i)})
                made.append(self.create(pod, cfg))
            self.start(made[0])
            cls.ctrs.append((pod, made[0], made[1]))
        cls.exited = self.run_ctr(cls.pods[0], "done", script="exit 3")
        self.wait_exited(cls.exited)
        self.rt.StopPodSandbox(api_pb2.StopPodSandboxRequest(pod_sandbox_id=cls.pods[2]),
                               timeout=60)

    def test_pod_sandboxes(self):
        P, L = api_pb2.PodSandboxFilter, self.rt.ListPodSandbox
        filters = [None, P(id=self.pods[1]), P(id=self.pods[1][:8]),
                   P(state=api_pb2.PodSandboxStateValue(state=api_pb2.SANDBOX_READY)),
                   P(state=api_pb2.PodSandboxStateValue(state=api_pb2.SANDBOX_NOTREADY)),
                   P(label_selector={"app": "nothing"}), P(id="0" * 64)]
        counts = []
        for f in filters:
            got = self.assertStreamEqualsList(
                self.rt.StreamPodSandboxes, api_pb2.StreamPodSandboxesRequest(filter=f), L,
                api_pb2.ListPodSandboxRequest(filter=f), "pod_sandboxes", "items")
            counts.append(len(got))
        self.assertEqual(counts[:5], [3, 1, 1, 2, 1])
        self.assertEqual(counts[5:], [0, 0])

    def test_containers(self):
        C, S = api_pb2.ContainerFilter, api_pb2.ContainerStateValue
        pod, run, made = self.ctrs[1]
        filters = [(None, 7), (C(id=run), 1), (C(id=made[:10]), 1), (C(pod_sandbox_id=pod), 2),
                   (C(pod_sandbox_id=self.pods[0][:12]), 3),
                   (C(state=S(state=api_pb2.CONTAINER_RUNNING)), None),
                   (C(state=S(state=api_pb2.CONTAINER_CREATED)), None),
                   (C(state=S(state=api_pb2.CONTAINER_EXITED)), None),
                   (C(label_selector={"what": "made"}), 3),
                   (C(label_selector={"what": "run", "idx": "1"}), 1),
                   (C(pod_sandbox_id=pod, state=S(state=api_pb2.CONTAINER_RUNNING)), 1),
                   (C(id="f" * 64), 0)]
        for f, n in filters:
            got = self.assertStreamEqualsList(
                self.rt.StreamContainers, api_pb2.StreamContainersRequest(filter=f),
                self.rt.ListContainers, api_pb2.ListContainersRequest(filter=f), "containers",
                "containers")
            if n is None:
                self.assertGreaterEqual(len(got), 1, f)
            else:
                self.assertEqual(len(got), n, f)

    def test_container_stats(self):
        F = api_pb2.ContainerStatsFilter
        pod, run, made = self.ctrs[1]
        for f, n in ((None, 2), (F(id=run), 1), (F(id=made), 1), (F(pod_sandbox_id=pod), 1),
                     (F(label_selector={"what": "run", "idx": "0"}), 1),
                     (F(label_selector={"what": "made"}), 0)):
            got = self.assertStreamEqualsList(
                self.rt.StreamContainerStats, api_pb2.StreamContainerStatsRequest(filter=f),
                self.rt.ListContainerStats, api_pb2.ListContainerStatsRequest(filter=f),
                "container_stats", "stats", norm=strip_stats)
            self.assertEqual(len(got), n, f)
        one = list(self.rt.StreamContainerStats(api_pb2.StreamContainerStatsRequest(
            filter=F(id=run)), timeout=30))[0].container_stats[0]
        self.assertEqual(one.attributes.id, run)
        self.assertGreater(one.cpu.usage_core_nano_seconds.value, 0, "read from the cgroup")
        self.assertGreater(one.memory.working_set_bytes.value, 0)

    def test_pod_sandbox_stats(self):
        F = api_pb2.PodSandboxStatsFilter
        for f, n in ((None, 2), (F(id=self.pods[0]), 1), (F(id=self.pods[0][:6]), 1),
                     (F(id=self.pods[2]), 0), (F(label_selector={"nothing": "here"}), 0)):
            got = self.assertStreamEqualsList(
                self.rt.StreamPodSandboxStats, api_pb2.StreamPodSandboxStatsRequest(filter=f),
                self.rt.ListPodSandboxStats, api_pb2.ListPodSandboxStatsRequest(filter=f),
                "pod_sandbox_stats", "stats", norm=strip_stats)
            self.assertEqual(len(got), n, f)

    def test_images(self):
        F = api_pb2.ImageFilter
        ref = self.images["sleep"]
        for f, n in ((None, 4), (F(image=api_pb2.ImageSpec(image=ref)), 1),
                     (F(image=api_pb2.ImageSpec(image=ref[7:19])), 1),
                     (F(image=api_pb2.ImageSpec(image="registry.invalid/none:1")), 0)):
            got = self.assertStreamEqualsList(
                self.img.StreamImages, api_pb2.StreamImagesRequest(filter=f),
                self.img.ListImages, api_pb2.ListImagesRequest(filter=f), "images", "images")
            self.assertEqual(len(got), n, f)

    def test_bad_filters(self):
        P, C = api_pb2.PodSandboxFilter, api_pb2.ContainerFilter
        cases = [
            (self.rt.StreamPodSandboxes, api_pb2.StreamPodSandboxesRequest(filter=P(id="pod-1")),
             "filter.id"),
            (self.rt.StreamPodSandboxes, api_pb2.StreamPodSandboxesRequest(filter=P(id="a" * 65)),
             "filter.id"),
            (self.rt.StreamPodSandboxes, api_pb2.StreamPodSandboxesRequest(
                filter=P(state=api_pb2.PodSandboxStateValue(state=7))), "filter.state.state"),
            (self.rt.StreamPodSandboxes, api_pb2.StreamPodSandboxesRequest(
                filter=P(label_selector={"": "x"})), "filter.label_selector"),
            (self.rt.StreamContainers, api_pb2.StreamContainersRequest(
                filter=C(pod_sandbox_id="Zz")), "filter.pod_sandbox_id"),
            (self.rt.StreamContainers, api_pb2.StreamContainersRequest(
                filter=C(state=api_pb2.ContainerStateValue(state=9))), "filter.state.state"),
            (self.rt.StreamContainerStats, api_pb2.StreamContainerStatsRequest(
                filter=api_pb2.ContainerStatsFilter(id="not-an-id")), "filter.id"),
            (self.rt.StreamPodSandboxStats, api_pb2.StreamPodSandboxStatsRequest(
                filter=api_pb2.PodSandboxStatsFilter(label_selector={"": ""})),
             "filter.label_selector"),
            (self.img.StreamImages, api_pb2.StreamImagesRequest(filter=api_pb2.ImageFilter(
                image=api_pb2.ImageSpec(image="UPPER/Case::bad"))), "filter.image.image"),
        ]
        for fn, req, field in cases:
            with self.assertRaises(grpc.RpcError, msg=field) as cm:
                list(fn(req, timeout=10))
            self.assertEqual(cm.exception.code(), CODE.INVALID_ARGUMENT, cm.exception.details())
            self.assertIn(field, cm.exception.details())

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "crid", None) is not None and cls.crid.alive():
            cls.crid.remove_all_pods()
        super().tearDownClass()


# --------------------------------------------------------------------------------------------

N_PODS = 1000
ANNOTATION = 2000  # bytes per pod: a 2 MiB list


def vm_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def write_pod_records(root, template, n):
    """|n| NotReady pod records cloned from |template| (a real one), as a reboot leaves them."""
    rec = json.loads(template)
    old = rec["id"]
    text = json.dumps(rec)
    ids = []
    for i in range(n):
        new = secrets.token_hex(32)
        r = json.loads(text.replace(old, new))
        r["name"], r["uid"] = "bulk-%04d" % i, "uid-bulk-%04d" % i
        r["labels"] = {"bulk": "yes", "mod": str(i % 4)}
        r["created_at"] = rec["created_at"] + i + 1
        with open(os.path.join(root, "sandboxes", new + ".json"), "w") as f:
            json.dump(r, f)
        ids.append(new)
    return ids


class StreamThousandPods(unittest.TestCase):
    """One daemon holding 1,000 NotReady pods with 2 KB annotations each."""

    @classmethod
    def setUpClass(cls):
        if not is_root():
            raise unittest.SkipTest("needs root for pods")
        cls.crid = Crid()
        cls.crid.start()
        ch = cls.crid.channel()
        rt = api_pb2_grpc.RuntimeServiceStub(ch)
        cfg = api_pb2.PodSandboxConfig(
            metadata=api_pb2.PodSandboxMetadata(name="seed", uid="uid-seed", namespace="bulk"),
            annotations={"pad": "p" * ANNOTATION},
            linux=api_pb2.LinuxPodSandboxConfig(
                security_context=api_pb2.LinuxSandboxSecurityContext(
                    namespace_options=api_pb2.NamespaceOption(network=api_pb2.NODE))))
        seed = rt.RunPodSandbox(api_pb2.RunPodSandboxRequest(config=cfg), timeout=60)
        seed = seed.pod_sandbox_id
        rt.StopPodSandbox(api_pb2.StopPodSandboxRequest(pod_sandbox_id=seed), timeout=60)
        ch.close()
        if cls.crid.stop() != 0:
            raise DaemonError(cls.crid.log())
        with open(os.path.join(cls.crid.root, "sandboxes", seed + ".json")) as f:
            template = f.read()
        cls.ids = [seed] + write_pod_records(cls.crid.root, template, N_PODS - 1)
        cls.crid.start(timeout=60)
        cls.channel = cls.crid.channel()
        cls.rt = api_pb2_grpc.RuntimeServiceStub(cls.channel)
        # the stream path's code and a connection's buffers touched once, on one pod
        h = RawH2(cls.crid.sock)
        sid = h.grpc_call(RT + "StreamPodSandboxes", grpc_frame(
            api_pb2.StreamPodSandboxesRequest(filter=api_pb2.PodSandboxFilter(
                id=cls.ids[0])).SerializeToString()))
        while not h.streams[sid].done and h.pump(1):
            pass
        h.close()
        cls.rss_fresh = vm_rss_kib(cls.crid.pid)

    @classmethod
    def tearDownClass(cls):
        c = cls.crid
        cls.channel.close()
        try:
            c.remove_all_pods(timeout=300)
        finally:
            rc = c.stop()
        if rc != 0:
            log = c.log(200)
            c.cleanup(keep=True)
            raise DaemonError("crid exited with %s after SIGTERM (under ASan: a leak or UB)\n%s"
                              % (rc, log))
        c.cleanup()

    def raw_stream(self, method=RT + "StreamPodSandboxes", req=b""):
        """A raw HTTP/2 client that acknowledges nothing: the daemon sees a client not reading."""
        h = RawH2(self.crid.sock)
        h.auto_ack = False
        sid = h.grpc_call(method, grpc_frame(req))
        return h, sid

    def pump_until_quiet(self, h, sid, quiet=0.5, limit=10):
        st = h.streams[sid]
        end = time.monotonic() + limit
        last, since = -1, time.monotonic()
        while time.monotonic() < end and not st.done:
            h.pump(0.05)
            if len(st.data) != last:
                last, since = len(st.data), time.monotonic()
            elif time.monotonic() - since > quiet:
                break
        return st

    def resume(self, h, sid):
        st = h.streams[sid]
        h.conn.acknowledge_received_data(len(st.data), sid)
        h.auto_ack = True
        h.flush()
        end = time.monotonic() + 60
        while not st.done and time.monotonic() < end:
            h.pump(0.2)
        return st

    def items_of(self, st):
        out = []
        for flag, body in st.messages():
            self.assertEqual(flag, 0)
            self.assertLessEqual(len(body), BOUND)
            out.extend(api_pb2.StreamPodSandboxesResponse.FromString(body).pod_sandboxes)
        return out

    def test_1_slow_reader_holds_one_message(self):
        """Run first, on the fresh daemon: no list has been built yet."""
        h, sid = self.raw_stream()
        try:
            st = self.pump_until_quiet(h, sid)
            self.assertFalse(st.done, "a 2 MiB list cannot fit the client's 64 KiB window")
            self.assertLessEqual(len(st.data), 65535)
            grown = vm_rss_kib(self.crid.pid) - self.rss_fresh
            # the list is ~2 MiB: queued whole it would cost that plus its ~2 MiB of cached
            # entries. What waits is one message of 32 KiB, the entries encoded so far
            # (~64 KiB, cached for later lists), 32 KiB of snapshot ids and the connection's
            # buffers: ~270 KiB here, ~530 KiB under ASan (redzones, quarantine)
            self.assertLess(grown, 1024, "daemon grew %d KiB for a waiting stream" % grown)
            t0 = time.monotonic()
            self.assertTrue(self.rt.Version(api_pb2.VersionRequest(), timeout=5).runtime_name)
            one = self.rt.ListPodSandbox(api_pb2.ListPodSandboxRequest(
                filter=api_pb2.PodSandboxFilter(id=self.ids[5])), timeout=5).items
            self.assertEqual([p.id for p in one], [self.ids[5]])
            print("\n  waiting stream: %d bytes received, daemon +%d KiB; other RPCs in %.1f ms"
                  % (len(st.data), grown, (time.monotonic() - t0) * 1e3))
            st = self.resume(h, sid)
            self.assertTrue(st.ended, st.describe())
            self.assertEqual(st.grpc_status, 0, st.describe())
            self.assertEqual(len(self.items_of(st)), N_PODS)
        finally:
            h.close()

    def test_2_thousand_pods_bounded_messages(self):
        got, sizes = stream_items(self.rt.StreamPodSandboxes(
            api_pb2.StreamPodSandboxesRequest(), timeout=60), "pod_sandboxes")
        want = list(self.rt.ListPodSandbox(api_pb2.ListPodSandboxRequest(), timeout=60).items)
        self.assertEqual(len(got), N_PODS)
        self.assertEqual(want, got)
        self.assertEqual(len({p.id for p in got}), N_PODS, "every pod once")
        self.assertGreaterEqual(len(sizes), N_PODS * ANNOTATION // BOUND)
        self.assertLessEqual(max(sizes), BOUND)
        print("\n  %d pods in %d messages of %d..%d bytes"
              % (len(got), len(sizes), min(sizes), max(sizes)))
        f = api_pb2.PodSandboxFilter(label_selector={"mod": "1"})
        got, _ = stream_items(self.rt.StreamPodSandboxes(
            api_pb2.StreamPodSandboxesRequest(filter=f), timeout=60), "pod_sandboxes")
        self.assertEqual(len(got), (N_PODS - 1 + 2) // 4)

    def test_3_cancel_mid_stream(self):
        pid = self.crid.pid
        base = len(os.listdir("/proc/%d/fd" % pid))
        # grpcio: read one message, cancel
        ch = self.crid.channel(separate=True)
        call = api_pb2_grpc.RuntimeServiceStub(ch).StreamPodSandboxes(
            api_pb2.StreamPodSandboxesRequest(), timeout=60)
        first = next(call)
        self.assertTrue(first.pod_sandboxes)
        call.cancel()
        ch.close()
        # raw: RST_STREAM on a waiting stream, then a waiting stream whose connection closes
        h, sid = self.raw_stream()
        self.pump_until_quiet(h, sid, quiet=0.3)
        h.reset_stream(sid, 8)  # CANCEL
        sid2 = h.grpc_call(RT + "StreamPodSandboxes", grpc_frame(b""))
        self.pump_until_quiet(h, sid2, quiet=0.3)
        h.close()
        self.crid.wait_for_log(r"stream %d /runtime.v1.RuntimeService/StreamPodSandboxes: "
                               r"cancelled by the client" % sid, timeout=5)
        n = settle_fds(pid, base, 10)
        self.assertLessEqual(n, base, "fds back to base after cancelled streams")
        self.assertTrue(self.rt.Version(api_pb2.VersionRequest(), timeout=5).runtime_name)

    def test_4_removed_while_waiting(self):
        h, sid = self.raw_stream()
        try:
            st = self.pump_until_quiet(h, sid)
            self.assertFalse(st.done)
            gone = self.ids[-200:]
            for i in gone:
                self.rt.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=i),
                                         timeout=30)
            st = self.resume(h, sid)
            self.assertEqual(st.grpc_status, 0, st.describe())
            got = [p.id for p in self.items_of(st)]
            self.assertEqual(got, self.ids[:N_PODS - 200])
        finally:
            h.close()
        self.ids = self.ids[:N_PODS - 200]


if __name__ == "__main__":
    unittest.main()
