#!/usr/bin/python3
"""The `soak` scenario: kubelet's polling load and pod churn for minutes, against a CRI socket.

    bench/soak.py --endpoint crid=unix:///run/crid.sock [--pid crid=PID] \\
                  [--minutes 20] [--pods 500] [--churn 0.1] [--out DIR] [--json FILE]

`make soak SOAK_MINUTES=N SOAK_PODS=M` runs it through bench/run.sh (BENCH_SCENARIOS=soak),
which starts crid (and containerd when BENCH_ENDPOINTS names it) on private dirs.

Per endpoint, one after the other: --pods sandboxes (no containers: 500 sleeping
containers do not fit a loaded 2-core machine) are started, then for --minutes:
  - the relist scenario's calls (bench/relist.c) on their own connection:
    ListPodSandbox + ListContainers every second, Status every 5 s,
    ListContainerStats, ListPodSandboxStats, ListImages, ImageFsInfo every 10 s;
  - churn: --churn of the pods (10%) are replaced over and over (StopPodSandbox,
    RemovePodSandbox, RunPodSandbox) by --workers threads on a third connection;
  - every --interval s (10) a sample: the daemon's open fds (/proc/PID/fd), its
    PSS, anonymous PSS, RSS and anonymous memory (/proc/PID/smaps_rollup; the anonymous
    memory also read every second between samples: median and lowest), its worst
    loop iteration since the last sample, wall and CPU time (crid: verbose Status info
    "loop", reset on read), what crid allocated itself and glibc's heap in use and free
    (crid: info "memory"), the p50/p99 of the polling calls of the window, churns and
    errors so far.
The samples go to DIR/soak-<endpoint>.csv and DIR/soak-<endpoint>.png (gnuplot). With
--pid, each sample also reads /proc/PID/smaps: every mapping's Anonymous and Rss KiB, keyed
by range and name, logged as they change to DIR/soak-<endpoint>-maps.csv; at the end the
mappings whose Anonymous moved by more than 16 KiB between the first sample after the
warm-up and the end, rose and came back, or appeared or went during the run are printed
with when (the name of what grew, where the totals only say that something did).

Verdict (exit 1 naming the figure, else 0), for runs of at least 4 minutes (shorter
runs scale the windows to a quarter of the run each):
  - fds:  the lowest count of the last minute <= the lowest of the minute after the
          2-minute warm-up x 1.02 + 8 (the lowest: fds of calls in flight come and go);
  - memory: the median of the daemon's anonymous memory (smaps_rollup "Anonymous":
          heap, stacks, data; its own pages, whoever else maps its libraries) over the
          last minute <= the median of that base minute x 1.02 (no allowance for the
          allocator's pages), read every second, not only at the samples (anon_mid_kib,
          each interval's median): calls in flight hold more for a few seconds of each
          10 and a heap trim less for a moment, and samples at a fixed phase caught
          either for minutes; a leak or pages kept resident move the median. The
          lowest read is reported (anon_floor_kib), not judged;
          PSS is reported, not judged: its share of the libraries moves as other
          processes map or unmap them, and halves while a forked child shares the heap;
  - p99:  the polling calls' p99 over the run's last tenth (at least a minute) <= 1.5 x
          that of its first tenth + 2 ms (a loaded machine's scheduling noise);
  - no RPC error at all (churn or polling).
"""
import argparse
import csv
import json
import os
import statistics
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
from crid_fixture import grpc  # noqa: E402  (puts the generated stubs on sys.path)

import api_pb2  # noqa: E402
import api_pb2_grpc  # noqa: E402

POD_NS = "crid-soak"
RPC_TIMEOUT = 120
FD_SLACK, FD_FACTOR = 8, 1.02
MEM_SLACK_KIB, MEM_FACTOR = 0, 1.02
P99_FACTOR, P99_SLACK_MS = 1.5, 2.0
COLUMNS = ("t_s", "pods", "fds", "pss_kib", "pss_anon_kib", "rss_kib", "max_iteration_us",
           "max_iteration_cpu_us", "calls", "p50_ms", "p99_ms", "churns", "errors",
           "crid_kib", "heap_used_kib", "heap_free_kib", "anon_kib", "anon_floor_kib",
           "tcache_kib", "anon_mid_kib")
