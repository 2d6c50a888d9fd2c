"""Image references as users write them, through python3-grpcio against the real
daemon, runc and a real registry (issue 11):

- an image pulled by a name without a tag (`REG/crid-test/refs`) is found by the
  same untagged name in CreateContainer, ImageStatus and RemoveImage, as it is by
  its id, an id prefix and its digest reference;
- a malformed reference is INVALID_ARGUMENT naming the field in every RPC that
  takes one;
- ContainerStatus reports what containerd reports: `image_ref` is the repo digest
  `<repo>@sha256:<manifest digest>` (the manifest digest computed here from the
  bytes the registry serves), `image_id` the image id, `image` the first repo
  tag; ListContainers keeps the image id in `image_ref` (kubelet's image GC
  matches it against ListImages' ids) and the image as given; all of it the same
  after a kill -9 restart of the daemon."""
import hashlib
import os
import shutil
import subprocess
import tempfile
import urllib.request

import grpc

import api_pb2
import ctr_fixture
from ctr_fixture import CtrBase, _images_module, setup_registry, teardown_registry

CODE = grpc.StatusCode
REPO = "crid-test/refs"
ACCEPT = ", ".join(["application/vnd.oci.image.manifest.v1+json",
                    "application/vnd.docker.distribution.manifest.v2+json",
                    "application/vnd.oci.image.index.v1+json",
                    "application/vnd.docker.distribution.manifest.list.v2+json"])


def setUpModule():
    setup_registry()
    push_refs_image()


def tearDownModule():
    teardown_registry()


