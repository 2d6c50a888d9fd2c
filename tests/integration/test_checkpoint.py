"""CheckpointContainer through python3-grpcio against the real daemon and
runc: the request's bad input named, and then whatever is true on this host.
Where `criu check` fails (run here independently of the daemon), the answer
is FAILED_PRECONDITION quoting criu's own error, no archive is written and
the container runs on; where CRIU works, crid says UNIMPLEMENTED (the
archive writer is not built yet) rather than pretend."""
import os
import shutil
import subprocess
import tempfile

import grpc

import api_pb2
from ctr_fixture import CtrBase, setup_registry, teardown_registry

CODE = grpc.StatusCode


def setUpModule():
    setup_registry()


def tearDownModule():
    teardown_registry()


def criu_check():
    """(ok, last Error line) of `criu check` as run by the test itself."""
    criu = shutil.which("criu") or ("/usr/sbin/criu" if os.access("/usr/sbin/criu", os.X_OK)
                                    else None)
    if not criu:
        return None, None
    p = subprocess.run([criu, "check"], capture_output=True, text=True)
    lines = [ln for ln in (p.stdout + p.stderr).splitlines() if ln.strip()]
    errs = [ln for ln in lines if ln.startswith("Error")]
    return p.returncode == 0, (errs or lines or [""])[-1]


class CheckpointRunc(CtrBase):
    runtime = "runc"

    def tearDown(self):
        self.doCleanups()
        try:
            self.assertNothingLeft()
        finally:
            self.crid.remove_all_pods()

    def checkpoint(self, cid, location, timeout=0, rpc_timeout=60):
        return self.rt.CheckpointContainer(api_pb2.CheckpointContainerRequest(
            container_id=cid, location=location, timeout=timeout), timeout=rpc_timeout)

    def test_bad_input(self):
        pod = self.run_pod()
        created = self.create(pod, self.ctr_config("idle", script="sleep 60"))
        self.addCleanup(self.remove, created)
        where = os.path.join(tempfile.gettempdir(), "crid-ckpt-never.tar")
        self.assertRpcError(CODE.INVALID_ARGUMENT, self.checkpoint, created, "",
                            contains="location")
        self.assertRpcError(CODE.INVALID_ARGUMENT, self.checkpoint, created, "ckpt.tar",
                            contains="location")
        self.assertRpcError(CODE.INVALID_ARGUMENT, self.checkpoint, created, where, timeout=-1,
                            contains="timeout")
        self.assertRpcError(CODE.INVALID_ARGUMENT, self.checkpoint, "", where,
                            contains="container_id")
        self.assertRpcError(CODE.NOT_FOUND, self.checkpoint, "f" * 64, where)
        self.assertRpcError(CODE.FAILED_PRECONDITION, self.checkpoint, created, where,
                            contains="not running")
        self.assertFalse(os.path.exists(where))

    def test_checkpoint_running_container(self):
        ok, line = criu_check()
        if ok is None:
            self.skipTest("criu not installed (Debian package criu)")
        pod = self.run_pod()
        cid = self.run_ctr(pod, "ckpt", script="while :; do sleep 1; done")
        self.addCleanup(self.remove, cid)
        d = tempfile.mkdtemp(prefix="crid-ckpt-")
        self.addCleanup(shutil.rmtree, d, True)
        where = os.path.join(d, "ckpt.tar")
        if ok:
            self.assertRpcError(CODE.UNIMPLEMENTED, self.checkpoint, cid, where,
                                contains="criu works")
        else:
            msg = self.assertRpcError(CODE.FAILED_PRECONDITION, self.checkpoint, cid, where,
                                      contains=["criu check", line])
            print("\n  checkpoint refused here: %s" % msg)
        self.assertEqual(os.listdir(d), [], "no archive, not even a partial one")
        r = self.exec_sync(cid, ["echo", "still-here"])
        self.assertEqual((r.exit_code, r.stdout), (0, b"still-here\n"))


if __name__ == "__main__":
    import unittest
    unittest.main()
