"""A minimal SPDY/3.1 client for crid's streaming tests, independent of the C codec.

It speaks what the Kubernetes clients speak (moby/spdystream, client-go's SPDY
executor and port-forwarder): the HTTP/1.1 upgrade (POST, one
X-Stream-Protocol-Version line per offered protocol), then SPDY/3 frames with
header blocks compressed by one zlib stream per direction seeded with the
SPDY/3 dictionary (tests/fixtures/spdy3-dictionary.bin, 1423 bytes, public
protocol data from the SPDY/3 draft §2.6.10.1). No flow control, as
spdystream. No threads: every read is a select() with a deadline.

    conn, resp = SpdyConn.upgrade(url, ["v4.channel.k8s.io"])
    ex = ExecSession(conn, stdin=True, stdout=True, stderr=True, tty=False)
    ex.open()
    out = ex.run(stdin=b"hi\n")          # {'stdout', 'stderr', 'error', 'status'}

Port-forward: conn.open_stream({"streamtype": "error", "port": "80",
"requestid": "0"}) and {"streamtype": "data", ...}, then send_data() and
collect(); see PortForwardPair.
"""

import json
import os
import select
import socket
import ssl
import struct
import time
import urllib.parse
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
DICT_PATH = os.path.join(os.path.dirname(HERE), "fixtures", "spdy3-dictionary.bin")

SYN_STREAM = 1
SYN_REPLY = 2
RST_STREAM = 3
SETTINGS = 4
PING = 6
GOAWAY = 7
HEADERS = 8
WINDOW_UPDATE = 9
DATA = 0  # not a control type: a data frame

FLAG_FIN = 0x01

PROTOCOL_ERROR = 1
INVALID_STREAM = 2
REFUSED_STREAM = 3
CANCEL = 5

REMOTE_COMMAND_PROTOCOLS = ["v5.channel.k8s.io", "v4.channel.k8s.io", "v3.channel.k8s.io",
                            "v2.channel.k8s.io", "channel.k8s.io"]
PORT_FORWARD_PROTOCOLS = ["portforward.k8s.io"]

_DICT = None


def dictionary():
    """The SPDY/3 header dictionary (checked against its published length)."""
    global _DICT
    if _DICT is None:
        with open(DICT_PATH, "rb") as f:
            d = f.read()
        if len(d) != 1423:
            raise RuntimeError("%s: %d bytes, want 1423" % (DICT_PATH, len(d)))
        _DICT = d
    return _DICT


class SpdyError(Exception):
    pass


def encode_header_block(headers):
    """SPDY/3 header block before compression: u32 count, then (u32 len, bytes) pairs."""
    items = list(headers.items()) if isinstance(headers, dict) else list(headers)
    out = [struct.pack(">I", len(items))]
    for name, value in items:
        n = name.encode() if isinstance(name, str) else name
        v = value.encode() if isinstance(value, str) else value
        out.append(struct.pack(">I", len(n)) + n + struct.pack(">I", len(v)) + v)
    return b"".join(out)


def decode_header_block(block):
    (n,) = struct.unpack_from(">I", block, 0)
    off, headers = 4, {}
    for _ in range(n):
        (ln,) = struct.unpack_from(">I", block, off)
        name = block[off + 4:off + 4 + ln].decode()
        off += 4 + ln
        (lv,) = struct.unpack_from(">I", block, off)
        headers[name] = block[off + 4:off + 4 + lv].decode()
        off += 4 + lv
    return headers


def control_frame(ftype, flags, payload, version=3):
    return struct.pack(">HHI", 0x8000 | version, ftype, (flags << 24) | len(payload)) + payload


def data_frame(stream_id, payload, fin=False):
    flags = FLAG_FIN if fin else 0
    return struct.pack(">II", stream_id & 0x7fffffff, (flags << 24) | len(payload)) + payload


