"""Port-forward through the real daemon: the PortForward RPC's URL, then
client-go's SPDY port-forwarder (crictl port-forward, skipped with a printed
reason when ../shared/bin/crictl is absent) and the suite's own SPDY client
(spdy_client.py) against busybox servers in real pods. Checks: a 10 MB
download from httpd in a pod's network namespace and in a host-network pod
(sha256 compared), a 10 MB upload to nc in the pod (sha256 compared in the
pod), a port nothing listens on (the client gets the error, the pod and the
daemon carry on), the exact error object, two pairs at once on one
connection, bad `port` headers reset, and crid's fd count back where it
started once the connections are closed."""
import hashlib
import json
import os
import socket
import struct
import subprocess
import threading
import time
import urllib.request

import websocket

import api_pb2
from crid_fixture import version_ok
from ctr_fixture import CtrBase, setup_registry, teardown_registry
import spdy_client as sc

CRICTL = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "..", "shared", "bin", "crictl")
SIZE = 10 << 20
HTTP_PORT = 8080
NC_PORT = 9090
# httpd serves /www: `big` (10 MB of random bytes) and `sum` (its sha256), made at start.
HTTPD = ("mkdir -p /www && head -c %d /dev/urandom > /www/big.tmp && "
         "sha256sum /www/big.tmp | cut -d' ' -f1 > /www/sum.tmp && mv /www/big.tmp /www/big && "
         "mv /www/sum.tmp /www/sum && exec httpd -f -p %%d -h /www" % SIZE)


def setUpModule():
    setup_registry()


def tearDownModule():
    teardown_registry()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def http_get(port, path, timeout=60):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=timeout) as r:
        return r.read()


