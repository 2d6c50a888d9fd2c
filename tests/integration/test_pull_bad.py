"""Hostile images through a registry and the daemon (tests/fixtures/badreg.py).

Layer content (`../` paths, a write through an absolute symlink, a hard link to
/etc/shadow, a tar bomb of 100k empty files) is pushed to a real docker-registry;
what docker-registry will not store or serve (a blob whose bytes do not match
its digest, a blob cut short, a manifest over 4 MiB) comes from a crafted
registry in this process.

Refused pulls must fail with a clear gRPC status naming the image and the
cause, leave the store as it was (ListImages, the layer dirs under
<root>/images/layers, an empty staging dir) and write nothing outside it.
crid's unpacker refuses member names that climb out with `../`; an absolute
member name is taken relative to the layer, so that image pulls and its file
lands in the layer (checked, with nothing at the host path it aimed at); an
absolute symlink resolves inside the layer too, where its target does not exist,
so a write through it is refused."""
import glob
import json
import os
import shutil
import subprocess
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

MAX_ENTRIES = 10000  # crid.image.max_layer_entries for this daemon; the bomb has 100k


class PullBadTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not is_root():
            raise unittest.SkipTest("needs root to unpack layers (chown, mknod, trusted xattrs)")
        if not shutil.which("docker-registry") or not shutil.which("curl"):
            raise unittest.SkipTest("missing: docker-registry or curl")
        cls.tmp = tempfile.mkdtemp(prefix="crid-pullbad-")
        cls.cleanups = [lambda: os.environ.get("CRID_KEEP") or
                        shutil.rmtree(cls.tmp, ignore_errors=True)]
        try:
            cls.setup_registries()
            conf = os.path.join(cls.tmp, "crid.toml")
            with open(conf, "w") as f:
                f.write("[crid.image]\nmax_layer_entries = %d\n" % MAX_ENTRIES)
            cls.crid = Crid(tmpdir=cls.tmp, config=conf, extra_args=[
                "--insecure-registry", cls.plain, "--insecure-registry", cls.crafted.addr])
            cls.crid.start()
            cls.cleanups.append(cls.crid.finish)  # exit 0, no sanitizer report
        except Exception:
            cls.tearDownClass()
            raise
        cls.chan = cls.crid.channel()
        cls.img = api_pb2_grpc.ImageServiceStub(cls.chan)

    @classmethod
    def setup_registries(cls):
        regdir = os.path.join(cls.tmp, "registry")
        cls.plain = subprocess.run(["bash", os.path.join(FIXTURES, "registry.sh"), "start",
                                    regdir], check=True, capture_output=True,
                                   text=True).stdout.strip().splitlines()[-1]
        cls.cleanups.append(lambda: subprocess.run(
            ["bash", os.path.join(FIXTURES, "registry.sh"), "stop", regdir]))
        # host paths the layers aim at: a marker dir that must stay empty
        cls.outside = tempfile.mkdtemp(prefix="crid-outside-", dir="/tmp")
        cls.cleanups.append(lambda: shutil.rmtree(cls.outside, ignore_errors=True))
        dots = "../" * 12
        t = badreg.layer_tar
        badreg.push_image(cls.plain, "bad/dotdot", "latest", [t([
            ("ok", "file", b"ok\n"),
            (dots + cls.outside.lstrip("/") + "/escaped", "file", b"escaped\n")])])
        badreg.push_image(cls.plain, "bad/abslink", "latest", [t([
            ("evil", "symlink", cls.outside),
            ("evil/pwned", "file", b"pwned\n")])])
        badreg.push_image(cls.plain, "bad/absname", "latest", [t([
            (cls.outside + "/absolute", "file", b"absolute\n")])])
        badreg.push_image(cls.plain, "bad/shadow", "latest", [t([
            ("etc", "dir", None),
            ("shadow", "hardlink", "/etc/shadow")])])
        badreg.push_image(cls.plain, "bad/bomb", "latest", [badreg.bomb_tar(100000)])

        cls.crafted = badreg.CraftedRegistry().start()
        cls.cleanups.append(cls.crafted.stop)
        good = t([("hello", "file", b"hello\n" * 4096)])
        # digest mismatch: the manifest names the blob of |good|; the server sends it with
        # another OS byte in the gzip header: same size, same tar (diffID), another digest
        m, cfg, layers = badreg.image([good])
        cls.crafted.add_image("bad/digest", "latest", m, cfg, layers)
        other = bytearray(layers[0][0])
        other[9] ^= 0x01
        cls.crafted.blobs[badreg.sha(layers[0][0])]["data"] = bytes(other)
        # truncated, connection closed early: all of Content-Length announced, half sent
        m, cfg, layers = badreg.image([t([("cut", "file", os.urandom(256 << 10))])])
        cls.crafted.add_image("bad/cut", "latest", m, cfg, layers)
        blob = layers[0][0]
        cls.crafted.blobs[badreg.sha(blob)]["send"] = blob[:len(blob) // 2]
        # truncated, a Content-Length (and body) shorter than the manifest says
        m, cfg, layers = badreg.image([t([("short", "file", os.urandom(256 << 10))])])
        cls.crafted.add_image("bad/short", "latest", m, cfg, layers)
        blob = layers[0][0]
        cls.crafted.blobs[badreg.sha(blob)]["data"] = blob[:len(blob) - 1000]
        # a manifest over the 4 MiB limit (valid JSON, padded with an annotation)
        m, cfg, layers = badreg.image([t([("huge", "file", b"huge\n")])])
        doc = json.loads(m)
        doc["annotations"] = {"pad": "x" * (4 << 20)}
        cls.crafted.add_image("bad/huge", "latest", badreg.jbytes(doc), cfg, layers)

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

    # ---- helpers ----

    def layers_dirs(self):
        return sorted(os.listdir(os.path.join(self.crid.root, "images", "layers")))

    def image_ids(self):
        return sorted(i.id for i in self.img.ListImages(api_pb2.ListImagesRequest(),
                                                        timeout=10).images)

    def staging_empty(self, timeout=10):
        staging = os.path.join(self.crid.root, "images", "staging")
        deadline = time.monotonic() + timeout
        while os.listdir(staging) and time.monotonic() < deadline:
            time.sleep(0.05)
        return os.listdir(staging)

    def assert_outside_untouched(self):
        self.assertEqual(os.listdir(self.outside), [], "written outside the layer")

    def refused(self, ref, code, cause):
        """Pulls |ref|, expects |code| with a message naming the image and matching |cause|;
        the store and the host are unchanged."""
        ids, dirs = self.image_ids(), self.layers_dirs()
        with self.assertRaises(grpc.RpcError) as cm:
            self.img.PullImage(api_pb2.PullImageRequest(image=api_pb2.ImageSpec(image=ref)),
                               timeout=120)
        e = cm.exception
        sys.stderr.write("\n  [%s: %s %s] " % (ref.split("/", 1)[1], e.code().name,
                                                e.details()[:300]))
        self.assertEqual(e.code(), code, e.details())
        self.assertIn(ref, e.details())
        self.assertRegex(e.details(), cause)
        self.assertEqual(self.staging_empty(), [], "staging left behind")
        self.assertEqual(self.image_ids(), ids, "ListImages changed")
        self.assertEqual(self.layers_dirs(), dirs, "a layer dir appeared")
        self.assert_outside_untouched()
        return e

    def pulled_layer(self, ref):
        resp = self.img.PullImage(api_pb2.PullImageRequest(image=api_pb2.ImageSpec(image=ref)),
                                  timeout=120)
        st = self.img.ImageStatus(api_pb2.ImageStatusRequest(image=api_pb2.ImageSpec(image=ref)),
                                  timeout=10)
        self.assertEqual(st.image.id, resp.image_ref)
        return resp.image_ref

    def find_in_layers(self, rel):
        return glob.glob(os.path.join(self.crid.root, "images", "layers", "*", "diff", rel))

    # ---- layer content, through docker-registry ----

    def test_dotdot_paths_refused(self):
        """`../../..` in a member name climbs out of the layer: the pull is refused."""
        self.refused("%s/bad/dotdot:latest" % self.plain, grpc.StatusCode.INVALID_ARGUMENT,
                     r"climbs out of the layer")
        self.assertEqual(self.find_in_layers(os.path.join(self.outside.lstrip("/"), "escaped")),
                         [])

    def test_write_through_absolute_symlink(self):
        """evil -> /tmp/<outside>, then evil/pwned: the link resolves inside the layer, where
        the target does not exist, so the write is refused; the host dir stays empty."""
        self.refused("%s/bad/abslink:latest" % self.plain, grpc.StatusCode.INVALID_ARGUMENT,
                     r"entry 2 `evil/pwned`: create parent `evil`")

    def test_absolute_member_name_lands_in_layer(self):
        """`/tmp/<outside>/absolute`: the leading `/` goes, as tar, Docker and CRI-O do; the
        file lands at that path inside the layer and the host path stays empty."""
        image_id = self.pulled_layer("%s/bad/absname:latest" % self.plain)
        self.assertIn(image_id, self.image_ids())
        rel = os.path.join(self.outside.lstrip("/"), "absolute")
        found = self.find_in_layers(rel)
        self.assertEqual(len(found), 1, "no layer holds %s" % rel)
        with open(found[0], "rb") as f:
            self.assertEqual(f.read(), b"absolute\n")
        self.assertEqual(self.staging_empty(), [], "staging left behind")
        self.assert_outside_untouched()

    def test_hardlink_to_etc_shadow(self):
        before = os.stat("/etc/shadow")
        self.refused("%s/bad/shadow:latest" % self.plain, grpc.StatusCode.INVALID_ARGUMENT,
                     r"shadow.*not in this layer")
        after = os.stat("/etc/shadow")
        self.assertEqual((before.st_nlink, before.st_ino, before.st_mtime),
                         (after.st_nlink, after.st_ino, after.st_mtime))

    def test_tar_bomb(self):
        """100k empty files against max_layer_entries = 10000."""
        t0 = time.monotonic()
        self.refused("%s/bad/bomb:latest" % self.plain, grpc.StatusCode.RESOURCE_EXHAUSTED,
                     r"more than %d entries in the layer" % MAX_ENTRIES)
        sys.stderr.write("[refused after %.1f s] " % (time.monotonic() - t0))

    # ---- transport, through the crafted registry ----

    def test_blob_digest_mismatch(self):
        self.refused("%s/bad/digest:latest" % self.crafted.addr, grpc.StatusCode.DATA_LOSS,
                     r"digest mismatch")

    def test_blob_closed_early(self):
        self.refused("%s/bad/cut:latest" % self.crafted.addr, grpc.StatusCode.UNAVAILABLE,
                     r"(?i)closed|partial|remaining")

    def test_blob_shorter_than_manifest_size(self):
        self.refused("%s/bad/short:latest" % self.crafted.addr, grpc.StatusCode.DATA_LOSS,
                     r"(?i)size|short|truncat|bytes")

    def test_manifest_over_limit(self):
        self.refused("%s/bad/huge:latest" % self.crafted.addr,
                     grpc.StatusCode.RESOURCE_EXHAUSTED, r"manifest.*over 4194304 bytes")


if __name__ == "__main__":
    unittest.main(verbosity=2)
