#!/usr/bin/python3
"""The `exec` scenario: exec and port-forward against any CRI endpoints.

    bench/exec.py --endpoint crid=unix:///run/crid.sock --pid crid=123 \\
                  --endpoint containerd=unix://... --pid containerd=456 \\
                  --image REGISTRY/crid-test/busybox:latest [--calls 200] [--sessions 100] \\
                  [--mbytes 100] [--json out.json]

bench/run.sh runs it as the scenario `exec`. Per endpoint, in one pod with
one busybox container: ExecSync round trips (`true`), streaming exec round
trips (`echo hi` through the Exec URL over SPDY/3.1, the protocol kubelet's
translator and crictl speak), the throughput of --mbytes MB out of a
streaming exec and through port-forward (from a `nc` in the pod), and what
--sessions idle exec sessions (`cat` with stdin open) cost: the daemon's PSS
delta per session and the processes each adds on the node. The SPDY client
is the test suite's (tests/integration/spdy_client.py), the same for every
endpoint; its own cost is in every figure alike. Rounds interleave the
endpoints so load drifts hit them equally.
"""
import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
from crid_fixture import grpc  # noqa: E402  (puts the generated stubs on sys.path)

import api_pb2  # noqa: E402
import api_pb2_grpc  # noqa: E402
from spdy_client import ExecSession, PortForwardPair, SpdyConn, exit_code  # noqa: E402

POD_NS = "bench-exec"


def pss_kib(pid):
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


def node_procs(comm=None):
    n = 0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        if comm is None:
            n += 1
            continue
        try:
            with open("/proc/%s/comm" % d) as f:
                n += f.read().strip() == comm
        except OSError:
            pass
    return n


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))] if v else 0.0


class Endpoint:
    def __init__(self, name, target, pid, image):
        self.name, self.pid, self.image = name, pid, image
        self.chan = grpc.insecure_channel(target)
        self.rt = api_pb2_grpc.RuntimeServiceStub(self.chan)
        self.img = api_pb2_grpc.ImageServiceStub(self.chan)
        self.pod = self.ctr = None
        self.res = {}

    def setup(self):
        self.img.PullImage(api_pb2.PullImageRequest(image=api_pb2.ImageSpec(image=self.image)),
                           timeout=300)
        name = "exec-%s-%d" % (self.name, os.getpid())
        cfg = api_pb2.PodSandboxConfig(
            metadata=api_pb2.PodSandboxMetadata(name=name, uid="uid-" + name, namespace=POD_NS),
            hostname="bench", log_directory="/tmp/%s-logs" % name)
        self.pod = self.rt.RunPodSandbox(api_pb2.RunPodSandboxRequest(config=cfg),
                                         timeout=120).pod_sandbox_id
        c = api_pb2.ContainerConfig(metadata=api_pb2.ContainerMetadata(name="main"),
                                    image=api_pb2.ImageSpec(image=self.image), log_path="main.log")
        # the port-forward source: nc serves the bytes to each connection
        c.command.extend(["/bin/sh", "-c", "while :; do head -c %d /dev/zero | nc -l -p 9000; "
                          "done" % (ARGS.mbytes << 20)])
        self.ctr = self.rt.CreateContainer(api_pb2.CreateContainerRequest(
            pod_sandbox_id=self.pod, config=c, sandbox_config=cfg), timeout=120).container_id
        self.rt.StartContainer(api_pb2.StartContainerRequest(container_id=self.ctr), timeout=120)

    def teardown(self):
        if self.pod:
            self.rt.StopPodSandbox(api_pb2.StopPodSandboxRequest(pod_sandbox_id=self.pod),
                                   timeout=120)
            self.rt.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=self.pod),
                                     timeout=120)

    def add(self, key, v):
        self.res.setdefault(key, []).append(v)

    def exec_sync(self, n):
        for _ in range(n):
            t = time.monotonic()
            r = self.rt.ExecSync(api_pb2.ExecSyncRequest(container_id=self.ctr, cmd=["true"],
                                                         timeout=10), timeout=30)
            self.add("execsync_ms", (time.monotonic() - t) * 1e3)
            assert r.exit_code == 0, r

    def exec_url(self, cmd, stdin=False, stdout=True, stderr=True):
        return self.rt.Exec(api_pb2.ExecRequest(container_id=self.ctr, cmd=cmd, stdin=stdin,
                                                stdout=stdout, stderr=stderr), timeout=30).url

    def stream_exec(self, n):
        for _ in range(n):
            t = time.monotonic()
            conn, resp = SpdyConn.upgrade(self.exec_url(["echo", "hi"]), ["v4.channel.k8s.io"])
            assert conn, resp
            r = ExecSession(conn).open().run()
            self.add("exec_ms", (time.monotonic() - t) * 1e3)
            assert r["stdout"] == b"hi\n" and exit_code(r["status"]) == 0, r

    def exec_throughput(self):
        size = ARGS.mbytes << 20
        url = self.exec_url(["head", "-c", str(size), "/dev/zero"], stderr=False)
        t = time.monotonic()
        conn, resp = SpdyConn.upgrade(url, ["v4.channel.k8s.io"])
        assert conn, resp
        r = ExecSession(conn, stderr=False).open().run(timeout=300)
        self.add("exec_mb_s", len(r["stdout"]) / (1 << 20) / (time.monotonic() - t))
        assert len(r["stdout"]) == size, len(r["stdout"])

    def portforward_throughput(self):
        size = ARGS.mbytes << 20
        url = self.rt.PortForward(api_pb2.PortForwardRequest(pod_sandbox_id=self.pod, port=[9000]),
                                  timeout=30).url
        t = time.monotonic()
        conn, resp = SpdyConn.upgrade(url, ["portforward.k8s.io"])
        assert conn, resp
        got = len(PortForwardPair(conn, 9000, 0).read_until_fin(timeout=300))
        self.add("portforward_mb_s", got / (1 << 20) / (time.monotonic() - t))
        conn.close()
        assert got == size, got

    def idle_sessions(self, n):
        """PSS and processes of |n| open exec sessions of `cat`, each waiting for stdin."""
        before_pss, before_procs, before_cats = pss_kib(self.pid), node_procs(), node_procs("cat")
        conns = []
        for _ in range(n):
            conn, resp = SpdyConn.upgrade(self.exec_url(["cat"], stdin=True, stderr=False),
                                          ["v4.channel.k8s.io"])
            assert conn, resp
            ExecSession(conn, stdin=True, stderr=False).open()
            conns.append(conn)
        # every session's `cat` runs and the runtimes that started them are gone
        deadline = time.monotonic() + 60
        while node_procs("cat") - before_cats < n and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1)
        self.add("session_pss_kib", (pss_kib(self.pid) - before_pss) / float(n))
        # each session's own process (`cat`) is not overhead; anything more is
        self.add("session_procs", (node_procs() - before_procs) / float(n) - 1)
        for c in conns:
            c.close()


