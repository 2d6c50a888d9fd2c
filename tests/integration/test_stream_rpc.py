"""The streaming front through independent clients: the Exec, Attach and
PortForward RPCs (python3-grpcio: validation with every error naming its
field, the URL's shape, RESOURCE_EXHAUSTED past 1000 tokens) and the HTTP/1.1
side of the streaming server through raw sockets (single-use tokens, a token
of another kind, an expired token, malformed and oversized heads, no
upgrade, the SPDY and WebSocket negotiation errors, a slowloris client
closed after the header timeout, idle connections not holding up others,
and the daemon's fd count back where it was after all of it; upgraded
sessions whose client left before any stream are gone).

StreamFront needs no image: a host-network pod is ready without CNI, and its
PortForward tokens exercise the server. Its daemon runs with CRID_TEST=1 and
shortened limits (token TTL, header timeout) so nothing waits a minute.
StreamRpcRunc needs containers (Exec and Attach ask for a running one)."""
import json
import os
import re
import socket
import time
import unittest
import urllib.parse

import grpc

import api_pb2
import api_pb2_grpc
import fd_check
from crid_fixture import Crid, CridTestCase, is_root, version_ok
from ctr_fixture import CtrBase, setup_registry, teardown_registry

CODE = grpc.StatusCode
TOKEN_TTL = 8.0
HEADER_TIMEOUT = 2.0
RC_PROTOS = ["v5.channel.k8s.io", "v4.channel.k8s.io", "v3.channel.k8s.io",
             "v2.channel.k8s.io", "channel.k8s.io"]
URL_RE = re.compile(r"^http://127\.0\.0\.1:(\d+)/(exec|attach|portforward)/([A-Za-z0-9_-]{22})$")
# The stand-in session constructors answer 500 until the sessions are built (stream_pending.c).
NOT_BUILT = b"not built yet"


def setUpModule():
    setup_registry()


def tearDownModule():
    teardown_registry()


class Reply:
    def __init__(self, status, headers, body, sock):
        self.status, self.headers, self.body, self.sock = status, headers, body, sock

    def all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def one(self, name):
        v = self.all(name)
        return v[0] if v else None


def http(addr, data, timeout=10.0):
    """Sends |data| raw; returns the response head (and its body when it has one)."""
    s = socket.create_connection(addr, timeout=timeout)
    s.sendall(data)
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.1 (\d{3}) ", lines[0] + " ")
    if not m:
        s.close()
        raise AssertionError("not an HTTP response: %r" % buf[:200])
    headers = [tuple(x.strip() for x in ln.split(":", 1)) for ln in lines[1:] if ":" in ln]
    status = int(m.group(1))
    n = int(dict((k.lower(), v) for k, v in headers).get("content-length", 0))
    while len(rest) < n:
        chunk = s.recv(4096)
        if not chunk:
            break
        rest += chunk
    return Reply(status, headers, rest, s)


