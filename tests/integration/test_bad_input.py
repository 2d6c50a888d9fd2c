"""Hostile bytes on the CRI socket. After every case a brand-new client must
still get Version OK and the daemon must still be running: checked in tearDown,
so a crash fails the case that caused it (the next case gets a new daemon). The
daemon's exit status at teardown (0, and no sanitizer report) is checked by the
fixture. What each case expects is what grpc-go (CRI-O's server) answers,
noted where it is not obvious."""

import os
import random
import socket
import time
import unittest

from crid_fixture import (GRPC_INTERNAL, GRPC_OK, GRPC_RESOURCE_EXHAUSTED, GRPC_UNIMPLEMENTED,
                          H2_PREFACE, RUNTIME_SERVICE, CridTestCase, FrameConn, RawH2, api_pb2,
                          grpc_frame, grpc_request_headers, socket_accepts, stream_end_seen)

VERSION_PATH = "/%s/Version" % RUNTIME_SERVICE
MAX_MSG = 16 * 1024 * 1024


def version_body(v="0.1.0"):
    return grpc_frame(api_pb2.VersionRequest(version=v).SerializeToString())


def read_until_eof(sock, timeout):
    """Read and discard until EOF; True if the peer closed within timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            d = sock.recv(65536)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True
        if not d:
            return True
    return False


class BadInputTest(CridTestCase):

    def setUp(self):
        if not self.crid.alive():
            # the case that killed it has failed in its tearDown; this one gets a new daemon
            self.crid.start()

    def tearDown(self):
        # every case: the daemon is still there and a new client is served; a crash is
        # this case's failure, even one that happened after its last check
        self.assertDaemonAlive("after " + self._testMethodName)
        self.assertTrue(self.crid.alive(), "crid died after answering Version")

    def settled_fds(self):
        """The daemon's fd count once it stops changing (connections of earlier cases
        closing): the baseline a case compares with."""
        prev = _count_fds(self.crid.pid)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            time.sleep(0.1)
            now = _count_fds(self.crid.pid)
            if now == prev:
                return now
            prev = now
        return prev

    def assertFdsReturn(self, base, what):
        """The daemon is back to |base| fds within 5 s: it closed its end of |what|."""
        deadline = time.monotonic() + 5
        while _count_fds(self.crid.pid) > base and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(_count_fds(self.crid.pid), base,
                         "the daemon kept its end of %s open" % what)

    def wait_accepted(self, base):
        """Waits until the daemon holds one more fd than |base| (it accepted us)."""
        deadline = time.monotonic() + 5
        while _count_fds(self.crid.pid) <= base and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertEqual(_count_fds(self.crid.pid), base + 1, "connection not accepted")

    def raw(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(self.crid.sock)
        self.addCleanup(s.close)
        return s

    def h2(self, **kw):
        c = RawH2(self.crid.sock, **kw)
        self.addCleanup(c.close)
        return c

    def fc(self, **kw):
        c = FrameConn(self.crid.sock, **kw)
        self.addCleanup(c.close)
        return c

    def call(self, body_chunks, extra=(), content_type="application/grpc", method="POST",
             path=VERSION_PATH, timeout=5.0):
        c = self.h2()
        sid = c.send_headers(grpc_request_headers(path, content_type=content_type, method=method,
                                                  extra=extra),
                             end_stream=not body_chunks)
        for i, chunk in enumerate(body_chunks):
            c.send_data(sid, chunk, end_stream=(i == len(body_chunks) - 1))
        return c.wait_stream(sid, timeout)

    def assertGrpcStatus(self, st, code, msg_contains=None):
        self.assertTrue(st.done, "no answer: " + st.describe())
        self.assertEqual(st.http_status, 200, st.describe())
        self.assertEqual(st.grpc_status, code, st.describe())
        if msg_contains:
            self.assertIn(msg_contains, (st.grpc_message or "").lower(), st.describe())

    # -- connection preface ----------------------------------------------------

    def test_random_bytes_instead_of_preface(self):
        s = self.raw()
        rnd = random.Random(42)
        s.sendall(bytes(rnd.randrange(256) for _ in range(4096)))
        self.assertTrue(read_until_eof(s, 5), "daemon kept a connection open after garbage "
                        "instead of the HTTP/2 preface")

    def test_http1_request(self):
        s = self.raw()
        s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        self.assertTrue(read_until_eof(s, 5), "HTTP/1.1 request on the h2c socket not closed")

    def test_truncated_preface_then_close(self):
        # grpc-go reads the whole preface and drops the connection when it ends short; the
        # daemon must do the same: its end closed, no connection state left behind
        base = self.settled_fds()
        s = self.raw()
        s.sendall(H2_PREFACE[:10])
        self.wait_accepted(base)
        s.close()
        self.assertFdsReturn(base, "a connection closed mid-preface")

    def test_preface_only_then_close(self):
        # the server's preface is a SETTINGS frame, its first frame (RFC 9113 3.4; grpc-go
        # writes it on accept); then the client leaves: the daemon closes its end
        base = self.settled_fds()
        fc = self.fc(send_preface=False)
        fc.send_raw(H2_PREFACE)
        self.wait_accepted(base)
        from hyperframe.frame import SettingsFrame
        first = fc.read_frame(5)
        self.assertIsInstance(first, SettingsFrame, "server preface: %r" % (first,))
        self.assertNotIn("ACK", first.flags)
        fc.close()
        self.assertFdsReturn(base, "a connection closed after the preface")

    def test_idle_half_preface_does_not_block_others(self):
        # single-threaded daemon: a connection stuck mid-preface must not stall the loop
        s = self.raw()
        s.sendall(H2_PREFACE[:7])
        t0 = time.monotonic()
        self.assertDaemonAlive("half a preface on another connection")
        self.assertLess(time.monotonic() - t0, 3.0)

    def test_partial_frame_does_not_block_others(self):
        s = self.raw()
        # HEADERS frame header announcing 1000 bytes, then only 10 of them
        s.sendall(H2_PREFACE + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
                  + (1000).to_bytes(3, "big") + b"\x01\x04\x00\x00\x00\x01" + b"\x00" * 10)
        self.assertDaemonAlive("a partial frame on another connection")

    def test_many_connections_opened_and_dropped(self):
        base = _count_fds(self.crid.pid)
        for i in range(200):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(self.crid.sock)
            if i % 3 == 1:
                s.sendall(H2_PREFACE)
            elif i % 3 == 2:
                s.sendall(H2_PREFACE + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
            s.close()
        self.assertDaemonAlive("200 dropped connections")
        if base is not None:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and _count_fds(self.crid.pid) > base + 5:
                time.sleep(0.1)
            now = _count_fds(self.crid.pid)
            self.assertLessEqual(now, base + 5, "daemon fds %d -> %d: dropped connections leak"
                                 % (base, now))

    # -- gRPC length-prefixed framing -----------------------------------------

    def test_truncated_grpc_frame_header(self):
        st = self.call([b"\x00\x00\x00"])
        self.assertGrpcStatus(st, GRPC_INTERNAL)

    def test_truncated_grpc_message(self):
        st = self.call([b"\x00" + (10).to_bytes(4, "big") + b"\x0a\x02"])
        self.assertGrpcStatus(st, GRPC_INTERNAL)

    def test_empty_body_for_unary(self):
        # no message at all for a unary call (END_STREAM on HEADERS)
        st = self.call([])
        self.assertTrue(st.done, st.describe())
        self.assertNotEqual(st.grpc_status, GRPC_OK,
                            "a unary call without a request message was answered OK")

    def test_length_prefix_over_16mib(self):
        for n in (MAX_MSG + 1, 0xFFFFFFFF):
            with self.subTest(length=n):
                c = self.h2()
                sid = c.send_headers(grpc_request_headers(VERSION_PATH), end_stream=False)
                c.send_data(sid, b"\x00" + n.to_bytes(4, "big") + b"\x0a\x05")
                t0 = time.monotonic()
                st = c.wait_stream(sid, 5)
                self.assertGrpcStatus(st, GRPC_RESOURCE_EXHAUSTED)
                self.assertLess(time.monotonic() - t0, 5)

    def test_compressed_flag_without_encoding(self):
        st = self.call([grpc_frame(b"\x0a\x01x", compressed=True)])
        self.assertGrpcStatus(st, GRPC_INTERNAL)

    def test_compressed_gzip_unsupported(self):
        import gzip
        payload = gzip.compress(api_pb2.VersionRequest(version="0.1.0").SerializeToString())
        st = self.call([grpc_frame(payload, compressed=True)], extra=[("grpc-encoding", "gzip")])
        self.assertGrpcStatus(st, GRPC_UNIMPLEMENTED)

    def test_identity_encoding_accepted(self):
        st = self.call([version_body()], extra=[("grpc-encoding", "identity")])
        self.assertGrpcStatus(st, GRPC_OK)

    def test_invalid_protobuf(self):
        st = self.call([grpc_frame(b"\xff\xff\xff")])
        self.assertGrpcStatus(st, GRPC_INTERNAL, "unmarshal")

    def test_protobuf_wrong_wire_type(self):
        # VersionRequest.version (field 1, string) sent as a varint: protobuf-go
        # and upb keep it as an unknown field, protobuf-c rejects it; either
        # OK or INTERNAL is a correct answer, anything else is not
        st = self.call([grpc_frame(b"\x08\x05")])
        self.assertTrue(st.done, st.describe())
        self.assertIn(st.grpc_status, (GRPC_OK, GRPC_INTERNAL), st.describe())

    def test_protobuf_length_overruns_message(self):
        # field 1 claims 100 bytes, message has 3
        st = self.call([grpc_frame(b"\x0a\x64abc")])
        self.assertGrpcStatus(st, GRPC_INTERNAL)

    def test_protobuf_bad_nested_message(self):
        # UpdateRuntimeConfigRequest.runtime_config (1) containing garbage
        st = self.call([grpc_frame(b"\x0a\x03\xff\xff\xff")],
                       path="/%s/UpdateRuntimeConfig" % RUNTIME_SERVICE)
        self.assertGrpcStatus(st, GRPC_INTERNAL)

    def test_two_messages_in_unary_request(self):
        # a cardinality violation: INTERNAL as grpc-go answers it since grpc/grpc-go#8385
        # ("return status code INTERNAL when client send more than one request in unary
        # and server streaming RPC"; before it grpc-go served the first and ignored the rest)
        st = self.call([version_body() + version_body()])
        self.assertGrpcStatus(st, GRPC_INTERNAL, "more than one request message")
        self.assertEqual(st.messages(), [], "a response message with an error status")

    def test_body_after_unknown_method(self):
        st = self.call([grpc_frame(b"\xff" * 1000)], path="/foo.Bar/Baz")
        self.assertGrpcStatus(st, GRPC_UNIMPLEMENTED)

    # -- HTTP-level -------------------------------------------------------------

    def test_wrong_content_type(self):
        st = self.call([version_body()], content_type="application/json")
        self.assertTrue(st.done, st.describe())
        self.assertEqual(st.http_status, 415, st.describe())

    def test_missing_content_type(self):
        st = self.call([version_body()], content_type=None)
        self.assertTrue(st.done, st.describe())
        self.assertEqual(st.http_status, 415, st.describe())

    def test_get_instead_of_post(self):
        st = self.call([], method="GET")
        self.assertTrue(st.done, st.describe())
        if st.http_status == 405:
            return
        self.assertEqual(st.http_status, 200, "want HTTP 405 (or a gRPC error): " + st.describe())
        self.assertNotIn(st.grpc_status, (None, GRPC_OK), st.describe())

    def _answered(self, fc, sid, timeout=5):
        """The server ended/reset the stream, sent GOAWAY or closed, within timeout."""
        from hyperframe.frame import GoAwayFrame
        frames = fc.collect(lambda fs: stream_end_seen(fs, sid)
                            or any(isinstance(f, GoAwayFrame) for f in fs), timeout=timeout)
        return (stream_end_seen(frames, sid) or fc.eof
                or any(isinstance(f, GoAwayFrame) for f in frames)), frames

    def test_huge_header(self):
        # a 1 MiB header value (no huffman: python's encoder is too slow for it);
        # any answer is fine (OK, 431, RST_STREAM, GOAWAY), silence is not
        fc = self.fc()
        sid = fc.new_sid()
        block = fc.enc.encode(grpc_request_headers(VERSION_PATH) + [("x-huge", "h" * (1 << 20))],
                              huffman=False)
        try:
            fc.send_header_block(sid, block, end_stream=False)
            fc.send_data(sid, version_body(), end_stream=True)
        except (BrokenPipeError, ConnectionResetError):
            return  # closed on us: acceptable
        ok, frames = self._answered(fc, sid)
        self.assertTrue(ok, "no answer to a request with a 1 MiB header: %s" % frames[-5:])

    def test_continuation_flood(self):
        # HEADERS then endless CONTINUATION frames without END_HEADERS
        # (CVE-2024-27316 class): the daemon must cut the connection or at
        # least not buffer it all.
        from hyperframe.frame import ContinuationFrame, HeadersFrame
        rss0 = _rss_kb(self.crid.pid)
        fc = self.fc()
        sid = fc.new_sid()
        h = HeadersFrame(sid)
        h.data = fc.enc.encode(grpc_request_headers(VERSION_PATH), huffman=False)
        fc.send(h)
        # literal header field without indexing, new name, 16 KiB values
        filler = b"\x00\x07x-flood" + b"\x7f" + _hpack_int_rest(16000 - 127) + b"f" * 16000
        cont = ContinuationFrame(sid)
        cont.data = filler
        payload = cont.serialize()
        sent = 0
        cut = False
        try:
            for _ in range(4096):  # 64 MiB
                fc.send_raw(payload)
                sent += len(filler)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            cut = True
        rss1 = _rss_kb(self.crid.pid)
        self.assertTrue(self.crid.alive(), "daemon died under a CONTINUATION flood")
        if rss0 is not None and rss1 is not None:
            self.assertLess(rss1 - rss0, 32 * 1024, "daemon RSS grew %d KiB while %d MiB of "
                            "CONTINUATION arrived (cut=%s)" % (rss1 - rss0, sent >> 20, cut))

    def test_many_headers(self):
        # 2000 metadata entries, ~120 KB of header list: under grpc-go's 16 MiB default
        # (MaxHeaderListSize), so the call is served like any other
        c = self.h2()
        extra = [("x-h-%d" % i, "v" * 50) for i in range(2000)]
        sid = c.send_headers(grpc_request_headers(VERSION_PATH, extra=extra), end_stream=False)
        c.send_data(sid, version_body(), end_stream=True)
        st = c.wait_stream(sid, 10)
        self.assertGrpcStatus(st, GRPC_OK)
        msgs = st.messages()
        self.assertEqual(len(msgs), 1, st.describe())
        self.assertEqual(api_pb2.VersionResponse.FromString(msgs[0][1]).runtime_name, "crid")

    # -- HTTP/2 protocol violations (frame level) ------------------------------

    def _expect_goaway(self, fc, what):
        from hyperframe.frame import GoAwayFrame
        frames = fc.collect(lambda fs: any(isinstance(f, GoAwayFrame) for f in fs), timeout=5)
        ga = [f for f in frames if isinstance(f, GoAwayFrame)]
        self.assertTrue(ga or fc.eof, "no GOAWAY / close after %s; got %s" % (what, frames))
        if ga:
            self.assertNotEqual(ga[0].error_code, 0, "GOAWAY NO_ERROR after " + what)

    def test_window_update_zero(self):
        from hyperframe.frame import WindowUpdateFrame
        fc = self.fc()
        f = WindowUpdateFrame(0)
        f.window_increment = 0
        fc.send(f)
        self._expect_goaway(fc, "WINDOW_UPDATE with increment 0")

    def test_data_on_stream_zero(self):
        fc = self.fc()
        # hyperframe refuses to build DATA on stream 0; write it by hand
        fc.send_raw(b"\x00\x00\x03\x00\x00\x00\x00\x00\x00abc")
        self._expect_goaway(fc, "DATA on stream 0")

    def test_headers_on_even_stream(self):
        fc = self.fc()
        fc.send_headers(2, grpc_request_headers(VERSION_PATH), end_stream=False)
        self._expect_goaway(fc, "HEADERS on an even (server) stream id")

    def test_oversized_frame(self):
        from hyperframe.frame import DataFrame
        fc = self.fc()
        sid = fc.new_sid()
        fc.send_headers(sid, grpc_request_headers(VERSION_PATH), end_stream=False)
        f = DataFrame(sid)
        f.data = b"\x00" * 20000  # > default SETTINGS_MAX_FRAME_SIZE 16384
        fc.send(f)
        self._expect_goaway(fc, "a 20000-byte frame")

    def test_unknown_frame_type_ignored(self):
        fc = self.fc()
        # type 0xfa, flags 0, stream 0, 4 bytes payload: must be ignored (RFC 9113 5.5)
        fc.send_raw(b"\x00\x00\x04\xfa\x00\x00\x00\x00\x00" + b"junk")
        sid = fc.new_sid()
        fc.send_headers(sid, grpc_request_headers(VERSION_PATH), end_stream=False)
        fc.send_data(sid, version_body(), end_stream=True)
        from crid_fixture import stream_end_seen, stream_summary
        frames = fc.collect(lambda fs: stream_end_seen(fs, sid), timeout=5)
        hs, data, rst = stream_summary(frames, sid)
        self.assertIsNone(rst, frames)
        self.assertTrue(hs and dict(hs[-1]).get("grpc-status") == "0",
                        "request after an unknown frame type failed: %s" % frames)

    def test_rst_on_idle_stream(self):
        from hyperframe.frame import RstStreamFrame
        fc = self.fc()
        f = RstStreamFrame(9)
        f.error_code = 8
        fc.send(f)
        self._expect_goaway(fc, "RST_STREAM on an idle stream")

    def test_garbage_after_valid_request(self):
        # 0xff bytes read as a frame header announce 16 MiB - 1 of payload, over the
        # 16384-byte SETTINGS_MAX_FRAME_SIZE: a connection error (RFC 9113 4.2) on which
        # grpc-go closes the connection; a GOAWAY first, if any, carries an error code
        c = self.h2()
        sid = c.grpc_call(VERSION_PATH, version_body())
        st = c.wait_stream(sid)
        self.assertGrpcStatus(st, GRPC_OK)
        c.sock.sendall(b"\xff" * 2000)
        self.assertTrue(c.wait_eof(5), "connection kept open after an oversized frame header")
        if c.goaway is not None:
            self.assertIn(c.goaway.error_code, (1, 6), "GOAWAY code (PROTOCOL_ERROR or "
                          "FRAME_SIZE_ERROR expected): %r" % c.goaway)

    def test_socket_still_accepts(self):
        self.assertTrue(socket_accepts(self.crid.sock))


def _hpack_int_rest(n):
    """Continuation bytes of an HPACK integer whose prefix is saturated."""
    out = bytearray()
    while n >= 128:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _count_fds(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


if __name__ == "__main__":
    unittest.main(verbosity=2)
