/*
 * The pull operation (see image_pull.h). One struct op per normalized
 * reference; its steps are continuations of HTTP completions:
 *
 *   next_endpoint -> get_manifest -> [index: select, get_manifest by digest]
 *   -> get_config -> start_layers (CRID_PULL_PARALLEL jobs) -> finish_image
 *
 * A 401 on any request runs the auth flow once (crid_auth_authorize) and
 * retries with the Authorization value kept on the op for later requests.
 * Bytes of a layer go from curl's write callback through the layer stream
 * into the layer unpacker, within a per-iteration budget (compressed bytes,
 * unpacked entries, time). When the unpack budget runs out mid-chunk the
 * rest of that chunk (at most one stream chunk plus one curl chunk) is held
 * by the job, curl is paused, and the work timer goes on from there in the
 * next iteration. A finished layer is made durable by a `sync -f` child
 * before the rename that makes it visible (crid_image_store_commit_begin/end).
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yajl/yajl_tree.h>

#include "io/dns.h"
#include "io/http_client.h"
#include "io/layer_stream.h"
#include "io/registry_auth.h"
#include "reactor/metrics_families.h"
#include "reactor/debug_point.h"
#include "reactor/log.h"
#include "reactor/mem.h"
#include "reactor/spawn.h"
#include "runtime/image/image_pull.h"
#include "runtime/image/image_ref.h"
#include "runtime/image/layer_unpack.h"
#include "runtime/image/manifest.h"
#include "runtime/image/registries.h"

#define CONNECT_TIMEOUT_MS 30000
#define DOC_TIMEOUT_MS 120000
/*
 * Compressed bytes all layer transfers together may push through inflate,
 * the tar reader and file writes in one loop iteration; past it the
 * transfer is paused (nothing buffered) until the next iteration, so
 * unrelated RPCs wait for at most one slice.
 */
#define SLICE_BYTES (64 * 1024)
/*
 * Unpacking work per iteration, across all layers: entries (and directory
 * mtimes), and time from the first unpack step of the iteration. The time
 * bound is what keeps the stall low: a busybox layer's symlinks cost ~20 us
 * each on a journaled ext4, but ~0.7 ms each on ext4 without a journal
 * within 30 s of a large delete (inode allocation skips recently deleted
 * inodes one by one, ext4 recently_deleted()). With 100 us, Version's p50
 * during a pull stayed at or below the previous build's and the throughput
 * within noise (bench/README.md).
 */
#define SLICE_ENTRIES 256
#define SLICE_NS (100 * 1000)
#define SYNC_PATH "/bin/sync"

struct op;

/*
 * JOB_WAITING: another operation is downloading the same chain ID; when it
 * ends the job is queued again and finds the layer in the store (or, if that
 * operation failed or was cancelled, downloads it itself).
 */
enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_WAITING, JOB_DONE };

/*
 * A layer waiting to be durable before its rename. Owned by the puller's
 * lists, not the job, so a cancelled pull leaves it to the sync that covers
 * it, whose exit discards the directory.
 */
struct commit {
	struct commit *next;
	struct job *job; /* NULL once the job is gone */
	char wrap[4096];
};

struct job {
	struct op *op;
	size_t index;
	enum job_state state;
	int auth_retried;
	struct crid_http_request *req;
	struct crid_layer_stream *stream;
	struct crid_layer_unpack *unpack;
	char staging[4096];
	int staged;
	int paused;    /* out of byte budget: curl resumed at the next loop iteration */
	int backlog;   /* held bytes or finishing steps left: the work timer goes on */
	int body_done; /* the HTTP transfer completed: finish, then commit */
	int stream_done;
	uint8_t *held; /* decompressed bytes the unpacker did not take (budget spent) */
	size_t held_off, held_len;
	uint8_t *in_held; /* compressed bytes the stream did not take (its sink paused) */
	size_t in_held_len, in_held_cap;
	struct commit *commit;
	unsigned pass; /* the work timer's pass that last gave it a turn */
	struct crid_layer_info info;
	struct crid_err err; /* the unpack error seen by the sink */
	int unpack_failed;   /* |err| came from the unpacker, not the stream */
	uint64_t got;	     /* compressed bytes taken from the registry (progress) */
};

enum doc_step { STEP_MANIFEST, STEP_CONFIG };

struct op {
	struct crid_puller *p;
	struct op *next;
	char key[CRID_REF_STRING_MAX];
	struct crid_image_ref ref;
	struct crid_op async; /* every client of this pull: waiters, answer, leaving */
	/* credentials, copies */
	char *user, *pass, *identity_token, *registry_token;
	uint64_t creds; /* fingerprint of the request's credentials: who may join this pull */
	struct crid_endpoint_list eps;
	size_t ep;		       /* current endpoint */
	char base[1024];	       /* scheme://host/v2/path */
	char *authz;		       /* "Authorization: ..." header line or NULL */
	struct crid_http_request *req; /* manifest/config request */
	struct crid_auth_fetch *fetch;
	enum doc_step step;
	int auth_retried;
	char fetch_ref[CRID_DIGEST_LEN + CRID_REF_TAG_MAX + 2];
	char manifest_digest[CRID_DIGEST_LEN + 1];
	int index_hops;
	struct crid_manifest m;
	int have_manifest;
	char *config_json;
	size_t config_len;
	struct crid_image_config cfg;
	int have_config;
	char (*chain)[CRID_DIGEST_LEN + 1];
	struct job *jobs;
	size_t n_jobs, running, done_jobs;
	size_t scan; /* pump_jobs looks from here: no job before it is JOB_QUEUED */
	struct crid_unpack_total total; /* unpacked bytes of the image, stored layers included */
	struct crid_err last;		/* last endpoint failure, reported when all fail */
	ev_timer kick;	/* the first step runs from the loop, not from crid_pull_start */
	int needs_pump; /* a layer it waited for is done: pump from the loop */
	int plain;	/* insecure endpoint answered in plain HTTP, not TLS */
	double started; /* crid_metrics_clock() at the start: the pull duration metric */
};

struct crid_puller {
	struct crid_loop *loop;
	struct crid_dns *dns;
	struct crid_http *http;
	struct crid_auth_cache *auth;
	struct crid_registries *regs;
	struct crid_image_store *store;
	struct crid_trash *trash;
	struct op *ops;
	size_t n_ops;
	ev_prepare refill; /* before each poll: new slice budget, paused transfers resumed */
	long budget;
	struct crid_unpack_budget ubudget;
	ev_timer work; /* held bytes and finishing steps, after the poll of the next iteration */
	int any_backlog;
	unsigned pass;
	/*
	 * One `sync -f` (syncfs of the store's filesystem) at a time: it covers
	 * the layers ready when it started; layers ready meanwhile wait for the
	 * next one. Each syncfs commits the journal and briefly blocks writers,
	 * the loop's own layer writes included, so fewer is better.
	 */
	struct crid_child sync;
	int syncing;
	struct commit *synced;	/* covered by the running sync */
	struct commit *waiting; /* for the next one */
	int any_paused;
	int any_pump;
	int closing;
	char *auth_file; /* docker config.json with "auths", or NULL */
	struct crid_unpack_limits lim;
	int max_layers;
	uint64_t max_image_bytes;
	long
	    stall_s; /* crid.image.pull_progress_timeout: a transfer without a byte this long fails */
};

static void next_endpoint(struct op *op);
static void work_cb(struct ev_loop *ev, ev_timer *w, int revents);
static int build_base(struct op *op);
static void get_doc(struct op *op);
static void pump_jobs(struct op *op);