def request(path, method="POST", headers=()):
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: localhost"]
    lines += ["%s: %s" % h for h in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


SPDY_UP = [("Connection", "Upgrade"), ("Upgrade", "SPDY/3.1")]


def ws_up(key="dGhlIHNhbXBsZSBub25jZQ==", version="13", protos=()):
    h = [("Connection", "Upgrade"), ("Upgrade", "websocket")]
    if version is not None:
        h.append(("Sec-WebSocket-Version", version))
    if key is not None:
        h.append(("Sec-WebSocket-Key", key))
    if protos:
        h.append(("Sec-WebSocket-Protocol", ", ".join(protos)))
    return h


def split(url):
    u = urllib.parse.urlsplit(url)
    return (u.hostname, u.port), u.path


def streaming_info(rt):
    return json.loads(rt.Status(api_pb2.StatusRequest(verbose=True), timeout=10).info["streaming"])


class _Checks:
    """Assertions shared by both classes."""

    def assertUrl(self, url, kind):
        m = URL_RE.match(url)
        self.assertTrue(m, "url %r" % url)
        self.assertEqual(m.group(2), kind)
        self.assertEqual("http://127.0.0.1:%s" % m.group(1), streaming_info(self.rt)["url"])
        return m.group(3)

    def assertUpgradedOrNotBuilt(self, r, want_headers):
        """101 with |want_headers|; or, while the sessions are not built, their stand-in's 500."""
        if r.status == 500 and NOT_BUILT in r.body:
            print("\n  (session constructors not built yet: 500 %r)" % r.body.strip())
            return False
        self.assertEqual(r.status, 101, r.body)
        for k, v in want_headers:
            self.assertEqual(r.one(k), v, r.headers)
        return True

    def assertRpcError(self, code, fn, *a, contains=(), **kw):
        with self.assertRaises(grpc.RpcError) as cm:
            fn(*a, **kw)
        e = cm.exception
        self.assertEqual(e.code(), code, "%s: %s" % (e.code(), e.details()))
        for s in (contains if isinstance(contains, (list, tuple)) else [contains]):
            self.assertIn(s, e.details())
        return e.details()


class StreamFront(_Checks, CridTestCase):
    @classmethod
    def setUpClass(cls):
        if not is_root():
            raise unittest.SkipTest("needs root for pods (euid=%d)" % os.geteuid())
        cls.crid = Crid(env={"CRID_TEST": "1", "CRID_TEST_STREAM_TOKEN_TTL": str(TOKEN_TTL),
                             "CRID_TEST_STREAM_HEADER_TIMEOUT": str(HEADER_TIMEOUT)})
        try:
            cls.crid.start()
        except Exception:
            cls.crid.cleanup(keep=True)
            raise
        cls.channel = cls.crid.channel()
        cls.rt = api_pb2_grpc.RuntimeServiceStub(cls.channel)
        cls.img = api_pb2_grpc.ImageServiceStub(cls.channel)
        cls._failed = False
        cls.pod = cls.host_pod("front")
        base = urllib.parse.urlsplit(streaming_info(cls.rt)["url"])
        cls.addr = (base.hostname, base.port)
        cls.fd_set = set(fd_check.fd_targets(cls.crid.pid))

    @classmethod
    def host_pod(cls, name):
        cfg = api_pb2.PodSandboxConfig(
            metadata=api_pb2.PodSandboxMetadata(name=name, uid="uid-" + name, namespace="s"),
            hostname=name)
        cfg.linux.security_context.namespace_options.network = api_pb2.NODE
        return cls.rt.RunPodSandbox(api_pb2.RunPodSandboxRequest(config=cfg),
                                    timeout=60).pod_sandbox_id

    @classmethod
    def fd_count(cls):
        return len(os.listdir("/proc/%d/fd" % cls.crid.pid))

    def pf(self, ports=(80,)):
        return self.rt.PortForward(api_pb2.PortForwardRequest(pod_sandbox_id=self.pod,
                                                              port=list(ports)), timeout=10).url

    def pf_path(self):
        return split(self.pf())[1]

    def test_port_forward_validation(self):
        pf = self.rt.PortForward
        self.assertRpcError(CODE.INVALID_ARGUMENT, pf, api_pb2.PortForwardRequest(port=[80]),
                            timeout=10, contains="pod_sandbox_id")
        self.assertRpcError(CODE.NOT_FOUND, pf, api_pb2.PortForwardRequest(
            pod_sandbox_id="f" * 64, port=[80]), timeout=10, contains="f" * 64)
        for bad in (0, -1, 65536, 1 << 30):
            self.assertRpcError(CODE.INVALID_ARGUMENT, pf, api_pb2.PortForwardRequest(
                pod_sandbox_id=self.pod, port=[80, bad]), timeout=10,
                contains=["port", str(bad)])
        stopped = self.host_pod("stopped")
        self.rt.StopPodSandbox(api_pb2.StopPodSandboxRequest(pod_sandbox_id=stopped), timeout=60)
        try:
            self.assertRpcError(CODE.FAILED_PRECONDITION, pf, api_pb2.PortForwardRequest(
                pod_sandbox_id=stopped, port=[80]), timeout=10, contains=[stopped, "not ready"])
        finally:
            self.rt.RemovePodSandbox(api_pb2.RemovePodSandboxRequest(pod_sandbox_id=stopped),
                                     timeout=60)
        # no port at all is valid: a WebSocket client names none, a SPDY one per stream
        self.assertUrl(self.pf(ports=()), "portforward")
        self.assertUrl(self.pf(ports=(1, 65535)), "portforward")

    def test_url_live_and_negotiated(self):
        url = self.pf()
        tok = self.assertUrl(url, "portforward")
        self.assertNotIn(tok, self.pf(), "tokens repeat")
        addr, path = split(url)
        r = http(addr, request(path + "?port=9999", headers=SPDY_UP + [
            ("X-Stream-Protocol-Version", "portforward.k8s.io")]))
        r.sock.close()
        self.assertUpgradedOrNotBuilt(r, [("X-Stream-Protocol-Version", "portforward.k8s.io"),
                                          ("Upgrade", "SPDY/3.1"), ("Connection", "Upgrade")])

    def test_token_single_use(self):
        path = self.pf_path()
        r = http(self.addr, request(path, "GET"))
        self.assertEqual(r.status, 400, "no upgrade: %r" % r.body)
        r = http(self.addr, request(path, headers=SPDY_UP + [
            ("X-Stream-Protocol-Version", "portforward.k8s.io")]))
        self.assertEqual(r.status, 404, "a used token: %r" % r.body)
        self.assertIn(b"token", r.body)

    def test_token_of_another_kind(self):
        tok = self.pf_path().rsplit("/", 1)[1]
        for kind in ("exec", "attach", "portforward"):
            r = http(self.addr, request("/%s/%s" % (kind, tok), headers=SPDY_UP + [
                ("X-Stream-Protocol-Version", "portforward.k8s.io")]))
            self.assertEqual(r.status, 404, "%s: %r" % (kind, r.body))

    def test_token_expired_and_swept(self):
        path = self.pf_path()
        self.assertGreaterEqual(streaming_info(self.rt)["tokens"], 1)
        time.sleep(TOKEN_TTL + 1)
        # swept on a timer, not only when used: no growth from URLs nobody fetches
        self.assertEqual(streaming_info(self.rt)["tokens"], 0)
        r = http(self.addr, request(path, headers=SPDY_UP + [
            ("X-Stream-Protocol-Version", "portforward.k8s.io")]))
        self.assertEqual(r.status, 404, r.body)

    def test_tokens_in_flight_limit(self):
        req = api_pb2.PortForwardRequest(pod_sandbox_id=self.pod, port=[80])
        deadline = time.monotonic() + TOKEN_TTL + 5  # the other tests' unused ones expire
        while streaming_info(self.rt)["tokens"] and time.monotonic() < deadline:
            time.sleep(0.5)
        t0 = time.monotonic()
        futs = [self.rt.PortForward.future(req, timeout=60) for _ in range(1000)]
        urls = [f.result().url for f in futs]
        e = self.assertRpcError(CODE.RESOURCE_EXHAUSTED, self.rt.PortForward, req, timeout=10,
                                contains="1000")
        took = time.monotonic() - t0
        self.assertLess(took, TOKEN_TTL, "1000 tokens took %.1fs, longer than their TTL" % took)
        self.assertEqual(len(set(urls)), 1000)
        print("\n  1000 tokens in %.2fs; the 1001st: %s" % (took, e))
        # room again once they expire, without anyone using them
        deadline = time.monotonic() + TOKEN_TTL + 5
        while streaming_info(self.rt)["tokens"] and time.monotonic() < deadline:
            time.sleep(0.5)
        self.assertEqual(streaming_info(self.rt)["tokens"], 0)
        self.assertUrl(self.pf(), "portforward")

    def test_routes(self):
        tok = self.pf_path().rsplit("/", 1)[1]
        for path in ("/", "/exec", "/exec/", "/portforward/%s/x" % tok, "/portforward//%s" % tok,
                     "/cri/portforward/%s" % tok, "/PORTFORWARD/%s" % tok):
            r = http(self.addr, request(path, headers=SPDY_UP))
            self.assertEqual(r.status, 404, "%s: %r" % (path, r.body))
        for method in ("PUT", "DELETE", "get", "HEAD"):
            r = http(self.addr, request("/portforward/%s" % tok, method, headers=SPDY_UP))
            self.assertEqual(r.status, 405, "%s: %r" % (method, r.body))
        # none of these consumed the token (a wrong path or method is no use of it)
        r = http(self.addr, request("/portforward/%s" % tok, headers=SPDY_UP))
        self.assertEqual(r.status, 400, r.body)

    def test_malformed_and_oversized(self):
        for data in (b"GARBAGE\r\n\r\n", b"GET /exec/x HTTP/1.1\r\nno colon here\r\n\r\n",
                     b"GET /exec/x HTTP/9.9\r\n\r\n",
                     b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"):
            r = http(self.addr, data)
            self.assertEqual(r.status, 400, "%r: %r" % (data, r.body))
        big = request("/exec/x", headers=[("X-Pad", "a" * 9000)])
        self.assertEqual(http(self.addr, big).status, 431)
        many = request("/exec/x", headers=[("X-H%d" % i, "v") for i in range(100)])
        self.assertEqual(http(self.addr, many).status, 431)
        # a head that never ends within the buffer: the answer comes without waiting for more
        s = socket.create_connection(self.addr, timeout=10)
        s.sendall(b"GET /exec/x HTTP/1.1\r\nX-Pad: " + b"b" * 8300)
        self.assertTrue(s.recv(4096).startswith(b"HTTP/1.1 431 "))
        s.close()
        version_ok(self.crid)

    def test_upgrade_errors(self):
        cases = [
            ([], 400, b""),                                               # no upgrade at all
            (SPDY_UP, 400, b"X-Stream-Protocol-Version"),                 # no protocol offered
            ([("X-Stream-Protocol-Version", "portforward.k8s.io")], 400, b"upgrade"),
            (SPDY_UP + [("X-Stream-Protocol-Version", "v4.channel.k8s.io, bogus")], 403, b""),
            (ws_up(key=None), 400, b"Sec-WebSocket-Key"),
            (ws_up(key=""), 400, b"Sec-WebSocket-Key"),
            (ws_up(version="8"), 400, b"13"),
            (ws_up(version=None), 400, b"13"),
            (ws_up(protos=["base64.channel.k8s.io", "bogus"]), 400, b"Sec-WebSocket-Protocol"),
        ]
        for headers, status, body in cases:
            r = http(self.addr, request(self.pf_path(), "GET", headers=headers))
            self.assertEqual(r.status, status, "%s: %r" % (headers, r.body))
            self.assertIn(body, r.body, headers)
            if status == 403:
                self.assertEqual(r.all("X-Accepted-Stream-Protocol-Versions"),
                                 ["portforward.k8s.io"])

    def test_websocket_port_forward_negotiation(self):
        for offered, chosen in ((["bogus", "v4.channel.k8s.io"], "v4.channel.k8s.io"),
                                (["SPDY/3.1+portforward.k8s.io"], "SPDY/3.1+portforward.k8s.io"),
                                ([], None)):
            r = http(self.addr, request(self.pf_path(), "GET", headers=ws_up(protos=offered)))
            r.sock.close()
            self.assertUpgradedOrNotBuilt(r, [
                ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
                ("Sec-WebSocket-Protocol", chosen), ("Upgrade", "websocket")])

    def test_slowloris_closed(self):
        s = socket.create_connection(self.addr, timeout=HEADER_TIMEOUT + 10)
        s.sendall(b"GET /portforward/")
        t0 = time.monotonic()
        try:
            got = s.recv(4096)
        except ConnectionResetError:
            got = b""
        took = time.monotonic() - t0
        s.close()
        self.assertEqual(got, b"", "the server answered an unfinished head")
        self.assertGreater(took, HEADER_TIMEOUT - 0.5)
        self.assertLess(took, HEADER_TIMEOUT + 5, "closed after %.1fs" % took)

    def test_idle_connections_do_not_block(self):
        idle = []
        for i in range(200):
            s = socket.create_connection(self.addr, timeout=10)
            if i % 2:
                s.sendall(b"POST /exec/")  # half a head
            idle.append(s)
        t0 = time.monotonic()
        r = http(self.addr, request(self.pf_path(), "GET"))
        took = time.monotonic() - t0
        self.assertEqual(r.status, 400)
        self.assertLess(took, 1.5, "a request behind 200 idle connections took %.2fs" % took)
        version_ok(self.crid)
        for s in idle:
            s.close()

    def test_zz_no_fd_left(self):
        """Last (tests run in name order): every socket of the tests above is closed."""
        # By target, not by count: a connection made before the baseline (the start-up's
        # readiness check) may close later and hide a leaked one in a count.
        deadline = time.monotonic() + HEADER_TIMEOUT + 5
        while True:
            new = set(fd_check.fd_targets(self.crid.pid)) - self.fd_set
            sessions = streaming_info(self.rt)["sessions"]
            if (not new and sessions == 0) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(new, set(), "fds opened by the tests and still held")
        self.assertEqual(sessions, 0)


class StreamAddress(unittest.TestCase):
    """--stream-address / --stream-port: an IPv6 address in brackets, a fixed port, a busy one."""

    def free_port(self, family=socket.AF_INET6, host="::1"):
        with socket.socket(family) as s:
            s.bind((host, 0))
            return s.getsockname()[1]

    def test_ipv6_fixed_port(self):
        port = self.free_port()
        c = Crid(extra_args=["--stream-address", "::1", "--stream-port", str(port)])
        try:
            c.start()
            ch = c.channel()
            rt = api_pb2_grpc.RuntimeServiceStub(ch)
            url = streaming_info(rt)["url"]
            self.assertEqual(url, "http://[::1]:%d" % port)
            r = http(("::1", port), request("/exec/nosuchtoken", headers=SPDY_UP))
            self.assertEqual(r.status, 404, r.body)
            r.sock.close()
            ch.close()
            self.assertEqual(c.stop(), 0, c.log())
        finally:
            c.cleanup()

    def test_busy_port_fails_start(self):
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen(1)
            port = busy.getsockname()[1]
            c = Crid(extra_args=["--stream-port", str(port)])
            try:
                with self.assertRaises(Exception) as cm:
                    c.start(timeout=15)
                self.assertIn("bind streaming server to 127.0.0.1:%d" % port, str(cm.exception))
            finally:
                c.cleanup()


class _RpcTests(_Checks):
    def tearDown(self):
        self.doCleanups()
        try:
            self.assertNothingLeft()
        finally:
            self.crid.remove_all_pods()

    def sleeper(self, pod, name="sleeper", **kw):
        return self.run_ctr(pod, name, image="sleep", **kw)

    def exec_req(self, cid, **kw):
        kw.setdefault("cmd", ["echo", "hi"])
        kw.setdefault("stdout", True)
        return api_pb2.ExecRequest(container_id=cid, **kw)

    def test_exec_validation(self):
        pod = self.run_pod()
        cid = self.sleeper(pod)
        created = self.create(pod, self.ctr_config("created", image="sleep"))
        ex = self.rt.Exec
        self.assertRpcError(CODE.INVALID_ARGUMENT, ex, self.exec_req(""), timeout=10,
                            contains="container_id")
        self.assertRpcError(CODE.NOT_FOUND, ex, self.exec_req("a" * 64), timeout=10,
                            contains="a" * 64)
        self.assertRpcError(CODE.FAILED_PRECONDITION, ex, self.exec_req(created), timeout=10,
                            contains=[created, "not running"])
        self.assertRpcError(CODE.INVALID_ARGUMENT, ex, self.exec_req(cid, cmd=[]), timeout=10,
                            contains="cmd")
        self.assertRpcError(CODE.INVALID_ARGUMENT, ex, self.exec_req(cid, cmd=[""]), timeout=10,
                            contains="cmd")
        self.assertRpcError(CODE.INVALID_ARGUMENT, ex, self.exec_req(cid, tty=True, stderr=True),
                            timeout=10, contains="stderr")
        self.assertRpcError(CODE.INVALID_ARGUMENT, ex, self.exec_req(cid, stdout=False),
                            timeout=10, contains="stdin")
        url = ex(self.exec_req(cid, tty=True, stdin=True, cmd=["sh"]), timeout=10).url
        self.assertUrl(url, "exec")
        self.assertUrl(ex(self.exec_req(cid[:12]), timeout=10).url, "exec")  # a unique prefix
        self.stop(cid)
        self.assertRpcError(CODE.FAILED_PRECONDITION, ex, self.exec_req(cid), timeout=10,
                            contains="not running")

    def test_attach_validation(self):
        pod = self.run_pod()
        cid = self.sleeper(pod)
        at = self.rt.Attach
        self.assertRpcError(CODE.INVALID_ARGUMENT, at, api_pb2.AttachRequest(stdout=True),
                            timeout=10, contains="container_id")
        self.assertRpcError(CODE.NOT_FOUND, at, api_pb2.AttachRequest(
            container_id="b" * 64, stdout=True), timeout=10, contains="b" * 64)
        self.assertRpcError(CODE.INVALID_ARGUMENT, at, api_pb2.AttachRequest(
            container_id=cid, tty=True, stdout=True, stderr=True), timeout=10,
            contains="stderr")
        self.assertRpcError(CODE.INVALID_ARGUMENT, at, api_pb2.AttachRequest(container_id=cid),
                            timeout=10, contains="stdin")
        url = at(api_pb2.AttachRequest(container_id=cid, stdout=True, stderr=True),
                 timeout=10).url
        self.assertUrl(url, "attach")
        self.stop(cid)
        self.assertRpcError(CODE.FAILED_PRECONDITION, at, api_pb2.AttachRequest(
            container_id=cid, stdout=True), timeout=10, contains="not running")

    def test_exec_negotiation(self):
        pod = self.run_pod()
        cid = self.sleeper(pod)

        def path():
            return split(self.rt.Exec(self.exec_req(cid), timeout=10).url)

        addr, p = path()
        r = http(addr, request(p, headers=SPDY_UP + [
            ("X-Stream-Protocol-Version", "v9.channel.k8s.io"),
            ("X-Stream-Protocol-Version", "portforward.k8s.io")]))
        self.assertEqual(r.status, 403, r.body)
        self.assertEqual(r.all("X-Accepted-Stream-Protocol-Versions"), RC_PROTOS)
        # the client's order wins
        addr, p = path()
        r = http(addr, request(p, headers=SPDY_UP + [
            ("X-Stream-Protocol-Version", "v3.channel.k8s.io, v4.channel.k8s.io")]))
        r.sock.close()
        self.assertUpgradedOrNotBuilt(r, [("X-Stream-Protocol-Version", "v3.channel.k8s.io")])
        addr, p = path()
        r = http(addr, request(p, "GET", headers=ws_up(
            protos=["bogus", "v4.base64.channel.k8s.io", "v5.channel.k8s.io"])))
        r.sock.close()
        self.assertUpgradedOrNotBuilt(r, [("Sec-WebSocket-Protocol", "v4.base64.channel.k8s.io"),
                                          ("Sec-WebSocket-Accept",
                                           "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")])
        # a port-forward protocol is no exec protocol
        addr, p = path()
        r = http(addr, request(p, "GET", headers=ws_up(protos=["SPDY/3.1+portforward.k8s.io"])))
        self.assertEqual(r.status, 400, r.body)
        # the upgraded ones were closed by their client before any stream: no session stays
        deadline = time.monotonic() + 15
        while streaming_info(self.rt)["sessions"] and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertEqual(streaming_info(self.rt)["sessions"], 0, "sessions left behind")


class StreamRpcRunc(_RpcTests, CtrBase):
    runtime = "runc"


class StreamRpcCrun(_RpcTests, CtrBase):
    runtime = "crun"
