/*
 * Server-streamed lists (KEP-5825: StreamPodSandboxes, StreamContainers,
 * StreamContainerStats, StreamPodSandboxStats, StreamImages, and any list of
 * pre-encoded entries): the entries of a list sent as a repeated field of
 * successive response messages, each at most a bound in bytes, one message
 * at a time as HTTP/2 flow control lets the stream take it.
 */
#ifndef CRID_LIST_STREAM_H
#define CRID_LIST_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "handlers/rpc.h"

/*
 * The default bound of one streamed message, prefix excluded: 32 KiB keeps a
 * stream's peak (one message plus its 32-byte-per-entry id snapshot) within
 * 64 KiB at 1,000 entries, at ~470 bytes per pod 70 pods a message.
 */
#define CRID_LIST_STREAM_MSG_MAX (32u << 10)

/*
 * Where a streamed list's entries come from. Each entry is one repeated
 * field of the response message, encoded whole: tag, length, bytes (what
 * crid_list_item_encode() makes for field 1, the field every Stream*
 * response uses; another field number needs only another tag byte).
 */
struct crid_list_stream_source {
	/*
	 * The entry to send next in *p, *len, without moving past it: valid
	 * until advance() or until the callback the stream runs it from
	 * returns (the stream asks again after a pause). |rpc| is the stream's
	 * (its daemon, call and a private arena for temporaries). Returns 1 for
	 * an entry, 0 when there are no more, -1 when out of memory. Runs on
	 * the loop: one entry's work, bounded.
	 */
	int (*peek)(void *state, struct crid_rpc *rpc, const uint8_t **p, size_t *len);
	/* Moves past the entry peek() gave. */
	void (*advance)(void *state);
	/* Frees |state| once the stream is over, however it ended. */
	void (*free)(void *state);
};

/*
 * Streams |src|'s entries on |rpc|'s call and ends it with OK after the last
 * (no message at all for an empty list: a Trailers-Only OK). Each message
 * holds as many whole entries as fit in |max_msg| bytes, at least one (an
 * entry larger than |max_msg| goes alone, up to the 16 MiB gRPC limit).
 * The next message is built only once HTTP/2 has taken the previous one
 * and the stream's flow-control window has room (crid_grpc_call_on_ready),
 * so a client that stops reading holds one message of memory, whatever the
 * list's length. A client that cancels or disconnects ends the stream at
 * once: |src|->free(|state|) runs and nothing is used afterwards.
 * Takes ownership of |state| (freed even when starting fails, which fails
 * the call). |rpc| may be the dispatch's: only its daemon, call and method
 * are kept.
 */
void crid_list_stream_start(struct crid_rpc *rpc, size_t max_msg,
			    const struct crid_list_stream_source *src, void *state);

/*
 * One message's entries (the chunker's core, exported for its tests): with
 * the first entry already peeked in (|p|, |len|), copies whole entries of
 * |src| into |msg| (room for max(|max_msg|, |len|) bytes) while the total
 * stays within |max_msg| (the first always goes in). Returns the bytes
 * used; *more is what the last peek() said (1: an entry left for the next
 * message, 0: none, -1: failed).
 */
size_t crid_list_stream_pack(const struct crid_list_stream_source *src, void *state,
			     struct crid_rpc *rpc, size_t max_msg, uint8_t *msg, const uint8_t *p,
			     size_t len, int *more);

struct crid_sandbox;

/* Builds one pod's entry in |rpc|'s arena; NULL when out of memory. */
typedef ProtobufCMessage *(*crid_list_stream_build_fn)(struct crid_rpc *rpc,
						       struct crid_sandbox *sb);

/*
 * A streamed list of one entry per pod sandbox, for Stream* methods beyond
 * the five below (StreamPodSandboxMetrics): the pods |listed| selects under
 * |filter| are decided now (their ids snapshotted, 32 bytes each); each
 * pod's entry is built by |build| when its turn comes and sent as field 1
 * of the response, CRID_LIST_STREAM_MSG_MAX bytes per message at most, with
 * the back-pressure and cancellation of crid_list_stream_start(). A pod
 * removed before its turn is skipped. |listed| must leave out pods still
 * being created (CRID_SANDBOX_CREATING) if the List counterpart does.
 */
void crid_list_stream_sandboxes(struct crid_rpc *rpc,
				bool (*listed)(const void *sb, const void *filter),
				const void *filter, crid_list_stream_build_fn build);

/* The CRI methods (handlers/list_stream_rpc.c, routed by router.c). */
void crid_handle_stream_pod_sandboxes(struct crid_rpc *rpc, const ProtobufCMessage *request);
void crid_handle_stream_containers(struct crid_rpc *rpc, const ProtobufCMessage *request);
void crid_handle_stream_container_stats(struct crid_rpc *rpc, const ProtobufCMessage *request);
void crid_handle_stream_pod_sandbox_stats(struct crid_rpc *rpc, const ProtobufCMessage *request);
void crid_handle_stream_images(struct crid_rpc *rpc, const ProtobufCMessage *request);

#endif