/* A cause without strerror: |code| classifies, the message explains. */
static int set_cause(struct crid_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int set_cause(struct crid_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	err->code = code;
	return -1;
}

/* ---- lifetime ---- */

static double now_cb(void *clock)
{
	struct crid_puller *p = clock;

	return ev_now(p->loop->ev);
}

/* The layer |chain| stopped downloading: queue the jobs of other operations waiting for it. */
static void wake_waiters(struct crid_puller *p, const char *chain)
{
	if (p->closing)
		return;
	for (struct op *op = p->ops; op; op = op->next) {
		for (size_t i = 0; i < op->n_jobs; i++) {
			if (op->jobs[i].state == JOB_WAITING && strcmp(op->chain[i], chain) == 0) {
				op->jobs[i].state = JOB_QUEUED;
				if (i < op->scan)
					op->scan = i;
				op->needs_pump = 1;
				p->any_pump = 1;
			}
		}
	}
}

/* A job of another operation downloading |chain| now. */
static bool in_flight(struct crid_puller *p, const struct op *self, const char *chain)
{
	for (struct op *op = p->ops; op; op = op->next) {
		if (op == self)
			continue;
		for (size_t i = 0; i < op->n_jobs; i++)
			if (op->jobs[i].state == JOB_RUNNING && strcmp(op->chain[i], chain) == 0)
				return true;
	}
	return false;
}

static void refill_cb(struct ev_loop *ev, ev_prepare *w, int revents)
{
	struct crid_puller *p = w->data;

	(void)ev;
	(void)revents;
	p->budget = SLICE_BYTES;
	p->ubudget.entries = SLICE_ENTRIES;
	p->ubudget.deadline_ns = 0;
	/* A zero timer, not work here: it runs after the poll, counted in that iteration. */
	if (p->any_backlog && !ev_is_active(&p->work))
		ev_timer_start(p->loop->ev, &p->work);
	while (p->any_pump) {
		struct op *op;

		p->any_pump = 0;
		/* pump_jobs may end an operation: look for the next one from the start. */
		for (op = p->ops; op && !op->needs_pump; op = op->next)
			;
		if (op) {
			op->needs_pump = 0;
			p->any_pump = 1;
			pump_jobs(op);
		}
	}
	if (!p->any_paused)
		return;
	p->any_paused = 0;
	for (struct op *op = p->ops; op; op = op->next) {
		for (size_t i = 0; i < op->n_jobs; i++) {
			struct job *j = &op->jobs[i];

			if (j->paused && j->req && !j->backlog)
				crid_http_request_resume(j->req);
			j->paused = 0;
		}
	}
}

int crid_puller_new(struct crid_loop *loop, const struct crid_config *cfg,
		    struct crid_image_store *store, struct crid_trash *trash,
		    struct crid_puller **out, struct crid_err *err)
{
	struct crid_puller *p = crid_calloc(1, sizeof(*p));

	if (!p)
		return crid_err_set(err, ENOMEM, "puller");
	p->loop = loop;
	p->store = store;
	p->trash = trash;
	p->budget = SLICE_BYTES;
	p->ubudget = (struct crid_unpack_budget){ SLICE_ENTRIES, SLICE_NS, 0 };
	ev_timer_init(&p->work, work_cb, 0., 0.);
	p->work.data = p;
	ev_prepare_init(&p->refill, refill_cb);
	p->refill.data = p;
	ev_prepare_start(loop->ev, &p->refill);
	ev_unref(loop->ev); /* the watcher alone must not keep the loop running */
	if (crid_dns_new(loop, &p->dns, err) < 0)
		goto fail;
	if (crid_http_new(loop, p->dns, &p->http, err) < 0)
		goto fail;
	p->auth = crid_auth_cache_new(now_cb, p);
	if (!p->auth) {
		crid_err_set(err, ENOMEM, "auth cache");
		goto fail;
	}
	if (crid_registries_load(&p->regs, cfg, err) < 0)
		goto fail;
	p->lim.max_entries = cfg->max_layer_entries > 0 ? (uint64_t)cfg->max_layer_entries : 0;
	p->lim.max_bytes =
	    cfg->max_layer_unpacked_bytes > 0 ? (uint64_t)cfg->max_layer_unpacked_bytes : 0;
	p->max_layers = cfg->max_layers;
	p->stall_s = cfg->pull_progress_timeout > 0 ? cfg->pull_progress_timeout : 60;
	p->max_image_bytes = cfg->max_image_unpacked_bytes > 0
				 ? (uint64_t)cfg->max_image_unpacked_bytes
				 : CRID_IMAGE_DEFAULT_MAX_BYTES;
	if (cfg->auth_file && cfg->auth_file[0]) {
		p->auth_file = crid_strdup(cfg->auth_file);
		if (!p->auth_file) {
			crid_err_set(err, ENOMEM, "auth file");
			goto fail;
		}
	}
	*out = p;
	return 0;
fail:
	crid_puller_free(p);
	return -1;
}

/*
 * What a job needs while its bytes flow, freed once the layer is unpacked:
 * a pull's memory stays O(CRID_PULL_PARALLEL), not O(layers).
 */
static void job_free_work(struct job *j)
{
	crid_layer_stream_free(j->stream);
	j->stream = NULL;
	crid_layer_unpack_free(j->unpack);
	j->unpack = NULL;
	crid_free(j->held);
	j->held = NULL;
	crid_free(j->in_held);
	j->in_held = NULL;
	j->held_len = j->in_held_len = j->in_held_cap = 0;
	j->backlog = 0;
}

static void job_release(struct job *j)
{
	struct crid_puller *p = j->op->p;

	if (j->req)
		crid_http_request_cancel(j->req);
	j->req = NULL;
	job_free_work(j);
	if (j->commit) {
		j->commit->job = NULL; /* the sync covering it discards the dir */
		j->commit = NULL;
	}
	if (j->staged) {
		crid_image_store_discard(p->store, j->staging);
		j->staged = 0;
		if (p->trash)
			crid_trash_sweep(p->trash);
	}
}

/* Takes |op| off the puller's list: new pulls of its reference start afresh. Idempotent. */
static void op_unlink(struct op *op)
{
	struct crid_puller *p = op->p;

	for (struct op **pp = &p->ops; *pp; pp = &(*pp)->next) {
		if (*pp == op) {
			*pp = op->next;
			p->n_ops--;
			break;
		}
	}
}

static void op_free(struct op *op)
{
	struct crid_puller *p = op->p;

	op_unlink(op);
	ev_timer_stop(p->loop->ev, &op->kick);
	if (op->req)
		crid_http_request_cancel(op->req);
	if (op->fetch)
		crid_auth_fetch_cancel(op->fetch);
	for (size_t i = 0; i < op->n_jobs; i++) {
		if (op->jobs[i].state == JOB_RUNNING)
			wake_waiters(p, op->chain[i]);
		job_release(&op->jobs[i]);
	}
	crid_op_drop_waiters(&op->async);
	crid_free(op->jobs);
	crid_free(op->chain);
	if (op->have_manifest)
		crid_manifest_free(&op->m);
	if (op->have_config)
		crid_image_config_free(&op->cfg);
	crid_free(op->config_json);
	crid_endpoint_list_free(&op->eps);
	crid_free(op->authz);
	crid_free(op->user);
	crid_free(op->pass);
	crid_free(op->identity_token);
	crid_free(op->registry_token);
	crid_free(op);
}

static void commits_free(struct commit *c)
{
	while (c) {
		struct commit *next = c->next;

		crid_free(c);
		c = next;
	}
}

void crid_puller_free(struct crid_puller *p)
{
	if (!p)
		return;
	p->closing = 1;
	if (ev_is_active(&p->refill)) {
		ev_ref(p->loop->ev);
		ev_prepare_stop(p->loop->ev, &p->refill);
	}
	ev_timer_stop(p->loop->ev, &p->work);
	while (p->ops)
		op_free(p->ops);
	if (p->syncing) {
		int fd = crid_child_detach(&p->sync); /* the flush finishes on its own */

		if (fd >= 0)
			close(fd);
	}
	/* Their wrap dirs stay in staging/, swept at the next start. */
	commits_free(p->synced);
	commits_free(p->waiting);
	crid_registries_free(p->regs);
	crid_free(p->auth_file);
	crid_auth_cache_free(p->auth);
	crid_http_free(p->http);
	crid_dns_free(p->dns);
	crid_free(p);
}

size_t crid_puller_active(const struct crid_puller *p)
{
	return p->n_ops;
}

/* ---- completion ---- */

/*
 * Ends |op| for every waiter. Called from HTTP callbacks: the request whose
 * on_done is running has already been detached (its pointer cleared).
 */
static void deliver(const struct crid_op *a, crid_op_fn done, void *user, void *id)
{
	((crid_pull_done_fn)done)(user, a->status, id, a->status < 0 ? &a->err : NULL);
}

static void op_complete(struct op *op, int status, const char *id, const struct crid_err *err)
{
	op_unlink(op); /* a waiter's callback may start a new pull of the same reference */
	crid_metrics_pull_end(op->ref.domain, op->started, status >= 0);
	if (status < 0) {
		crid_op_fail(&op->async, err);
		crid_log_info("pull %s failed: %s", op->key, err->msg);
	} else {
		crid_log_info("pulled %s as %s", op->key, id);
	}
	/* A waiter cancelled from another's callback is not called, and the op is not freed twice. */
	crid_op_answer(&op->async, deliver, (void *)id);
	op_free(op);
}

static void op_fail(struct op *op, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void op_fail(struct op *op, int code, const char *fmt, ...)
{
	struct crid_err err;
	char msg[sizeof(err.msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	set_cause(&err, code, "pull image `%s`: %s", op->key, msg);
	op_complete(op, -1, NULL, &err);
}

void crid_pull_waiter_cancel(struct crid_op_waiter *w)
{
	struct op *op = (struct op *)((char *)w->op - offsetof(struct op, async));
	char key[sizeof(op->key)];

	if (!crid_op_leave(w))
		return;
	memcpy(key, op->key, sizeof(key));
	op_free(op);
	/* After the fact: tests wait for this line to look at staging. */
	crid_log_info("pull %s cancelled by every client: transfers stopped, staging discarded",
		      key);
}

/* ---- HTTP status -> cause ---- */

static int status_code(int status)
{
	if (status == 401)
		return EACCES;
	if (status == 403)
		return EPERM;
	if (status == 404)
		return ENOENT;
	if (status == 429 || status >= 500 || status < 0)
		return EAGAIN;
	return EPROTO;
}

static const char *status_text(int status)
{
	switch (status) {
	case 401:
		return "unauthorized";
	case 403:
		return "access denied";
	case 404:
		return "not found";
	case 429:
		return "too many requests";
	default:
		return status >= 500 ? "registry unavailable" : "unexpected response";
	}
}

/* The string value following |key| in |body| (a flat JSON scan, for messages only). */
static size_t json_str(const char *body, size_t len, const char *key, const char **val)
{
	size_t klen = strlen(key);

	for (size_t i = 0; i + klen + 3 < len; i++) {
		size_t j = i + klen;

		if (memcmp(body + i, key, klen) != 0)
			continue;
		while (j < len && (body[j] == ' ' || body[j] == ':'))
			j++;
		if (j >= len || body[j] != '"')
			continue;
		*val = body + ++j;
		while (j < len && body[j] != '"' && body[j] != '\\')
			j++;
		return (size_t)(body + j - *val);
	}
	return 0;
}

/*
 * The registry's own words, from distribution's error body
 * {"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown",...}]}.
 */
static void body_hint(const char *body, size_t len, char *out, size_t size)
{
	const char *code = NULL, *msg = NULL;
	size_t nc, nm;

	out[0] = 0;
	if (!body || !len)
		return;
	nc = json_str(body, len, "\"code\"", &code);
	nm = json_str(body, len, "\"message\"", &msg);
	if (nc && nm)
		snprintf(out, size, " (%.*s: %.*s)", (int)(nc > 64 ? 64 : nc), code,
			 (int)(nm > 160 ? 160 : nm), msg);
	else if (nm)
		snprintf(out, size, " (%.*s)", (int)(nm > 160 ? 160 : nm), msg);
}

/* ---- auth ---- */

struct auth_ctx {
	struct op *op;
	struct job *job; /* NULL: the manifest/config request */
};

static void retry_after_auth(struct op *op, struct job *job);

static void set_authz(struct op *op, const char *value)
{
	size_t n = strlen(value) + sizeof("Authorization: ");
	char *h = crid_malloc(n);

	if (!h)
		return;
	snprintf(h, n, "Authorization: %s", value);
	crid_free(op->authz);
	op->authz = h;
}

static void auth_done(void *user, int status, const char *value, const char *errmsg)
{
	struct op *op = user;

	op->fetch = NULL;
	if (status < 0) {
		op_fail(op, EACCES, "authentication: %s", errmsg ? errmsg : "token request failed");
		return;
	}
	set_authz(op, value);
	retry_after_auth(op, NULL);
}

/*
 * Runs the auth flow for the challenge of a 401 response. Returns 1 when the
 * caller should retry now, 0 when a token request runs (auth_done retries),
 * -1 when |op| has been failed.
 */
static int authorize(struct op *op, struct crid_http_request *r)
{
	const char *hdr = crid_http_request_header(r, "WWW-Authenticate", 0);
	struct crid_auth_challenge ch;
	struct crid_auth_creds creds = { op->user, op->pass, op->identity_token,
					 op->registry_token };
	const struct crid_endpoint *e = &op->eps.v[op->ep];
	struct crid_auth_params params;
	char scope[CRID_REF_NAME_MAX + 32];
	struct crid_err err;
	char *value = NULL;
	int rc;

	if (!hdr) {
		op_fail(op, EACCES, "401 unauthorized from %s without a WWW-Authenticate challenge",
			e->api_host);
		return -1;
	}
	if (crid_auth_challenge_parse(hdr, &ch, &err) < 0) {
		op_fail(op, EACCES, "%s: %s", e->api_host, err.msg);
		return -1;
	}
	snprintf(scope, sizeof(scope), "repository:%s:pull", e->path);
	params = (struct crid_auth_params){ .challenge = &ch,
					    .scope = scope,
					    .creds = &creds,
					    .ca_file = e->ca_file[0] ? e->ca_file : NULL,
					    .insecure = e->insecure,
					    .timeout_ms = DOC_TIMEOUT_MS };
	rc = crid_auth_authorize(op->p->http, op->p->auth, &params, auth_done, op, &value,
				 &op->fetch, &err);
	crid_auth_challenge_release(&ch);
	if (rc < 0) {
		op_fail(op, EACCES, "%s: %s", e->api_host, err.msg);
		return -1;
	}
	if (rc == 1) {
		set_authz(op, value);
		crid_free(value);
		return 1;
	}
	return 0;
}

/* ---- requests ---- */

static int start_get(struct op *op, const char *url, const char *accept, size_t max_body,
		     long timeout_ms, const struct crid_http_callbacks *cbs, void *user,
		     struct crid_http_request **out, struct crid_err *err)
{
	const struct crid_endpoint *e = &op->eps.v[op->ep];
	const char *headers[3];
	char accept_line[512];
	size_t nh = 0;
	struct crid_http_req req = { 0 };

	if (accept) {
		snprintf(accept_line, sizeof(accept_line), "Accept: %s", accept);
		headers[nh++] = accept_line;
	}
	if (op->authz)
		headers[nh++] = op->authz;
	headers[nh] = NULL;
	req.url = url;
	req.headers = headers;
	req.ca_file = e->ca_file[0] ? e->ca_file : NULL;
	req.insecure = e->insecure;
	req.connect_timeout_ms = CONNECT_TIMEOUT_MS;
	req.timeout_ms = timeout_ms;
	req.low_speed_limit = 1;
	req.low_speed_time = op->p->stall_s;
	req.max_body = max_body;
	return crid_http_request_start(op->p->http, &req, cbs, user, out, err);
}

/* ---- manifests and config ---- */

static void doc_done(void *user, struct crid_http_request *r, int status, const char *errmsg,
		     const char *body, size_t len);

static const struct crid_http_callbacks doc_cbs = { .on_done = doc_done };

static void get_doc(struct op *op)
{
	char url[2048];
	struct crid_err err;
	int n;

	if (op->step == STEP_MANIFEST)
		n = snprintf(url, sizeof(url), "%s/manifests/%s", op->base, op->fetch_ref);
	else
		n = snprintf(url, sizeof(url), "%s/blobs/%s", op->base, op->m.config.digest);
	if (n < 0 || (size_t)n >= sizeof(url)) {
		op_fail(op, EINVAL, "registry URL too long");
		return;
	}
	if (start_get(op, url, op->step == STEP_MANIFEST ? crid_manifest_accept() : NULL,
		      op->step == STEP_MANIFEST ? CRID_MANIFEST_MAX : CRID_IMAGE_CONFIG_MAX,
		      DOC_TIMEOUT_MS, &doc_cbs, op, &op->req, &err) < 0)
		op_fail(op, EINVAL, "%s", err.msg);
}

static void retry_after_auth(struct op *op, struct job *job)
{
	if (job)
		return;
	get_doc(op);
}

/* A manifest-stage failure: try the next endpoint (mirror fallback), else fail. */
static void endpoint_failed(struct op *op, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void endpoint_failed(struct op *op, int code, const char *fmt, ...)
{
	char msg[sizeof(op->last.msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	set_cause(&op->last, code, "%s", msg);
	if (op->eps.v[op->ep].mirror && op->ep + 1 < op->eps.n) {
		crid_log_info("pull %s: mirror %s failed (%s), trying the next endpoint", op->key,
			      op->eps.v[op->ep].host, msg);
		op->ep++;
		next_endpoint(op);
		return;
	}
	op_fail(op, code, "%s", msg);
}

static void got_index(struct op *op, const char *ctype, const char *body, size_t len)
{
	struct crid_index idx;
	struct crid_platform want;
	const struct crid_descriptor *d;
	struct crid_err err;

	if (crid_index_parse(ctype, body, len, &idx, &err) < 0) {
		op_fail(op, EINVAL, "index: %s", err.msg);
		return;
	}
	crid_platform_host(&want);
	if (crid_index_select(&idx, &want, &d, &err) < 0) {
		crid_index_free(&idx);
		op_fail(op, ENOENT, "%s", err.msg);
		return;
	}
	snprintf(op->fetch_ref, sizeof(op->fetch_ref), "%s", d->digest);
	crid_index_free(&idx);
	op->index_hops++;
	op->auth_retried = 0;
	get_doc(op);
}

static void got_manifest(struct op *op, struct crid_http_request *r, const char *body, size_t len)
{
	const char *ctype = crid_http_request_header(r, "Content-Type", 0);
	char digest[CRID_DIGEST_LEN + 1];
	struct crid_err err;
	enum crid_doc_kind kind;

	if (crid_sha256_digest(body, len, digest, &err) < 0) {
		op_fail(op, ENOMEM, "%s", err.msg);
		return;
	}
	/* A manifest fetched by digest must hash to it (tags are trusted as served). */
	if (crid_image_ref_digest_valid(op->fetch_ref) && strcmp(digest, op->fetch_ref) != 0) {
		op_fail(op, EBADMSG, "manifest digest mismatch: expected %s, got %s", op->fetch_ref,
			digest);
		return;
	}
	kind = crid_manifest_kind(ctype, body, len);
	if (kind == CRID_DOC_OCI_INDEX || kind == CRID_DOC_DOCKER_LIST) {
		if (op->index_hops > 0) {
			op_fail(op, EINVAL, "index %s points at another index", op->fetch_ref);
			return;
		}
		got_index(op, ctype, body, len);
		return;
	}
	if (crid_manifest_parse(ctype, body, len, &op->m, &err) < 0) {
		op_fail(op, EINVAL, "manifest: %s", err.msg);
		return;
	}
	op->have_manifest = 1;
	memcpy(op->manifest_digest, digest, sizeof(digest));
	/* Refused before anything else is fetched: such an image could never be mounted. */
	if (op->p->max_layers > 0 && op->m.n_layers > (size_t)op->p->max_layers) {
		op_fail(op, ENOSPC,
			"manifest %s has %zu layers, over the limit of %d (crid.image.max_layers; "
			"overlayfs mounts at most 500)",
			digest, op->m.n_layers, op->p->max_layers);
		return;
	}
	op->step = STEP_CONFIG;
	op->auth_retried = 0;
	get_doc(op);
}

static void start_layers(struct op *op);

static void got_config(struct op *op, const char *body, size_t len)
{
	char digest[CRID_DIGEST_LEN + 1];
	struct crid_err err;

	if (crid_sha256_digest(body, len, digest, &err) < 0) {
		op_fail(op, ENOMEM, "%s", err.msg);
		return;
	}
	if (strcmp(digest, op->m.config.digest) != 0) {
		op_fail(op, EBADMSG, "config digest mismatch: expected %s, got %s",
			op->m.config.digest, digest);
		return;
	}
	if (crid_image_config_parse(body, len, &op->cfg, &err) < 0) {
		op_fail(op, EINVAL, "config %s: %s", digest, err.msg);
		return;
	}
	op->have_config = 1;
	op->config_json = crid_strndup(body, len);
	op->config_len = len;
	if (!op->config_json) {
		op_fail(op, ENOMEM, "config copy");
		return;
	}
	if (op->cfg.diff_ids.n != op->m.n_layers) {
		op_fail(op, EINVAL, "config %s has %zu diff_ids but the manifest has %zu layers",
			digest, op->cfg.diff_ids.n, op->m.n_layers);
		return;
	}
	start_layers(op);
}

/* OpenSSL's words when the peer answered the ClientHello in something else than TLS. */
static bool not_tls(const char *errmsg)
{
	return errmsg && strstr(errmsg, "wrong version number");
}

/*
 * An insecure registry is tried with TLS (unverified) first, then in plain
 * HTTP, as containers/image does (docker_client.go detectProperties). A
 * loopback registry falls back only when it does not speak TLS at all: one
 * that does is still verified (a wrong certificate stays an error).
 */
static bool plain_fallback(const struct crid_endpoint *e, int status, const char *errmsg)
{
	if (e->insecure)
		return status == CRID_HTTP_ETLS || status == CRID_HTTP_EPROTO ||
		       status == CRID_HTTP_ECONNECT;
	return e->loopback && status == CRID_HTTP_ETLS && not_tls(errmsg);
}

/* What to do about a registry that speaks plain HTTP, appended to the error. */
static const char *plain_hint(const char *errmsg)
{
	return not_tls(errmsg) ? " (the registry may speak plain HTTP: list it in "
				 "[crid.image] insecure_registries or pass --insecure-registry "
				 "HOST[:PORT])"
			       : "";
}

static void doc_done(void *user, struct crid_http_request *r, int status, const char *errmsg,
		     const char *body, size_t len)
{
	struct op *op = user;
	const char *what = op->step == STEP_MANIFEST ? "manifest" : "config";
	char hint[256];

	op->req = NULL;
	if (status < 0 && !op->plain && op->step == STEP_MANIFEST &&
	    plain_fallback(&op->eps.v[op->ep], status, errmsg)) {
		crid_log_debug("pull %s: %s: %s; trying plain HTTP", op->key,
			       op->eps.v[op->ep].api_host, errmsg ? errmsg : "TLS failed");
		op->plain = 1;
		if (build_base(op) == 0)
			get_doc(op);
		return;
	}
	if (status < 0) {
		endpoint_failed(op, status == CRID_HTTP_ETOOBIG ? ENOSPC : EAGAIN, "%s: %s%s", what,
				errmsg ? errmsg : "transfer failed", plain_hint(errmsg));
		return;
	}
	if (status == 401 && !op->auth_retried) {
		op->auth_retried = 1;
		if (authorize(op, r) == 1)
			get_doc(op);
		return;
	}
	if (status < 200 || status >= 300) {
		body_hint(body, len, hint, sizeof(hint));
		if (status == 404 && op->step == STEP_MANIFEST)
			endpoint_failed(op, ENOENT, "manifest %s not found in %s/%s: HTTP 404%s",
					op->fetch_ref, op->eps.v[op->ep].host,
					op->eps.v[op->ep].path, hint);
		else
			endpoint_failed(op, status_code(status), "%s %s: HTTP %d %s%s", what,
					op->step == STEP_MANIFEST ? op->fetch_ref
								  : op->m.config.digest,
					status, status_text(status), hint);
		return;
	}
	if (!body)
		body = "";
	if (op->step == STEP_MANIFEST)
		got_manifest(op, r, body, len);
	else
		got_config(op, body, len);
}

static int build_base(struct op *op)
{
	const struct crid_endpoint *e = &op->eps.v[op->ep];
	int n = snprintf(op->base, sizeof(op->base), "%s://%s/v2/%s", op->plain ? "http" : "https",
			 e->api_host, e->path);

	if (n < 0 || (size_t)n >= sizeof(op->base)) {
		op_fail(op, EINVAL, "registry URL too long");
		return -1;
	}
	return 0;
}

static void next_endpoint(struct op *op)
{
	op->plain = 0;
	if (build_base(op) < 0)
		return;
	crid_free(op->authz);
	op->authz = NULL;
	op->step = STEP_MANIFEST;
	op->auth_retried = 0;
	op->index_hops = 0;
	snprintf(op->fetch_ref, sizeof(op->fetch_ref), "%s", crid_image_ref_fetch_ref(&op->ref));
	get_doc(op);
}

/* ---- layers ---- */

static void want_work(struct job *j)
{
	j->backlog = 1;
	j->op->p->any_backlog = 1;
}

/* The unpack budget ran out inside this chunk: keep the rest for the work timer. */
static int layer_sink(void *user, const uint8_t *data, size_t len, struct crid_err *err)
{
	struct job *j = user;
	struct crid_err uerr;
	size_t used = 0;
	/* |err| is &j->err when called from layer_body: copy, never format a message into itself. */
	int rc = crid_layer_unpack_feed(j->unpack, data, len, &used, &uerr);

	if (rc < 0) {
		j->err = uerr; /* layer_done reads the cause from here */
		j->unpack_failed = 1;
		if (err && err != &j->err)
			*err = uerr;
		return -1;
	}
	if (rc == 0)
		return 0;
	if (!j->held && !(j->held = crid_malloc(CRID_LAYER_STREAM_CHUNK)))
		return crid_err_set(err, ENOMEM, "layer: held bytes");
	/* The stream pauses now: no sink call until the work timer resumes it. */
	memcpy(j->held, data + used, len - used);
	j->held_off = 0;
	j->held_len = len - used;
	want_work(j);
	return 1;
}

/* Compressed bytes the stream could not take (its sink paused): at most one curl chunk. */
static int hold_input(struct job *j, const uint8_t *data, size_t len)
{
	want_work(j); /* even with nothing to hold: the stream may still hold output */
	if (len == 0)
		return 0;
	if (j->in_held_len + len > j->in_held_cap) {
		size_t cap = j->in_held_len + len;
		void *n = crid_realloc(j->in_held, cap);

		if (!n)
			return crid_err_set(&j->err, ENOMEM, "layer: held input");
		j->in_held = n;
		j->in_held_cap = cap;
	}
	memcpy(j->in_held + j->in_held_len, data, len);
	j->in_held_len += len;
	return 0;
}

static int layer_body(void *user, const char *data, size_t len)
{
	struct job *j = user;
	struct crid_puller *p = j->op->p;
	size_t consumed = 0;
	int rc;

	if (j->backlog) /* curl delivered while blocked: keep order, hold it all */
		return hold_input(j, (const uint8_t *)data, len) < 0 ? -1 : 1;
	rc = crid_layer_stream_feed(j->stream, (const uint8_t *)data, len, &consumed, &j->err);
	if (rc < 0)
		return -1;
	j->got += len;
	crid_metric_add(&crid_m_pull_bytes, (double)len, j->op->ref.domain, NULL);
	p->budget -= (long)consumed;
	if (rc == 1)
		return hold_input(j, (const uint8_t *)data + consumed, len - consumed) < 0 ? -1 : 1;
	if (p->budget > 0)
		return 0;
	j->paused = 1;
	p->any_paused = 1;
	return 1;
}

static void layer_done(void *user, struct crid_http_request *r, int status, const char *errmsg,
		       const char *body, size_t len);

static const struct crid_http_callbacks layer_cbs = { .on_body = layer_body,
						      .on_done = layer_done };

static int job_start(struct job *j, struct crid_err *err)
{
	struct op *op = j->op;
	const struct crid_descriptor *d = &op->m.layers[j->index];
	char url[2048];
	int fd, n;

	if (!j->staged) {
		fd = crid_image_store_stage(op->p->store, j->staging, sizeof(j->staging), err);
		if (fd < 0)
			return -1;
		j->staged = 1;
		j->unpack = crid_layer_unpack_new(fd, &op->p->lim, err);
		close(fd);
		if (!j->unpack)
			return -1;
		crid_layer_unpack_set_budget(j->unpack, &op->p->ubudget);
		crid_layer_unpack_set_total(j->unpack, &op->total);
		j->stream =
		    crid_layer_stream_new(d->compression, d->digest, (int64_t)d->size,
					  op->cfg.diff_ids.v[j->index], NULL, layer_sink, j, err);
		if (!j->stream)
			return -1;
	}
	n = snprintf(url, sizeof(url), "%s/blobs/%s", op->base, d->digest);
	if (n < 0 || (size_t)n >= sizeof(url))
		return crid_err_set(err, EINVAL, "registry URL too long");
	crid_err_clear(&j->err);
	j->state = JOB_RUNNING;
	return start_get(op, url, NULL, 64 << 10, 0, &layer_cbs, j, &j->req, err);
}

static void finish_image(struct op *op);

/*
 * Over a limit (entries, bytes, xattrs) is exhaustion; bytes that do not
 * decompress or match their digest are corruption (the layer stream).
 */
static int stream_cause(int code)
{
	if (code == E2BIG || code == EFBIG || code == ENOSPC || code == EDQUOT)
		return ENOSPC;
	return code == ENOMEM ? ENOMEM : EBADMSG;
}

/*
 * The unpacker refused what the archive says (a name climbing out, a bad
 * whiteout, a link to outside, a malformed header): the image is invalid,
 * INVALID_ARGUMENT, as a bad manifest or config is; retrying cannot help.
 * Errors of the host's filesystem keep their own code.
 */
static int unpack_cause(int code)
{
	switch (code) {
	case EINVAL:
	case ENOENT:
	case ENOTDIR:
	case ELOOP:
	case EEXIST:
	case EISDIR:
	case ENOTEMPTY:
	case ENAMETOOLONG:
	case EMLINK:
	case EXDEV:
		return EINVAL;
	case EIO:
	case EROFS:
	case EMFILE:
	case ENFILE:
	case EPERM:
	case EACCES:
		return EIO;
	default:
		return stream_cause(code);
	}
}

static int job_cause(const struct job *j)
{
	return j->unpack_failed ? unpack_cause(j->err.code) : stream_cause(j->err.code);
}

static void layer_fail(struct job *j, int code, const char *msg)
{
	struct op *op = j->op;

	op_fail(op, code, "layer %zu (%s): %s", j->index, op->m.layers[j->index].digest, msg);
}

static void layer_done(void *user, struct crid_http_request *r, int status, const char *errmsg,
		       const char *body, size_t len)
{
	struct job *j = user;
	struct crid_err err;
	char hint[256];

	(void)r;
	j->req = NULL;
	if (status == CRID_HTTP_EABORTED) {
		layer_fail(j, job_cause(j), j->err.msg);
		return;
	}
	if (status < 0) {
		layer_fail(j, EAGAIN, errmsg ? errmsg : "transfer failed");
		return;
	}
	if (status < 200 || status >= 300) {
		body_hint(body, len, hint, sizeof(hint));
		snprintf(err.msg, sizeof(err.msg), "blob: HTTP %d %s%s", status,
			 status_text(status), hint);
		layer_fail(j, status_code(status), err.msg);
		return;
	}
	/* Verifying, the last directory mtimes and the commit run from the work timer. */
	j->body_done = 1;
	want_work(j);
}

static void layer_committed(struct job *j)
{
	struct op *op = j->op;

	j->staged = 0;
	j->state = JOB_DONE;
	op->done_jobs++;
	crid_log_debug("pull %s: layer %zu %s unpacked (%" PRIu64 " bytes, %" PRIu64 " inodes)",
		       op->key, j->index, op->m.layers[j->index].digest, j->info.bytes,
		       j->info.inodes);
	wake_waiters(op->p, op->chain[j->index]);
	pump_jobs(op);
}

static void start_sync(struct crid_puller *p);

/* The sync covering |c| ended with |status|: rename its layer into place, or give up. */
static void commit_done(struct crid_puller *p, struct commit *c, int status)
{
	struct job *j = c->job;
	struct crid_err err;

	if (!j) {
		crid_image_store_discard(p->store, c->wrap);
		crid_free(c);
		return;
	}
	j->commit = NULL;
	if (status != 0) {
		crid_image_store_discard(p->store, c->wrap);
		crid_free(c);
		snprintf(err.msg, sizeof(err.msg), "`%s -f` of the image store exited with %d",
			 SYNC_PATH, status);
		layer_fail(j, EIO, err.msg);
		return;
	}
	if (crid_image_store_commit_end(p->store, c->wrap, &j->info, &err) < 0) {
		crid_free(c);
		layer_fail(j, err.code ? err.code : EIO, err.msg);
		return;
	}
	crid_free(c);
	layer_committed(j);
}

/* `sync -f` exited: the trees and layer.json files it covered are durable. */
static void sync_exited(struct crid_child *child, int status, void *user)
{
	struct crid_puller *p = user;
	struct commit *c = p->synced;

	(void)child;
	p->syncing = 0;
	p->synced = NULL;
	/* Each may end an operation; the list is ours alone by now. */
	while (c) {
		struct commit *next = c->next;

		commit_done(p, c, status);
		c = next;
	}
	if (p->waiting && !p->closing)
		start_sync(p);
}

static void start_sync(struct crid_puller *p)
{
	char *argv[] = { "sync", "-f", (char *)crid_image_store_dir(p->store), NULL };
	struct crid_spawn_opts o = { SYNC_PATH, argv, NULL, -1, -1, -1 };
	struct commit *c;
	struct crid_err err;

	p->synced = p->waiting;
	p->waiting = NULL;
	if (crid_spawn(p->loop, &p->sync, &o, sync_exited, p, &err) == 0) {
		p->syncing = 1;
		return;
	}
	crid_log_warn("image store: cannot start `%s`: %s", SYNC_PATH, err.msg);
	c = p->synced;
	p->synced = NULL;
	while (c) {
		struct commit *next = c->next;

		commit_done(p, c, 127);
		c = next;
	}
}

/* Verified and unpacked: into a wrap dir, durable with the next `sync -f`, then renamed. */
static void commit_layer(struct job *j)
{
	struct op *op = j->op;
	const struct crid_descriptor *d = &op->m.layers[j->index];
	struct crid_puller *p = op->p;
	struct commit *c = crid_calloc(1, sizeof(*c));
	struct crid_err err;
	int rc;

	/*
	 * Downloaded and unpacked: its slot goes to the next layer now, not after
	 * the sync. Otherwise every CRID_PULL_PARALLEL layers wait a whole `sync
	 * -f`, which made an image of many small layers cost a sync per 3 layers.
	 */
	op->running--;
	if (!c) {
		layer_fail(j, ENOMEM, "commit");
		return;
	}
	c->job = j;
	memcpy(j->info.chain_id, op->chain[j->index], sizeof(j->info.chain_id));
	memcpy(j->info.blob_digest, d->digest, sizeof(j->info.blob_digest));
	j->info.blob_size = d->size;
	rc = crid_image_store_commit_begin(op->p->store, j->staging, &j->info, c->wrap,
					   sizeof(c->wrap), &err);
	j->staged = 0; /* the store moved or discarded it */
	if (rc == 0) {
		crid_debug_point("image-mid-layer-commit"); /* staged, not yet in layers/ */
		c->next = p->waiting;
		p->waiting = c;
		j->commit = c;
		pump_jobs(op); /* may end |op|: a failed start; the sync discards |c| then */
		if (!p->syncing)
			start_sync(p);
		return;
	}
	crid_free(c);
	if (rc != 1) {
		layer_fail(j, err.code ? err.code : EIO, err.msg);
		return;
	}
	layer_committed(j); /* another pull committed it meanwhile */
}

/* The transfer is complete and nothing is held: verify, last mtimes, commit. */
static int layer_finish(struct job *j)
{
	struct crid_layer_digests dg;
	struct crid_layer_stats st;
	struct crid_err err;
	int rc;

	if (!j->stream_done) {
		if (crid_layer_stream_finish(j->stream, &dg, &err) < 0) {
			layer_fail(j, stream_cause(err.code), err.msg);
			return -1;
		}
		memcpy(j->info.diff_id, dg.diff_id, sizeof(j->info.diff_id));
		j->stream_done = 1;
	}
	rc = crid_layer_unpack_finish(j->unpack, &st, &err);
	if (rc < 0) {
		layer_fail(j, unpack_cause(err.code), err.msg);
		return -1;
	}
	if (rc == 1)
		return 1;
	j->info.bytes = st.bytes;
	j->info.inodes = st.inodes;
	job_free_work(j);
	commit_layer(j);
	return -1; /* |j| may have ended its op */
}

static int fail_held(struct job *j)
{
	layer_fail(j, job_cause(j), j->err.msg);
	return -1;
}

/*
 * One slice of a blocked job, in order: held decompressed bytes, output the
 * stream still holds, held compressed bytes, then curl or the finish steps.
 * Returns 1 while the budget keeps it blocked, 0 when it drained and curl
 * goes on, -1 when it ended (failed or committing: |j| may be gone).
 */
static int job_advance(struct job *j)
{
	size_t used;
	int rc;

	if (j->stream_done) /* verified already: directory mtimes left */
		return layer_finish(j);
	if (j->held_len) {
		rc = crid_layer_unpack_feed(j->unpack, j->held + j->held_off, j->held_len, &used,
					    &j->err);
		if (rc < 0) {
			j->unpack_failed = 1;
			return fail_held(j);
		}
		j->held_off += used;
		j->held_len -= used;
		if (rc == 1)
			return 1;
	}
	rc = crid_layer_stream_resume(j->stream, &j->err);
	if (rc != 0)
		return rc < 0 ? fail_held(j) : 1;
	while (j->in_held_len) {
		rc = crid_layer_stream_feed(j->stream, j->in_held, j->in_held_len, &used, &j->err);
		if (rc < 0)
			return fail_held(j);
		memmove(j->in_held, j->in_held + used, j->in_held_len - used);
		j->in_held_len -= used;
		if (rc == 1)
			return 1;
	}
	if (j->body_done)
		return layer_finish(j);
	j->backlog = 0;
	crid_http_request_resume(j->req);
	return 0;
}

/* The next job with work left, or NULL; ops may end while we go, so search afresh. */
static struct job *next_backlog(struct crid_puller *p, unsigned pass)
{
	for (struct op *op = p->ops; op; op = op->next)
		for (size_t i = 0; i < op->n_jobs; i++)
			if (op->jobs[i].backlog && op->jobs[i].state == JOB_RUNNING &&
			    op->jobs[i].pass != pass)
				return &op->jobs[i];
	return NULL;
}

/* Each blocked job gets a turn while the iteration's unpack budget lasts. */
static void work_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
	struct crid_puller *p = w->data;
	struct job *j;

	(void)ev;
	(void)revents;
	p->any_backlog = 0;
	p->pass++;
	while ((j = next_backlog(p, p->pass))) {
		j->pass = p->pass;
		if (crid_unpack_budget_spent(&p->ubudget)) {
			p->any_backlog = 1;
			break;
		}
		if (job_advance(j) == 1)
			p->any_backlog = 1;
	}
}

/*
 * A layer already in the store counts towards the image's unpacked bytes as
 * if this pull had unpacked it. Returns -1 when that goes over the limit
 * (|op| has failed).
 */
static int count_stored(struct op *op, size_t i, const struct crid_layer_info *l)
{
	if (l->bytes > op->total.max - op->total.bytes) {
		op_fail(op, ENOSPC,
			"layer %zu (%s): in the store with %" PRIu64 " bytes: the image's "
			"unpacked bytes are over the limit of %" PRIu64
			" (crid.image.max_image_unpacked_bytes)",
			i, op->m.layers[i].digest, l->bytes, op->total.max);
		return -1;
	}
	op->total.bytes += l->bytes;
	return 0;
}

/*
 * Starts queued layers up to the cap (one download per chain ID daemon-wide);
 * ends |op| when all are in. Each call looks from op->scan and stops at the
 * cap, so a pull of n layers costs O(n) here, not O(n^2) (a 1000-layer image
 * used to rescan every job, with a store lookup each, after every layer).
 */
/* Job |i| of |op| may be done, waiting or downloaded; -1 when |op| has ended. */
static int pump_one(struct op *op, size_t i)
{
	struct crid_puller *p = op->p;
	struct job *j = &op->jobs[i];
	const struct crid_layer_info *l = crid_image_store_layer(p->store, op->chain[i]);
	struct crid_err err;

	if (l) {
		j->state = JOB_DONE; /* another pull brought it in */
		crid_metric_inc(&crid_m_layer_reuse, NULL, NULL);
		op->done_jobs++;
		return count_stored(op, i, l);
	}
	if (in_flight(p, op, op->chain[i])) {
		j->state = JOB_WAITING;
		crid_log_debug("pull %s: layer %zu %s is being pulled already, waiting", op->key, i,
			       op->m.layers[i].digest);
		return 0;
	}
	op->running++;
	if (job_start(j, &err) < 0) {
		layer_fail(j, err.code ? err.code : EIO, err.msg);
		return -1;
	}
	return 0;
}

static void pump_jobs(struct op *op)
{
	for (size_t i = op->scan; i < op->n_jobs && op->running < CRID_PULL_PARALLEL; i++) {
		if (op->jobs[i].state == JOB_QUEUED && pump_one(op, i) < 0)
			return;
		if (i == op->scan && op->jobs[i].state != JOB_QUEUED)
			op->scan++; /* wake_waiters lowers it again for a job queued anew */
	}
	if (op->done_jobs == op->n_jobs)
		finish_image(op);
}

static void start_layers(struct op *op)
{
	struct crid_err err;

	if (op->m.n_layers == 0) {
		op_fail(op, EINVAL, "manifest %s has no layers", op->manifest_digest);
		return;
	}
	op->chain = crid_calloc(op->m.n_layers, sizeof(*op->chain));
	op->jobs = crid_calloc(op->m.n_layers, sizeof(*op->jobs));
	if (!op->chain || !op->jobs) {
		op_fail(op, ENOMEM, "layer table");
		return;
	}
	if (crid_chain_ids(op->cfg.diff_ids.v, op->m.n_layers, op->chain, &err) < 0) {
		op_fail(op, EINVAL, "config: %s", err.msg);
		return;
	}
	op->n_jobs = op->m.n_layers;
	op->total = (struct crid_unpack_total){ 0, op->p->max_image_bytes };
	for (size_t i = 0; i < op->n_jobs; i++) {
		struct job *j = &op->jobs[i];

		j->op = op;
		j->index = i;
		if (op->m.layers[i].foreign) {
			op_fail(op, EINVAL, "layer %zu (%s) is a foreign layer", i,
				op->m.layers[i].digest);
			return;
		}
	}
	pump_jobs(op);
}

static void finish_image(struct op *op)
{
	struct crid_image img;
	char tagged[CRID_REF_STRING_MAX], digested[CRID_REF_STRING_MAX];
	char *tags[1], *digests[1];
	char **layers;
	uint64_t size = op->config_len;
	struct crid_err err;
	char id[CRID_DIGEST_LEN + 1];

	layers = crid_calloc(op->m.n_layers, sizeof(*layers));
	if (!layers) {
		op_fail(op, ENOMEM, "image record");
		return;
	}
	for (size_t i = 0; i < op->m.n_layers; i++) {
		layers[i] = op->chain[i];
		size += op->m.layers[i].size;
	}
	memset(&img, 0, sizeof(img));
	snprintf(img.id, sizeof(img.id), "%s", op->m.config.digest);
	if (crid_image_ref_tagged(&op->ref, tagged, sizeof(tagged)) > 0) {
		tags[0] = tagged;
		img.tags = (struct crid_strv){ tags, 1 };
	}
	if (crid_image_ref_digested(&op->ref, op->manifest_digest, digested, sizeof(digested)) >
	    0) {
		digests[0] = digested;
		img.digests = (struct crid_strv){ digests, 1 };
	}
	img.layers = (struct crid_strv){ layers, op->m.n_layers };
	img.size = size;
	img.config_json = op->config_json;
	img.user = op->cfg.user ? op->cfg.user : "";
	if (crid_image_store_add(op->p->store, &img, &err) < 0) {
		crid_free(layers);
		op_fail(op, err.code ? err.code : EIO, "store: %s", err.msg);
		return;
	}
	crid_free(layers);
	memcpy(id, img.id, sizeof(id));
	op_complete(op, 0, id, NULL);
}

/* ---- start ---- */

/* A running pull of |key| asked with the same credentials (a wrong password must not ride along). */
static struct op *find_op(struct crid_puller *p, const char *key, uint64_t creds)
{
	for (struct op *op = p->ops; op; op = op->next)
		if (strcmp(op->key, key) == 0 && op->creds == creds)
			return op;
	return NULL;
}

static uint64_t fnv1a(uint64_t h, const char *s)
{
	for (; s && *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return (h ^ 0xff) * 0x100000001b3ULL; /* a separator no string holds */
}

static uint64_t creds_of(const struct crid_pull_auth *a)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	if (!a)
		return h;
	h = fnv1a(h, a->username);
	h = fnv1a(h, a->password);
	h = fnv1a(h, a->auth);
	h = fnv1a(h, a->identity_token);
	return fnv1a(h, a->registry_token);
}

static int dup_opt(char **dst, const char *src)
{
	if (!src || !*src)
		return 0;
	*dst = crid_strdup(src);
	return *dst ? 0 : -1;
}

static void kick_cb(struct ev_loop *ev, ev_timer *t, int revents)
{
	(void)ev;
	(void)revents;
	next_endpoint(t->data);
}

static int copy_auth(struct op *op, const struct crid_pull_auth *a, struct crid_err *err)
{
	if (!a)
		return 0;
	if (a->auth && *a->auth && !(a->username && *a->username)) {
		if (crid_auth_decode_auth(a->auth, &op->user, &op->pass, err) < 0)
			return crid_err_wrap(err, "auth");
	} else if (dup_opt(&op->user, a->username) < 0 || dup_opt(&op->pass, a->password) < 0) {
		return crid_err_set(err, ENOMEM, "credentials");
	}
	if (dup_opt(&op->identity_token, a->identity_token) < 0 ||
	    dup_opt(&op->registry_token, a->registry_token) < 0)
		return crid_err_set(err, ENOMEM, "credentials");
	return 0;
}

#define AUTH_FILE_MAX (1u << 20)

/* The whole small file, NUL-terminated (crid_malloc'd), or NULL. */
static char *slurp(const char *path, struct crid_err *err)
{
	struct stat st;
	char *buf = NULL;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0) {
		crid_err_set(err, errno, "open `%s`", path);
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > AUTH_FILE_MAX) {
		crid_err_set(err, EINVAL, "`%s`: not a regular file under 1 MiB", path);
		goto out;
	}
	buf = crid_malloc((size_t)st.st_size + 1);
	if (!buf) {
		crid_err_set(err, ENOMEM, "`%s`", path);
		goto out;
	}
	n = read(fd, buf, (size_t)st.st_size);
	if (n < 0) {
		crid_err_set(err, errno, "read `%s`", path);
		crid_free(buf);
		buf = NULL;
		goto out;
	}
	buf[n] = 0;
out:
	close(fd);
	return buf;
}

static const char *json_field(yajl_val entry, const char *name)
{
	const char *path[] = { name, NULL };
	yajl_val v = yajl_tree_get(entry, path, yajl_t_string);

	return v ? YAJL_GET_STRING(v) : NULL;
}

/*
 * Credentials for |op|'s registry from the auth file (docker's config.json,
 * containers-auth.json(5): {"auths": {"host[:port]": {"auth": "base64"}}}),
 * when the request brought none. Read at each pull, so edits apply at once;
 * a missing or broken file means anonymous (logged).
 */
static int auth_file_creds(struct crid_puller *p, struct op *op, struct crid_err *err)
{
	const char *keys[3] = { op->ref.domain, NULL, NULL };
	struct crid_pull_auth a = { 0 };
	struct crid_err ferr;
	yajl_val root, entry = NULL;
	char ebuf[128];
	char *buf;
	int rc = 0;

	if (!p->auth_file || op->user || op->identity_token || op->registry_token)
		return 0;
	buf = slurp(p->auth_file, &ferr);
	if (!buf) {
		if (ferr.code != ENOENT)
			crid_log_warn("auth file: %s; pulling %s anonymously", ferr.msg, op->key);
		return 0;
	}
	root = yajl_tree_parse(buf, ebuf, sizeof(ebuf));
	crid_free(buf);
	if (!root) {
		crid_log_warn("auth file `%s`: invalid JSON; pulling %s anonymously", p->auth_file,
			      op->key);
		return 0;
	}
	if (strcmp(op->ref.domain, CRID_REF_DEFAULT_DOMAIN) == 0) {
		keys[1] = "https://index.docker.io/v1/";
		keys[2] = "index.docker.io";
	}
	for (size_t i = 0; i < 3 && keys[i] && !entry; i++) {
		const char *path[] = { "auths", keys[i], NULL };

		entry = yajl_tree_get(root, path, yajl_t_object);
	}
	if (entry) {
		a.auth = json_field(entry, "auth");
		a.username = json_field(entry, "username");
		a.password = json_field(entry, "password");
		a.identity_token = json_field(entry, "identitytoken");
		a.registry_token = json_field(entry, "registrytoken");
		rc = copy_auth(op, &a, err);
		if (rc < 0)
			crid_err_wrap(err, "auth file `%s`, registry %s", p->auth_file,
				      op->ref.domain);
	}
	yajl_tree_free(root);
	return rc;
}

struct crid_op_waiter *crid_pull_start(struct crid_puller *p, const char *image,
				       const struct crid_pull_auth *auth, crid_pull_done_fn done,
				       void *user, struct crid_err *err)
{
	struct crid_image_ref ref;
	char key[CRID_REF_STRING_MAX];
	struct crid_op_waiter *w;
	struct op *op;

	if (crid_image_ref_parse(image, &ref, err) < 0)
		return NULL;
	if (ref.kind != CRID_REF_NAMED) {
		set_cause(err, EINVAL, "image `%s` is an image id, not a reference to pull", image);
		return NULL;
	}
	if (crid_image_ref_string(&ref, key, sizeof(key)) < 0) {
		set_cause(err, EINVAL, "image `%s`: reference too long", image);
		return NULL;
	}
	op = find_op(p, key, creds_of(auth));
	if (op) {
		w = crid_op_wait(&op->async, (crid_op_fn)done, user);
		if (!w) {
			crid_err_set(err, ENOMEM, "pull waiter");
			return NULL;
		}
		crid_log_debug("pull %s: joined the running pull", key);
		return w;
	}
	op = crid_calloc(1, sizeof(*op));
	if (!op) {
		crid_err_set(err, ENOMEM, "pull operation");
		return NULL;
	}
	crid_op_init(&op->async, 0);
	op->p = p;
	op->ref = ref;
	op->creds = creds_of(auth);
	memcpy(op->key, key, sizeof(key));
	if (copy_auth(op, auth, err) < 0 || auth_file_creds(p, op, err) < 0)
		goto fail;
	if (crid_registries_resolve(p->regs, &ref, &op->eps, err) < 0) {
		crid_err_wrap(err, "pull image `%s`", key);
		goto fail;
	}
	if (op->eps.n == 0) {
		set_cause(err, EINVAL, "pull image `%s`: no registry endpoint", key);
		goto fail;
	}
	w = crid_op_wait(&op->async, (crid_op_fn)done, user);
	if (!w) {
		crid_err_set(err, ENOMEM, "pull waiter");
		goto fail;
	}
	op->next = p->ops;
	p->ops = op;
	p->n_ops++;
	crid_log_info("pull %s: started", key);
	op->started = crid_metrics_clock();
	/* From the loop, so that |done| never runs before we return. */
	ev_timer_init(&op->kick, kick_cb, 0., 0.);
	op->kick.data = op;
	ev_timer_start(p->loop->ev, &op->kick);
	return w;
fail:
	crid_endpoint_list_free(&op->eps);
	crid_free(op->user);
	crid_free(op->pass);
	crid_free(op->identity_token);
	crid_free(op->registry_token);
	crid_free(op);
	return NULL;
}

/* ---- progress: a read-only view for Status verbose info ---- */

size_t crid_puller_progress(const struct crid_puller *p, struct crid_pull_progress *out, size_t max)
{
	size_t n = 0;

	for (const struct op *op = p->ops; op; op = op->next, n++) {
		struct crid_pull_progress *g;

		if (n >= max)
			continue;
		g = &out[n];
		memset(g, 0, sizeof(*g));
		snprintf(g->image, sizeof(g->image), "%s", op->key);
		if (!op->jobs)
			continue;
		g->layers_total = op->n_jobs;
		g->layers_done = op->done_jobs;
		for (size_t i = 0; i < op->n_jobs; i++) {
			uint64_t size = op->m.layers[i].size, got = op->jobs[i].got;

			g->bytes_total += size;
			g->bytes_done += op->jobs[i].state == JOB_DONE || got > size ? size : got;
		}
	}
	return n;
}
