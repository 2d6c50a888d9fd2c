"""Image size limits and hostile layer names (tests/fixtures/badreg.py).

Images come from a crafted registry in this process (badreg.CraftedRegistry),
which also records what the daemon asked for, so a refusal "at the manifest"
is checked to have fetched no config and no blob.

- Layer count: overlayfs stacks at most 500 lower layers (the kernel's
  OVL_MAX_STACK; crid's mount(2) option string of short `l/N` links fits
  500 in a page), so a 501-layer image could be pulled but never run. The
  default daemon refuses it at the manifest; a daemon with
  crid.image.max_layers = 4 refuses 5 layers and pulls 4.
- Unpacked bytes: regular-file data a layer writes (a 4 KB gzip of zeros
  unpacks to megabytes) against crid.image.max_layer_unpacked_bytes, and the
  sum over the image's layers (those already in the store included) against
  crid.image.max_image_unpacked_bytes: RESOURCE_EXHAUSTED naming the layer,
  the limit and the setting; staging empty, no layer dir, no image.
- A whiteout naming nothing (`.wh.`, `.wh..`) is refused with
  INVALID_ARGUMENT naming the image, the layer digest and the member, as
  every other refusal of layer content (the bytes arrived intact: DATA_LOSS
  is kept for blobs that do not match their digest)."""
import gzip
import os
import shutil
import sys
import tempfile
import time
import unittest

from crid_fixture import REPO, Crid, is_root, run_cleanups  # first: the stubs on sys.path

import grpc  # noqa: E402

import api_pb2  # noqa: E402
import api_pb2_grpc  # noqa: E402

FIXTURES = os.path.join(REPO, "tests", "fixtures")
sys.path.insert(0, FIXTURES)
import badreg  # noqa: E402

MAX_LAYERS = 4
LAYER_BYTES = 1 << 20
IMAGE_BYTES = (3 << 20) // 2
OVERLAY_MAX_STACK = 500


def tiny_layer(i):
    return badreg.layer_tar([("f%05d" % i, "file", b"%d\n" % i)])


def zeros_layer(name, size):
    return badreg.layer_tar([(name, "file", bytes(size))])


def fake_manifest(n):
    """A manifest of |n| layers whose blobs and config exist nowhere: refused at the
    manifest, nothing else is fetched."""
    cfg = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    layers = [{"mediaType": badreg.MT_LAYER, "digest": badreg.sha(b"layer %d" % i), "size": 32}
              for i in range(n)]
    return badreg.jbytes({"schemaVersion": 2, "mediaType": badreg.MT_MANIFEST,
                          "config": {"mediaType": badreg.MT_CONFIG, "digest": badreg.sha(cfg),
                                     "size": len(cfg)},
                          "layers": layers})


class LimitsBase(unittest.TestCase):
    CONFIG = None

    @classmethod
    def setUpClass(cls):
        if not is_root():
            raise unittest.SkipTest("needs root to unpack layers (chown, mknod, trusted xattrs)")
        cls.tmp = tempfile.mkdtemp(prefix="crid-pulllimits-")
        cls.cleanups = [lambda: os.environ.get("CRID_KEEP") or
                        shutil.rmtree(cls.tmp, ignore_errors=True)]
        try:
            cls.reg = badreg.CraftedRegistry().start()
            cls.cleanups.append(cls.reg.stop)
            cls.add_images()
            conf = None
            if cls.CONFIG:
                conf = os.path.join(cls.tmp, "crid.toml")
                with open(conf, "w") as f:
                    f.write(cls.CONFIG)
            cls.crid = Crid(tmpdir=cls.tmp, config=conf,
                            extra_args=["--insecure-registry", cls.reg.addr])
            cls.crid.start()
            cls.cleanups.append(cls.crid.finish)  # exit 0, no sanitizer report
        except Exception:
            cls.tearDownClass()
            raise
        cls.chan = cls.crid.channel()
        cls.img = api_pb2_grpc.ImageServiceStub(cls.chan)

    @classmethod
    def add_images(cls):
        pass

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "chan", None):
            cls.chan.close()
        run_cleanups(cls.cleanups)

    def run(self, result=None):
        failures = len(result.failures) + len(result.errors) if result else 0
        r = super().run(result)
        if result and len(result.failures) + len(result.errors) > failures:
            print("\n--- crid log ---\n" + self.crid.log(60))
        return r

    def ref(self, repo):
        return "%s/%s:latest" % (self.reg.addr, repo)

    def layers_dirs(self):
        return sorted(os.listdir(os.path.join(self.crid.root, "images", "layers")))

    def image_ids(self):
        return sorted(i.id for i in self.img.ListImages(api_pb2.ListImagesRequest(),
                                                        timeout=10).images)

    def staging_left(self, timeout=10):
        staging = os.path.join(self.crid.root, "images", "staging")
        deadline = time.monotonic() + timeout
        while os.listdir(staging) and time.monotonic() < deadline:
            time.sleep(0.05)
        return os.listdir(staging)

    def pull(self, ref):
        return self.img.PullImage(api_pb2.PullImageRequest(image=api_pb2.ImageSpec(image=ref)),
                                  timeout=120).image_ref

    def refused(self, ref, code, *causes):
        """Pulls |ref|: |code|, a message naming the image and matching each of |causes|;
        no image, no layer dir, no staging left."""
        ids, dirs = self.image_ids(), self.layers_dirs()
        with self.assertRaises(grpc.RpcError) as cm:
            self.pull(ref)
        e = cm.exception
        sys.stderr.write("\n  [%s: %s %s] " % (ref.split("/", 1)[1], e.code().name,
                                                e.details()[:300]))
        self.assertEqual(e.code(), code, e.details())
        self.assertIn(ref, e.details())
        for c in causes:
            self.assertRegex(e.details(), c)
        self.assertEqual(self.staging_left(), [], "staging left behind")
        self.assertEqual(self.image_ids(), ids, "ListImages changed")
        self.assertEqual(self.layers_dirs(), dirs, "a layer dir appeared")
        return e

    def blob_requests(self, repo):
        return [r for r in self.reg.requests if r.startswith("/v2/%s/blobs/" % repo)]


