/*
 * The rpc scenario: Version round trips, the cheapest call a runtime
 * answers, so what is measured is the gRPC/HTTP/2 path itself. Per phase
 * (concurrency c), each endpoint runs rounds of calls on its one connection
 * with c streams in flight, refilled as they complete; the endpoints take
 * turns round by round in rotating order (stats.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bench/bench.h"
#include "proto/api.pb-c.h"
#include "reactor/mem.h"

#define VERSION_METHOD "/runtime.v1.RuntimeService/Version"

struct round;

struct slot {
	struct round *rd;
	uint64_t t0;
};

struct round {
	struct crid_bench_endpoint *ep;
	struct crid_bench_phase *ph; /* NULL while warming up */
	const uint8_t *req;
	size_t req_len;
	int timeout_ms;
	size_t target, started;
	bool failed;
};

uint64_t crid_bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void round_fail(struct round *rd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The first failure of an endpoint is its error; it runs no more calls. */
static void round_fail(struct round *rd, const char *fmt, ...)
{
	va_list ap;

	rd->failed = true;
	if (rd->ep->error[0])
		return;
	va_start(ap, fmt);
	vsnprintf(rd->ep->error, sizeof(rd->ep->error), fmt, ap);
	va_end(ap);
}

static void on_done(void *user, const struct crid_grpc_reply *r);

static void start_one(struct round *rd, struct slot *s)
{
	struct crid_err err;

	s->t0 = crid_bench_now_ns();
	if (crid_grpc_client_start(rd->ep->conn, VERSION_METHOD, rd->req, rd->req_len,
				   rd->timeout_ms, on_done, s, &err) < 0) {
		round_fail(rd, "Version: %s", err.msg);
		return;
	}
	rd->started++;
}

static void on_done(void *user, const struct crid_grpc_reply *r)
{
	struct slot *s = user;
	struct round *rd = s->rd;
	double us = (double)(crid_bench_now_ns() - s->t0) / 1000.0;

	if (r->status != CRID_GRPC_OK) {
		if (rd->ph)
			rd->ph->errors++;
		round_fail(rd, "Version: rpc error: code = %s desc = %s",
			   crid_grpc_status_name(r->status), r->message);
		return;
	}
	if (rd->ph) {
		if (crid_bench_samples_push(&rd->ph->lat_us, us) < 0)
			round_fail(rd, "out of memory for samples");
		rd->ph->calls++;
	}
	if (!rd->failed && rd->started < rd->target)
		start_one(rd, s);
}

/* |calls| calls with |conc| in flight on ep's connection; ph NULL = warm-up. */
static void run_round(struct crid_bench_endpoint *ep, struct crid_bench_phase *ph, int conc,
		      size_t calls, const struct crid_bench_run *run, const uint8_t *req,
		      size_t req_len)
{
	struct round rd = { .ep = ep, .ph = ph, .req = req, .req_len = req_len };
	size_t n = (size_t)conc < calls ? (size_t)conc : calls;
	struct slot *slots = crid_calloc(n ? n : 1, sizeof(*slots));
	uint64_t t0 = crid_bench_now_ns();
	struct crid_err err;

	rd.timeout_ms = run->timeout_ms;
	rd.target = calls;
	if (!slots) {
		round_fail(&rd, "out of memory");
		return;
	}
	for (size_t i = 0; i < n && !rd.failed; i++) {
		slots[i].rd = &rd;
		start_one(&rd, &slots[i]);
	}
	if (crid_grpc_client_pump(ep->conn, &err) < 0)
		round_fail(&rd, "Version: %s", err.msg);
	if (ph)
		ph->wall_s += (double)(crid_bench_now_ns() - t0) / 1e9;
	crid_free(slots);
}

static void progress(const struct crid_bench_run *run, int conc, size_t r, size_t rounds)
{
	if (run->tty)
		fprintf(stderr, "\r\033[Krpc: concurrency %d, round %zu/%zu", conc, r, rounds);
	else if (r == rounds)
		fprintf(stderr, "rpc: concurrency %d: %zu rounds done\n", conc, rounds);
	if (run->tty && r == rounds)
		fputc('\n', stderr);
}

static void run_phase(struct crid_bench_run *run, size_t p, const uint8_t *req, size_t len)
{
	int conc = run->conc[p];
	size_t rsize = run->round > (size_t)conc * 10 ? run->round : (size_t)conc * 10;
	size_t rounds = crid_bench_rounds(run->calls, rsize);

	for (size_t i = 0; i < run->n_ep; i++) {
		run->ep[i].phase[p].concurrency = conc;
		run->ep[i].phase[p].round_calls = rsize;
		if (!run->ep[i].error[0] && run->warmup)
			run_round(&run->ep[i], NULL, conc, run->warmup, run, req, len);
	}
	for (size_t r = 0; r < rounds; r++) {
		size_t k = crid_bench_round_calls(run->calls, rsize, r);

		for (size_t i = 0; i < run->n_ep; i++) {
			struct crid_bench_endpoint *ep =
			    &run->ep[crid_bench_round_order(r, i, run->n_ep)];

			if (!ep->error[0])
				run_round(ep, &ep->phase[p], conc, k, run, req, len);
		}
		progress(run, conc, r + 1, rounds);
	}
	for (size_t i = 0; i < run->n_ep; i++)
		crid_bench_summarize(&run->ep[i].phase[p].lat_us, &run->ep[i].phase[p].sum);
}

static void connect_all(struct crid_bench_run *run)
{
	struct crid_err err;

	for (size_t i = 0; i < run->n_ep; i++) {
		struct crid_bench_endpoint *ep = &run->ep[i];

		if (crid_grpc_client_connect(ep->address, run->timeout_ms, &ep->conn, &err) < 0)
			snprintf(ep->error, sizeof(ep->error), "connect: %s", err.msg);
	}
}

int crid_bench_rpc_run(struct crid_bench_run *run)
{
	Runtime__V1__VersionRequest req = RUNTIME__V1__VERSION_REQUEST__INIT;
	uint8_t buf[64];
	size_t len;

	req.version = "0.1.0"; /* what kubelet sends (kubeRuntimeAPIVersion) */
	len = runtime__v1__version_request__pack(&req, buf);
	connect_all(run);
	for (size_t p = 0; p < run->n_conc; p++)
		run_phase(run, p, buf, len);
	return 0;
}
