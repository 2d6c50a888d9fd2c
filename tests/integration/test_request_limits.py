"""Requests crid used to accept and then lose, or answer with the wrong code
(issue 11), through python3-grpcio against the real daemon and runc:

- invalid UTF-8 in any protobuf `string` field (python's protobuf refuses to
  serialise it, so the bytes are patched after serialising a placeholder and
  sent through a channel method without a serialiser): INVALID_ARGUMENT naming
  the field, nothing created, ListPodSandbox still decodes;
- records: a pod and a container with MiBs of annotations (over the old 4 MiB
  loader cap, under the record limit) survive a kill -9 restart; over the
  limit they are refused up front with RESOURCE_EXHAUSTED naming the field,
  and nothing is left (no pod, mount or IP);
- log_path: "" is legal (no log, as containerd), ".", "x/", a ".." component
  and a symlinked log file are INVALID_ARGUMENT naming config.log_path, and
  `a..b.log` is a legal file name;
- an image whose /etc/passwd cannot be read, or lacks the user of its own
  config User: FAILED_PRECONDITION naming the file and the image; a numeric
  user needs no /etc/passwd; a run_as_username the image lacks is
  INVALID_ARGUMENT naming the field.
"""
import io
import os
import subprocess
import tarfile
import tempfile
import time

import grpc

import api_pb2
import api_pb2_grpc
import ctr_fixture
from ctr_fixture import CtrBase, setup_registry, teardown_registry

CODE = grpc.StatusCode
RT = "/runtime.v1.RuntimeService/"
MiB = 1 << 20

# (raw bytes, why invalid); each replaces a placeholder of the same length
BAD_UTF8 = [
    (b"ab\xffcd", "0xff is never UTF-8"),
    (b"ab\xc0\xafd", "overlong encoding of '/'"),
    (b"a\xed\xa0\x80d", "UTF-16 surrogate"),
    (b"abc\xe2\x82", "truncated sequence"),
    (b"\xf4\x90\x80\x80d", "above U+10FFFF"),
]


def patch(data, placeholder, raw):
    """|data| with the one occurrence of |placeholder| replaced by |raw| (same length)."""
    ph = placeholder.encode()
    assert len(ph) == len(raw) and data.count(ph) == 1, (placeholder, raw)
    return data.replace(ph, raw)


def setUpModule():
    setup_registry()
    try:
        push_badpasswd()
    except Exception:
        teardown_registry()
        raise


def tearDownModule():
    teardown_registry()


def push_badpasswd():
    """Two images with config User "nobody" on the busybox base: `badpasswd`, whose
    /etc/passwd is a symlink loop, and `nopasswd`, whose /etc/passwd is whited out."""
    im = ctr_fixture._images_module()
    with tempfile.TemporaryDirectory(prefix="crid-badpasswd-") as tmp:
        layout = os.path.join(tmp, "oci")
        lay = im.Layout(layout)
        base = lay.layer(im.busybox_tar(os.environ.get("BUSYBOX", "/bin/busybox")))
        cfg = {"Env": [im.PATH_ENV], "Cmd": ["sh"], "User": "nobody"}
        for name, entry in (("badpasswd", ("etc/passwd", tarfile.SYMTYPE, 0o777, "passwd")),
                            ("nopasswd", ("etc/.wh.passwd", tarfile.REGTYPE, 0o644, ""))):
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
                im.tar_add(t, entry[0], entry[1], entry[2],
                           b"" if entry[1] == tarfile.REGTYPE else None, linkname=entry[3])
            lay.image(name, [base, lay.layer(buf.getvalue())], cfg)
        lay.close()
        for name in ("badpasswd", "nopasswd"):
            subprocess.run(["skopeo", "--insecure-policy", "copy", "-q",
                            "--dest-tls-verify=false", "oci:%s:%s" % (layout, name),
                            "docker://%s/crid-test/%s:latest" % (ctr_fixture.REGISTRY.addr,
                                                                 name)], check=True)


