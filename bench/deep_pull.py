#!/usr/bin/python3
"""Pull time and daemon RSS against the layer count of an image.

    CRID_BUILD=build bench/deep_pull.py 100 250 500 [--max-layers N]

For each N, an image of N tiny layers (one 2-byte file each) is served by
tests/fixtures/badreg.CraftedRegistry in this process and pulled once, cold,
by a fresh daemon (tests/integration/crid_fixture.Crid) on a temp dir; the
line printed is N, wall seconds of PullImage, and the daemon's VmHWM after
it. Run as root (layers are unpacked with chown/mknod). --max-layers writes
crid.image.max_layers into the daemon's config (builds without that
setting: leave it out)."""
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
sys.path.insert(0, os.path.join(REPO, "tests", "fixtures"))
from crid_fixture import Crid  # noqa: E402  (puts the generated stubs on sys.path)

import api_pb2  # noqa: E402
import api_pb2_grpc  # noqa: E402
import badreg  # noqa: E402


def hwm_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def one(reg, n, max_layers):
    tars = [badreg.layer_tar([("f%06d" % i, "file", b"%d\n" % (i % 10))]) for i in range(n)]
    reg.add_image("deep/n%d" % n, "latest", *badreg.image(tars))
    tmp = tempfile.mkdtemp(prefix="crid-deeppull-")
    conf = None
    if max_layers:
        conf = os.path.join(tmp, "crid.toml")
        with open(conf, "w") as f:
            f.write("[crid.image]\nmax_layers = %d\n" % max_layers)
    crid = Crid(tmpdir=tmp, config=conf, extra_args=["--insecure-registry", reg.addr,
                                                     "--log-level", "info"])
    crid.start()
    try:
        chan = crid.channel()
        img = api_pb2_grpc.ImageServiceStub(chan)
        t0 = time.monotonic()
        img.PullImage(api_pb2.PullImageRequest(image=api_pb2.ImageSpec(
            image="%s/deep/n%d:latest" % (reg.addr, n))), timeout=3600)
        wall = time.monotonic() - t0
        print("%6d layers  %7.2f s  %6.1f ms/layer  VmHWM %6.1f MiB" %
              (n, wall, wall * 1000 / n, hwm_kib(crid.pid) / 1024), flush=True)
        chan.close()
    finally:
        crid.kill()
        crid.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    args, max_layers = sys.argv[1:], 0
    if "--max-layers" in args:
        i = args.index("--max-layers")
        max_layers = int(args[i + 1])
        del args[i:i + 2]
    reg = badreg.CraftedRegistry().start()
    try:
        for n in [int(a) for a in args] or [100, 250, 500]:
            one(reg, n, max_layers)
    finally:
        reg.stop()


if __name__ == "__main__":
    main()
