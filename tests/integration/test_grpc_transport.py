"""HTTP/2 + gRPC transport behaviour of the real daemon: deadlines (grpc-timeout),
cancellation (RST_STREAM), concurrency over one and many connections,
Trailers-Only errors, PING, flow control, multiplexing and frame splitting.
Raw cases use python-h2 on the unix socket."""

import os
import threading
import time
import unittest

import grpc

from crid_fixture import (GRPC_DEADLINE_EXCEEDED, GRPC_OK, GRPC_UNIMPLEMENTED, RUNTIME_SERVICE,
                          CridTestCase, FrameConn, RawH2, api_pb2, api_pb2_grpc, grpc_frame,
                          stream_end_seen, stream_summary, version_ok)

VERSION_PATH = "/%s/Version" % RUNTIME_SERVICE
STATUS_PATH = "/%s/Status" % RUNTIME_SERVICE
POD_STATUS_PATH = "/%s/PodSandboxStatus" % RUNTIME_SERVICE
GRPC_NOT_FOUND = 5


def version_body(v="0.1.0"):
    return grpc_frame(api_pb2.VersionRequest(version=v).SerializeToString())


class GrpcTransportTest(CridTestCase):

    def h2(self, **kw):
        c = RawH2(self.crid.sock, **kw)
        self.addCleanup(c.close)
        return c

    def assertVersionResponse(self, st):
        self.assertTrue(st.done, "no complete response: " + st.describe())
        self.assertEqual(st.http_status, 200, st.describe())
        self.assertEqual(st.grpc_status, GRPC_OK, st.describe())
        msgs = st.messages()
        self.assertEqual(len(msgs), 1, st.describe())
        self.assertEqual(msgs[0][0], 0, "response marked compressed")
        r = api_pb2.VersionResponse.FromString(msgs[0][1])
        self.assertEqual(r.runtime_name, "crid")
        return r

    # -- deadlines ----------------------------------------------------------

    def test_deadline_expires_without_request_body(self):
        c = self.h2()
        t0 = time.monotonic()
        sid = c.grpc_call(VERSION_PATH, None, timeout="200m", end_stream=False)
        st = c.wait_stream(sid, timeout=5)
        elapsed = time.monotonic() - t0
        self.assertTrue(st.done, "no answer within 5 s to a call whose 200 ms deadline passed: "
                        + st.describe())
        self.assertEqual(st.grpc_status, GRPC_DEADLINE_EXCEEDED, st.describe())
        self.assertEqual(st.http_status, 200, st.describe())
        self.assertGreaterEqual(elapsed, 0.15, "answered DEADLINE_EXCEEDED before the deadline")
        self.assertLessEqual(elapsed, 2.0, "DEADLINE_EXCEEDED came %.2f s after a 200 ms deadline"
                             % elapsed)
        # the connection stays usable
        sid2 = c.grpc_call(VERSION_PATH, version_body())
        self.assertVersionResponse(c.wait_stream(sid2))

    def test_deadline_already_tiny(self):
        c = self.h2()
        sid = c.grpc_call(VERSION_PATH, version_body(), timeout="1n")
        st = c.wait_stream(sid, timeout=5)
        self.assertTrue(st.done, st.describe())
        self.assertEqual(st.grpc_status, GRPC_DEADLINE_EXCEEDED, st.describe())

    def test_deadline_units_accepted(self):
        c = self.h2()
        for t in ("1H", "2M", "10S", "10000m", "10000000u", "99999999S", "120S"):
            with self.subTest(timeout=t):
                sid = c.grpc_call(VERSION_PATH, version_body(), timeout=t)
                self.assertVersionResponse(c.wait_stream(sid))

    def test_deadline_through_grpcio(self):
        # grpcio sends its own grpc-timeout; a fast call with a short deadline succeeds
        r = self.rt.Version(api_pb2.VersionRequest(version="0.1.0"), timeout=0.5)
        self.assertEqual(r.runtime_name, "crid")

    def test_two_timeouts_last_wins(self):
        """Two grpc-timeout headers: the last is the deadline (as grpc-go has it), and the
        first's timer does not outlive the call. It once stayed in libev's timer heap a second
        time, pointing at the call after it was freed (found by fuzz_grpc_server: the heap
        grew without bound; when such an entry expired, libev wrote into freed memory)."""
        c = self.h2()
        sid = c.grpc_call(VERSION_PATH, version_body(), timeout="10S",
                          extra=[("grpc-timeout", "1n")])
        st = c.wait_stream(sid, timeout=5)
        self.assertEqual(st.grpc_status, GRPC_DEADLINE_EXCEEDED, st.describe())
        for _ in range(20):
            sid = c.grpc_call(VERSION_PATH, version_body(), timeout="300m",
                              extra=[("grpc-timeout", "200m")])
            self.assertVersionResponse(c.wait_stream(sid))
        time.sleep(0.6)  # past both: a stale entry fires on the freed call (ASan aborts)
        sid = c.grpc_call(VERSION_PATH, version_body())
        self.assertVersionResponse(c.wait_stream(sid))
        self.assertDaemonAlive("20 calls with two grpc-timeout headers, then their deadlines")

    def test_malformed_timeout(self):
        for t in ("abc", "123456789m", "10", "-5S", "5s", "S", "1.5S"):
            with self.subTest(timeout=t):
                c = self.h2()
                sid = c.grpc_call(VERSION_PATH, version_body(), timeout=t)
                st = c.wait_stream(sid, timeout=5)
                self.assertTrue(st.done, st.describe())
                self.assertIsNotNone(st.grpc_status, "no grpc-status: " + st.describe())
                self.assertNotEqual(st.grpc_status, GRPC_OK,
                                    "malformed grpc-timeout %r accepted" % t)
                self.assertIn("grpc-timeout", (st.grpc_message or "").lower(),
                              "message does not mention grpc-timeout: " + st.describe())

    # -- cancellation --------------------------------------------------------

    def test_rst_stream_cancel(self):
        c = self.h2()
        sid = 1001  # distinctive stream id to find in the log
        c.send_headers(_hdrs(VERSION_PATH), end_stream=False, stream_id=sid)
        c.wait(lambda: False, timeout=0.2)
        c.reset_stream(sid, 8)  # CANCEL
        # the connection keeps working after the reset
        sid2 = c.grpc_call(VERSION_PATH, version_body())
        self.assertVersionResponse(c.wait_stream(sid2))
        self.assertIsNone(c.goaway, "server sent GOAWAY after a client RST_STREAM")
        line = self.crid.wait_for_log(r"cancel.*\b%d\b|\b%d\b.*cancel" % (sid, sid), timeout=3)
        self.assertIsNotNone(line, "no debug log line mentions the cancellation of stream %d" % sid)
        self.assertDaemonAlive("RST_STREAM(CANCEL)")

    def test_rst_stream_many(self):
        c = self.h2()
        for _ in range(50):
            sid = c.send_headers(_hdrs(VERSION_PATH), end_stream=False)
            c.send_data(sid, version_body()[:3])
            c.reset_stream(sid, 8)
        # cancel a request that was complete (response may be in flight)
        for _ in range(50):
            sid = c.grpc_call(STATUS_PATH, grpc_frame(
                api_pb2.StatusRequest(verbose=True).SerializeToString()))
            c.reset_stream(sid, 8)
        sid = c.grpc_call(VERSION_PATH, version_body())
        self.assertVersionResponse(c.wait_stream(sid))
        self.assertDaemonAlive("100 cancelled streams")

    # -- concurrency ----------------------------------------------------------

    def test_200_concurrent_calls_one_channel(self):
        stub = api_pb2_grpc.RuntimeServiceStub(self.channel)
        futs = [stub.Version.future(api_pb2.VersionRequest(version="0.1.0"), timeout=30)
                for _ in range(200)]
        bad = []
        for f in futs:
            try:
                r = f.result()
                if r.runtime_name != "crid":
                    bad.append("wrong response %r" % r)
            except grpc.RpcError as e:
                bad.append("%s %s" % (e.code(), e.details()))
        self.assertEqual(bad, [], "%d of 200 concurrent calls failed: %s" % (len(bad), bad[:5]))

    def test_50_connections(self):
        chans = [self.crid.channel(separate=True) for _ in range(50)]
        try:
            stubs = [api_pb2_grpc.RuntimeServiceStub(ch) for ch in chans]
            # connect all first so the daemon really holds 50 connections at once
            for ch in chans:
                grpc.channel_ready_future(ch).result(timeout=20)
            nsock = _count_sockets(self.crid.pid)
            if nsock is not None:
                self.assertGreaterEqual(nsock, 50, "daemon holds %d sockets; the 50 channels "
                                        "did not make 50 connections" % nsock)
            futs = []
            for s in stubs:
                futs.append(s.Version.future(api_pb2.VersionRequest(version="0.1.0"), timeout=30))
                futs.append(s.Status.future(api_pb2.StatusRequest(verbose=True), timeout=30))
                futs.append(s.RuntimeConfig.future(api_pb2.RuntimeConfigRequest(), timeout=30))
            bad = []
            for f in futs:
                try:
                    f.result()
                except grpc.RpcError as e:
                    bad.append("%s %s" % (e.code(), e.details()))
            self.assertEqual(bad, [], "%d of %d calls failed: %s" % (len(bad), len(futs), bad[:5]))
        finally:
            for ch in chans:
                ch.close()

    def test_threads_each_own_connection(self):
        errors = []

        def worker():
            try:
                for _ in range(20):
                    version_ok(self.crid, timeout=20)
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))

        ths = [threading.Thread(target=worker) for _ in range(8)]
        for t in ths:
            t.start()
        for t in ths:
            t.join(60)
        self.assertEqual(errors, [])

    def test_multiplexed_interleaved_streams(self):
        c = self.h2()
        c.wait(lambda: c.remote_settings_seen, timeout=2)
        limit = c.conn.remote_settings.max_concurrent_streams or 100
        n = min(100, limit)
        # PodSandboxStatus of a pod that is not there: the answer names the id the body
        # carried, so each stream must get its own body back together
        sids = [c.send_headers(_hdrs(POD_STATUS_PATH), end_stream=False) for _ in range(n)]
        bodies = {}
        for i, sid in enumerate(sids):
            bodies[sid] = grpc_frame(api_pb2.PodSandboxStatusRequest(
                pod_sandbox_id="absent-pod-%d" % i).SerializeToString())
        # first part of every body (its prefix cut in two), then the rest in reverse order
        for sid in sids:
            c.send_data(sid, bodies[sid][:3])
        for sid in reversed(sids):
            c.send_data(sid, bodies[sid][3:], end_stream=True)
        c.wait(lambda: all(c.streams[s].done for s in sids), timeout=20)
        for i, sid in enumerate(sids):
            st = c.streams[sid]
            self.assertTrue(st.done, st.describe())
            self.assertEqual((st.http_status, st.grpc_status), (200, GRPC_NOT_FOUND),
                             st.describe())
            self.assertEqual(st.grpc_message, "pod sandbox absent-pod-%d not found" % i,
                             st.describe())

    def test_large_request_body(self):
        # 1 MiB request (unknown field 100): the daemon must open its receive
        # window (WINDOW_UPDATE) for the body to get through, then answer OK.
        c = self.h2()
        filler = b"x" * (1 << 20)
        msg = (api_pb2.VersionRequest(version="0.1.0").SerializeToString()
               + b"\xa2\x06" + _varint(len(filler)) + filler)
        sid = c.send_headers(_hdrs(VERSION_PATH), end_stream=False)
        _send_all(self, c, sid, grpc_frame(msg))
        st = c.wait_stream(sid, timeout=30)
        self.assertVersionResponse(st)

    def test_request_split_byte_by_byte(self):
        c = self.h2()
        sid = c.send_headers(_hdrs(VERSION_PATH), end_stream=False)
        body = version_body()
        for b in body:
            c.send_data(sid, bytes([b]))
        c.send_data(sid, b"", end_stream=True)
        self.assertVersionResponse(c.wait_stream(sid))

    def test_request_with_continuation_and_padding(self):
        # header block split over HEADERS + 2 CONTINUATION frames, body in a
        # padded DATA frame (frame-level client: h2 only splits blocks > 16 KiB)
        from hyperframe.frame import ContinuationFrame, DataFrame, HeadersFrame
        fc = FrameConn(self.crid.sock)
        self.addCleanup(fc.close)
        sid = fc.new_sid()
        block = fc.enc.encode(_hdrs(VERSION_PATH, extra=[("x-filler", "f" * 300)]))
        third = len(block) // 3
        h = HeadersFrame(sid)
        h.data = block[:third]
        c1 = ContinuationFrame(sid)
        c1.data = block[third:2 * third]
        c2 = ContinuationFrame(sid)
        c2.data = block[2 * third:]
        c2.flags.add("END_HEADERS")
        d = DataFrame(sid)
        d.data = version_body()
        d.pad_length = 17
        d.flags.add("PADDED")
        d.flags.add("END_STREAM")
        fc.send_raw(h.serialize() + c1.serialize() + c2.serialize() + d.serialize())
        frames = fc.collect(lambda fs: stream_end_seen(fs, sid), timeout=5)
        hs, data, rst = stream_summary(frames, sid)
        self.assertIsNone(rst, "stream reset: %s" % frames)
        self.assertTrue(hs, "no response: %s" % frames)
        self.assertEqual(dict(hs[-1]).get("grpc-status"), "0", hs)
        r = api_pb2.VersionResponse.FromString(data[5:])
        self.assertEqual(r.runtime_name, "crid")

    def test_metadata_headers_ignored(self):
        c = self.h2()
        extra = [("user-agent", "grpc-go/1.70.0"), ("x-custom", "1"),
                 ("x-bin-bin", "AAEC"), ("grpc-accept-encoding", "identity,deflate,gzip")]
        sid = c.grpc_call(VERSION_PATH, version_body(), extra=extra, timeout="120S")
        self.assertVersionResponse(c.wait_stream(sid))

    def test_content_type_variants(self):
        c = self.h2()
        for ct in ("application/grpc+proto", "application/grpc;charset=utf-8"):
            with self.subTest(content_type=ct):
                sid = c.grpc_call(VERSION_PATH, version_body(), content_type=ct)
                self.assertVersionResponse(c.wait_stream(sid))

    # -- response shapes -----------------------------------------------------

    def test_success_response_shape(self):
        c = self.h2()
        sid = c.grpc_call(VERSION_PATH, version_body())
        st = c.wait_stream(sid)
        self.assertVersionResponse(st)
        h = st.header_map
        self.assertTrue(h.get("content-type", "").startswith("application/grpc"), st.describe())
        self.assertFalse(st.headers_ended, "success must not be Trailers-Only")
        self.assertIsNotNone(st.trailers, "success needs trailers: " + st.describe())
        self.assertEqual(st.trailer_map.get("grpc-status"), "0")
        self.assertNotIn("grpc-status", h, "grpc-status belongs in the trailers")

    def test_trailers_only_error(self):
        c = self.h2()
        sid = c.grpc_call("/%s/NoSuchMethod" % RUNTIME_SERVICE, grpc_frame(b""))
        st = c.wait_stream(sid)
        self.assertTrue(st.ended, st.describe())
        self.assertTrue(st.headers_ended,
                        "error must be Trailers-Only (one HEADERS with END_STREAM): " + st.describe())
        self.assertIsNone(st.trailers, st.describe())
        self.assertEqual(st.data_frames, 0, st.describe())
        h = st.header_map
        self.assertEqual(h.get(":status"), "200")
        self.assertTrue(h.get("content-type", "").startswith("application/grpc"), st.describe())
        self.assertEqual(h.get("grpc-status"), str(GRPC_UNIMPLEMENTED))
        self.assertIn("grpc-message", h)
        self.assertIn("NoSuchMethod", st.grpc_message)
        raw = st.raw_grpc_message
        self.assertTrue(all(0x20 <= ord(ch) <= 0x7e for ch in raw),
                        "grpc-message not percent-encoded: %r" % raw)

    def test_unknown_method_before_body(self):
        # UNIMPLEMENTED may be answered as soon as the HEADERS arrive
        c = self.h2()
        sid = c.grpc_call("/foo.Bar/Baz", None, end_stream=False)
        st = c.wait_stream(sid, timeout=5)
        if not st.done:
            c.send_data(sid, grpc_frame(b""), end_stream=True)
            st = c.wait_stream(sid, timeout=5)
        self.assertEqual(st.grpc_status, GRPC_UNIMPLEMENTED, st.describe())

    # -- connection-level frames --------------------------------------------

    def test_ping_ack(self):
        c = self.h2()
        c.ping(b"crid-pin")
        c.wait(lambda: b"crid-pin" in c.ping_acks, timeout=3)
        self.assertIn(b"crid-pin", c.ping_acks, "no PING ACK with the same opaque data")

    def test_settings_exchange(self):
        c = self.h2()
        c.wait(lambda: c.settings_acked and c.remote_settings_seen, timeout=3)
        self.assertTrue(c.remote_settings_seen, "server sent no SETTINGS")
        self.assertTrue(c.settings_acked, "server did not ACK our SETTINGS")

    def test_small_flow_control_window(self):
        import h2.settings
        c = self.h2(local_settings={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 10})
        body = grpc_frame(api_pb2.StatusRequest(verbose=True).SerializeToString())
        sid = c.grpc_call(STATUS_PATH, body)
        st = c.wait_stream(sid, timeout=15)
        self.assertTrue(st.ended, "Status response did not complete with a 10-byte window: "
                        + st.describe())
        self.assertEqual(st.grpc_status, GRPC_OK, st.describe())
        msgs = st.messages()
        self.assertEqual(len(msgs), 1)
        r = api_pb2.StatusResponse.FromString(msgs[0][1])
        self.assertGreater(len(r.info), 0)
        self.assertGreater(len(st.data), 100, "response too small to exercise flow control")
        self.assertGreater(st.data_frames, 1, "the daemon ignored the 10-byte window")

    def test_slow_reader_many_large_responses(self):
        # The client does not read for a while: responses queue in the daemon,
        # which must neither block nor drop them.
        c = self.h2()
        body = grpc_frame(api_pb2.StatusRequest(verbose=True).SerializeToString())
        sids = [c.grpc_call(STATUS_PATH, body) for _ in range(60)]
        time.sleep(1.0)
        version_ok(self.crid)  # daemon keeps serving others meanwhile
        c.wait(lambda: all(c.streams[s].done for s in sids), timeout=20)
        for s in sids:
            st = c.streams[s]
            self.assertEqual(st.grpc_status, GRPC_OK, st.describe())

    def test_client_closes_with_responses_pending(self):
        # Requests sent and the socket closed before any read: the daemon must
        # not die of SIGPIPE/EPIPE and must free the connection.
        for _ in range(20):
            c = RawH2(self.crid.sock)
            body = grpc_frame(api_pb2.StatusRequest(verbose=True).SerializeToString())
            for _ in range(20):
                c.grpc_call(STATUS_PATH, body)
            c.sock.shutdown(2)
            c.close()
        self.assertDaemonAlive("clients closing with responses pending")

    def test_daemon_alive_at_end(self):
        self.assertDaemonAlive("transport tests")


def _hdrs(path, extra=()):
    from crid_fixture import grpc_request_headers
    return grpc_request_headers(path, extra=extra)


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _send_all(tc, c, sid, data, timeout=30):
    """Send data on sid respecting the peer's flow-control windows, then END_STREAM."""
    deadline = time.monotonic() + timeout
    off = 0
    while off < len(data):
        win = min(c.conn.local_flow_control_window(sid), c.conn.max_outbound_frame_size)
        if win <= 0:
            if time.monotonic() > deadline:
                tc.fail("daemon never reopened its receive window (sent %d of %d bytes)"
                        % (off, len(data)))
            c.pump(0.5)
            continue
        chunk = data[off:off + win]
        c.send_data(sid, chunk)
        off += len(chunk)
    c.end_stream(sid)


def _count_sockets(pid):
    try:
        n = 0
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                if os.readlink("/proc/%d/fd/%s" % (pid, fd)).startswith("socket:"):
                    n += 1
            except OSError:
                pass
        return n
    except OSError:
        return None


if __name__ == "__main__":
    unittest.main(verbosity=2)
