/*
 * One CRI call as a handler sees it: the daemon, the decoded request's arena,
 * and the two ways to end it. Errors are mapped to gRPC codes here and only
 * here, in handlers/.
 */
#ifndef CRID_RPC_H
#define CRID_RPC_H

#include <protobuf-c/protobuf-c.h>

#include "handlers/handlers.h"
#include "reactor/arena.h"

struct crid_method;

struct crid_rpc {
	struct crid_daemon *d;
	struct crid_grpc_call *call;
	const struct crid_method *method;
	struct crid_arena arena;
	ProtobufCAllocator alloc; /* draws from |arena| */
};

typedef void (*crid_handler_fn)(struct crid_rpc *rpc, const ProtobufCMessage *request);

/* Encodes |reply| straight into the response stream and ends the call with OK. */
void crid_rpc_reply(struct crid_rpc *rpc, const ProtobufCMessage *reply);

/*
 * Ends the call with OK after the handler wrote its reply itself through
 * crid_grpc_call_reserve() (pre-encoded replies).
 */
void crid_rpc_finish_ok(struct crid_rpc *rpc);

/* Ends the call with |status| and a message naming the field or object at fault. */
void crid_rpc_fail(struct crid_rpc *rpc, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* What a call reads, for crid_rpc_ready(). */
#define CRID_NEED_PODS 1u
#define CRID_NEED_CTRS 2u

/*
 * Whether the pod (CRID_NEED_PODS) and container (CRID_NEED_CTRS) stores
 * the call reads are open; false after failing it UNAVAILABLE naming the
 * first that is not (a daemon still starting, or a test's partial daemon).
 */
bool crid_rpc_ready(struct crid_rpc *rpc, unsigned need);

/* The gRPC status for an errno a runtime/ or io/ function failed with. */
int crid_rpc_status(int code);

/* A copy of |s| in the call's arena (NULL when out of memory). */
char *crid_rpc_strdup(struct crid_rpc *rpc, const char *s);

#endif