# reads of the anonymous memory per sample interval: their median (anon_mid_kib, judged)
# and lowest (anon_floor_kib, reported)
READS = 10
MEMORY_KEYS = {"cridBytes": "crid_kib", "heapInUse": "heap_used_kib", "heapFree": "heap_free_kib"}


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))] if v else None


def proc_figures(pid):
    """{fds, pss_kib, pss_anon_kib, rss_kib, anon_kib} of |pid|; None where unreadable.
    Anonymous is the daemon's own heap, stacks and data, counted whole; Pss_Anon the same
    pages divided among the processes sharing them (a forked child, for a moment); PSS
    also counts its share of libraries, which moves as other processes map them."""
    out = dict.fromkeys(("fds", "pss_kib", "pss_anon_kib", "rss_kib", "anon_kib"))
    if not pid:
        return out
    try:
        out["fds"] = len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        pass
    keys = {"Pss": "pss_kib", "Pss_Anon": "pss_anon_kib", "Rss": "rss_kib",
            "Anonymous": "anon_kib"}
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in keys:
                    out[keys[k]] = int(v.split()[0])
    except OSError:
        pass
    return out


def anon_kib(pid):
    """smaps_rollup's Anonymous of |pid| in KiB, None when unreadable."""
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Anonymous:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def tcache_counts(pid):
    """The 64 chunk counts of glibc's per-thread cache (tcache) of |pid|'s main thread, bin
    i holding chunks of 32 + 16 i bytes; None when not found. Read from /proc/PID/mem
    without stopping the daemon: glibc (2.30 and later, 64-bit) allocates the cache as
    the heap's first chunk, its 64 16-bit counts first."""
    try:
        with open("/proc/%d/maps" % pid) as f:
            start = next(int(ln.split("-")[0], 16) for ln in f if ln.rstrip().endswith("[heap]"))
        with open("/proc/%d/mem" % pid, "rb") as f:
            f.seek(start)
            head = f.read(16 + 128)
    except (OSError, StopIteration, ValueError):
        return None
    # the chunk's size field: 64 counts, 64 pointers and the 16-byte header, flags aside
    if len(head) < 144 or struct.unpack("<Q", head[8:16])[0] & ~7 != 0x290:
        return None
    return struct.unpack("<64H", head[16:144])


def tcache_kib(pid):
    """KiB of freed chunks the tcache of |pid| holds (None when not found): mallinfo2
    counts them in use, so the heap in use grows as the cache fills (at most 7 chunks of
    each of 64 sizes up to 1 KiB, ~234 KiB), and their pages stay resident."""
    counts = tcache_counts(pid)
    if counts is None:
        return None
    return sum(n * (32 + 16 * i) for i, n in enumerate(counts)) // 1024


def proc_maps(pid):
    """{(range, name): (perms, anon_kib, rss_kib)} of every mapping of |pid|
    (/proc/PID/smaps), {} when unreadable: which mapping holds the daemon's anonymous
    memory (the judged figure is their sum)."""
    out, key, perms, anon, rss = {}, None, "", 0, 0
    try:
        with open("/proc/%d/smaps" % pid) as f:
            for line in f:
                head = line.split(None, 1)[0]
                if head == "Anonymous:":
                    anon = int(line.split()[1])
                elif head == "Rss:":
                    rss = int(line.split()[1])
                elif not head.endswith(":"):  # a mapping's first line: range perms ... name
                    if key:
                        out[key] = (perms, anon, rss)
                    parts = line.split(None, 5)
                    key = (parts[0], parts[5].strip() if len(parts) > 5 else "")
                    perms, anon, rss = parts[1], 0, 0
    except OSError:
        return {}
    if key:
        out[key] = (perms, anon, rss)
    return out


