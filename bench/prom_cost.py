#!/usr/bin/python3
"""The cost of --enable-metrics, measured against crid itself.

    CRID_BUILD=build bench/prom_cost.py [--calls 10000] [--pods 500] [--scrapes 200]

1. Two daemons of the same binary, one with `--enable-metrics`, one without;
   `crid-bench rpc` runs Version round trips against both in alternating
   rounds (so load drifts on a shared machine hit both alike) and prints the
   p50 of each; the ratio on/off is the cost of the RPC path's hooks.
2. --pods sandboxes (host network: no CNI, sandbox-only) on the metrics
   daemon, then --scrapes scrapes of /metrics, timed from the client (connect
   to the last byte, Python's own overhead included): median, p99 and bytes.

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


def rpc_compare(on, off, calls):
    out = subprocess.run([os.path.join(REPO, BUILD, "crid-bench"), "rpc",
                          "--endpoint", "metrics-off=" + off.target(),
                          "--endpoint", "metrics-on=" + on.target(),
                          "-n", str(calls), "-c", "1,100"],
                         check=True, capture_output=True, text=True)
    print(out.stdout)


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
    a = ap.parse_args()
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
