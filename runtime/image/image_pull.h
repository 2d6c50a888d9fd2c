/*
 * PullImage as an operation on the loop: reference -> endpoints (mirrors
 * first) -> manifest (index -> platform choice) -> config blob -> every
 * layer the store lacks, streamed blob -> layer_stream -> layer_unpack into
 * a staging dir, verified, committed -> image record. Layers of one image
 * download in parallel (CRID_PULL_PARALLEL at a time). Concurrent pulls of
 * one reference share one operation with many waiters; when the last waiter
 * leaves, the transfers stop and staging dirs are discarded.
 *
 * Errors reach the waiter as a struct crid_err whose code classifies the
 * cause for handlers/: EACCES (401), EPERM (403 or blocked registry),
 * ENOENT (404), EAGAIN (429, 5xx, transport), EBADMSG (digest, size or
 * diffID mismatch), EINVAL (bad reference or document), ECANCELED.
 */
#ifndef CRID_IMAGE_PULL_H
#define CRID_IMAGE_PULL_H

#include <stdint.h>

#include "reactor/err.h"
#include "reactor/loop.h"
#include "reactor/op.h"
#include "runtime/config/config.h"
#include "runtime/image/image_ref.h"
#include "runtime/image/image_store.h"
#include "runtime/state/trash.h"

#define CRID_PULL_PARALLEL 3

struct crid_puller;

/* Credentials from the CRI AuthConfig; every field optional, copied. */
struct crid_pull_auth {
	const char *username, *password;
	const char *auth; /* base64 "user:pass" */
	const char *identity_token, *registry_token;
};

/*
 * Completion: |status| 0 with |image_id| ("sha256:<config digest>"), or -1
 * with |err| naming the image and the cause. Runs from the loop, never from
 * inside crid_pull_start(); the waiter is freed after it returns.
 */
typedef void (*crid_pull_done_fn)(void *user, int status, const char *image_id,
				  const struct crid_err *err);

/*
 * Creates the puller: a DNS resolver and an HTTP client on |loop|, the
 * registries of |cfg|. |cfg|, |store| and |trash| (may be NULL) are not owned
 * and must outlive it.
 */
int crid_puller_new(struct crid_loop *loop, const struct crid_config *cfg,
		    struct crid_image_store *store, struct crid_trash *trash,
		    struct crid_puller **out, struct crid_err *err);

/* Cancels every operation (no callbacks) and frees |p| (NULL ok). */
void crid_puller_free(struct crid_puller *p);

/*
 * Pulls |image| (any reference form kubelet sends) or joins the pull of the
 * same normalized reference already running. Returns a waiter handle, valid
 * until |done| runs or crid_pull_waiter_cancel(); NULL with |err| (EINVAL,
 * EPERM, ENOMEM) when the pull cannot start.
 */
struct crid_op_waiter *crid_pull_start(struct crid_puller *p, const char *image,
				       const struct crid_pull_auth *auth, crid_pull_done_fn done,
				       void *user, struct crid_err *err);

/* Leaves the pull without a callback; the last waiter leaving stops it. */
void crid_pull_waiter_cancel(struct crid_op_waiter *w);

/* Operations running (tests). */
size_t crid_puller_active(const struct crid_puller *p);

/* Where one pull operation stands; layers and bytes are 0 until its manifest is in. */
struct crid_pull_progress {
	char image[CRID_REF_STRING_MAX]; /* the normalized reference */
	size_t layers_done, layers_total;
	uint64_t bytes_done, bytes_total; /* compressed layer bytes; present layers count as done */
};

/*
 * Read-only snapshot of up to |max| operations in flight into |out|; returns
 * how many there are (may exceed |max|). For Status verbose info and cridctl.
 */
size_t crid_puller_progress(const struct crid_puller *p, struct crid_pull_progress *out,
			    size_t max);

#endif