class MapLog:
    """The daemon's mappings sample after sample, for naming what grew (maps_report).
    The side CSV is a change log so an hour stays small: the first sample lists every
    mapping ("new"), later ones only those that appeared ("new"), changed ("changed") or
    went ("gone", figures empty), keyed by range and name as /proc/PID/smaps shows them (a
    mapping that grows or shrinks in place, [heap] by brk, goes and comes back under its
    new range)."""

    COLUMNS = ("t_s", "event", "range", "perms", "name", "anon_kib", "rss_kib")

    def __init__(self, path, pid):
        self.pid, self.snaps, self.prev = pid, [], {}
        self.f = open(path, "w") if pid else None
        if self.f:
            self.f.write(",".join(self.COLUMNS) + "\n")

    def sample(self, t_s):
        if not self.f:
            return
        cur = proc_maps(self.pid)
        if not cur:
            return
        for k, v in cur.items():
            old = self.prev.get(k)
            if old != v:
                self.write(t_s, "changed" if old else "new", k, v)
        for k, v in self.prev.items():
            if k not in cur:
                self.write(t_s, "gone", k, (v[0], None, None))
        self.snaps.append((t_s, cur))
        self.prev = cur

    def write(self, t_s, event, key, v):
        name = '"%s"' % key[1].replace('"', '""') if "," in key[1] else key[1]
        self.f.write("%s,%s,%s,%s,%s,%s,%s\n" % (t_s, event, key[0], v[0], name,
                                                   "" if v[1] is None else v[1],
                                                   "" if v[2] is None else v[2]))

    def close(self):
        if self.f:
            self.f.close()
            self.f = None


def load_map_log(path):
    """The samples [(t_s, {key: (perms, anon, rss)})] a MapLog wrote to |path|, for
    maps_report on a finished run (--maps)."""
    snaps = []
    with open(path) as f:
        for r in csv.DictReader(f):
            t = float(r["t_s"])
            if not snaps or snaps[-1][0] != t:  # (a sample that changed nothing is not there)
                snaps.append((t, dict(snaps[-1][1]) if snaps else {}))
            cur = snaps[-1][1]
            key = (r["range"], r["name"])
            if r["event"] == "gone":
                cur.pop(key, None)
            else:
                cur[key] = (r["perms"], int(r["anon_kib"]), int(r["rss_kib"]))
    return snaps


def map_label(key, perms):
    return "%s %s %s" % (key[0], perms, key[1] or "(anonymous)")


def maps_report(snaps, duration_s, delta_kib=16):
    """Lines naming the mappings that moved the daemon's anonymous memory over |snaps|
    [(t_s, {key: (perms, anon, rss)})]: those whose Anonymous differs by more than
    |delta_kib| between the reference (the first sample after the warm-up) and the end,
    those that rose above their reference by more than that and came back (peaks), and
    every mapping with anonymous pages that appeared or went during the run (excursions),
    each with when."""
    warm = windows(duration_s)[0]
    after = [s for s in snaps if s[0] >= warm]
    if len(after) < 2:
        return []
    (t_ref, ref), (t_end, end) = after[0], snaps[-1]
    lines = ["mappings: Anonymous KiB at %.0f s (reference) and at %.0f s (end)" % (t_ref, t_end)]
    for k in sorted(set(ref) | set(end)):
        a, b = ref.get(k, (None, 0))[1], end.get(k, (None, 0))[1]
        if abs(b - a) > delta_kib:
            perms = (end.get(k) or ref.get(k))[0]
            lines.append("  changed %-60s %6d -> %6d KiB (%+d)%s" % (
                map_label(k, perms), a, b, b - a,
                "" if k in ref and k in end else " new" if k in end else " gone"))
    for k, (perms, a, _) in sorted(ref.items()):
        peak = max(after, key=lambda s: s[1].get(k, (None, 0))[1])
        p = peak[1].get(k, (None, 0))[1]
        if p - a > delta_kib and p - end.get(k, (None, 0))[1] > delta_kib:
            lines.append("  peak    %-60s %6d -> %6d KiB at %.0f s, %d at the end" % (
                map_label(k, perms), a, p, peak[0], end.get(k, (None, 0))[1]))
    lines.extend(excursions(snaps))
    return lines


