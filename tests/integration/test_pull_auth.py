"""PullImage from registries with TLS and authentication (tests/fixtures/authreg.py):
Debian's docker-registry over TLS with a test CA, once with htpasswd (bcrypt)
Basic auth and once with token auth against a token server in this process,
both serving the storage of a plain registry that images.py filled.

Covers: the CA given per registry (ca_file) and through the certs.d layout
(certs_dir/<host:port>/ca.crt); no CA -> a TLS error naming the image; a wrong
password -> UNAUTHENTICATED naming the image, for Basic and for Bearer; the
Bearer token cached per scope (two images of one repository: one token request;
another repository: one more); identity_token (OAuth2 refresh-token POST) and
registry_token (used as is, no token request)."""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import urllib.parse
import urllib.request

from crid_fixture import REPO, Crid, is_root, run_cleanups  # first: the stubs on sys.path

import grpc  # noqa: E402

import api_pb2  # noqa: E402
import api_pb2_grpc  # noqa: E402

FIXTURES = os.path.join(REPO, "tests", "fixtures")
sys.path.insert(0, FIXTURES)
PY = "/usr/bin/python3"
USER, PASSWORD, REFRESH = "crid", "s3cret", "crid-refresh-token"


def missing():
    need = [t for t in ("docker-registry", "skopeo", "curl") if not shutil.which(t)]
    try:
        import cryptography  # noqa: F401
    except ImportError:
        need.append("python3-cryptography")
    if not os.path.exists(os.environ.get("BUSYBOX", "/bin/busybox")):
        need.append("busybox-static")
    return need


class PullAuthTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not is_root():
            raise unittest.SkipTest("needs root to unpack layers (chown, mknod, trusted xattrs)")
        miss = missing()
        if miss:
            raise unittest.SkipTest("missing: " + ", ".join(miss))
        import authreg
        cls.tmp = tempfile.mkdtemp(prefix="crid-pullauth-")
        cls.regdir = os.path.join(cls.tmp, "plain")
        cls.cleanups = [lambda: os.environ.get("CRID_KEEP") or
                        shutil.rmtree(cls.tmp, ignore_errors=True)]
        try:
            plain = subprocess.run(["bash", os.path.join(FIXTURES, "registry.sh"), "start",
                                    cls.regdir], check=True, capture_output=True,
                                   text=True).stdout.strip().splitlines()[-1]
            cls.cleanups.append(lambda: subprocess.run(
                ["bash", os.path.join(FIXTURES, "registry.sh"), "stop", cls.regdir]))
            subprocess.run([PY, os.path.join(FIXTURES, "images.py"), "push", plain,
                            "busybox", "sleep"], check=True)
            # a second image in the busybox repository: one token scope, two images
            subprocess.run(["skopeo", "--insecure-policy", "copy", "-q",
                            "--src-tls-verify=false", "--dest-tls-verify=false",
                            "docker://%s/crid-test/sleep:latest" % plain,
                            "docker://%s/crid-test/busybox:sleep" % plain], check=True)
            cls.info = json.loads(subprocess.run(
                [PY, os.path.join(FIXTURES, "images.py"), "info"], check=True,
                capture_output=True, text=True).stdout)
            data = os.path.join(cls.regdir, "data")
            cls.certs = authreg.Certs(os.path.join(cls.tmp, "certs"))
            hp = authreg.write_htpasswd(os.path.join(cls.tmp, "htpasswd"), {USER: PASSWORD})
            cls.basic = authreg.Registry(os.path.join(cls.tmp, "basic"), data, cls.certs,
                                         htpasswd=hp).start()
            cls.cleanups.append(cls.basic.stop)
            cls.tokens = authreg.TokenServer(cls.certs, {USER: PASSWORD},
                                             refresh={REFRESH: USER}).start()
            cls.cleanups.append(cls.tokens.stop)
            cls.bearer = authreg.Registry(os.path.join(cls.tmp, "bearer"), data, cls.certs,
                                          token=cls.tokens).start()
            cls.cleanups.append(cls.bearer.stop)
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        run_cleanups(cls.cleanups)

    def daemon(self, name, registries=(), certs_dir=None):
        """A fresh crid (empty token cache) trusting the test CA for |registries|."""
        conf = os.path.join(self.tmp, name + ".toml")
        with open(conf, "w") as f:
            f.write("[crid.image]\ncerts_dir = \"%s\"\n" %
                    (certs_dir or os.path.join(self.tmp, "no-certs.d")))
            for r in registries:
                f.write("[crid.image.registries.\"%s\"]\nca_file = \"%s\"\n" %
                        (r, self.certs.ca))
        crid = Crid(name=name, tmpdir=self.tmp, config=conf,
                    socket_path=os.path.join(self.tmp, name + ".sock")).start()
        self.addCleanup(crid.finish)  # exit 0, no sanitizer report
        self.current = crid
        return api_pb2_grpc.ImageServiceStub(crid.channel())

    def run(self, result=None):
        failures = len(result.failures) + len(result.errors) if result else 0
        self.current = None
        r = super().run(result)
        if result and len(result.failures) + len(result.errors) > failures and self.current:
            print("\n--- crid log ---\n" + self.current.log(60))
        return r

    def pull(self, stub, ref, auth=None, timeout=120):
        req = api_pb2.PullImageRequest(image=api_pb2.ImageSpec(image=ref))
        if auth is not None:
            req.auth.CopyFrom(auth)
        return stub.PullImage(req, timeout=timeout)

    def refuse(self, stub, ref, auth=None):
        with self.assertRaises(grpc.RpcError) as cm:
            self.pull(stub, ref, auth)
        return cm.exception

    def check_pulled(self, stub, ref, resp, key):
        st = stub.ImageStatus(api_pb2.ImageStatusRequest(image=api_pb2.ImageSpec(image=ref)),
                              timeout=10)
        self.assertEqual(st.image.id, resp.image_ref)
        repo = ref.rsplit(":", 1)[0]
        self.assertIn("%s@%s" % (repo, self.info[key]["digest"]), st.image.repo_digests)

    # ---- TLS + htpasswd Basic ----

    def test_basic_tls_ca_file(self):
        """ca_file for HOST:PORT: username/password pulls; no or wrong credentials ->
        UNAUTHENTICATED naming the image."""
        stub = self.daemon("basic-ca", [self.basic.addr])
        ref = "%s/crid-test/busybox:latest" % self.basic.addr
        e = self.refuse(stub, ref)
        self.assertEqual(e.code(), grpc.StatusCode.UNAUTHENTICATED, e.details())
        self.assertIn(ref, e.details())
        e = self.refuse(stub, ref, api_pb2.AuthConfig(username=USER, password="wrong"))
        self.assertEqual(e.code(), grpc.StatusCode.UNAUTHENTICATED, e.details())
        self.assertIn(ref, e.details())
        resp = self.pull(stub, ref, api_pb2.AuthConfig(username=USER, password=PASSWORD))
        self.check_pulled(stub, ref, resp, "busybox")

    def test_concurrent_pulls_do_not_share_credentials(self):
        """A pull with a wrong password started while a good one runs does not join it:
        pulls are coalesced only when they bring the same credentials."""
        stub = self.daemon("basic-join", [self.basic.addr])
        ref = "%s/crid-test/busybox:latest" % self.basic.addr
        good = api_pb2.PullImageRequest(image=api_pb2.ImageSpec(image=ref),
                                        auth=api_pb2.AuthConfig(username=USER,
                                                                password=PASSWORD))
        bad = api_pb2.PullImageRequest(image=api_pb2.ImageSpec(image=ref),
                                       auth=api_pb2.AuthConfig(username=USER, password="wrong"))
        futures = [stub.PullImage.future(good, timeout=120)]
        futures += [stub.PullImage.future(bad, timeout=120) for _ in range(3)]
        self.assertTrue(futures[0].result().image_ref.startswith("sha256:"))
        for f in futures[1:]:
            with self.assertRaises(grpc.RpcError) as cm:
                f.result()
            self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAUTHENTICATED,
                             cm.exception.details())

    def test_basic_tls_certs_dir(self):
        """The CA as certs_dir/<host:port>/ca.crt (containers-certs.d(5) layout)."""
        certs_d = os.path.join(self.tmp, "certs.d")
        os.makedirs(os.path.join(certs_d, self.basic.addr), exist_ok=True)
        shutil.copy(self.certs.ca, os.path.join(certs_d, self.basic.addr, "ca.crt"))
        stub = self.daemon("basic-certsd", certs_dir=certs_d)
        ref = "%s/crid-test/busybox:latest" % self.basic.addr
        resp = self.pull(stub, ref, api_pb2.AuthConfig(
            auth=base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode()))
        self.check_pulled(stub, ref, resp, "busybox")

    def test_tls_without_ca(self):
        """No CA for the registry: the certificate does not verify; the error says TLS
        and names the image, and nothing is stored."""
        stub = self.daemon("noca")
        ref = "%s/crid-test/busybox:latest" % self.basic.addr
        e = self.refuse(stub, ref, api_pb2.AuthConfig(username=USER, password=PASSWORD))
        self.assertEqual(e.code(), grpc.StatusCode.UNAVAILABLE, e.details())
        self.assertIn(ref, e.details())
        self.assertRegex(e.details().lower(), r"tls|certificate")
        self.assertEqual(len(stub.ListImages(api_pb2.ListImagesRequest(), timeout=10).images), 0)

    # ---- token auth ----

    def test_bearer_token_cached_per_scope(self):
        """Two images of one repository: one token request; a second repository: one more;
        pulling again within the token's lifetime: none."""
        stub = self.daemon("bearer", [self.bearer.addr])
        creds = api_pb2.AuthConfig(username=USER, password=PASSWORD)
        scope, other = "repository:crid-test/busybox:pull", "repository:crid-test/sleep:pull"
        base, base1, base2 = self.tokens.count(), self.tokens.count(scope), \
            self.tokens.count(other)
        r1 = self.pull(stub, "%s/crid-test/busybox:latest" % self.bearer.addr, creds)
        r2 = self.pull(stub, "%s/crid-test/busybox:sleep" % self.bearer.addr, creds)
        self.assertNotEqual(r1.image_ref, r2.image_ref)
        self.assertEqual(self.tokens.count(scope) - base1, 1, self.tokens.requests)
        self.check_pulled(stub, "%s/crid-test/busybox:sleep" % self.bearer.addr, r2, "sleep")
        self.pull(stub, "%s/crid-test/sleep:latest" % self.bearer.addr, creds)
        self.assertEqual(self.tokens.count(other) - base2, 1, self.tokens.requests)
        self.pull(stub, "%s/crid-test/busybox:latest" % self.bearer.addr, creds)
        self.assertEqual(self.tokens.count() - base, 2, self.tokens.requests)

    def test_bearer_wrong_password(self):
        """Refused, also right after a pull with good credentials cached a token for the
        same scope: tokens are cached per credentials, not shared by every pull."""
        stub = self.daemon("bearer-bad", [self.bearer.addr])
        self.pull(stub, "%s/crid-test/busybox:latest" % self.bearer.addr,
                  api_pb2.AuthConfig(username=USER, password=PASSWORD))
        ref = "%s/crid-test/busybox:sleep" % self.bearer.addr
        e = self.refuse(stub, ref, api_pb2.AuthConfig(username=USER, password="wrong"))
        self.assertEqual(e.code(), grpc.StatusCode.UNAUTHENTICATED, e.details())
        self.assertIn(ref, e.details())
        e = self.refuse(stub, ref)
        self.assertEqual(e.code(), grpc.StatusCode.UNAUTHENTICATED, e.details())
        self.assertIn(ref, e.details())

    def test_bearer_identity_token(self):
        """identity_token is an OAuth2 refresh token: POSTed to the realm."""
        stub = self.daemon("bearer-idt", [self.bearer.addr])
        ref = "%s/crid-test/busybox:latest" % self.bearer.addr
        posts = lambda: sum(1 for r in self.tokens.requests  # noqa: E731
                            if r["method"] == "POST" and r["status"] == 200)
        before = posts()
        resp = self.pull(stub, ref, api_pb2.AuthConfig(identity_token=REFRESH))
        self.check_pulled(stub, ref, resp, "busybox")
        self.assertEqual(posts() - before, 1, self.tokens.requests)
        e = self.refuse(self.daemon("bearer-idt-bad", [self.bearer.addr]), ref,
                        api_pb2.AuthConfig(identity_token="not-a-refresh-token"))
        self.assertEqual(e.code(), grpc.StatusCode.UNAUTHENTICATED, e.details())

    def test_bearer_registry_token(self):
        """registry_token is sent as is: no request to the token server."""
        q = urllib.parse.urlencode({"service": "crid-test-registry",
                                    "scope": "repository:crid-test/busybox:pull"})
        req = urllib.request.Request(self.tokens.realm + "?" + q, headers={
            "Authorization": "Basic " + base64.b64encode(
                ("%s:%s" % (USER, PASSWORD)).encode()).decode()})
        with urllib.request.urlopen(req, timeout=10) as r:
            token = json.load(r)["token"]
        stub = self.daemon("bearer-rt", [self.bearer.addr])
        before = len(self.tokens.requests)
        ref = "%s/crid-test/busybox:latest" % self.bearer.addr
        resp = self.pull(stub, ref, api_pb2.AuthConfig(registry_token=token))
        self.check_pulled(stub, ref, resp, "busybox")
        self.assertEqual(len(self.tokens.requests), before, self.tokens.requests)


if __name__ == "__main__":
    unittest.main(verbosity=2)