def push_refs_image():
    """REG/crid-test/refs:latest: busybox plus a label, so its id is its own (RemoveImage
    takes every name of an image, and the other tests' busybox must stay)."""
    im = _images_module()
    tmp = tempfile.mkdtemp(prefix="crid-refs-")
    try:
        lay = im.Layout(os.path.join(tmp, "oci"))
        base = lay.layer(im.busybox_tar(os.environ.get("BUSYBOX", "/bin/busybox")))
        lay.image("refs", [base], {"Env": [im.PATH_ENV], "Cmd": ["sh"],
                                   "Labels": {"crid.test": "image-refs"}})
        lay.close()
        subprocess.run(["skopeo", "--insecure-policy", "copy", "-q", "--dest-tls-verify=false",
                        "oci:%s:refs" % os.path.join(tmp, "oci"),
                        "docker://%s/%s:latest" % (ctr_fixture.REGISTRY.addr, REPO)],
                       check=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def served_manifest_digest(repo, ref="latest"):
    """sha256 of the manifest bytes the registry serves for repo:ref."""
    req = urllib.request.Request("http://%s/v2/%s/manifests/%s" % (
        ctr_fixture.REGISTRY.addr, repo, ref), headers={"Accept": ACCEPT})
    with urllib.request.urlopen(req, timeout=10) as r:
        return "sha256:" + hashlib.sha256(r.read()).hexdigest()


class ImageRefsRunc(CtrBase):
    runtime = "runc"

    def setUp(self):
        self.repo = "%s/%s" % (ctr_fixture.REGISTRY.addr, REPO)

    def tearDown(self):
        self.doCleanups()
        try:
            self.assertNothingLeft()
        finally:
            self.crid.remove_all_pods()

    def pull(self, name):
        return self.img.PullImage(api_pb2.PullImageRequest(
            image=api_pb2.ImageSpec(image=name)), timeout=120).image_ref

    def image_status(self, name):
        return self.img.ImageStatus(api_pb2.ImageStatusRequest(
            image=api_pb2.ImageSpec(image=name)), timeout=10)

    def remove_image(self, name):
        self.img.RemoveImage(api_pb2.RemoveImageRequest(
            image=api_pb2.ImageSpec(image=name)), timeout=30)

    def config(self, name, image, command):
        cfg = self.ctr_config(name, command=command)
        cfg.image.image = image  # as given (the fixture would prefix a name without '/')
        return cfg

    def sleeper(self, pod, name, image):
        cfg = self.config(name, image, ["sleep", "3600"])
        cid = self.create(pod, cfg)
        self.addCleanup(self.remove, cid)
        self.addCleanup(self.stop, cid)
        self.start(cid)
        return cid

    def test_untagged_name_everywhere(self):
        iid = self.pull(self.repo)  # no tag: stored as REPO:latest
        self.assertTrue(iid.startswith("sha256:"), iid)
        st = self.image_status(self.repo)
        self.assertEqual(st.image.id, iid)
        self.assertEqual(list(st.image.repo_tags), [self.repo + ":latest"])
        digest_ref = "%s@%s" % (self.repo, served_manifest_digest(REPO))
        self.assertEqual(list(st.image.repo_digests), [digest_ref])
        pod = self.run_pod()
        # every spelling of the same image creates a container of that image
        for i, name in enumerate([self.repo, self.repo + ":latest", iid, iid[7:19],
                                  "sha256:" + iid[7:19], digest_ref]):
            cid = self.sleeper(pod, "by-name-%d" % i, name)
            st = self.status(cid).status
            self.assertEqual(st.image_id, iid, name)
            self.assertEqual(st.state, api_pb2.CONTAINER_RUNNING, name)
        self.doCleanups()  # containers and pod gone: the image is free
        self.remove_image(self.repo)
        self.assertFalse(self.image_status(self.repo).HasField("image"),
                         "RemoveImage by the untagged name left the image")
        self.assertFalse(self.image_status(iid).HasField("image"))

    def test_bad_reference_is_invalid_argument(self):
        pod = self.run_pod()
        for bad in ("Busybox", "%s/UPPER/x" % ctr_fixture.REGISTRY.addr, "a b", "x:",
                    "x@sha256:12"):
            self.assertRpcError(CODE.INVALID_ARGUMENT, self.image_status, bad,
                                contains="image.image")
            self.assertRpcError(CODE.INVALID_ARGUMENT, self.remove_image, bad,
                                contains="image.image")
            self.assertRpcError(CODE.INVALID_ARGUMENT, self.pull, bad, contains="image.image")
            self.assertRpcError(CODE.INVALID_ARGUMENT, self.create, pod,
                                self.config("bad", bad, ["true"]),
                                contains="config.image.image")
        # well formed but absent: ImageStatus answers without an image, Create NOT_FOUND
        absent = self.repo + "-absent"
        self.assertFalse(self.image_status(absent).HasField("image"))
        self.assertRpcError(CODE.NOT_FOUND, self.create, pod,
                            self.config("absent", absent, ["true"]),
                            contains="config.image.image")

    def test_image_ref_is_repo_digest(self):
        iid = self.pull(self.repo + ":latest")
        digest_ref = "%s@%s" % (self.repo, served_manifest_digest(REPO))
        pod = self.run_pod()
        given = {}
        for name in (self.repo, iid):  # kubelet gives CreateContainer the image id
            given[self.sleeper(pod, "ref-%d" % len(given), name)] = name

        def check(when):
            for cid, name in given.items():
                st = self.status(cid).status
                self.assertEqual(st.image_ref, digest_ref, when)
                self.assertEqual(st.image_id, iid, when)
                self.assertEqual(st.image.image, self.repo + ":latest", when)
            items = self.rt.ListContainers(api_pb2.ListContainersRequest(
                filter=api_pb2.ContainerFilter(pod_sandbox_id=pod)), timeout=10).containers
            self.assertEqual(sorted(c.id for c in items), sorted(given), when)
            for c in items:
                self.assertEqual(c.image_ref, iid, when)
                self.assertEqual(c.image.image, given[c.id], when)

        check("before the restart")
        self.restart(kill=True)
        check("after kill -9 and restart")


if __name__ == "__main__":
    import unittest
    unittest.main()