def excursions(snaps):
    """Lines for the mappings with anonymous pages that were not there from the first
    sample to the last: when each appeared and went, and its largest Anonymous."""
    seen = {}  # key -> [perms, max anon, [[first t, last t], ...]]
    for i, (t, cur) in enumerate(snaps):
        for k, (perms, anon, _) in cur.items():
            e = seen.setdefault(k, [perms, 0, []])
            e[1] = max(e[1], anon)
            if e[2] and e[2][-1][2] == i - 1:
                e[2][-1][1:] = [t, i]
            else:
                e[2].append([t, t, i])
    t0, last = snaps[0][0], len(snaps) - 1
    out = []
    for k, (perms, peak, spans) in sorted(seen.items(), key=lambda x: x[1][2][0][0]):
        if peak == 0 or (len(spans) == 1 and spans[0][0] == t0 and spans[0][2] == last):
            continue
        when = ", ".join("%s-%s" % ("%.0f" % a if a != t0 else "start",
                                    "%.0f" % b if i != last else "end") for a, b, i in spans)
        if len(spans) > 6:  # a mapping that comes and goes every few seconds ([heap]'s top)
            when = "%d times, %s ... %s" % (len(spans), ", ".join(when.split(", ")[:3]),
                                           ", ".join(when.split(", ")[-2:]))
        out.append("  present %-60s up to %6d KiB: %s s" % (map_label(k, perms), peak, when))
    return out


