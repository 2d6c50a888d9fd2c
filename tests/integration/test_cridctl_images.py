"""cridctl's crictl-compatible image verbs (pull, images, inspecti, rmi,
imagefsinfo) run as subprocesses against a real daemon pulling from the local
docker-registry of test_pull (tests/fixtures/registry.sh, images.py): the
registry setup is borrowed from test_pull.PullTest rather than duplicated."""
import json
import os
import re
import subprocess
import types
import unittest

from crid_fixture import REPO  # first: puts the generated stubs on sys.path

import test_pull  # noqa: E402  (module import: its PullTest is not collected here)
from store_walk import wait_store_usage  # noqa: E402

BUILD = os.environ.get("CRID_BUILD", "build")
CRIDCTL = os.path.join(BUILD if os.path.isabs(BUILD) else os.path.join(REPO, BUILD), "cridctl")


class CridctlImagesTest(unittest.TestCase):
    # registry + busybox/sleep pushed + daemon with --insecure-registry, as test_pull does
    setUpClass = classmethod(test_pull.PullTest.setUpClass.__func__)
    tearDownClass = classmethod(test_pull.PullTest.tearDownClass.__func__)
    stop_registry = classmethod(test_pull.PullTest.stop_registry.__func__)
    ref = test_pull.PullTest.ref

    def run(self, result=None):
        failures = len(result.failures) + len(result.errors) if result else 0
        r = super().run(result)
        if result and len(result.failures) + len(result.errors) > failures:
            print("\n--- crid log ---\n" + self.crid.log(80))
        return r

    def ctl(self, *args, rc=0):
        p = subprocess.run([CRIDCTL, "-r", self.crid.target()] + list(args),
                           capture_output=True, text=True, timeout=180)
        if rc is not None:
            self.assertEqual(p.returncode, rc, "cridctl %s: %s%s" % (" ".join(args), p.stdout,
                                                                      p.stderr))
        return p

    def pull(self, key):
        ref = self.ref(key)
        out = self.ctl("pull", ref).stdout
        m = re.fullmatch(r"Image is up to date for (sha256:[0-9a-f]{64})\n", out)
        self.assertTrue(m, out)
        return ref, m.group(1)

    def test_pull_images_inspecti(self):
        ref, iid = self.pull("busybox")
        # table
        out = self.ctl("images").stdout.splitlines()
        self.assertRegex(out[0], r"^IMAGE {15,}TAG {3,}IMAGE ID {3,}SIZE$")
        repo = ref.rsplit(":", 1)[0]
        row = [line.split() for line in out[1:] if line.split()[0] == repo]
        self.assertEqual(len(row), 1, out)
        self.assertEqual(row[0][1], "latest")
        self.assertEqual(row[0][2], iid[len("sha256:"):][:13])
        self.assertRegex(row[0][3], r"^[0-9.]+(B|kB|MB|GB)$")
        # filter by image, -q, --no-trunc, --digests
        self.assertEqual(self.ctl("images", "-q", ref).stdout, iid + "\n")
        self.assertIn(iid, self.ctl("images", "--no-trunc").stdout)
        dig = self.info["busybox"]["digest"]
        self.assertIn(dig[len("sha256:"):][:13], self.ctl("images", "--digests").stdout)
        self.assertIn("DIGEST", self.ctl("images", "--digests").stdout.splitlines()[0])
        # -o json
        doc = json.loads(self.ctl("-o", "json", "images").stdout)
        img = [i for i in doc["images"] if i["id"] == iid]
        self.assertEqual(len(img), 1, doc)
        self.assertIn(ref, img[0]["repoTags"])
        self.assertGreater(int(img[0]["size"]), 0)
        self.assertIn("%s@%s" % (repo, dig), img[0]["repoDigests"])
        # inspecti
        doc = json.loads(self.ctl("inspecti", ref).stdout)
        self.assertEqual(doc["status"]["id"], iid)
        self.assertIn(ref, doc["status"]["repoTags"])
        self.assertIsInstance(doc.get("info"), dict, doc)
        # pulling again answers the same id
        self.assertEqual(self.pull("busybox")[1], iid)

    def test_inspecti_missing(self):
        p = self.ctl("inspecti", self.ref("busybox", "absent"), rc=1)
        self.assertIn("no such image", p.stderr)
        self.assertEqual(p.stdout, "")

    def test_pull_missing_tag(self):
        p = self.ctl("pull", self.ref("busybox", "no-such-tag"), rc=1)
        self.assertRegex(p.stderr, r"^cridctl: PullImage: rpc error: code = NotFound desc = ")

    def test_rmi(self):
        ref, iid = self.pull("sleep")
        self.assertEqual(self.ctl("rmi", ref).stdout, "Deleted: %s\n" % ref)
        self.assertNotIn(iid, self.ctl("images", "-q").stdout.split())
        p = self.ctl("rmi", ref, rc=1)
        self.assertIn("no such image", p.stderr)

    def test_imagefsinfo(self):
        """crictl's JSON of ImageFsInfo: the store's mount point, and its bytes and inodes
        as an independent du-like walk of the store counts them (store_walk.py), once the
        daemon's figure has caught up with the pulls."""
        self.pull("busybox")
        store = os.path.join(self.crid.root, "images")

        def fs_info():
            doc = json.loads(self.ctl("imagefsinfo").stdout)
            fs = doc["status"]["imageFilesystems"]
            self.assertEqual(len(fs), 1, doc)
            self.assertEqual(fs[0]["fsId"]["mountpoint"], store, doc)
            self.assertIn("containerFilesystems", doc["status"])
            return types.SimpleNamespace(
                used_bytes=types.SimpleNamespace(value=int(fs[0]["usedBytes"]["value"])),
                inodes_used=types.SimpleNamespace(value=int(fs[0]["inodesUsed"]["value"])))

        got, want = wait_store_usage(fs_info, store)
        self.assertEqual(got, want, "cridctl imagefsinfo (bytes, inodes) vs a walk of the store")
        self.assertGreater(got[0], 0)

    def test_pull_creds_options(self):
        """--creds/--auth are accepted (the test registry ignores them)."""
        p = self.ctl("pull", "--creds", "u:p", self.ref("busybox"))
        self.assertTrue(p.stdout.startswith("Image is up to date for sha256:"), p.stdout)
        p = self.ctl("pull", "--auth", "dTpw", self.ref("busybox"))
        self.assertTrue(p.stdout.startswith("Image is up to date for sha256:"), p.stdout)


if __name__ == "__main__":
    unittest.main()