class Frame:
    """One parsed frame: kind is DATA or a control type."""

    def __init__(self, kind, flags, stream_id=0, data=b"", headers=None, value=0, last_good=0):
        self.kind, self.flags, self.stream_id = kind, flags, stream_id
        self.data, self.headers, self.value, self.last_good = data, headers, value, last_good

    @property
    def fin(self):
        return bool(self.flags & FLAG_FIN)

    def __repr__(self):
        return "Frame(kind=%d flags=%d sid=%d value=%d len=%d headers=%r)" % (
            self.kind, self.flags, self.stream_id, self.value, len(self.data), self.headers)


class Stream:
    """What the client knows of one of its streams."""

    def __init__(self, sid, headers):
        self.sid, self.headers = sid, headers
        self.replied = False
        self.data = bytearray()
        self.fin = False  # the server sent FIN
        self.reset = None  # the server's RST_STREAM status


class SpdyConn:
    def __init__(self, sock, buffered=b""):
        self.sock = sock
        self.sock.setblocking(False)
        self.buf = bytearray(buffered)
        self.deflate = zlib.compressobj(9, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY,
                                        dictionary())
        self.inflate = zlib.decompressobj(zdict=dictionary())
        self.next_id = 1
        self.streams = {}
        self.pings = []  # ids of PINGs the server sent (echoes included)
        self.goaway = None  # (last_good, status) once the server sent GOAWAY
        self.eof = False  # the server closed (or reset) the connection
        self.frames = []  # every frame read, in order

    # -- the HTTP/1.1 upgrade ------------------------------------------------

    @classmethod
    def upgrade(cls, url, protocols, method="POST", timeout=10.0, extra_headers=None,
                ssl_context=None):
        """Connects (through TLS with |ssl_context|: an https URL) and upgrades.
        Returns (conn or None, (status, headers, body))."""
        u = urllib.parse.urlsplit(url)
        sock = socket.create_connection((u.hostname, u.port or 80), timeout=timeout)
        if ssl_context is not None:
            sock = ssl_context.wrap_socket(sock, server_hostname=u.hostname)
        path = u.path + ("?" + u.query if u.query else "")
        lines = ["%s %s HTTP/1.1" % (method, path), "Host: %s" % u.netloc,
                 "Connection: Upgrade", "Upgrade: SPDY/3.1"]
        lines += ["X-Stream-Protocol-Version: %s" % p for p in protocols]
        lines += extra_headers or []
        lines += ["Content-Length: 0", "", ""]
        sock.sendall("\r\n".join(lines).encode())
        status, headers, rest = read_http_head(sock, timeout)
        if status != 101:
            body = read_http_body(sock, headers, rest, timeout)
            sock.close()
            return None, (status, headers, body)
        return cls(sock, rest), (status, headers, b"")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # -- writing -------------------------------------------------------------

    def send_raw(self, b):
        self.sock.setblocking(True)
        try:
            self.sock.sendall(b)
        finally:
            self.sock.setblocking(False)

    def header_block(self, headers):
        raw = encode_header_block(headers)
        return self.deflate.compress(raw) + self.deflate.flush(zlib.Z_SYNC_FLUSH)

    def syn_stream(self, sid, headers, flags=0):
        payload = struct.pack(">IIBB", sid, 0, 0, 0) + self.header_block(headers)
        self.send_raw(control_frame(SYN_STREAM, flags, payload))

    def open_stream(self, headers, wait=True, timeout=10.0):
        """SYN_STREAM with the next odd id; waits for its SYN_REPLY or RST. Returns the Stream."""
        sid = self.next_id
        self.next_id += 2
        st = Stream(sid, dict(headers))
        self.streams[sid] = st
        self.syn_stream(sid, headers)
        if wait:
            self.wait_for(lambda: st.replied or st.reset is not None or self.dead(), timeout)
        return st

    def send_data(self, sid, payload, fin=False):
        self.send_raw(data_frame(sid, payload, fin))

    def rst(self, sid, status=CANCEL):
        self.send_raw(control_frame(RST_STREAM, 0, struct.pack(">II", sid, status)))

    def ping(self, pid):
        self.send_raw(control_frame(PING, 0, struct.pack(">I", pid)))

    def send_goaway(self, last_good=0, status=0):
        self.send_raw(control_frame(GOAWAY, 0, struct.pack(">II", last_good, status)))

    # -- reading -------------------------------------------------------------

    def dead(self):
        return self.eof or self.goaway is not None

    def _fill(self, timeout):
        """Reads what arrives within |timeout|; False when nothing came (or EOF)."""
        if self.eof:
            return False
        # a TLS socket may hold decrypted bytes select() cannot see
        pending = getattr(self.sock, "pending", None)
        if not (pending and pending()):
            r, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
            if not r:
                return False
        try:
            b = self.sock.recv(65536)
        except ssl.SSLWantReadError:  # a TLS record not complete yet
            return True
        except (ConnectionResetError, BlockingIOError):
            b = b""
        if not b:
            self.eof = True
            return False
        self.buf += b
        return True

    def _parse_one(self):
        if len(self.buf) < 8:
            return None
        w0, w1 = struct.unpack_from(">II", self.buf, 0)
        flags, length = w1 >> 24, w1 & 0xffffff
        if len(self.buf) < 8 + length:
            return None
        payload = bytes(self.buf[8:8 + length])
        del self.buf[:8 + length]
        if not (w0 & 0x80000000):
            return Frame(DATA, flags, stream_id=w0 & 0x7fffffff, data=payload)
        version, ftype = (w0 >> 16) & 0x7fff, w0 & 0xffff
        if version != 3:
            raise SpdyError("server sent SPDY version %d" % version)
        if ftype == SYN_REPLY or ftype == HEADERS:
            (sid,) = struct.unpack_from(">I", payload, 0)
            block = self.inflate.decompress(payload[4:])
            return Frame(ftype, flags, stream_id=sid & 0x7fffffff,
                         headers=decode_header_block(block))
        if ftype == SYN_STREAM:
            (sid,) = struct.unpack_from(">I", payload, 0)
            block = self.inflate.decompress(payload[10:])
            return Frame(ftype, flags, stream_id=sid & 0x7fffffff,
                         headers=decode_header_block(block))
        if ftype == RST_STREAM:
            sid, status = struct.unpack_from(">II", payload, 0)
            return Frame(ftype, flags, stream_id=sid & 0x7fffffff, value=status)
        if ftype == PING:
            return Frame(ftype, flags, value=struct.unpack_from(">I", payload, 0)[0])
        if ftype == GOAWAY:
            last_good, status = struct.unpack_from(">II", payload, 0)
            return Frame(ftype, flags, value=status, last_good=last_good)
        return Frame(ftype, flags, data=payload)

    def _apply(self, f):
        self.frames.append(f)
        st = self.streams.get(f.stream_id)
        if f.kind == DATA and st is not None:
            st.data += f.data
            st.fin = st.fin or f.fin
        elif f.kind == SYN_REPLY and st is not None:
            st.replied = True
            st.fin = st.fin or f.fin
        elif f.kind == RST_STREAM and st is not None:
            st.reset = f.value
        elif f.kind == PING:
            self.pings.append(f.value)
        elif f.kind == GOAWAY:
            self.goaway = (f.last_good, f.value)

    def read_frame(self, timeout=10.0):
        """The next frame, or None when none arrived within |timeout| or the server closed."""
        deadline = time.monotonic() + timeout
        while True:
            f = self._parse_one()
            if f is not None:
                self._apply(f)
                return f
            if not self._fill(deadline - time.monotonic()):
                if self.eof or time.monotonic() >= deadline:
                    return None

    def wait_for(self, pred, timeout=10.0):
        """Reads frames until pred() holds (True), the deadline or EOF (pred()'s last value)."""
        deadline = time.monotonic() + timeout
        while not pred():
            left = deadline - time.monotonic()
            if left <= 0:
                return pred()
            if self.read_frame(left) is None and self.eof:
                return pred()
        return True

    def wait_closed(self, timeout=10.0):
        """Reads (and keeps) frames until the server closes the connection. True on EOF."""
        return self.wait_for(lambda: self.eof, timeout)


