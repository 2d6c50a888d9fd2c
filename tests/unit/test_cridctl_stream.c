/*
 * Unit tests for cridctl's streaming client (cli/stream_client.c,
 * cli/portforward.c): URL splitting, the Upgrade request and response,
 * the v4 exit status, port maps, and the SPDY connection over a socketpair
 * against an independent codec on the other end.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli/stream_client.h"
#include "cli/stream_exec.h"
#include "tap.h"

static void test_url(void)
{
	struct cridctl_url u;
	struct crid_err err;

	CHECK(cridctl_url_parse("http://127.0.0.1:34567/exec/AbC?x=1", &u, &err) == 0 &&
		  strcmp(u.host, "127.0.0.1") == 0 && strcmp(u.port, "34567") == 0 &&
		  strcmp(u.path, "/exec/AbC?x=1") == 0,
	      "host, port and path with its query");
	CHECK(cridctl_url_parse("http://[::1]:8/pf/t", &u, &err) == 0 &&
		  strcmp(u.host, "::1") == 0 && strcmp(u.port, "8") == 0 &&
		  strcmp(u.path, "/pf/t") == 0,
	      "an IPv6 host in brackets");
	CHECK(cridctl_url_parse("http://node", &u, &err) == 0 && strcmp(u.port, "80") == 0 &&
		  strcmp(u.path, "/") == 0,
	      "no port: 80, no path: /");
	CHECK(cridctl_url_parse("/attach/tok", &u, &err) == 0 && strcmp(u.host, "127.0.0.1") == 0 &&
		  strcmp(u.port, "10250") == 0 && strcmp(u.path, "/attach/tok") == 0,
	      "a bare path goes to crictl's kubelet default");
	CHECK(cridctl_url_parse("https://x/y", &u, &err) < 0 && strstr(err.msg, "https"),
	      "https refused: %s", err.msg);
	CHECK(cridctl_url_parse("http://x:8a/y", &u, &err) < 0 && strstr(err.msg, "bad port"),
	      "bad port: %s", err.msg);
	CHECK(cridctl_url_parse("ftp://x/y", &u, &err) < 0, "not http: %s", err.msg);
	CHECK(cridctl_url_parse("http://[::1/y", &u, &err) < 0, "unclosed bracket: %s", err.msg);
}

static void test_request(void)
{
	static const char want[] = "POST /exec/t HTTP/1.1\r\nHost: 127.0.0.1:9\r\n"
				   "User-Agent: cridctl\r\nContent-Length: 0\r\n"
				   "Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
				   "X-Stream-Protocol-Version: v4.channel.k8s.io\r\n"
				   "X-Stream-Protocol-Version: v3.channel.k8s.io\r\n"
				   "X-Stream-Protocol-Version: v2.channel.k8s.io\r\n"
				   "X-Stream-Protocol-Version: channel.k8s.io\r\n\r\n";
	struct cridctl_url u;
	char buf[1024];
	size_t n;

	cridctl_url_parse("http://127.0.0.1:9/exec/t", &u, NULL);
	n = cridctl_upgrade_request(buf, sizeof(buf), &u, "SPDY/3.1", cridctl_remotecmd_protocols,
				    cridctl_remotecmd_n_protocols);
	CHECK(n == strlen(want) && memcmp(buf, want, n) == 0, "exec upgrade request bytes:\n%.*s",
	      (int)n, buf);
	CHECK(cridctl_upgrade_request(buf, 100, &u, "SPDY/3.1", cridctl_remotecmd_protocols,
				      cridctl_remotecmd_n_protocols) == 0,
	      "a buffer too small gives 0");
	cridctl_url_parse("http://[::1]:9/pf", &u, NULL);
	n = cridctl_upgrade_request(buf, sizeof(buf), &u, "SPDY/3.1", NULL, 0);
	CHECK(strstr(buf, "Host: [::1]:9\r\n") != NULL, "IPv6 Host header in brackets");
}

static void test_response(void)
{
	static const char ok[] = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
				 "Upgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io"
				 "\r\n\r\n\x80\x03";
	static const char forbidden[] =
	    "HTTP/1.1 403 Forbidden\r\nContent-Length: 30\r\n\r\nunable to negotiate protocol\r\n";
	static const char no_upgrade[] = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade"
					 "\r\nUpgrade: websocket\r\n\r\n";
	char proto[64];
	struct crid_err err;
	int r;

	r = cridctl_upgrade_response(ok, sizeof(ok) - 1, "SPDY/3.1", proto, sizeof(proto), &err);
	CHECK(r == (int)sizeof(ok) - 3 && strcmp(proto, "v4.channel.k8s.io") == 0,
	      "101: head length without the SPDY bytes after it, protocol `%s`", proto);
	CHECK(cridctl_upgrade_response(ok, 40, "SPDY/3.1", proto, sizeof(proto), &err) == 0,
	      "a partial head: read more");
	CHECK(cridctl_upgrade_response(forbidden, sizeof(forbidden) - 1, "SPDY/3.1", proto,
				       sizeof(proto), &err) < 0 &&
		  strcmp(err.msg, "unable to upgrade connection: 403 Forbidden: unable to "
				  "negotiate protocol") == 0,
	      "403 with its body's first line: %s", err.msg);
	CHECK(cridctl_upgrade_response(no_upgrade, sizeof(no_upgrade) - 1, "SPDY/3.1", proto,
				       sizeof(proto), &err) < 0 &&
		  strstr(err.msg, "lacks"),
	      "a 101 to another protocol is refused: %s", err.msg);
	CHECK(cridctl_upgrade_response("SSH-2.0\r\n\r\n", 11, "SPDY/3.1", proto, sizeof(proto),
				       &err) < 0,
	      "not http: %s", err.msg);
}

static void test_ws_handshake(void)
{
	static const char *const protos[] = { "v5.channel.k8s.io", "v4.channel.k8s.io" };
	static const char want[] = "GET /exec/t HTTP/1.1\r\nHost: 127.0.0.1:9\r\n"
				   "User-Agent: cridctl\r\nUpgrade: websocket\r\n"
				   "Connection: Upgrade\r\n"
				   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
				   "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: "
				   "v5.channel.k8s.io, v4.channel.k8s.io\r\n\r\n";
	/* RFC 6455 section 1.3's example key and accept value */
	static const char ok[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
				 "Connection: Upgrade\r\n"
				 "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
				 "Sec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n\x82";
	static const char bad_accept[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket"
					 "\r\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA="
					 "\r\n\r\n";
	struct cridctl_url u;
	struct crid_err err;
	char buf[1024], proto[64], key[25];
	size_t n;
	int r;

	cridctl_url_parse("http://127.0.0.1:9/exec/t", &u, NULL);
	n = cridctl_ws_request(buf, sizeof(buf), &u, "dGhlIHNhbXBsZSBub25jZQ==", protos, 2);
	CHECK(n == strlen(want) && memcmp(buf, want, n) == 0, "websocket request bytes:\n%.*s",
	      (int)n, buf);
	r = cridctl_ws_response(ok, sizeof(ok) - 1, "dGhlIHNhbXBsZSBub25jZQ==", proto,
				sizeof(proto), &err);
	CHECK(r == (int)sizeof(ok) - 2 && strcmp(proto, "v5.channel.k8s.io") == 0,
	      "101 with the right accept value: head %d, protocol `%s`", r, proto);
	CHECK(cridctl_ws_response(bad_accept, sizeof(bad_accept) - 1,
				  "dGhlIHNhbXBsZSBub25jZQ==", proto, sizeof(proto), &err) < 0 &&
		  strstr(err.msg, "Sec-WebSocket-Accept"),
	      "a wrong accept value is refused: %s", err.msg);
	CHECK(cridctl_ws_response("HTTP/1.1 400 Bad Request\r\n\r\n", 28, "k", proto, sizeof(proto),
				  &err) < 0 &&
		  strcmp(err.msg, "websocket handshake refused: 400 Bad Request") == 0,
	      "a refusal names the status: %s", err.msg);
	CHECK(cridctl_ws_key(key) == 0 && strlen(key) == 24 && key[22] == '=' && key[23] == '=',
	      "a key is 16 bytes in base64: %s", key);
}

static void test_status(void)
{
	static const char success[] = "{\"metadata\":{},\"status\":\"Success\"}";
	static const char exit3[] =
	    "{\"metadata\":{},\"status\":\"Failure\",\"message\":\"command terminated with "
	    "non-zero exit code: error executing command [sh -c exit 3], exit code 3\","
	    "\"reason\":\"NonZeroExitCode\",\"details\":{\"causes\":[{\"reason\":\"ExitCode\","
	    "\"message\":\"3\"}]}}";
	static const char internal[] = "{\"metadata\":{},\"status\":\"Failure\",\"message\":"
				       "\"container not running\",\"reason\":\"InternalError\"}";
	char msg[256];
	int code = -1;

	CHECK(cridctl_exec_status(success, strlen(success), true, &code, msg, sizeof(msg)) == 0 &&
		  code == 0,
	      "Success: exit 0");
	CHECK(cridctl_exec_status(exit3, strlen(exit3), true, &code, msg, sizeof(msg)) == 0 &&
		  code == 3,
	      "NonZeroExitCode: the ExitCode cause (%d)", code);
	CHECK(cridctl_exec_status(internal, strlen(internal), true, &code, msg, sizeof(msg)) == 1 &&
		  strcmp(msg, "container not running") == 0,
	      "another failure: its message (%s)", msg);
	CHECK(cridctl_exec_status("", 0, true, &code, msg, sizeof(msg)) == 0 && code == 0,
	      "nothing on the error stream: success, as client-go reads it");
	CHECK(cridctl_exec_status("boom", 4, false, &code, msg, sizeof(msg)) == 1 &&
		  strcmp(msg, "error executing remote command: boom") == 0,
	      "v1-v3: the text is the error (%s)", msg);
	CHECK(cridctl_exec_status("{\"status\":", 10, true, &code, msg, sizeof(msg)) == 1 &&
		  strstr(msg, "error stream protocol error"),
	      "bad JSON: %s", msg);
}

static void test_port_maps(void)
{
	struct cridctl_port_map m;
	struct crid_err err;

	CHECK(cridctl_port_map_parse("80", &m, &err) == 0 && m.local == 80 && m.remote == 80,
	      "REMOTE: same local port");
	CHECK(cridctl_port_map_parse("8080:80", &m, &err) == 0 && m.local == 8080 && m.remote == 80,
	      "LOCAL:REMOTE");
	CHECK(cridctl_port_map_parse(":80", &m, &err) == 0 && m.local == 0 && m.remote == 80,
	      ":REMOTE: any local port");
	CHECK(cridctl_port_map_parse("0", &m, &err) < 0 && strstr(err.msg, "bad remote port"),
	      "remote 0 refused: %s", err.msg);
	CHECK(cridctl_port_map_parse("70000:80", &m, &err) < 0 && strstr(err.msg, "bad local port"),
	      "local out of range: %s", err.msg);
	CHECK(cridctl_port_map_parse("8080:", &m, &err) < 0, "no remote: %s", err.msg);
	CHECK(cridctl_port_map_parse("x:80", &m, &err) < 0, "letters: %s", err.msg);
}

struct got {
	char text[512];
	int frames;
};

static int note(void *user, const struct crid_spdy_frame *f)
{
	struct got *g = user;
	size_t len = strlen(g->text);

	snprintf(g->text + len, sizeof(g->text) - len, "%u/%u/%u/%.*s%s%s;", f->type, f->stream_id,
		 f->flags, (int)f->len, f->data ? (const char *)f->data : "",
		 f->n_headers ? " " : "", f->n_headers ? f->headers[0].value : "");
	g->frames++;
	return 0;
}

/* Reads what |fd| has now into |peer|. */
static void peer_read(int fd, struct crid_spdy_codec *peer, struct got *g)
{
	uint8_t buf[4096];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		crid_spdy_feed(peer, buf, (size_t)n, note, g, NULL);
}

static void test_connection(void)
{
	struct cridctl_spdy s = { 0 };
	struct crid_spdy_codec *peer = crid_spdy_codec_new(NULL);
	struct crid_spdy_header h = { "streamtype", "stdin", 10, 5 };
	struct got at_peer = { 0 }, at_client = { 0 };
	struct crid_err err;
	uint8_t out[256];
	ssize_t n;
	int sv[2];
	uint32_t id1, id2;

	if (!CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0 && peer,
		   "socketpair and peer codec"))
		return;
	s.fd = sv[0];
	s.codec = crid_spdy_codec_new(NULL);
	s.next_id = 1;
	id1 = cridctl_spdy_open(&s, &h, 1, &err);
	h.value = "stdout";
	h.value_len = 6;
	id2 = cridctl_spdy_open(&s, &h, 1, &err);
	CHECK(id1 == 1 && id2 == 3, "client streams are odd: %u, %u", id1, id2);
	cridctl_spdy_send(&s, id1, "hello", 5, false, &err);
	cridctl_spdy_send(&s, id1, NULL, 0, true, &err);
	cridctl_spdy_reset(&s, id2, CRID_SPDY_CANCEL, &err);
	CHECK(cridctl_spdy_flush(&s, &err) == 0 && s.out_len == 0, "flushed whole");
	peer_read(sv[1], peer, &at_peer);
	CHECK(strcmp(at_peer.text, "1/1/0/ stdin;1/3/0/ stdout;0/1/0/hello;0/1/1/;3/3/0/;") == 0,
	      "the peer reads the SYN_STREAMs, DATA, FIN and RST: %s", at_peer.text);

	/* the server: a ping (even id), a reply, data with FIN */
	n = crid_spdy_ping(out, 2);
	n += crid_spdy_syn_reply(peer, out + n, sizeof(out) - (size_t)n, 3, 0, NULL, 0, &err);
	n += (ssize_t)crid_spdy_data_head(out + n, 3, CRID_SPDY_FLAG_FIN, 2);
	memcpy(out + n, "hi", 2);
	n += 2;
	CHECK(write(sv[1], out, (size_t)n) == n, "server frames written");
	CHECK(cridctl_spdy_read(&s, note, &at_client, &err) == 0 &&
		  strcmp(at_client.text, "2/3/0/;0/3/1/hi;") == 0,
	      "the client gets the reply and data, not the ping: %s", at_client.text);
	cridctl_spdy_flush(&s, &err);
	memset(&at_peer, 0, sizeof(at_peer));
	peer_read(sv[1], peer, &at_peer);
	CHECK(strcmp(at_peer.text, "6/0/0/;") == 0, "the server's ping is echoed: %s",
	      at_peer.text);
	close(sv[1]);
	CHECK(cridctl_spdy_read(&s, note, &at_client, &err) == 0 && s.eof, "end of stream seen");
	cridctl_spdy_close(&s);
	crid_spdy_codec_free(peer);
}

int main(void)
{
	test_url();
	test_request();
	test_response();
	test_ws_handshake();
	test_status();
	test_port_maps();
	test_connection();
	return tap_done();
}