class DefaultLimitsTest(LimitsBase):
    """A daemon with no settings: the layer count limit is what overlayfs mounts."""

    @classmethod
    def add_images(cls):
        cls.reg.manifests[("deep/over", "latest")] = fake_manifest(OVERLAY_MAX_STACK + 1)

    def test_more_layers_than_overlay_mounts(self):
        self.refused(self.ref("deep/over"), grpc.StatusCode.RESOURCE_EXHAUSTED,
                     r"501 layers", r"limit of 500", r"crid\.image\.max_layers")
        self.assertEqual(self.blob_requests("deep/over"), [], "fetched past the manifest")


class ConfiguredLimitsTest(LimitsBase):
    CONFIG = ("[crid.image]\nmax_layers = %d\nmax_layer_unpacked_bytes = %d\n"
              "max_image_unpacked_bytes = %d\n" % (MAX_LAYERS, LAYER_BYTES, IMAGE_BYTES))

    @classmethod
    def add_images(cls):
        r = cls.reg
        r.add_image("count/over", "latest", *badreg.image([tiny_layer(i) for i in range(5)]))
        r.add_image("count/at", "latest", *badreg.image([tiny_layer(i) for i in range(4)]))
        # 4 KB of gzip, 2 MiB of zeros on disk
        cls.bomb = badreg.image([zeros_layer("zeros", 2 << 20)])
        r.add_image("bytes/layer", "latest", *cls.bomb)
        # each layer under the layer limit, together over the image limit; `base` alone
        # fits, so `base + top` is refused while only `top` is downloaded
        base, top = zeros_layer("base", 900 << 10), zeros_layer("top", 700 << 10)
        r.add_image("bytes/base", "latest", *badreg.image([base]))
        cls.stacked = badreg.image([base, top])
        r.add_image("bytes/stacked", "latest", *cls.stacked)
        cls.wh = badreg.image([badreg.layer_tar([("dir", "dir", None), ("dir/ok", "file", b"1"),
                                                 ("dir/.wh..", "file", b"")])])
        r.add_image("wh/dot", "latest", *cls.wh)
        cls.wh_empty = badreg.image([badreg.layer_tar([(".wh.", "file", b"")])])
        r.add_image("wh/empty", "latest", *cls.wh_empty)

    def test_layer_count_over_configured_limit(self):
        self.refused(self.ref("count/over"), grpc.StatusCode.RESOURCE_EXHAUSTED,
                     r"5 layers", r"limit of %d" % MAX_LAYERS, r"crid\.image\.max_layers")
        self.assertEqual(self.blob_requests("count/over"), [], "fetched past the manifest")

    def test_layer_count_at_configured_limit(self):
        self.assertTrue(self.pull(self.ref("count/at")).startswith("sha256:"))

    def test_layer_unpacked_bytes(self):
        digest = badreg.sha(self.bomb[2][0][0])
        self.refused(self.ref("bytes/layer"), grpc.StatusCode.RESOURCE_EXHAUSTED,
                     r"layer 0 \(%s\)" % digest, r"`zeros`",
                     r"limit of %d" % LAYER_BYTES, r"crid\.image\.max_layer_unpacked_bytes")

    def test_image_unpacked_bytes_counts_stored_layers(self):
        self.pull(self.ref("bytes/base"))
        top = badreg.sha(self.stacked[2][1][0])
        before = len(self.blob_requests("bytes/stacked"))
        self.refused(self.ref("bytes/stacked"), grpc.StatusCode.RESOURCE_EXHAUSTED,
                     r"layer 1 \(%s\)" % top, r"limit of %d" % IMAGE_BYTES,
                     r"crid\.image\.max_image_unpacked_bytes")
        got = self.blob_requests("bytes/stacked")[before:]
        self.assertNotIn("/v2/bytes/stacked/blobs/" + badreg.sha(self.stacked[2][0][0]), got,
                         "the stored layer was downloaded again")

    def test_whiteout_of_dot(self):
        digest = badreg.sha(self.wh[2][0][0])
        self.refused(self.ref("wh/dot"), grpc.StatusCode.INVALID_ARGUMENT,
                     r"layer 0 \(%s\)" % digest, r"`dir/\.wh\.\.`", r"whiteout")

    def test_whiteout_of_nothing(self):
        digest = badreg.sha(self.wh_empty[2][0][0])
        self.refused(self.ref("wh/empty"), grpc.StatusCode.INVALID_ARGUMENT,
                     r"layer 0 \(%s\)" % digest, r"`\.wh\.`", r"whiteout")


if __name__ == "__main__":
    unittest.main(verbosity=2)
