/*
 * relist, streamed (KEP-5825): with the relist scenario's pods running,
 * ListPodSandbox vs StreamPodSandboxes and ListContainers vs
 * StreamContainers, taking turns call by call on one connection: time to
 * the last byte (the trailers) and the daemon's peak memory over the calls
 * (VmHWM, reset through /proc/PID/clear_refs, minus VmRSS before; measured
 * first, Stream* before List, since the heap a List reply grew stays
 * resident and would hide what comes after; the relist windows before this
 * pass have called the Lists already). Responses are not decoded, so the
 * client's protobuf work stays out of the figures.
 * A Stream* method the endpoint answers UNIMPLEMENTED is noted (containerd
 * has none: its List figures are the reference).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "bench/cri.h"
#include "io/grpc_client.h"
#include "proto/api.pb-c.h"

#define RT "/runtime.v1.RuntimeService/"
#define CALLS 50

struct streamed {
	size_t msgs, bytes;
	int status;
	char message[CRID_ERR_MSG_MAX];
};

static void on_message(void *user, const uint8_t *msg, size_t len)
{
	struct streamed *s = user;

	(void)msg;
	s->msgs++;
	s->bytes += len;
}

static void on_done(void *user, const struct crid_grpc_reply *reply)
{
	struct streamed *s = user;

	s->status = reply->status;
	snprintf(s->message, sizeof(s->message), "%s", reply->message);
}

/* One server-streamed call with an empty request, to the end; the gRPC status or -1. */
static int stream_call(struct crid_bench_cri *cri, const char *method, struct streamed *s)
{
	struct crid_err err;

	memset(s, 0, sizeof(*s));
	s->status = -1;
	if (crid_grpc_client_start_stream(cri->c, method, "", 0, cri->run->timeout_ms, on_message,
					  on_done, s, &err) < 0 ||
	    crid_grpc_client_pump(cri->c, &err) < 0) {
		snprintf(s->message, sizeof(s->message), "%s", err.msg);
		return -1;
	}
	return s->status;
}

/* VmRSS or VmHWM of |pid| in KiB, 0 when unreadable. */
static unsigned long vm_kib(pid_t pid, const char *key)
{
	char path[64], line[256];
	unsigned long v = 0;
	size_t klen = strlen(key);
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, klen) == 0 && line[klen] == ':')
			v = strtoul(line + klen + 1, NULL, 10);
	fclose(f);
	return v;
}

/* Resets |pid|'s VmHWM to its VmRSS (needs root or the same user); false when it cannot. */
static bool hwm_reset(pid_t pid)
{
	char path[64];
	FILE *f;
	bool ok;

	snprintf(path, sizeof(path), "/proc/%d/clear_refs", (int)pid);
	f = fopen(path, "w");
	if (!f)
		return false;
	ok = fputs("5", f) >= 0;
	return fclose(f) == 0 && ok;
}

struct method {
	const char *path, *series;
	bool stream;
	bool unimpl;
	unsigned long peak_kib;
};

/* One call, timed into m->series when |record|; false when the method is left out from now on. */
static bool timed(struct crid_bench_cri *cri, struct method *m, bool record)
{
	char msg[CRID_ERR_MSG_MAX];
	uint64_t t0 = crid_bench_now_ns();
	struct streamed s;
	int st;

	if (m->stream) {
		st = stream_call(cri, m->path, &s);
		snprintf(msg, sizeof(msg), "%s", s.message);
	} else {
		Runtime__V1__ListPodSandboxRequest empty =
		    RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;

		st = crid_bench_cri_try(cri, m->path, &empty.base, NULL, NULL, cri->run->timeout_ms,
					msg, sizeof(msg));
	}
	if (st == CRID_GRPC_UNIMPLEMENTED) {
		m->unimpl = true;
		crid_bench_note(cri->ep, "%s answers UNIMPLEMENTED: not measured",
				strrchr(m->path, '/') + 1);
		return false;
	}
	if (st != CRID_GRPC_OK) {
		crid_bench_fail(cri->ep, st < 0 ? 0 : st, "%s: %s", strrchr(m->path, '/') + 1, msg);
		return false;
	}
	if (record)
		crid_bench_record(cri->ep, m->series, "ms",
				  (double)(crid_bench_now_ns() - t0) / 1e6);
	if (m->stream)
		crid_bench_set(cri->ep, "msgs", (double)s.msgs, "%s_messages", m->series);
	return true;
}

/* Peak extra memory of |m| over a few calls, in KiB above VmRSS before them. */
static void peak(struct crid_bench_cri *cri, struct method *m)
{
	pid_t pid = cri->ep->pid;
	unsigned long rss;

	if (m->unimpl || pid <= 0 || !hwm_reset(pid))
		return;
	rss = vm_kib(pid, "VmRSS");
	for (int i = 0; i < 5; i++)
		if (!timed(cri, m, false))
			return;
	m->peak_kib = vm_kib(pid, "VmHWM") - rss;
	crid_bench_set(cri->ep, "KiB", (double)m->peak_kib, "%s_peak_extra", m->series);
}

void crid_bench_relist_stream(struct crid_bench_run *run, struct crid_bench_endpoint *ep)
{
	struct method ms[] = {
		{ RT "StreamPodSandboxes", "stream_pods_ttlb", true, false, 0 },
		{ RT "StreamContainers", "stream_containers_ttlb", true, false, 0 },
		{ RT "ListPodSandbox", "list_pods_ttlb", false, false, 0 },
		{ RT "ListContainers", "list_containers_ttlb", false, false, 0 },
	};
	size_t n = sizeof(ms) / sizeof(ms[0]);
	struct crid_bench_cri cri;

	if (crid_bench_failed(ep) || crid_bench_cri_open(&cri, run, ep) < 0)
		return;
	for (size_t i = 0; i < n && !crid_bench_failed(ep); i++)
		peak(&cri, &ms[i]);
	for (int round = 0; round < CALLS && !crid_bench_failed(ep); round++)
		for (size_t i = 0; i < n; i++)
			if (!ms[i].unimpl)
				timed(&cri, &ms[i], true);
	crid_bench_cri_close(&cri);
}
