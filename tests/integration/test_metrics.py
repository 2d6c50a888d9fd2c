"""ListMetricDescriptors and ListPodSandboxMetrics through python3-grpcio
against the real daemon and runc: the descriptors (cAdvisor names, CRI-O's
help strings and label keys) well formed, unique and each one filled; every
container metric checked against the cgroup file it comes from, read here at
the same time (before and after the call: a counter lies between the two
readings); counters monotonic between two calls; the pod's network counters
against /proc/net/dev inside its netns, moving after traffic from the
container; label values (the image a name though the container was made by
id), types and timestamps; container_fs_* against statvfs and du of the
container's upperdir; a pod cgroup parent's figures as the pod's own series;
a stopped pod disappearing. One daemon and one pod with a CPU-capped busy
container shared by the tests."""
import json
import os
import subprocess
import time

import api_pb2
from ctr_fixture import CtrBase, setup_registry, teardown_registry

V2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
CG = "/sys/fs/cgroup"
NS = 10**9
HZ = os.sysconf("SC_CLK_TCK")

# name -> (type, extra label keys): the contract kubelet's collector relies on
COUNTER, GAUGE = api_pb2.COUNTER, api_pb2.GAUGE
NET = ("interface",)
WANT = {
    "container_last_seen": (GAUGE, ()),
    "container_cpu_user_seconds_total": (COUNTER, ()),
    "container_cpu_system_seconds_total": (COUNTER, ()),
    "container_cpu_usage_seconds_total": (COUNTER, ("cpu",)),
    "container_cpu_cfs_periods_total": (COUNTER, ()),
    "container_cpu_cfs_throttled_periods_total": (COUNTER, ()),
    "container_cpu_cfs_throttled_seconds_total": (COUNTER, ()),
    "container_fs_inodes_free": (GAUGE, ()),
    "container_fs_inodes_total": (GAUGE, ()),
    "container_fs_limit_bytes": (GAUGE, ()),
    "container_fs_usage_bytes": (GAUGE, ()),
    "container_memory_cache": (GAUGE, ()),
    "container_memory_rss": (GAUGE, ()),
    "container_memory_kernel_usage": (GAUGE, ()),
    "container_memory_mapped_file": (GAUGE, ()),
    "container_memory_swap": (GAUGE, ()),
    "container_memory_failcnt": (COUNTER, ()),
    "container_memory_usage_bytes": (GAUGE, ()),
    "container_memory_max_usage_bytes": (GAUGE, ()),
    "container_memory_working_set_bytes": (GAUGE, ()),
    "container_memory_failures_total": (COUNTER, ("failure_type", "scope")),
    "container_network_receive_bytes_total": (COUNTER, NET),
    "container_network_receive_packets_total": (COUNTER, NET),
    "container_network_receive_packets_dropped_total": (COUNTER, NET),
    "container_network_receive_errors_total": (COUNTER, NET),
    "container_network_transmit_bytes_total": (COUNTER, NET),
    "container_network_transmit_packets_total": (COUNTER, NET),
    "container_network_transmit_packets_dropped_total": (COUNTER, NET),
    "container_network_transmit_errors_total": (COUNTER, NET),
    "container_oom_events_total": (COUNTER, ()),
    "container_processes": (GAUGE, ()),
    "container_threads": (GAUGE, ()),
    "container_threads_max": (GAUGE, ()),
    "container_spec_memory_limit_bytes": (GAUGE, ()),
    "container_spec_memory_reservation_limit_bytes": (GAUGE, ()),
    "container_spec_memory_swap_limit_bytes": (GAUGE, ()),
    "container_spec_cpu_shares": (GAUGE, ()),
    "container_spec_cpu_period": (GAUGE, ()),
    "container_spec_cpu_quota": (GAUGE, ()),
}


def setUpModule():
    setup_registry()


def tearDownModule():
    teardown_registry()


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return None


def _keyed(text):
    return {k: int(v) for k, v in (l.split() for l in (text or "").splitlines() if l.strip())}


def _limit(text):
    if text is None:
        return None
    text = text.strip()
    return 0 if text == "max" or int(text) > 1 << 62 else int(text)


def _put(out, name, value, *labels):
    if value is not None:
        out[(name,) + labels] = value