def summary(ep):
    out = {}
    for k, v in sorted(ep.res.items()):
        out[k] = {"p50": statistics.median(v), "p99": pct(v, 99), "n": len(v)}
    return out


def main():
    global ARGS
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--endpoint", action="append", required=True, help="name=unix://socket")
    p.add_argument("--pid", action="append", default=[], help="name=pid (memory readings)")
    p.add_argument("--image", required=True)
    p.add_argument("--calls", type=int, default=200)
    p.add_argument("--sessions", type=int, default=100)
    p.add_argument("--mbytes", type=int, default=100)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--json")
    ARGS = p.parse_args()
    pids = dict(x.split("=", 1) for x in ARGS.pid)
    eps = [Endpoint(n, t.replace("unix://", "unix:"), int(pids.get(n, 0)), ARGS.image)
           for n, t in (x.split("=", 1) for x in ARGS.endpoint)]
    try:
        for ep in eps:
            ep.setup()
        for _ in range(ARGS.rounds):  # interleaved: drifts in the machine's load hit all alike
            for ep in eps:
                ep.exec_sync(ARGS.calls // ARGS.rounds)
                ep.stream_exec(ARGS.calls // ARGS.rounds)
                ep.exec_throughput()
                ep.portforward_throughput()
        for ep in eps:
            if ep.pid:
                ep.idle_sessions(ARGS.sessions)
    finally:
        for ep in eps:
            ep.teardown()
    res = {ep.name: summary(ep) for ep in eps}
    base = eps[0].name
    print("exec: endpoints interleaved; x = ratio to %s\n" % base)
    print("%-20s %-12s %12s %12s %8s" % ("metric", "endpoint", "p50", "p99", "x p50"))
    for k in sorted(res[base]):
        for ep in eps:
            r = res[ep.name].get(k)
            if r:
                b = res[base][k]["p50"]
                print("%-20s %-12s %12.2f %12.2f %8.2f" % (k, ep.name, r["p50"], r["p99"],
                                                           r["p50"] / b if b else 0))
    if ARGS.json:
        with open(ARGS.json, "w") as f:
            json.dump({"scenario": "exec", "endpoints": res}, f, indent=1)


if __name__ == "__main__":
    main()