class _Tests:
    _pods = {}

    # -- pods with servers, one per kind for the whole class -------------------------

    def host_net_pod(self, name):
        cfg = api_pb2.PodSandboxConfig(
            metadata=api_pb2.PodSandboxMetadata(name=name, uid="uid-" + name,
                                                namespace="pf-test"),
            hostname=name, log_directory=os.path.join(self.log_root, name))
        cfg.linux.security_context.namespace_options.network = api_pb2.NODE
        pid = self.rt.RunPodSandbox(api_pb2.RunPodSandboxRequest(
            config=cfg, runtime_handler=self.runtime), timeout=60).pod_sandbox_id
        self.pod_cfgs = getattr(self, "pod_cfgs", {})
        self.pod_cfgs[pid] = cfg
        return pid

    def server_pod(self, host_network=False):
        """(pod id, http port, sha256 of /www/big): httpd and an nc sink in one pod."""
        key = "host" if host_network else "pod"
        if key not in type(self)._pods:
            port = free_port() if host_network else HTTP_PORT
            nc_port = free_port() if host_network else NC_PORT
            if host_network:
                pod = self.host_net_pod(self.uniq("pf-host"))
            else:
                pod = self.run_pod(cleanup=False)
            cfg = self.ctr_config("httpd", script=HTTPD % port)
            if host_network:
                cfg.linux.security_context.namespace_options.network = api_pb2.NODE
            cid = self.create(pod, cfg)
            self.start(cid)
            deadline = time.monotonic() + 60
            while True:
                r = self.exec_sync(cid, ["cat", "/www/sum"])
                if r.exit_code == 0 and len(r.stdout.strip()) == 64:
                    break
                self.assertLess(time.monotonic(), deadline, "httpd's file not made in time")
                time.sleep(0.2)
            type(self)._pods[key] = (pod, port, r.stdout.strip().decode(), cid, nc_port)
            type(self).pod_cfgs = self.pod_cfgs  # later tests add containers to these pods
        return type(self)._pods[key]

    # -- crictl port-forward (client-go's SPDY port-forwarder) ----------------------

    def crictl_forward(self, pod, remote):
        if not os.access(CRICTL, os.X_OK):
            reason = "no crictl at %s (a fresh clone has no ../shared)" % CRICTL
            print("SKIP %s: %s" % (self.id(), reason))
            self.skipTest(reason)
        local = free_port()
        p = subprocess.Popen([CRICTL, "--runtime-endpoint", self.crid.target(), "port-forward",
                              pod, "%d:%d" % (local, remote)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(self.stop_forward, p)
        line = p.stdout.readline()
        self.assertIn(b"Forwarding from", line, "crictl port-forward did not start: %r %r"
                      % (line, p.stderr.read() if p.poll() is not None else b""))
        # what crictl says later (errors go to stderr) is kept for the checks
        p.err_lines = []
        threading.Thread(target=lambda: p.err_lines.extend(iter(p.stderr.readline, b"")),
                         daemon=True).start()
        return local, p

    @staticmethod
    def stop_forward(p):
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def check_download(self, host_network):
        pod, port, want, _, _ = self.server_pod(host_network)
        local, _ = self.crictl_forward(pod, port)
        body = http_get(local, "/big")
        self.assertEqual(len(body), SIZE)
        self.assertEqual(hashlib.sha256(body).hexdigest(), want)

    def test_crictl_download(self):
        self.check_download(False)

    def test_crictl_download_host_network(self):
        self.check_download(True)

    def test_crictl_upload(self):
        pod, _, _, _, nc_port = self.server_pod()
        # nc writes what one client sends and exits at its end; the loop then publishes it
        cid = self.run_ctr(pod, self.uniq("nc"), script=(
            "while true; do nc -l -p %d < /dev/null > /tmp/up.part; mv /tmp/up.part /tmp/up; "
            "done" % nc_port))
        local, _ = self.crictl_forward(pod, nc_port)
        data = os.urandom(SIZE)
        size = b""
        for attempt in range(10):  # nc may not listen yet: then crictl's pair fails
            try:
                s = socket.create_connection(("127.0.0.1", local), timeout=30)
                s.sendall(data)
                s.shutdown(socket.SHUT_WR)
                s.settimeout(60)
                s.recv(1)  # the end: nc exited, the pair closed
                s.close()
            except OSError:
                pass
            size = self.exec_sync(cid, ["sh", "-c", "wc -c < /tmp/up"]).stdout.strip()
            if size not in (b"", b"0"):
                break  # nc got something: it was listening, no second chance
            time.sleep(0.5)
        self.assertEqual(size, b"%d" % SIZE, "upload incomplete")
        r = self.exec_sync(cid, ["sha256sum", "/tmp/up"])
        self.assertEqual(r.stdout.split()[0].decode(), hashlib.sha256(data).hexdigest())

    def test_crictl_refused_port(self):
        pod, port, want, _, _ = self.server_pod()
        local, p = self.crictl_forward(pod, 9)  # nothing listens on 9 in the pod
        s = socket.create_connection(("127.0.0.1", local), timeout=30)
        s.settimeout(30)
        try:
            got = s.recv(100)
        except ConnectionResetError:
            got = b""
        s.close()
        self.assertEqual(got, b"", "no bytes from a port nothing listens on")
        deadline = time.monotonic() + 10
        while not any(b"error forwarding port 9" in l for l in p.err_lines):
            self.assertLess(time.monotonic(), deadline, "crictl did not report the error: %r"
                            % p.err_lines)
            time.sleep(0.1)
        self.assertTrue(any(b"connection refused" in l for l in p.err_lines), p.err_lines)
        version_ok(self.crid)
        # the pod and the daemon carry on: a new forward to its server works
        local, _ = self.crictl_forward(pod, port)
        self.assertEqual(http_get(local, "/sum").strip().decode(), want)

    # -- the protocol, with the suite's SPDY client ---------------------------------

    def pf_conn(self, pod, ports=()):
        url = self.rt.PortForward(api_pb2.PortForwardRequest(pod_sandbox_id=pod, port=ports),
                                  timeout=10).url
        conn, resp = sc.SpdyConn.upgrade(url, sc.PORT_FORWARD_PROTOCOLS)
        self.assertIsNotNone(conn, "upgrade refused: %r" % (resp,))
        self.addCleanup(conn.close)
        return conn

    def test_error_object(self):
        pod = self.server_pod()[0]
        conn = self.pf_conn(pod)
        pair = sc.PortForwardPair(conn, 9, 0)
        self.assertTrue(conn.wait_for(lambda: pair.error.fin and pair.data.fin, 15),
                        "pair not closed")
        text = bytes(pair.error.data)
        self.assertTrue(text.endswith(b"}\n"), text)
        obj = json.loads(text)
        self.assertIs(obj["closeConnection"], True)
        prefix = ("error forwarding port 9 to pod %s, uid : failed to connect to localhost:9 "
                  "inside namespace \"%s\", IPv4: dial tcp4 127.0.0.1:9: connect: connection "
                  "refused IPv6 dial tcp6 [::1]:9: connect: " % (pod, pod))
        self.assertTrue(obj["message"].startswith(prefix), obj["message"])
        self.assertEqual(bytes(pair.data.data), b"")
        # the connection carries on
        again = sc.PortForwardPair(conn, HTTP_PORT, 1)
        again.send(b"GET /sum HTTP/1.0\r\n\r\n")
        self.assertIn(self.server_pod()[2].encode(), again.read_until_fin(30))

    def test_two_pairs_at_once(self):
        pod, port, want, _, _ = self.server_pod()
        conn = self.pf_conn(pod, [port])
        a = sc.PortForwardPair(conn, port, 1)
        b = sc.PortForwardPair(conn, port, 2)
        b.send(b"GET /big HTTP/1.0\r\n\r\n")
        a.send(b"GET /sum HTTP/1.0\r\n\r\n")
        conn.wait_for(lambda: a.data.fin and b.data.fin and a.error.fin and b.error.fin, 60)
        self.assertTrue(a.data.fin and b.data.fin, "both pairs end")
        self.assertTrue(a.error.fin and b.error.fin, "both error streams closed")
        self.assertEqual((bytes(a.error.data), bytes(b.error.data)), (b"", b""))
        body_a = bytes(a.data.data).split(b"\r\n\r\n", 1)[1]
        body_b = bytes(b.data.data).split(b"\r\n\r\n", 1)[1]
        self.assertEqual(body_a.strip().decode(), want)
        self.assertEqual(hashlib.sha256(body_b).hexdigest(), want)

    def test_bad_port_header_reset(self):
        pod = self.server_pod()[0]
        conn = self.pf_conn(pod)
        for i, bad in enumerate(["0", "70000", "x", ""]):
            st = conn.open_stream({"streamtype": "data", "port": bad, "requestid": str(i)})
            self.assertTrue(conn.wait_for(lambda: st.reset is not None, 10),
                            "port %r not reset" % bad)
        good = sc.PortForwardPair(conn, HTTP_PORT, 10)
        good.send(b"GET /sum HTTP/1.0\r\n\r\n")
        self.assertIn(self.server_pod()[2].encode(), good.read_until_fin(30))
        version_ok(self.crid)

    def test_websocket_v4_ends_with_the_pair(self):
        """WebSocket port-forward (one pair per requested port): the server closes the
        WebSocket once the pair is over, as upstream; a v4 client has no other end signal."""
        pod, port, want, _, _ = self.server_pod()
        url = self.rt.PortForward(api_pb2.PortForwardRequest(pod_sandbox_id=pod, port=[port]),
                                  timeout=10).url
        ws = websocket.create_connection(url.replace("http://", "ws://", 1),
                                         subprotocols=["v4.channel.k8s.io"], timeout=30)
        self.addCleanup(ws.close)
        ws.send_binary(b"\x00GET /sum HTTP/1.0\r\n\r\n")
        out = {}
        while True:
            op, data = ws.recv_data()
            if op == websocket.ABNF.OPCODE_CLOSE:
                break
            if data:
                out.setdefault(data[0], bytearray()).extend(data[1:])
        le = struct.pack("<H", port)
        self.assertEqual(bytes(out.get(1, b"")), le, "the port, then nothing on the error channel")
        self.assertTrue(out[0].startswith(le), out.get(0))
        self.assertIn(want.encode(), bytes(out[0]))

    def test_zz_fds_back(self):
        """Runs last (name order): connections with pairs, closed, leave no fd in crid."""
        pod, port, _, _, _ = self.server_pod()
        before = len(os.listdir("/proc/%d/fd" % self.crid.proc.pid))
        conns = []
        for i in range(5):
            conn = self.pf_conn(pod)
            pairs = [sc.PortForwardPair(conn, port, j) for j in range(3)]
            pairs[0].send(b"GET /sum HTTP/1.0\r\n\r\n")
            conns.append((conn, pairs))
        for conn, pairs in conns:
            pairs[0].read_until_fin(30)
            conn.close()
        deadline = time.monotonic() + 30
        n = len(os.listdir("/proc/%d/fd" % self.crid.proc.pid))
        while n > before and time.monotonic() < deadline:
            time.sleep(0.1)
            n = len(os.listdir("/proc/%d/fd" % self.crid.proc.pid))
        # (fewer is fine: an earlier test's connection may close meanwhile)
        self.assertLessEqual(n, before, "crid's fds back where they were")


class PortForwardRunc(_Tests, CtrBase):
    runtime = "runc"
    _pods = {}