def expected_v1(path):
    """Each figure from its v1 file, by the kernel's documentation, not crid's code."""
    f = lambda ctl, name: _read("%s/%s%s/%s" % (CG, ctl, path, name))
    n = lambda ctl, name: None if f(ctl, name) is None else int(f(ctl, name))
    out = {}
    usage = n("memory", "memory.usage_in_bytes")
    mstat = _keyed(f("memory", "memory.stat"))
    cst = _keyed(f("cpuacct", "cpuacct.stat"))
    cpu = _keyed(f("cpu", "cpu.stat"))
    _put(out, "container_cpu_usage_seconds_total", n("cpuacct", "cpuacct.usage") // NS, "total")
    _put(out, "container_cpu_user_seconds_total", cst["user"] // HZ)
    _put(out, "container_cpu_system_seconds_total", cst["system"] // HZ)
    _put(out, "container_cpu_cfs_periods_total", cpu["nr_periods"])
    _put(out, "container_cpu_cfs_throttled_periods_total", cpu["nr_throttled"])
    _put(out, "container_cpu_cfs_throttled_seconds_total", cpu["throttled_time"] // NS)
    _put(out, "container_memory_usage_bytes", usage)
    _put(out, "container_memory_max_usage_bytes", n("memory", "memory.max_usage_in_bytes"))
    _put(out, "container_memory_kernel_usage", n("memory", "memory.kmem.usage_in_bytes"))
    _put(out, "container_memory_failcnt", n("memory", "memory.failcnt"))
    _put(out, "container_memory_working_set_bytes",
         max(usage - mstat["total_inactive_file"], 0))
    _put(out, "container_memory_rss", mstat["total_rss"])
    _put(out, "container_memory_cache", mstat["total_cache"])
    _put(out, "container_memory_mapped_file", mstat["total_mapped_file"])
    for t in ("pgfault", "pgmajfault"):
        _put(out, "container_memory_failures_total", mstat[t], t, "container")
        _put(out, "container_memory_failures_total", mstat["total_" + t], t, "hierarchy")
    memsw = n("memory", "memory.memsw.usage_in_bytes")
    _put(out, "container_memory_swap", None if memsw is None else max(memsw - usage, 0))
    _put(out, "container_oom_events_total", _keyed(f("memory", "memory.oom_control"))["oom_kill"])
    _put(out, "container_processes", len(f("pids", "cgroup.procs").split()))
    _put(out, "container_threads", n("pids", "pids.current"))
    _put(out, "container_threads_max", _limit(f("pids", "pids.max")))
    _put(out, "container_spec_memory_limit_bytes", _limit(f("memory", "memory.limit_in_bytes")))
    _put(out, "container_spec_memory_reservation_limit_bytes",
         _limit(f("memory", "memory.soft_limit_in_bytes")))
    _put(out, "container_spec_memory_swap_limit_bytes",
         _limit(f("memory", "memory.memsw.limit_in_bytes")))
    _put(out, "container_spec_cpu_shares", n("cpu", "cpu.shares"))
    _put(out, "container_spec_cpu_period", n("cpu", "cpu.cfs_period_us"))
    quota = int(f("cpu", "cpu.cfs_quota_us"))
    _put(out, "container_spec_cpu_quota", quota if quota > 0 else None)
    return out


def expected_v2(path):
    f = lambda name: _read("%s%s/%s" % (CG, path, name))
    n = lambda name: None if f(name) is None else int(f(name))
    out = {}
    usage = n("memory.current")
    mstat, cpu = _keyed(f("memory.stat")), _keyed(f("cpu.stat"))
    ev = _keyed(f("memory.events"))
    _put(out, "container_cpu_usage_seconds_total", cpu["usage_usec"] * 1000 // NS, "total")
    _put(out, "container_cpu_user_seconds_total", cpu["user_usec"] * 1000 // NS)
    _put(out, "container_cpu_system_seconds_total", cpu["system_usec"] * 1000 // NS)
    _put(out, "container_cpu_cfs_periods_total", cpu.get("nr_periods"))
    _put(out, "container_cpu_cfs_throttled_periods_total", cpu.get("nr_throttled"))
    _put(out, "container_cpu_cfs_throttled_seconds_total",
         None if "throttled_usec" not in cpu else cpu["throttled_usec"] * 1000 // NS)
    _put(out, "container_memory_usage_bytes", usage)
    _put(out, "container_memory_max_usage_bytes", n("memory.peak"))
    _put(out, "container_memory_kernel_usage", mstat.get("kernel"))
    _put(out, "container_memory_failcnt", ev.get("max"))
    _put(out, "container_memory_working_set_bytes", max(usage - mstat["inactive_file"], 0))
    _put(out, "container_memory_rss", mstat["anon"])
    _put(out, "container_memory_cache", mstat["file"])
    _put(out, "container_memory_mapped_file", mstat["file_mapped"])
    for t in ("pgfault", "pgmajfault"):
        for scope in ("container", "hierarchy"):
            _put(out, "container_memory_failures_total", mstat[t], t, scope)
    _put(out, "container_memory_swap", n("memory.swap.current"))
    _put(out, "container_oom_events_total", ev.get("oom_kill"))
    _put(out, "container_processes", len(f("cgroup.procs").split()))
    _put(out, "container_threads", n("pids.current"))
    _put(out, "container_threads_max", _limit(f("pids.max")))
    _put(out, "container_spec_memory_limit_bytes", _limit(f("memory.max")))
    _put(out, "container_spec_memory_reservation_limit_bytes", _limit(f("memory.low")))
    _put(out, "container_spec_memory_swap_limit_bytes", _limit(f("memory.swap.max")))
    w = n("cpu.weight")
    _put(out, "container_spec_cpu_shares", None if w is None else (w - 1) * 262142 // 9999 + 2)
    q, p = f("cpu.max").split()
    _put(out, "container_spec_cpu_period", int(p))
    _put(out, "container_spec_cpu_quota", None if q == "max" else int(q))
    return out


def netdev(netns):
    """{iface: {field: value}} from /proc/net/dev inside |netns|, lo left out."""
    text = subprocess.run(["nsenter", "--net=" + netns, "cat", "/proc/net/dev"],
                          capture_output=True, text=True, check=True).stdout
    fields = ("receive_bytes", "receive_packets", "receive_errors", "receive_packets_dropped",
              None, None, None, None, "transmit_bytes", "transmit_packets", "transmit_errors",
              "transmit_packets_dropped")
    out = {}
    for line in text.splitlines()[2:]:
        name, rest = line.split(":", 1)
        if name.strip() == "lo":
            continue
        vals = [int(v) for v in rest.split()]
        out[name.strip()] = {("container_network_%s_total" % k): v
                             for k, v in zip(fields, vals) if k}
    return out


def by_key(metrics, base=3):
    """{(name, extra label values...): Metric}: the base labels (id, name, image) dropped."""
    return {(m.name,) + tuple(m.label_values[base:]): m for m in metrics}


class MetricsRunc(CtrBase):
    runtime = "runc"

    @classmethod
    def tearDownClass(cls):
        cls.shared_pod = None
        super().tearDownClass()

    def shared(self):
        """The pod and its busy container, made once: a shell loop capped at 10% of a CPU
        until test_counters_monotonic_and_throttled stops it (modules run two at a time)."""
        if getattr(type(self), "shared_pod", None):
            return type(self).shared_pod, type(self).shared_ctr
        pod = self.run_pod("metrics", cleanup=False)
        cfg = self.ctr_config("busy", script="dd if=/dev/zero of=/blob bs=1M count=6 2>/dev/null; "
                              "while [ ! -e /stop ]; do :; done & exec sleep 600",
                              memory=96 << 20, cpu_shares=256)
        cfg.image.image = self.images["busybox"]  # by id, as kubelet names it
        cfg.linux.resources.cpu_period = 100000
        cfg.linux.resources.cpu_quota = 10000
        cid = self.create(pod, cfg)
        self.start(cid)
        type(self).shared_pod, type(self).shared_ctr = pod, cid
        # until dd is done and both the loop and sleep run (the values the tests expect)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            ms = [c.metrics for c in self.pod_entry(pod).container_metrics]
            if ms and by_key(ms[0]).get(("container_processes",)) and \
                    by_key(ms[0])[("container_processes",)].value.value >= 2:
                break
            time.sleep(0.1)
        return pod, cid

    def list_metrics(self):
        return self.rt.ListPodSandboxMetrics(api_pb2.ListPodSandboxMetricsRequest(),
                                             timeout=10).pod_metrics

    def pod_entry(self, pod):
        got = [p for p in self.list_metrics() if p.pod_sandbox_id == pod]
        self.assertEqual(len(got), 1, "pod %s listed %d times" % (pod, len(got)))
        return got[0]

    def cgroup_path(self, cid):
        info = json.loads(self.status(cid, verbose=True).info["info"])
        path = info["cgroupsPath"]
        if ":" in path:
            self.skipTest("systemd cgroupsPath %s: the test reads cgroupfs paths" % path)
        return path

    def descriptors(self):
        d = self.rt.ListMetricDescriptors(api_pb2.ListMetricDescriptorsRequest(),
                                          timeout=10).descriptors
        return {x.name: x for x in d}, d

    # -- tests -------------------------------------------------------------------------

    def test_descriptors(self):
        by_name, raw = self.descriptors()
        self.assertEqual(len(by_name), len(raw), "descriptor names are not unique")
        self.assertEqual(set(by_name), set(WANT))
        for name, d in by_name.items():
            self.assertTrue(d.help and d.help[0].isupper(), name)
            self.assertEqual(tuple(d.label_keys), ("id", "name", "image") + WANT[name][1],
                             name)
        again, _ = self.descriptors()
        self.assertEqual(again, by_name, "the list changes between calls")
        # every descriptor is filled by this host, but figures whose file it lacks
        pod, cid = self.shared()
        path = self.cgroup_path(cid)
        exp = expected_v2(path) if V2 else expected_v1(path)
        entry = self.pod_entry(pod)
        seen = {m.name for m in entry.metrics}
        for c in entry.container_metrics:
            seen |= {m.name for m in c.metrics}
        absent = {n for n in WANT if n.startswith(("container_network", "container_fs"))}
        absent.add("container_last_seen")
        lacking = {n for n in WANT if n not in absent and not any(k[0] == n for k in exp)}
        # the layer's bytes come once du measured them: test_writable_layer waits for them
        self.assertEqual(set(WANT) - seen - {"container_fs_usage_bytes"}, lacking,
                         "described but never filled (host lacks: %s)" % sorted(lacking))
        for m in list(entry.metrics) + [m for c in entry.container_metrics for m in c.metrics]:
            self.assertIn(m.name, by_name)
            self.assertEqual(len(m.label_values), len(by_name[m.name].label_keys), m.name)

    def test_container_values_match_cgroup_files(self):
        pod, cid = self.shared()
        path = self.cgroup_path(cid)
        read = expected_v2 if V2 else expected_v1
        for attempt in range(3):
            before = read(path)
            t0 = time.time_ns()
            entry = self.pod_entry(pod)
            t1 = time.time_ns()
            after = read(path)
            self.assertEqual([c.container_id for c in entry.container_metrics], [cid])
            got = by_key(entry.container_metrics[0].metrics)
            bad = []
            for key in set(before) | set(after):
                lo, hi = sorted((before.get(key, -1), after.get(key, -1)))
                v = got[key].value.value if key in got else None
                if v is None or not lo <= v <= hi:
                    bad.append("%s: %s, files %d..%d" % (key, v, lo, hi))
            extra = {k for k in set(got) - set(before)
                     if k[0] != "container_last_seen" and not k[0].startswith("container_fs")}
            if not bad or attempt == 2:
                break
            time.sleep(0.5)  # a gauge moved up and back between the readings: read again
        self.assertEqual(bad, [])
        self.assertEqual(extra, set(), "figures with no file behind them")
        # the image label is a name, as ContainerStatus gives it (the first repo tag), though
        # the container was created by image id
        image = self.status(cid).status.image.image
        self.assertEqual(image, self.ctr_config("busy").image.image)
        for m in entry.container_metrics[0].metrics:
            self.assertEqual(list(m.label_values[:3]), [cid, "busy", image], m.name)
            self.assertEqual(m.metric_type, WANT[m.name][0], m.name)
            self.assertTrue(t0 <= m.timestamp <= t1, m.name)
        seen = got[("container_last_seen",)].value.value
        self.assertTrue(t0 // NS <= seen <= t1 // NS)
        # the settings the container was created with, as the kernel has them
        self.assertEqual(got[("container_spec_memory_limit_bytes",)].value.value, 96 << 20)
        self.assertEqual(got[("container_spec_cpu_quota",)].value.value, 10000)
        self.assertEqual(got[("container_spec_cpu_period",)].value.value, 100000)
        self.assertGreaterEqual(got[("container_processes",)].value.value, 2)

    def test_counters_monotonic_and_throttled(self):
        pod, cid = self.shared()
        counters = lambda e: {k: m.value.value for k, m in
                              by_key(e.container_metrics[0].metrics).items()
                              if m.metric_type == COUNTER}
        first = counters(self.pod_entry(pod))
        deadline = time.monotonic() + 20
        while True:  # the capped loop is throttled within a few 100 ms periods
            time.sleep(0.5)
            now = counters(self.pod_entry(pod))
            key = ("container_cpu_cfs_throttled_periods_total",)
            if now[key] > first[key] or time.monotonic() > deadline:
                break
        for k, v in first.items():
            self.assertGreaterEqual(now[k], v, k)
        self.assertGreater(now[("container_cpu_cfs_periods_total",)],
                           first[("container_cpu_cfs_periods_total",)])
        self.assertGreater(now[key], first[key], "a 10% CPU cap never throttled the loop")
        self.exec_sync(cid, ["touch", "/stop"])  # its job is done: no more load on the machine

    def test_pod_network(self):
        pod, cid = self.shared()
        st = self.rt.PodSandboxStatus(api_pb2.PodSandboxStatusRequest(
            pod_sandbox_id=pod, verbose=True), timeout=10)
        netns = json.loads(st.info["info"])["namespaces"]["net"]
        gw = st.status.network.ip.rsplit(".", 1)[0] + ".1"

        def check():
            before = netdev(netns)
            entry = self.pod_entry(pod)
            after = netdev(netns)
            got = by_key(entry.metrics)
            self.assertIn("eth0", before)
            for iface in before:
                for name, v in before[iface].items():
                    m = got[(name, iface)]
                    self.assertTrue(v <= m.value.value <= after[iface][name],
                                    "%s %s: %d not in %d..%d" % (
                                        name, iface, m.value.value, v, after[iface][name]))
                    self.assertEqual(list(m.label_values), [pod, "POD", "", iface])
                    self.assertEqual(m.metric_type, COUNTER)
            self.assertEqual({k[1] for k in got if k[0].startswith("container_network")},
                             set(before), "interfaces (lo left out)")
            return {k: m.value.value for k, m in got.items()}

        first = check()
        # traffic from the container: TCP to the bridge's address, refused: SYN out, RST in
        # (busybox-static's wget crashes, ping lacks CAP_NET_RAW)
        r = self.exec_sync(cid, ["sh", "-c", "for i in 1 2 3; do echo | nc -w 2 %s 1; done "
                                         "2>&1" % gw], timeout=30)
        self.assertIn(b"refused", r.stdout)
        then = check()
        for name in ("transmit_packets", "transmit_bytes", "receive_packets", "receive_bytes"):
            key = ("container_network_%s_total" % name, "eth0")
            self.assertGreater(then[key], first[key], key)

    def test_stream_matches_list(self):
        """StreamPodSandboxMetrics: the pods, containers and series of ListPodSandboxMetrics
        (values move between the two calls; names, labels and types do not)."""
        pod, cid = self.shared()

        def shape(entries):
            out = {}
            for p in entries:
                series = sorted((m.name, tuple(m.label_values), m.metric_type) for m in p.metrics)
                ctrs = sorted((c.container_id, tuple(sorted(
                    (m.name, tuple(m.label_values), m.metric_type) for m in c.metrics)))
                    for c in p.container_metrics)
                self.assertNotIn(p.pod_sandbox_id, out, "pod listed twice")
                out[p.pod_sandbox_id] = (series, ctrs)
            return out

        streamed = []
        for msg in self.rt.StreamPodSandboxMetrics(api_pb2.StreamPodSandboxMetricsRequest(),
                                                   timeout=10):
            self.assertGreater(len(msg.pod_sandbox_metrics), 0, "an empty message")
            streamed.extend(msg.pod_sandbox_metrics)
        listed = shape(self.list_metrics())
        self.assertIn(pod, listed)
        self.assertIn(cid, [c for c, _ in listed[pod][1]])
        self.assertEqual(shape(streamed), listed)

    def test_stopped_pod_disappears(self):
        pod = self.run_pod(cleanup=False)
        cid = self.run_ctr(pod, "short", image="sleep")
        entry = self.pod_entry(pod)
        self.assertEqual([c.container_id for c in entry.container_metrics], [cid])
        self.stop(cid)
        entry = self.pod_entry(pod)
        self.assertEqual(list(entry.container_metrics), [], "a stopped container is listed")
        self.rt.StopPodSandbox(api_pb2.StopPodSandboxRequest(pod_sandbox_id=pod), timeout=60)
        self.assertNotIn(pod, [p.pod_sandbox_id for p in self.list_metrics()])
        self.rt.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=pod),
                                 timeout=60)
        self.assertNotIn(pod, [p.pod_sandbox_id for p in self.list_metrics()])
        self.assertIn(self.shared()[0], [p.pod_sandbox_id for p in self.list_metrics()])

    def test_writable_layer(self):
        pod, cid = self.shared()
        pid = json.loads(self.status(cid, verbose=True).info["info"])["pid"]
        upper = None
        with open("/proc/%d/mountinfo" % pid) as f:
            for line in f:
                pre, post = line.split(" - ", 1)
                if pre.split()[4] == "/":
                    upper = [o[9:] for o in post.split()[2].split(",")
                             if o.startswith("upperdir=")][0]
        self.assertTrue(upper and os.path.isdir(upper), "the container's upperdir")
        du = lambda: int(subprocess.run(["du", "-s", "-B1", "-x", upper], capture_output=True,
                                        text=True).stdout.split()[0])
        deadline = time.monotonic() + 30
        while True:  # the first call starts `du`; a later one has its figure
            got = by_key(self.pod_entry(pod).container_metrics[0].metrics)
            used = got.get(("container_fs_usage_bytes",))
            if used and used.value.value >= 6 << 20 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        self.assertIsNotNone(used, "container_fs_usage_bytes never came")
        self.assertGreaterEqual(used.value.value, 6 << 20)
        self.assertEqual(used.value.value, du(), "du -s -B1 -x of the upperdir")
        for attempt in range(3):
            before = os.statvfs(upper)
            got = by_key(self.pod_entry(pod).container_metrics[0].metrics)
            after = os.statvfs(upper)
            free = got[("container_fs_inodes_free",)].value.value
            if min(before.f_ffree, after.f_ffree) <= free <= max(before.f_ffree, after.f_ffree):
                break
        self.assertTrue(min(before.f_ffree, after.f_ffree) <= free <=
                        max(before.f_ffree, after.f_ffree), "inodes free %d" % free)
        self.assertEqual(got[("container_fs_inodes_total",)].value.value, before.f_files)
        self.assertEqual(got[("container_fs_limit_bytes",)].value.value,
                         before.f_blocks * before.f_frsize)

    def test_pod_cgroup_parent(self):
        """A pod with a cgroup parent: its own series are that cgroup's (labels id, POD, "")."""
        parent = "/crid-metrics-%d" % os.getpid()
        self.addCleanup(remove_cgroup, parent)
        name = self.uniq("cgpod")
        cfg = api_pb2.PodSandboxConfig(
            metadata=api_pb2.PodSandboxMetadata(name=name, uid="uid-" + name,
                                                namespace="ctr-test"),
            hostname=name, log_directory=os.path.join(self.log_root, name))
        cfg.linux.cgroup_parent = parent
        pod = self.rt.RunPodSandbox(api_pb2.RunPodSandboxRequest(
            config=cfg, runtime_handler=self.runtime), timeout=60).pod_sandbox_id
        self.addCleanup(self.remove_pod, pod)
        self.pod_cfgs = getattr(self, "pod_cfgs", {})
        self.pod_cfgs[pod] = cfg
        cid = self.run_ctr(pod, "inner", image="sleep", memory=64 << 20)
        self.assertTrue(self.cgroup_path(cid).startswith(parent + "/"))
        read = expected_v2 if V2 else expected_v1
        for attempt in range(3):
            before = read(parent)
            entry = self.pod_entry(pod)
            after = read(parent)
            got = by_key(entry.metrics)
            bad = []
            for key in set(before) | set(after):
                lo, hi = sorted((before.get(key, -1), after.get(key, -1)))
                v = got[key].value.value if key in got else None
                if v is None or not lo <= v <= hi:
                    bad.append("%s: %s, files %d..%d" % (key, v, lo, hi))
            if not bad or attempt == 2:
                break
            time.sleep(0.5)
        self.assertEqual(bad, [])
        # pids.current counts the descendants; cgroup.procs only the cgroup's own
        self.assertGreaterEqual(got[("container_threads",)].value.value, 1)
        self.assertEqual(got[("container_processes",)].value.value, 0)
        for m in entry.metrics:
            self.assertEqual(list(m.label_values[:3]), [pod, "POD", ""], m.name)
        self.assertEqual([c.container_id for c in entry.container_metrics], [cid])


def remove_cgroup(path):
    """rmdir the test's cgroup parent (and nothing else) in every hierarchy holding it."""
    roots = [CG] if V2 else [os.path.join(CG, d) for d in os.listdir(CG)]
    for r in roots:
        d = r + path
        if os.path.isdir(d) and not os.path.islink(r):
            try:
                os.rmdir(d)
            except OSError:
                pass
