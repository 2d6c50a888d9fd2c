"""ImageService over a store seeded on disk before the daemon starts (PullImage
lands separately): ListImages, ImageStatus by id / prefix / tag / short name /
digest reference, RemoveImage by tag and by id with layer release, ImageFsInfo,
and the store rebuilt after a restart."""
import hashlib
import json
import os
import time
import unittest

import grpc

import api_pb2
import api_pb2_grpc
from crid_fixture import Crid, DaemonError
from store_walk import wait_store_usage


def sha(s):
    return "sha256:" + hashlib.sha256(s.encode()).hexdigest()


CONFIG = json.dumps({"architecture": "amd64", "os": "linux",
                     "config": {"User": "1000:1000", "Cmd": ["sh"]},
                     "rootfs": {"type": "layers", "diff_ids": []}})
L1, L2 = sha("layer-1"), sha("layer-2")
BUSY = sha("busybox-config")
APP = sha("app-config")
BUSY_DIGEST = "docker.io/library/busybox@" + sha("busybox-manifest")


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f)


def seed(root):
    images = os.path.join(root, "images")
    for chain, size in ((L1, 1000), (L2, 2000)):
        d = os.path.join(images, "layers", chain[7:])
        os.makedirs(os.path.join(d, "diff"), exist_ok=True)
        with open(os.path.join(d, "diff", "file"), "w") as f:
            f.write("x" * 10)
        write_json(os.path.join(d, "layer.json"),
                   {"chainID": chain, "diffID": sha("diff" + chain), "blobDigest": sha("b" + chain),
                    "blobSize": size // 2, "bytes": size, "inodes": 2})
    write_json(os.path.join(images, "images", BUSY[7:] + ".json"),
               {"id": BUSY, "tags": ["docker.io/library/busybox:latest"], "digests": [BUSY_DIGEST],
                "layers": [L1], "size": 500, "pinned": False, "user": "", "config": CONFIG})
    write_json(os.path.join(images, "images", APP[7:] + ".json"),
               {"id": APP, "tags": ["127.0.0.1:5000/test/app:1", "127.0.0.1:5000/test/app:2"],
                "digests": [], "layers": [L1, L2], "size": 1500, "pinned": False,
                "user": "app", "config": CONFIG})
    # a crash left a staging dir behind: it must be swept at start
    os.makedirs(os.path.join(images, "staging", "deadbeef", "junk"), exist_ok=True)


class ImagesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.crid = Crid()
        seed(cls.crid.root)
        cls.crid.start()
        cls.ch = cls.crid.channel()
        cls.img = api_pb2_grpc.ImageServiceStub(cls.ch)

    @classmethod
    def tearDownClass(cls):
        cls.ch.close()
        rc = cls.crid.stop()
        cls.crid.cleanup(keep=rc != 0)
        if rc != 0:
            raise DaemonError("crid exited with %s" % rc)

    def status(self, name, verbose=False):
        return self.img.ImageStatus(api_pb2.ImageStatusRequest(
            image=api_pb2.ImageSpec(image=name), verbose=verbose), timeout=5)

    def test_1_list(self):
        imgs = {i.id: i for i in self.img.ListImages(api_pb2.ListImagesRequest(), timeout=5).images}
        self.assertEqual(set(imgs), {BUSY, APP})
        self.assertEqual(list(imgs[BUSY].repo_tags), ["docker.io/library/busybox:latest"])
        self.assertEqual(list(imgs[BUSY].repo_digests), [BUSY_DIGEST])
        self.assertEqual(imgs[APP].size, 1500)
        self.assertEqual(imgs[APP].username, "app")
        self.assertEqual(imgs[BUSY].spec.image, BUSY)

    def test_1_list_filter(self):
        r = self.img.ListImages(api_pb2.ListImagesRequest(
            filter=api_pb2.ImageFilter(image=api_pb2.ImageSpec(image="busybox"))), timeout=5)
        self.assertEqual([i.id for i in r.images], [BUSY])

    def test_2_status_names(self):
        for name in (BUSY, BUSY[7:], BUSY[7:19], "busybox", "busybox:latest",
                     "library/busybox", "docker.io/library/busybox:latest", BUSY_DIGEST):
            with self.subTest(name=name):
                self.assertEqual(self.status(name).image.id, BUSY)

    def test_2_status_absent_is_ok_without_image(self):
        r = self.status("nosuch/image:1")
        self.assertFalse(r.HasField("image"))

    def test_2_status_uid_and_verbose(self):
        r = self.status("docker.io/library/busybox:latest", verbose=True)
        info = json.loads(r.info["info"])
        self.assertEqual(info["imageSpec"]["config"]["User"], "1000:1000")
        self.assertFalse(r.image.HasField("uid"))  # seeded record has no user

    def test_2_empty_name_invalid(self):
        with self.assertRaises(grpc.RpcError) as cm:
            self.status("")
        self.assertEqual(cm.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("image", cm.exception.details())

    def fs_info(self):
        r = self.img.ImageFsInfo(api_pb2.ImageFsInfoRequest(), timeout=5)
        return r.image_filesystems[0]

    def test_3_fsinfo(self):
        fs = self.fs_info()
        store = os.path.join(self.crid.root, "images")
        self.assertEqual(fs.fs_id.mountpoint, store)
        self.assertGreater(fs.timestamp, (time.time() - 60) * 1e9)
        # disk usage of layers/ and images/ as a du walk finds it (tests/integration/store_walk.py)
        got, want = wait_store_usage(self.fs_info, store)
        self.assertEqual(got, want)

    def test_3_staging_swept(self):
        staging = os.path.join(self.crid.root, "images", "staging")
        self.assertEqual(os.listdir(staging), [])

    def test_4_remove(self):
        rm = lambda n: self.img.RemoveImage(api_pb2.RemoveImageRequest(
            image=api_pb2.ImageSpec(image=n)), timeout=5)
        # by one tag: the image goes with all its tags (api.proto), layer 2 is released
        rm("127.0.0.1:5000/test/app:1")
        self.assertFalse(self.status(APP).HasField("image"))
        self.assertFalse(self.status("127.0.0.1:5000/test/app:2").HasField("image"))
        layers = os.path.join(self.crid.root, "images", "layers")
        self.assertEqual(sorted(os.listdir(layers)), [L1[7:]])
        rm(APP)  # idempotent
        got, want = wait_store_usage(self.fs_info, os.path.join(self.crid.root, "images"))
        self.assertEqual(got, want)

    def test_5_restart_keeps_store(self):
        self.crid.stop()
        self.crid.start()
        type(self).ch.close()
        type(self).ch = self.crid.channel()
        type(self).img = api_pb2_grpc.ImageServiceStub(type(self).ch)
        ids = [i.id for i in self.img.ListImages(api_pb2.ListImagesRequest(), timeout=5).images]
        self.assertEqual(ids, [BUSY])


if __name__ == "__main__":
    unittest.main(verbosity=2)