def read_http_head(sock, timeout):
    """(status, {lower-case name: [values]}, bytes after the head)."""
    sock.settimeout(timeout)
    buf = b""
    while b"\r\n\r\n" not in buf:
        b = sock.recv(4096)
        if not b:
            raise SpdyError("connection closed before the response head: %r" % buf)
        buf += b
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return status, headers, rest


def read_http_body(sock, headers, rest, timeout):
    n = int(headers.get("content-length", ["0"])[0])
    sock.settimeout(timeout)
    while len(rest) < n:
        b = sock.recv(4096)
        if not b:
            break
        rest += b
    return rest[:n]


class ExecSession:
    """A remote-command session (exec or attach) as client-go's v2..v5 clients drive it."""

    def __init__(self, conn, stdin=False, stdout=True, stderr=True, tty=False, version=4):
        self.conn, self.version = conn, version
        self.want = {"stdin": stdin, "stdout": stdout, "stderr": stderr}
        self.tty = tty
        self.s = {}

    def open(self, timeout=10.0):
        """Creates the streams in client-go's order (error, stdin, stdout, stderr, resize)."""
        names = ["error"] + [n for n in ("stdin", "stdout", "stderr") if self.want[n]]
        if self.tty and self.version >= 3:
            names.append("resize")
        for n in names:
            st = self.conn.open_stream({"streamtype": n}, timeout=timeout)
            if not st.replied:
                raise SpdyError("stream %s not accepted (reset=%r eof=%r goaway=%r)"
                                % (n, st.reset, self.conn.eof, self.conn.goaway))
            self.s[n] = st
        return self

    def send_stdin(self, data, fin=False):
        self.conn.send_data(self.s["stdin"].sid, data, fin)

    def close_stdin(self):
        self.conn.send_data(self.s["stdin"].sid, b"", fin=True)

    def resize(self, width, height):
        msg = json.dumps({"Width": width, "Height": height}).encode() + b"\n"
        self.conn.send_data(self.s["resize"].sid, msg)

    def done(self):
        outs = [self.s[n] for n in ("stdout", "stderr", "error") if n in self.s]
        return all(st.fin or st.reset is not None for st in outs)

    def run(self, stdin=None, close_stdin=True, timeout=30.0):
        """Sends |stdin|, reads stdout/stderr/error to their FIN; then closes the connection
        (as the client does). Returns {'stdout','stderr','error','status'}."""
        if stdin is not None:
            self.send_stdin(stdin)
        if "stdin" in self.s and close_stdin:
            self.close_stdin()
        if not self.conn.wait_for(self.done, timeout):
            raise SpdyError("session did not end within %.0fs: %r" % (timeout, self.result()))
        r = self.result()
        self.conn.close()
        return r

    def result(self):
        err = bytes(self.s["error"].data) if "error" in self.s else b""
        status = None
        if err and self.version >= 4:
            status = json.loads(err.decode())
        return {"stdout": bytes(self.s["stdout"].data) if "stdout" in self.s else b"",
                "stderr": bytes(self.s["stderr"].data) if "stderr" in self.s else b"",
                "error": err, "status": status}


def exit_code(status):
    """The exit code a v4 Status carries (0 for Success), as client-go's errorDecoderV4."""
    if status is None or status.get("status") == "Success":
        return 0
    for c in (status.get("details") or {}).get("causes") or []:
        if c.get("reason") == "ExitCode":
            return int(c["message"])
    raise SpdyError("status without an exit code: %r" % status)


class PortForwardPair:
    """One forwarded connection: an error and a data stream sharing a requestid."""

    def __init__(self, conn, port, request_id, timeout=10.0):
        self.conn = conn
        h = {"port": str(port), "requestid": str(request_id)}
        self.error = conn.open_stream(dict(h, streamtype="error"), timeout=timeout)
        self.data = conn.open_stream(dict(h, streamtype="data"), timeout=timeout)

    def send(self, payload, fin=False):
        self.conn.send_data(self.data.sid, payload, fin)

    def read_until_fin(self, timeout=10.0):
        self.conn.wait_for(lambda: self.data.fin or self.data.reset is not None, timeout)
        return bytes(self.data.data)
