/*
 * ImageService/PullImage, answered when its pull ends; the puller lives on
 * struct crid_daemon (d->puller). The work is runtime/image/image_pull.h's.
 */
#include <errno.h>
#include <string.h>

#include "handlers/pull.h"
#include "proto/api.pb-c.h"
#include "reactor/log.h"
#include "reactor/mem.h"
#include "runtime/image/image_names.h"
#include "runtime/image/image_pull.h"
#include "runtime/image/image_store.h"

/* One PullImage call waiting for its operation; outlives the dispatch's stack rpc. */
struct pull_call {
	struct crid_rpc rpc; /* a copy with its own (empty) arena */
	struct crid_op_waiter *w;
};

int crid_pull_init(struct crid_daemon *d, struct crid_err *err)
{
	if (crid_puller_new(d->loop, d->cfg, d->images, &d->trash, &d->puller, err) < 0)
		return crid_err_wrap(err, "image puller");
	return 0;
}

void crid_pull_cleanup(struct crid_daemon *d)
{
	crid_puller_free(d->puller);
	d->puller = NULL;
}

static void pull_done(void *user, int status, const char *image_id, const struct crid_err *err)
{
	struct pull_call *pc = user;

	if (status < 0) {
		crid_rpc_fail(&pc->rpc, crid_rpc_status(err->code), "%s", err->msg);
	} else {
		Runtime__V1__PullImageResponse resp = RUNTIME__V1__PULL_IMAGE_RESPONSE__INIT;

		resp.image_ref = (char *)image_id;
		crid_rpc_reply(&pc->rpc, &resp.base);
	}
	crid_arena_reset(&pc->rpc.arena);
	crid_free(pc);
}

/* The client went away or the deadline passed: leave the pull (the last one leaving stops it). */
static void pull_cancelled(struct crid_grpc_call *call, int status, void *user)
{
	struct pull_call *pc = user;

	(void)call;
	crid_log_info("rpc=PullImage status=%s: client gone, leaving the pull",
		      crid_grpc_status_name(status));
	crid_pull_waiter_cancel(pc->w);
	crid_arena_reset(&pc->rpc.arena);
	crid_free(pc);
}

/*
 * A pull by image id of an image already in the store answers with that
 * image and fetches nothing, as CRI-O does (c/storage's
 * HeuristicallyTryResolvingStringAsIDPrefix): `sha256:<hex>`, `<64 hex>`, or
 * a hex id prefix (3 characters or more, unique) that names no image by name.
 * The lookup is the resolver every image RPC uses. Returns 1 when answered:
 * found, INVALID_ARGUMENT for a malformed reference, or NOT_FOUND for a form
 * that can only be an id. Otherwise 0: pull it by name.
 */
static int pull_by_id(struct crid_rpc *rpc, const char *name)
{
	Runtime__V1__PullImageResponse resp = RUNTIME__V1__PULL_IMAGE_RESPONSE__INIT;
	struct crid_image *img;
	struct crid_err err;
	bool by_id = false;
	int r = crid_image_names_resolve(rpc->d->images, name, &img, &by_id, &err);

	if (r < 0 && err.code != ENOENT) {
		crid_rpc_fail(rpc, crid_rpc_status(err.code), "image.image: %s", err.msg);
		return 1;
	}
	if (r == 0 && by_id) {
		crid_log_info("rpc=PullImage %s: image id of %s, already present", name, img->id);
		resp.image_ref = img->id;
		crid_rpc_reply(rpc, &resp.base);
		return 1;
	}
	if (r == 0 || !crid_image_names_id_only(name))
		return 0;
	crid_rpc_fail(
	    rpc, CRID_GRPC_NOT_FOUND,
	    "image.image: no image with id `%s` in the store (or the prefix is ambiguous); "
	    "an image id can only be pulled when the image is present: pull it by name",
	    name);
	return 1;
}

static const char *opt(const char *s)
{
	return s && *s ? s : NULL;
}

void crid_handle_pull_image(struct crid_rpc *rpc, const ProtobufCMessage *request)
{
	const Runtime__V1__PullImageRequest *req = (const void *)request;
	const Runtime__V1__AuthConfig *a = req->auth;
	struct crid_pull_auth auth = { 0 };
	struct pull_call *pc;
	struct crid_err err;

	if (!req->image || !req->image->image || !req->image->image[0]) {
		crid_rpc_fail(rpc, CRID_GRPC_INVALID_ARGUMENT, "image.image: must not be empty");
		return;
	}
	if (pull_by_id(rpc, req->image->image))
		return;
	if (!rpc->d->puller) {
		crid_rpc_fail(rpc, CRID_GRPC_UNAVAILABLE, "image puller not initialized");
		return;
	}
	if (a) {
		if (opt(a->password) && !opt(a->username)) {
			crid_rpc_fail(rpc, CRID_GRPC_INVALID_ARGUMENT,
				      "auth.password: given without auth.username");
			return;
		}
		auth.username = opt(a->username);
		auth.password = opt(a->password);
		auth.auth = opt(a->auth);
		auth.identity_token = opt(a->identity_token);
		auth.registry_token = opt(a->registry_token);
	}
	pc = crid_calloc(1, sizeof(*pc));
	if (!pc) {
		crid_rpc_fail(rpc, CRID_GRPC_RESOURCE_EXHAUSTED, "out of memory for the pull");
		return;
	}
	pc->rpc.d = rpc->d;
	pc->rpc.call = rpc->call;
	pc->rpc.method = rpc->method;
	crid_arena_init(&pc->rpc.arena, 1u << 20);
	pc->w = crid_pull_start(rpc->d->puller, req->image->image, a ? &auth : NULL, pull_done, pc,
				&err);
	if (!pc->w) {
		crid_free(pc);
		crid_rpc_fail(rpc, crid_rpc_status(err.code), "image.image: %s", err.msg);
		return;
	}
	crid_grpc_call_on_cancel(rpc->call, pull_cancelled, pc);
}
