#!/usr/bin/python3
"""The `metrics` scenario: what kubelet's stats polling costs, against any CRI endpoints.

    bench/metrics.py --endpoint crid=unix:///run/crid.sock \\
                     --endpoint containerd=unix://... \\
                     --image REGISTRY/crid-test/busybox:latest [--pods 20] [--calls 60] \\
                     [--rounds 3] [--json out.json]

bench/run.sh runs it as the scenario `metrics` (BENCH_SCENARIOS=metrics).
Per endpoint, --pods pods with one sleeping container each; then, rounds
interleaving the endpoints, the calls kubelet makes for /metrics/cadvisor and
the summary API: ListPodSandboxMetrics (PodAndContainerStatsFromCRI; an
endpoint answering UNIMPLEMENTED is noted and not asked again),
ListPodSandboxStats and ListContainerStats: round-trip latency and the size
of the reply, and with --pid the daemon's CPU time per call (utime+stime,
batch of calls / calls). Pods get a cgroup parent under /bench-metrics-<endpoint>-<pid>,
as kubelet gives them one, removed at the end. An error answer (UNIMPLEMENTED
included) is noted and the call not made again on that endpoint.
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

POD_NS = "bench-metrics"
CALLS = (
    ("list_pod_sandbox_metrics", "ListPodSandboxMetrics", api_pb2.ListPodSandboxMetricsRequest),
    ("list_pod_sandbox_stats", "ListPodSandboxStats", api_pb2.ListPodSandboxStatsRequest),
    ("list_container_stats", "ListContainerStats", api_pb2.ListContainerStatsRequest),
)


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))] if v else 0.0


class Endpoint:
    def __init__(self, name, target, image, pid):
        self.name, self.image, self.pid = name, image, pid
        self.chan = grpc.insecure_channel(target)
        self.rt = api_pb2_grpc.RuntimeServiceStub(self.chan)
        self.img = api_pb2_grpc.ImageServiceStub(self.chan)
        self.pods, self.res, self.notes = [], {}, {}
        self.cgroup_parent = "/bench-metrics-%s-%d" % (name, os.getpid())

    def setup(self, n):
        self.img.PullImage(api_pb2.PullImageRequest(image=api_pb2.ImageSpec(image=self.image)),
                           timeout=300)
        for i in range(n):
            name = "metrics-%s-%d-%d" % (self.name, os.getpid(), i)
            cfg = api_pb2.PodSandboxConfig(
                metadata=api_pb2.PodSandboxMetadata(name=name, uid="uid-" + name,
                                                    namespace=POD_NS),
                hostname="bench", log_directory="/tmp/%s-logs" % name)
            # as kubelet: a pod cgroup (containerd's pod stats fail without one)
            cfg.linux.cgroup_parent = self.cgroup_parent + "/" + name
            pod = self.rt.RunPodSandbox(api_pb2.RunPodSandboxRequest(config=cfg),
                                        timeout=120).pod_sandbox_id
            self.pods.append(pod)
            c = api_pb2.ContainerConfig(metadata=api_pb2.ContainerMetadata(name="main"),
                                        image=api_pb2.ImageSpec(image=self.image),
                                        log_path="main.log")
            c.command.extend(["/bin/sh", "-c", "exec sleep 3600"])
            cid = self.rt.CreateContainer(api_pb2.CreateContainerRequest(
                pod_sandbox_id=pod, config=c, sandbox_config=cfg), timeout=120).container_id
            self.rt.StartContainer(api_pb2.StartContainerRequest(container_id=cid), timeout=120)

    def teardown(self):
        for pod in self.pods:
            self.rt.StopPodSandbox(api_pb2.StopPodSandboxRequest(pod_sandbox_id=pod),
                                   timeout=120)
            self.rt.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=pod),
                                     timeout=120)
        remove_cgroups(self.cgroup_parent)

    def call(self, key, method, req, n):
        if key in self.notes:
            return
        fn = getattr(self.rt, method)
        cpu0 = daemon_cpu_ms(self.pid)
        for _ in range(n):
            t = time.monotonic()
            try:
                r = fn(req(), timeout=30)
            except grpc.RpcError as e:
                self.notes[key] = "%s: %s" % (e.code().name, e.details()[:80])
                return
            self.res.setdefault(key + "_ms", []).append((time.monotonic() - t) * 1e3)
            self.res.setdefault(key + "_kib", []).append(r.ByteSize() / 1024.0)
        if self.pid:  # the daemon's own CPU per call: what load on the machine does not inflate
            self.res.setdefault(key + "_cpu_ms", []).append((daemon_cpu_ms(self.pid) - cpu0) / n)


def daemon_cpu_ms(pid):
    """utime + stime of |pid| in ms (0 without a pid)."""
    if not pid:
        return 0.0
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000.0 / os.sysconf("SC_CLK_TCK")


def remove_cgroups(parent):
    """rmdir the pod cgroups the bench made under |parent|, deepest first, in every hierarchy."""
    root = "/sys/fs/cgroup"
    tops = [root] if os.path.exists(root + "/cgroup.controllers") else \
        [os.path.join(root, d) for d in os.listdir(root) if not os.path.islink(os.path.join(root, d))]
    for top in tops:
        for dirpath, _, _ in sorted(os.walk(top + parent), key=lambda w: -len(w[0])):
            try:
                os.rmdir(dirpath)
            except OSError:
                pass


def summary(ep):
    out = {k: {"p50": statistics.median(v), "p99": pct(v, 99), "n": len(v)}
           for k, v in sorted(ep.res.items())}
    out.update({k: {"note": v} for k, v in ep.notes.items()})
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--endpoint", action="append", required=True, help="name=unix://socket")
    p.add_argument("--pid", action="append", default=[],
                   help="name=pid: the daemon's CPU per call (containerd: its shims not counted)")
    p.add_argument("--image", required=True)
    p.add_argument("--pods", type=int, default=20)
    p.add_argument("--calls", type=int, default=60)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--json")
    args = p.parse_args()
    pids = dict(x.split("=", 1) for x in args.pid)
    eps = [Endpoint(n, t.replace("unix://", "unix:"), args.image, int(pids.get(n, 0)))
           for n, t in (x.split("=", 1) for x in args.endpoint)]
    try:
        for ep in eps:
            ep.setup(args.pods)
        for _ in range(args.rounds):  # interleaved: drifts in the machine's load hit all alike
            for ep in eps:
                for key, method, req in CALLS:
                    ep.call(key, method, req, args.calls // args.rounds)
    finally:
        for ep in eps:
            ep.teardown()
    res = {ep.name: summary(ep) for ep in eps}
    base = eps[0].name
    print("metrics: %d pods with one container each, endpoints interleaved; x = ratio to %s\n"
          % (args.pods, base))
    print("%-32s %-12s %10s %10s %8s" % ("series", "endpoint", "p50", "p99", "x p50"))
    for k in sorted({k for r in res.values() for k in r}):
        for ep in eps:
            r = res[ep.name].get(k)
            if r and "note" in r:
                print("%-32s %-12s %s" % (k, ep.name, r["note"]))
            elif r:
                b = res[base].get(k, {}).get("p50")
                print("%-32s %-12s %10.2f %10.2f %8s" % (k, ep.name, r["p50"], r["p99"],
                                                         "%.2f" % (r["p50"] / b) if b else "-"))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"scenario": "metrics", "params": vars(args), "endpoints": res}, f,
                      indent=1)


if __name__ == "__main__":
    main()
