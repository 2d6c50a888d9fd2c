#!/usr/bin/python3
"""The cost of --enable-metrics, measured against crid itself.

    CRID_BUILD=build bench/prom_cost.py [--calls 10000] [--pods 500] [--scrapes 200]
                                        [--instructions 2000]

1. Two daemons of the same binary, one with `--enable-metrics`, one without;
   `crid-bench rpc` runs Version round trips against both in alternating
   rounds (so load drifts on a shared machine hit both alike) and prints the
   p50 of each; the ratio on/off is the cost of the RPC path's hooks.
2. --pods sandboxes (host network: no CNI, sandbox-only) on the metrics
   daemon, then --scrapes scrapes of /metrics, timed from the client (connect
   to the last byte, Python's own overhead included): median, p99 and bytes.

3. With --instructions N: each daemon alone under callgrind, its instructions
   per Version call over N calls (counted, not timed: the figure does not move
   with the machine's load, where a 2% difference in latency drowns in noise).

Everything it starts is stopped and its temp dir removed at the end.
"""
import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
from crid_fixture import Crid  # noqa: E402

import api_pb2  # noqa: E402
import api_pb2_grpc  # noqa: E402

BUILD = os.environ.get("CRID_BUILD", "build")


def scrape(port):
    t0 = time.perf_counter()
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    while True:
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        data += chunk
    s.close()
    dt = time.perf_counter() - t0
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head[:100]
    return dt, len(body)


def cpu_ns(pid):
    """The time |pid| has run on a CPU (ns, /proc/PID/schedstat): less sensitive
    to a loaded machine than round-trip latency, which waits for a core."""
    with open("/proc/%d/schedstat" % pid) as f:
        return int(f.read().split()[0])


def rpc_compare(on, off, calls):
    before = {d: cpu_ns(d.pid) for d in (off, on)}
    out = subprocess.run([os.path.join(REPO, BUILD, "crid-bench"), "rpc",
                          "--endpoint", "metrics-off=" + off.target(),
                          "--endpoint", "metrics-on=" + on.target(),
                          "-n", str(calls), "-c", "1,100"],
                         check=True, capture_output=True, text=True)
    print(out.stdout)
    # crid-bench runs |calls| at each of the two concurrency levels per endpoint
    per_call = {d: (cpu_ns(d.pid) - before[d]) / (2 * calls) / 1000 for d in (off, on)}
    print("daemon CPU per Version call: metrics-off %.2f us, metrics-on %.2f us (x %.3f)"
          % (per_call[off], per_call[on], per_call[on] / per_call[off]))


class CallgrindCrid(Crid):
    """crid under valgrind's callgrind: instruction counts do not depend on the
    machine's load, so a small difference between two daemons is measurable."""

    def __init__(self, outfile, **kw):
        super().__init__(**kw)
        self.outfile = outfile

    def argv(self):
        return ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + self.outfile] + \
            super().argv()


def bench_rpc(target, name, calls):
    subprocess.run([os.path.join(REPO, BUILD, "crid-bench"), "rpc", "--endpoint",
                    name + "=" + target, "-n", str(calls), "-c", "1"],
                   check=True, capture_output=True)


def instructions_per_call(tmp, name, extra, calls):
    """Instructions the daemon runs per Version call: counters zeroed after a warm-up,
    dumped after |calls| calls (`callgrind_control`), the dump's total divided."""
    out = os.path.join(tmp, name + ".callgrind")
    c = CallgrindCrid(out, tmpdir=tmp, name=name, socket_path=os.path.join(tmp, name + ".sock"),
                      extra_args=extra + ["--log-level", "warn"])
    try:
        c.start(timeout=60)
        bench_rpc(c.target(), name, 200)
        subprocess.run(["callgrind_control", "-z", str(c.pid)], check=True, capture_output=True)
        bench_rpc(c.target(), name, calls)
        subprocess.run(["callgrind_control", "-d", str(c.pid)], check=True, capture_output=True)
        with open(out + ".1") as f:
            total = next(int(line.split()[1]) for line in f if line.startswith("totals:"))
        return total / calls
    finally:
        c.kill()
        for pid in c.keeper_pids():
            os.kill(pid, signal.SIGKILL)
        c.unmount_leftovers()


def instructions_compare(calls):
    tmp = tempfile.mkdtemp(prefix="crid-promcost-")
    try:
        off = instructions_per_call(tmp, "off", [], calls)
        on = instructions_per_call(tmp, "on", ["--enable-metrics", "--metrics-port", "0"], calls)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("== instructions per Version call (callgrind, %d calls, 1 in flight): metrics-off %.0f, "
          "metrics-on %.0f (x %.4f)" % (calls, off, on, on / off))


def run_pods(crid, n):
    ch = crid.channel()
    rt = api_pb2_grpc.RuntimeServiceStub(ch)
    for i in range(n):
        name = "mbench-%d" % i
        cfg = api_pb2.PodSandboxConfig(
            metadata=api_pb2.PodSandboxMetadata(name=name, uid="u-" + name, namespace="mbench"),
            linux=api_pb2.LinuxPodSandboxConfig(security_context=api_pb2.LinuxSandboxSecurityContext(
                namespace_options=api_pb2.NamespaceOption(network=api_pb2.NODE))))
        rt.RunPodSandbox(api_pb2.RunPodSandboxRequest(config=cfg), timeout=60)
    n_pods = len(rt.ListPodSandbox(api_pb2.ListPodSandboxRequest(), timeout=30).items)
    ch.close()
    return n_pods


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=10000)
    ap.add_argument("--pods", type=int, default=500)
    ap.add_argument("--scrapes", type=int, default=200)
    ap.add_argument("--instructions", type=int, default=0, metavar="CALLS",
                    help="also count the daemon's instructions per call under callgrind")
    a = ap.parse_args()
    if a.instructions:
        instructions_compare(a.instructions)
    on = Crid(name="on", extra_args=["--enable-metrics", "--metrics-port", "0",
                                     "--log-level", "info"])
    off = Crid(tmpdir=on.tmp, name="off", socket_path=os.path.join(on.tmp, "off.sock"),
               extra_args=["--log-level", "info"])
    try:
        on.start()
        off.start()
        line = on.wait_for_log(r"metrics on http://127\.0\.0\.1:(\d+)/", timeout=5)
        port = int(re.search(r":(\d+)/", line).group(1))
        print("== Version round trips, metrics off (baseline) vs on, interleaved rounds")
        rpc_compare(on, off, a.calls)
        t0 = time.monotonic()
        n = run_pods(on, a.pods)
        print("== %d sandboxes (host network) started in %.1fs" % (n, time.monotonic() - t0))
        scrape(port)  # warm
        times, size = [], 0
        for _ in range(a.scrapes):
            dt, size = scrape(port)
            times.append(dt)
        times.sort()
        print("== scrape at %d pods: %d bytes, median %.0f us, p99 %.0f us (%d scrapes, "
              "client-side wall incl. connect)" % (n, size, statistics.median(times) * 1e6,
                                                   times[int(len(times) * 0.99) - 1] * 1e6,
                                                   len(times)))
    finally:
        for c in (on, off):
            try:
                if c.alive():
                    c.remove_all_pods()
            except Exception:
                pass
        for c in (off, on):
            c.kill()
            for pid in c.keeper_pids():
                os.kill(pid, signal.SIGKILL)
        on.unmount_leftovers()
        shutil.rmtree(on.tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