class _Tests:
    def tearDown(self):
        self.doCleanups()
        try:
            self.assertNothingLeft()
        finally:
            self.crid.remove_all_pods()

    # -- helpers ------------------------------------------------------------------

    def raw_call(self, method, body, resp, timeout=60):
        """Sends |body| as is (no client-side serialisation, hence no UTF-8 check)."""
        fn = self.channel.unary_unary(RT + method, request_serializer=None,
                                      response_deserializer=resp.FromString)
        return fn(body, timeout=timeout)

    def pod_request(self, **over):
        name = self.uniq("u8pod")
        cfg = api_pb2.PodSandboxConfig(
            metadata=api_pb2.PodSandboxMetadata(name=over.get("name", name),
                                                uid=over.get("uid", "uid-" + name),
                                                namespace=over.get("namespace", "ctr-test")),
            hostname=name, log_directory=os.path.join(self.log_root, name))
        for k, v in over.get("labels", {}).items():
            cfg.labels[k] = v
        for k, v in over.get("annotations", {}).items():
            cfg.annotations[k] = v
        cfg.dns_config.servers.extend(over.get("servers", []))
        return api_pb2.RunPodSandboxRequest(config=cfg, runtime_handler=self.runtime)

    def assertNoPods(self):
        # decodes with a real protobuf client: nothing undecodable was stored
        pods = self.rt.ListPodSandbox(api_pb2.ListPodSandboxRequest(), timeout=10).items
        self.assertEqual([p.id for p in pods], [])

    def pod_with_annotations(self, total, n):
        name = self.uniq("bigpod")
        cfg = api_pb2.PodSandboxConfig(
            metadata=api_pb2.PodSandboxMetadata(name=name, uid="uid-" + name,
                                                namespace="ctr-test"),
            hostname=name, log_directory=os.path.join(self.log_root, name))
        for i in range(n):
            cfg.annotations["big/%d" % i] = chr(ord("a") + i % 26) * (total // n)
        return cfg

    # -- invalid UTF-8 ------------------------------------------------------------

    def test_invalid_utf8_pod_fields(self):
        ph = "ZZPHZ"  # 5 bytes, as long as every BAD_UTF8 entry
        cases = [
            ("config.metadata.name", dict(name=ph)),
            ("config.metadata.namespace", dict(namespace=ph)),
            ("config.metadata.uid", dict(uid=ph)),
            ('config.labels["app"]', dict(labels={"app": ph})),
            ("config.labels[0].key", dict(labels={ph: "v"})),
            ('config.annotations["note"]', dict(annotations={"note": ph})),
            ("config.dns_config.servers[1]", dict(servers=["10.0.0.10", ph])),
        ]
        for field, over in cases:
            body = self.pod_request(**over).SerializeToString()
            for raw, why in BAD_UTF8:
                with self.subTest(field=field, why=why):
                    d = self.assertRpcError(CODE.INVALID_ARGUMENT, self.raw_call,
                                            "RunPodSandbox", patch(body, ph, raw),
                                            api_pb2.RunPodSandboxResponse)
                    self.assertIn(field + ": ", d)
                    self.assertIn("invalid UTF-8", d)
        self.assertNoPods()
        # the same bytes made valid are accepted: the check is UTF-8, not ASCII
        body = self.pod_request(name=ph).SerializeToString()
        pid = self.raw_call("RunPodSandbox", patch(body, ph, "\u00e9\u65e5".encode()),
                            api_pb2.RunPodSandboxResponse).pod_sandbox_id
        self.addCleanup(self.remove_pod, pid)
        st = self.rt.PodSandboxStatus(api_pb2.PodSandboxStatusRequest(pod_sandbox_id=pid),
                                      timeout=10).status
        self.assertEqual(st.metadata.name, "\u00e9\u65e5")

    def test_invalid_utf8_other_requests(self):
        pod = self.run_pod()
        ph = "ZZPHZ"
        cfg = self.ctr_config("u8ctr", image="sleep", envs=[("A", b"1"), (ph, b"v")])
        req = api_pb2.CreateContainerRequest(pod_sandbox_id=pod, config=cfg,
                                             sandbox_config=self.pod_cfgs[pod])
        d = self.assertRpcError(CODE.INVALID_ARGUMENT, self.raw_call, "CreateContainer",
                                patch(req.SerializeToString(), ph, b"x\xfe\xfeyz"),
                                api_pb2.CreateContainerResponse)
        self.assertIn("config.envs[1].key: ", d)
        items = self.rt.ListContainers(api_pb2.ListContainersRequest(), timeout=10).containers
        self.assertEqual(list(items), [])
        cid = self.run_ctr(pod, "u8ok", image="sleep")
        self.addCleanup(self.remove, cid)
        req = api_pb2.ExecSyncRequest(container_id=cid, cmd=["echo", ph], timeout=10)
        d = self.assertRpcError(CODE.INVALID_ARGUMENT, self.raw_call, "ExecSync",
                                patch(req.SerializeToString(), ph, b"\xc3\x28abc"),
                                api_pb2.ExecSyncResponse)
        self.assertIn("cmd[1]: ", d)
        req = api_pb2.PullImageRequest(image=api_pb2.ImageSpec(image="reg/" + ph))
        fn = self.channel.unary_unary("/runtime.v1.ImageService/PullImage",
                                      request_serializer=None,
                                      response_deserializer=api_pb2.PullImageResponse.FromString)
        with self.assertRaises(grpc.RpcError) as cm:
            fn(patch(req.SerializeToString(), ph, b"\x80bcde"), timeout=30)
        self.assertEqual(cm.exception.code(), CODE.INVALID_ARGUMENT, cm.exception.details())
        self.assertIn("image.image: ", cm.exception.details())
        self.stop(cid)

    # -- record sizes -------------------------------------------------------------

    def test_large_records_survive_kill(self):
        # ~2.4 MiB of annotations each: a pod record and a container record of ~5.6 MiB
        # (the annotations and the encoded config both hold them), over the old 4 MiB cap
        cfg = self.pod_with_annotations(int(2.4 * MiB), 3)
        pid = self.rt.RunPodSandbox(api_pb2.RunPodSandboxRequest(
            config=cfg, runtime_handler=self.runtime), timeout=60).pod_sandbox_id
        self.addCleanup(self.remove_pod, pid)
        self.pod_cfgs = getattr(self, "pod_cfgs", {})
        self.pod_cfgs[pid] = cfg
        ccfg = self.ctr_config("bigctr", image="sleep")
        for i in range(3):
            ccfg.annotations["big/%d" % i] = "x" * (800 << 10)
        cid = self.create(pid, ccfg)
        self.start(cid)
        type(self).restart(kill=True)
        # the replies carry the annotations too: over grpcio's default 4 MiB receive cap
        big = self.crid.channel(options=[("grpc.max_receive_message_length", 64 * MiB)])
        self.addCleanup(big.close)
        rt = api_pb2_grpc.RuntimeServiceStub(big)
        st = rt.PodSandboxStatus(api_pb2.PodSandboxStatusRequest(pod_sandbox_id=pid),
                                 timeout=10).status
        self.assertEqual(st.state, api_pb2.SANDBOX_READY)
        self.assertEqual(dict(st.annotations), dict(cfg.annotations))
        cst = rt.ContainerStatus(api_pb2.ContainerStatusRequest(container_id=cid),
                                 timeout=10).status
        self.assertEqual(cst.state, api_pb2.CONTAINER_RUNNING)
        self.assertEqual(dict(cst.annotations), dict(ccfg.annotations))
        self.assertEqual(self.exec_sync(cid, ["echo", "alive"]).stdout, b"alive\n")
        self.stop(cid)
        self.remove(cid)

    def test_over_limit_pod_refused(self):
        cfg = self.pod_with_annotations(12 * MiB, 12)
        d = self.assertRpcError(CODE.RESOURCE_EXHAUSTED, self.rt.RunPodSandbox,
                                api_pb2.RunPodSandboxRequest(config=cfg,
                                                             runtime_handler=self.runtime),
                                timeout=60)
        self.assertIn("config.annotations", d)
        self.assertNoPods()
        self.assertFalse(os.path.exists(cfg.log_directory), "log directory made")
        # and the daemon keeps serving the next pod
        self.run_pod()

    def test_over_limit_container_refused(self):
        pod = self.run_pod()
        cfg = self.ctr_config("hugectr", image="sleep")
        for i in range(8):
            cfg.annotations["big/%d" % i] = "y" * MiB
        d = self.assertRpcError(CODE.RESOURCE_EXHAUSTED, self.create, pod, cfg)
        self.assertIn("config.annotations", d)
        items = self.rt.ListContainers(api_pb2.ListContainersRequest(), timeout=10).containers
        self.assertEqual(list(items), [])
        self.assertEqual(self.mounts_under(self.crid.root), [])

    # -- log_path -----------------------------------------------------------------

    def test_log_path_bad_values(self):
        pod = self.run_pod()
        for lp in (".", "x/", "x/.", "../up.log", "a/../b.log", "/abs.log"):
            with self.subTest(log_path=lp):
                self.assertRpcError(CODE.INVALID_ARGUMENT, self.create, pod,
                                    self.ctr_config("lp", image="sleep", log_path=lp),
                                    contains="config.log_path")
        items = self.rt.ListContainers(api_pb2.ListContainersRequest(), timeout=10).containers
        self.assertEqual(list(items), [])

    def test_log_path_symlink_refused(self):
        pod = self.run_pod()
        logdir = self.pod_cfgs[pod].log_directory
        os.makedirs(logdir, exist_ok=True)
        fd, target = tempfile.mkstemp(prefix="crid-logtarget-")
        os.close(fd)
        self.addCleanup(os.unlink, target)
        os.symlink(target, os.path.join(logdir, "link.log"))
        self.assertRpcError(CODE.INVALID_ARGUMENT, self.create, pod,
                            self.ctr_config("lnk", script="echo leaked", log_path="link.log"),
                            contains=("config.log_path", "symbolic link"))
        self.assertEqual(os.path.getsize(target), 0)

    def test_log_path_dotdot_inside_name(self):
        pod = self.run_pod()
        cid = self.run_ctr(pod, "dots", script="echo two-dots", log_path="a..b.log")
        self.wait_exited(cid)
        path = os.path.join(self.pod_cfgs[pod].log_directory, "a..b.log")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not os.path.exists(path):
            time.sleep(0.05)
        self.assertEqual(self.lines(self.read_log(path)), [b"two-dots"])
        self.remove(cid)

    def test_log_path_empty_means_no_log(self):
        # CRI allows it (crictl leaves it out); containerd then keeps no log: so does crid
        pod = self.run_pod()
        logdir = self.pod_cfgs[pod].log_directory
        cid = self.run_ctr(pod, "nolog", script="echo discarded", log_path="")
        st = self.wait_exited(cid)
        self.assertEqual(st.exit_code, 0)
        self.assertEqual(st.log_path, "")
        self.assertEqual(os.listdir(logdir) if os.path.isdir(logdir) else [], [])
        self.remove(cid)

    # -- image user database ------------------------------------------------------

    def test_unreadable_passwd(self):
        pod = self.run_pod()
        ref = ctr_fixture.REGISTRY.ref("badpasswd")
        self.img.PullImage(api_pb2.PullImageRequest(image=api_pb2.ImageSpec(image=ref)),
                           timeout=120)
        d = self.assertRpcError(CODE.FAILED_PRECONDITION, self.create, pod,
                                self.ctr_config("bp", image=ref),
                                contains=("/etc/passwd", "crid-test/badpasswd"))
        self.assertTrue(d.startswith("image `%s`: " % ref), d)
        items = self.rt.ListContainers(api_pb2.ListContainersRequest(), timeout=10).containers
        self.assertEqual(list(items), [])


    def test_image_user_not_in_passwd(self):
        # an image without /etc/passwd has no user names: its own User "nobody" is the
        # image's fault (FAILED_PRECONDITION naming it); a numeric user runs
        pod = self.run_pod()
        ref = ctr_fixture.REGISTRY.ref("nopasswd")
        self.img.PullImage(api_pb2.PullImageRequest(image=api_pb2.ImageSpec(image=ref)),
                           timeout=120)
        d = self.assertRpcError(CODE.FAILED_PRECONDITION, self.create, pod,
                                self.ctr_config("np", image=ref),
                                contains="no user `nobody` in the image's /etc/passwd")
        self.assertTrue(d.startswith("image `%s`: " % ref), d)
        self.assertNotIn("No such file", d)
        cid = self.run_ctr(pod, "npnum", image=ref, command=["sleep", "300"], run_as_user=1000)
        self.assertEqual(self.exec_sync(cid, ["id", "-u"]).stdout, b"1000\n")
        self.stop(cid)
        self.remove(cid)
        # a run_as_username the image lacks is the request's fault: INVALID_ARGUMENT
        cfg = self.ctr_config("ghost", image="sleep")
        cfg.linux.security_context.run_as_username = "ghost"
        self.assertRpcError(CODE.INVALID_ARGUMENT, self.create, pod, cfg,
                            contains="linux.security_context.run_as_username: no user `ghost`")


class LimitsRunc(_Tests, CtrBase):
    runtime = "runc"