class Soak:
    """One endpoint's soak: pods, the polling load, churn, samples."""

    def __init__(self, name, target, pid, args):
        self.name, self.target, self.pid, self.args = name, target, pid, args
        self.lock = threading.Lock()
        self.pods = []  # ids of the running pods; the churn takes from the front
        self.window = []  # latencies (ms) of the polling calls since the last sample
        self.errors = []  # "call: CODE details" of every failed RPC
        self.churns = 0
        self.dropped = set()  # polling calls answered UNIMPLEMENTED
        self.stop = threading.Event()
        self.n = 0
        self.maps = MapLog(None, 0)

    def stub(self):
        ch = grpc.insecure_channel(self.target, options=[("grpc.use_local_subchannel_pool", 1)])
        return ch, api_pb2_grpc.RuntimeServiceStub(ch), api_pb2_grpc.ImageServiceStub(ch)

    def error(self, what, e):
        with self.lock:
            self.errors.append("%s: %s %s" % (what, e.code().name, (e.details() or "")[:120]))

    # -- pods ------------------------------------------------------------------------------

    def run_pod(self, rt):
        with self.lock:
            self.n += 1
            name = "soak-%d-%d" % (os.getpid(), self.n)
        cfg = api_pb2.PodSandboxConfig(
            metadata=api_pb2.PodSandboxMetadata(name=name, uid="uid-" + name, namespace=POD_NS),
            hostname="soak", log_directory="/tmp/crid-soak-logs/" + name)
        return rt.RunPodSandbox(api_pb2.RunPodSandboxRequest(config=cfg),
                                timeout=RPC_TIMEOUT).pod_sandbox_id

    @staticmethod
    def remove_pod(rt, pod):
        rt.StopPodSandbox(api_pb2.StopPodSandboxRequest(pod_sandbox_id=pod), timeout=RPC_TIMEOUT)
        rt.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=pod),
                            timeout=RPC_TIMEOUT)

    def prefill(self):
        """--pods pods, --workers at a time; a failure ends the soak before it starts."""
        todo = list(range(self.args.pods))
        failed = []

        def worker():
            ch, rt, _ = self.stub()
            while not failed:
                with self.lock:
                    if not todo:
                        break
                    todo.pop()
                try:
                    pod = self.run_pod(rt)
                except grpc.RpcError as e:
                    failed.append("RunPodSandbox: %s %s" % (e.code().name, e.details()))
                    break
                with self.lock:
                    self.pods.append(pod)
            ch.close()

        threads = [threading.Thread(target=worker) for _ in range(max(1, self.args.workers * 2))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if failed:
            raise RuntimeError("%s: prefill failed after %d pods: %s" % (self.name,
                                                                        len(self.pods), failed[0]))

    def teardown(self):
        """Removes every pod of the soak's namespace, --workers x 2 at a time."""
        ch, rt, _ = self.stub()
        try:
            todo = [p.id for p in rt.ListPodSandbox(api_pb2.ListPodSandboxRequest(),
                                                    timeout=RPC_TIMEOUT).items
                    if p.metadata.namespace == POD_NS]
        finally:
            ch.close()

        def worker():
            ch, rt, _ = self.stub()
            while True:
                with self.lock:
                    if not todo:
                        break
                    pod = todo.pop()
                try:
                    self.remove_pod(rt, pod)
                except grpc.RpcError as e:
                    sys.stderr.write("soak: %s: removing %s: %s\n" % (self.name, pod[:12],
                                                                      e.details()))
            ch.close()

        threads = [threading.Thread(target=worker) for _ in range(max(1, self.args.workers * 2))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    # -- load --------------------------------------------------------------------------

    def churn(self):
        """Replaces the oldest of the churned share of the pods, again and again."""
        ch, rt, _ = self.stub()
        share = max(1, int(round(self.args.pods * self.args.churn)))
        while not self.stop.is_set():
            with self.lock:
                # the churned pods are those at the front; a new one goes back at the
                # front's end, so only `share` pods ever churn
                pod = self.pods.pop(0) if self.pods else None
            if pod is None:
                break
            try:
                self.remove_pod(rt, pod)
                new = self.run_pod(rt)
            except grpc.RpcError as e:
                self.error("churn", e)
                time.sleep(1)
                continue
            with self.lock:
                self.pods.insert(min(share - 1, len(self.pods)), new)
                self.churns += 1
        ch.close()

    def timed(self, fn, req, optional=False):
        """One polling call, its latency into the window. UNIMPLEMENTED, or any error of an
        |optional| call (containerd 1.6 fails ListPodSandboxStats for pods without a cgroup
        parent), is noted once and the call dropped, as bench/relist.c does."""
        what = type(req).__name__[:-len("Request")]
        if what in self.dropped:
            return
        t0 = time.monotonic()
        try:
            fn(req, timeout=RPC_TIMEOUT)
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.UNIMPLEMENTED or optional:
                self.dropped.add(what)
                sys.stderr.write("soak: %s: %s answers %s: not called again\n"
                                 % (self.name, what, e.code().name))
            else:
                self.error(what, e)
            return
        with self.lock:
            self.window.append((time.monotonic() - t0) * 1e3)

    def poll(self):
        """relist's calls at kubelet's periods (bench/relist.c)."""
        ch, rt, img = self.stub()
        tick, nxt = 0, time.monotonic()
        while not self.stop.is_set():
            self.timed(rt.ListPodSandbox, api_pb2.ListPodSandboxRequest())
            self.timed(rt.ListContainers, api_pb2.ListContainersRequest())
            if tick % 5 == 0:
                self.timed(rt.Status, api_pb2.StatusRequest())
            if tick % 10 == 0:
                self.timed(rt.ListContainerStats, api_pb2.ListContainerStatsRequest())
                self.timed(rt.ListPodSandboxStats, api_pb2.ListPodSandboxStatsRequest(), True)
                self.timed(img.ListImages, api_pb2.ListImagesRequest(), True)
                self.timed(img.ImageFsInfo, api_pb2.ImageFsInfoRequest())
            tick += 1
            nxt += 1.0
            self.stop.wait(max(0.0, nxt - time.monotonic()))
        ch.close()

    # -- samples -----------------------------------------------------------------------

    def verbose_status(self, rt):
        """The daemon's figures from verbose Status (crid only; {} elsewhere): its worst
        loop iteration since the last call in us, wall time (which counts waiting for a
        core) and CPU time, and its memory in KiB: what crid allocated itself against
        what glibc's heap holds in use and free (info "memory")."""
        out = {}
        try:
            r = rt.Status(api_pb2.StatusRequest(verbose=True), timeout=RPC_TIMEOUT)
        except grpc.RpcError:
            return out
        try:
            loop = json.loads(r.info["loop"])
            out.update(max_iteration_us=loop["maxIterationUs"],
                       max_iteration_cpu_us=loop.get("maxIterationCpuUs"))
        except (ValueError, KeyError):
            pass
        try:
            mem = json.loads(r.info["memory"])
            out.update((col, mem[k] // 1024) for k, col in MEMORY_KEYS.items() if k in mem)
        except (ValueError, KeyError):
            pass
        return out

    def sample(self, t0, rt, calls_all):
        fig = proc_figures(self.pid)
        with self.lock:
            w, self.window = self.window, []
            row = {"pods": len(self.pods), "churns": self.churns, "errors": len(self.errors)}
        calls_all.append((time.monotonic() - t0, w))
        row.update(fig)
        row["tcache_kib"] = tcache_kib(self.pid) if self.pid else None
        row.update(self.verbose_status(rt))
        row.update(t_s=round(time.monotonic() - t0, 1), calls=len(w), p50_ms=pct(w, 50),
                   p99_ms=pct(w, 99))
        return row

    def reads_until(self, t):
        """Reads of the daemon's anonymous memory until |t| (monotonic), READS - 1 of them
        spread over the interval. Their median is what the daemon holds most of the time:
        at 500 pods the heap holds 50 to 170 KiB more for 1 to 5 s of every 10 while a
        stats reply is built and until the next trim, and ~60 KiB less for under a second
        after each trim (until the next list reply touches its pages again); one sample
        per 10 s at a fixed phase caught the first for minutes on end, or not, as the
        machine's load moved the phase (README)."""
        reads = []
        step = self.args.interval / READS
        while True:
            left = t - time.monotonic()
            if left <= 0:
                return reads
            time.sleep(min(step, left))
            if self.pid and t - time.monotonic() > step / 2:
                reads.append(anon_kib(self.pid))

    def run(self, out_dir):
        sys.stderr.write("soak: %s: starting %d pods\n" % (self.name, self.args.pods))
        t = time.monotonic()
        self.prefill()
        sys.stderr.write("soak: %s: %d pods in %.0f s; soaking %.1f min, churning %d%%\n"
                         % (self.name, len(self.pods), time.monotonic() - t, self.args.minutes,
                            100 * self.args.churn))
        ch, rt, _ = self.stub()
        self.verbose_status(rt)  # resets the daemon's worst-iteration counter
        threads = [threading.Thread(target=self.poll)] + [
            threading.Thread(target=self.churn) for _ in range(self.args.workers)]
        rows, calls, t0 = [], [], time.monotonic()
        self.maps = MapLog(os.path.join(out_dir, "soak-%s-maps.csv" % self.name), self.pid)
        end = t0 + self.args.minutes * 60
        for th in threads:
            th.start()
        try:
            nxt = t0
            while time.monotonic() < end:
                nxt += self.args.interval
                reads = self.reads_until(min(nxt, end))
                rows.append(self.sample(t0, rt, calls))
                reads = [v for v in reads + [rows[-1]["anon_kib"]] if v is not None]
                if reads:
                    rows[-1].update(anon_floor_kib=min(reads),
                                    anon_mid_kib=statistics.median_low(reads))
                self.maps.sample(rows[-1]["t_s"])
                r = rows[-1]
                sys.stderr.write("soak: %s: %5.0f s fds %s pss %s anon %s mid %s KiB (crid %s,"
                                 " heap %s + %s free, tcache %s) max-iter %s us p99 %s ms"
                                 " churns %d errors %d\n"
                                 % (self.name, r["t_s"], r["fds"], r["pss_kib"], r["anon_kib"],
                                    r.get("anon_mid_kib"), r.get("crid_kib"),
                                    r.get("heap_used_kib"), r.get("heap_free_kib"),
                                    r.get("tcache_kib"), r.get("max_iteration_us"),
                                    fmt(r["p99_ms"]), r["churns"], r["errors"]))
        finally:
            self.stop.set()
            for th in threads:
                th.join()
            ch.close()
            self.maps.close()
        write_csv(os.path.join(out_dir, "soak-%s.csv" % self.name), rows)
        plot(os.path.join(out_dir, "soak-%s" % self.name), self.name, self.args,
             any(r.get("max_iteration_us") is not None for r in rows))
        return rows, calls


def fmt(v):
    return "-" if v is None else "%.2f" % v


def write_csv(path, rows):
    with open(path, "w") as f:
        f.write(",".join(COLUMNS) + "\n")
        for r in rows:
            f.write(",".join("" if r.get(c) is None else str(r[c]) for c in COLUMNS) + "\n")


LOOP_PLOT = """set ylabel 'loop max iter ms'
set key top left
plot '%(b)s.csv' using ($1/60):($7/1000) with lines title 'wall', \\
     '' using ($1/60):($8/1000) with lines title 'CPU'
unset key"""
# an endpoint without crid's loop figure (containerd): an empty panel that says so
NO_LOOP_PLOT = """set ylabel 'loop max iter'
set yrange [0:1]
set label 1 'not reported by this endpoint' at graph 0.4, graph 0.5
plot 2 notitle
unset label 1
set yrange [*:*]"""


def plot(base, name, args, has_loop):
    """base.png from base.csv: fds, memory, worst loop iteration and p99 against minutes."""
    gp = base + ".gp"
    with open(gp, "w") as f:
        f.write("""set terminal pngcairo size 1000,900 noenhanced
set output '%(b)s.png'
set datafile separator ','
set datafile missing ''
set key autotitle columnhead
set multiplot layout 4,1 title '%(n)s: %(p)d pods, %(c)d%% churning, %(m).0f min'
set xlabel 'minutes'
set xrange [0:%(m)g]
set ylabel 'open fds'
plot '%(b)s.csv' using ($1/60):3 with lines notitle
set ylabel 'memory MiB'
set key top left horizontal
plot '%(b)s.csv' using ($1/60):($4/1024) with lines title 'PSS', \\
     '' using ($1/60):($17/1024) with lines title 'anonymous', \\
     '' using ($1/60):($20/1024) with lines title 'anonymous, median of 1 s reads (judged)', \\
     '' using ($1/60):($18/1024) with lines title 'anonymous floor', \\
     '' using ($1/60):($15/1024) with lines title 'heap in use', \\
     '' using ($1/60):($14/1024) with lines title 'crid allocated', \\
     '' using ($1/60):($19/1024) with lines title 'tcache'
unset key
%(loop)s
set ylabel 'poll p99 ms'
plot '%(b)s.csv' using ($1/60):11 with lines notitle
unset multiplot
""" % {"b": base, "n": name, "p": args.pods, "c": round(100 * args.churn), "m": args.minutes,
       "loop": LOOP_PLOT % {"b": base} if has_loop else NO_LOOP_PLOT})
    try:
        r = subprocess.run(["gnuplot", gp], capture_output=True, text=True)
        if r.returncode:
            sys.stderr.write("soak: gnuplot failed: %s\n" % r.stderr[-400:])
    except FileNotFoundError:
        sys.stderr.write("soak: gnuplot not found (make deps installs gnuplot-nox): no PNG\n")


def windows(duration_s):
    """(warm-up end, base end, last start) in seconds: 2 min warm-up, 1 min windows, or a
    quarter of a run shorter than 4 minutes each."""
    w = min(60.0, duration_s / 4)
    warm = min(120.0, duration_s / 4)
    return warm, warm + w, duration_s - w


def p99_window(duration_s):
    """Seconds of the first and the last p99 window: a tenth of the run, at least a minute
    (a minute of polling is ~130 calls, its p99 nearly its maximum), at most a quarter."""
    return min(max(60.0, duration_s / 10), duration_s / 4)


def verdict(rows, calls, duration_s):
    """Figures and failures (list of strings, empty when the soak passed) of one endpoint's
    samples |rows| (dicts of COLUMNS) and |calls| [(t_s, [latency ms])] over |duration_s|."""
    warm, base_end, last = windows(duration_s)
    base = [r for r in rows if warm <= r["t_s"] <= base_end]
    tail = [r for r in rows if r["t_s"] > last]
    fig, fails = {}, []

    def vals(rs, k):
        return [r[k] for r in rs if r.get(k) is not None]

    if vals(base, "fds") and vals(tail, "fds"):
        b, e = min(vals(base, "fds")), min(vals(tail, "fds"))
        bound = b * FD_FACTOR + FD_SLACK
        fig["fds"] = {"base": b, "end": e, "bound": bound}
        if e > bound:
            fails.append("fds grew: %d after warm-up, %d at the end (bound %.0f)" % (b, e, bound))
    if vals(base, "pss_kib") and vals(tail, "pss_kib"):
        fig["pss_kib"] = {"base": statistics.median(vals(base, "pss_kib")),
                          "end": statistics.median(vals(tail, "pss_kib")), "bound": None}
    # the median of the second-by-second reads; the samples' own when there are none
    mem = "anon_mid_kib" if vals(rows, "anon_mid_kib") else "anon_kib"
    if vals(base, mem) and vals(tail, mem):
        b, e = statistics.median(vals(base, mem)), statistics.median(vals(tail, mem))
        bound = b * MEM_FACTOR + MEM_SLACK_KIB
        fig["memory_kib"] = {"base": b, "end": e, "bound": bound}
        if e > bound:
            fails.append("memory grew: %.0f KiB anonymous after warm-up, %.0f KiB at the end "
                         "(bound %.0f)" % (b, e, bound))
    if vals(base, "anon_floor_kib") and vals(tail, "anon_floor_kib"):
        # the lowest read: a trim's dip, as much as a moment without any call: reported
        fig["anon_floor_kib"] = {"base": min(vals(base, "anon_floor_kib")),
                                 "end": min(vals(tail, "anon_floor_kib")), "bound": None}
    pw = p99_window(duration_s)
    first = [ms for t, w in calls if t <= pw for ms in w]
    end = [ms for t, w in calls if t > duration_s - pw for ms in w]
    if first and end:
        b, e = pct(first, 99), pct(end, 99)
        bound = b * P99_FACTOR + P99_SLACK_MS
        fig["p99_ms"] = {"base": b, "end": e, "bound": bound}
        if e > bound:
            fails.append("p99 drifted: %.2f ms in the first minute, %.2f ms in the last "
                         "(bound %.2f)" % (b, e, bound))
    errs = rows[-1]["errors"] if rows else 0
    fig["errors"] = errs
    if errs:
        fails.append("%d RPC errors" % errs)
    if len(base) < 2 or len(tail) < 2:
        fails.append("too few samples for a verdict (%d base, %d last): run longer"
                     % (len(base), len(tail)))
    return fig, fails


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--endpoint", action="append", default=[], help="name=unix://socket")
    p.add_argument("--pid", action="append", default=[], help="name=pid of the daemon")
    p.add_argument("--minutes", type=float, default=20)
    p.add_argument("--pods", type=int, default=500)
    p.add_argument("--churn", type=float, default=0.1, help="share of the pods churning")
    p.add_argument("--workers", type=int, default=2, help="churn threads")
    p.add_argument("--interval", type=float, default=10, help="seconds between samples")
    p.add_argument("--out", default=".", help="directory of the CSV and PNG files")
    p.add_argument("--image", help="ignored (bench/run.sh passes it to every scenario)")
    p.add_argument("--json")
    p.add_argument("--maps", help="only print the per-mapping report of this -maps.csv of a "
                   "run of --minutes")
    args = p.parse_args()
    if args.maps:
        print("\n".join(maps_report(load_map_log(args.maps), args.minutes * 60)))
        return 0
    if not args.endpoint:
        p.error("--endpoint is required")
    pids = dict(x.split("=", 1) for x in args.pid)
    os.makedirs(args.out, exist_ok=True)
    res, rc = {}, 0
    for name, target in (x.split("=", 1) for x in args.endpoint):
        s = Soak(name, target.replace("unix://", "unix:"), int(pids.get(name, 0)), args)
        try:
            rows, calls = s.run(args.out)
        finally:
            s.teardown()
        fig, fails = verdict(rows, calls, args.minutes * 60)
        fig.update(start=rows[0] if rows else None, end=rows[-1] if rows else None,
                   churns=s.churns, first_errors=s.errors[:5], failures=fails)
        res[name] = fig
        print("soak %s: %d pods, %d churned, %.1f min: %s" % (
            name, args.pods, s.churns, args.minutes, "FAILED: " + "; ".join(fails) if fails
            else "OK"))
        for k in ("fds", "memory_kib", "anon_floor_kib", "pss_kib", "p99_ms"):
            if k in fig:
                f = fig[k]
                print("  %-10s after warm-up %10.2f  at the end %10.2f (%+.1f%%)  %s"
                      % (k, f["base"], f["end"], 100.0 * (f["end"] - f["base"]) / (f["base"] or 1),
                         "not judged" if f["bound"] is None else "bound %.2f" % f["bound"]))
        for e in s.errors[:5]:
            print("  error: %s" % e)
        report = maps_report(s.maps.snaps, args.minutes * 60)
        fig["mappings"] = report
        for line in report:
            print("  " + line)
        print("  samples: %s" % os.path.join(args.out, "soak-%s{.csv,.png,-maps.csv}" % name))
        rc |= 1 if fails else 0
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"scenario": "soak", "params": vars(args), "endpoints": res}, f, indent=1)
    return rc


if __name__ == "__main__":
    sys.exit(main())
