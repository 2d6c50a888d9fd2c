/*
 * cridctl, the troubleshooting client: shared state of one invocation and
 * the helpers every verb uses (RPC, output format, JSON printing). A verb is
 * a function in the table of cridctl.c; it gets argv from its own name on.
 */
#ifndef CRIDCTL_H
#define CRIDCTL_H

#include <stdbool.h>
#include <stdio.h>

#include <protobuf-c/protobuf-c.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "io/grpc_client.h"

#define CRIDCTL_DEFAULT_ENDPOINT "unix:///run/crid/crid.sock"
#define CRIDCTL_DEFAULT_TIMEOUT_MS 2000
#define CRIDCTL_RUNTIME_SERVICE "runtime.v1.RuntimeService"
#define CRIDCTL_IMAGE_SERVICE "runtime.v1.ImageService"

enum cridctl_output {
	CRIDCTL_OUT_DEFAULT = 0, /* the verb's own default */
	CRIDCTL_OUT_TABLE = 1 << 0,
	CRIDCTL_OUT_JSON = 1 << 1,
};

struct cridctl {
	const char *endpoint;
	int timeout_ms;	    /* 0 = no deadline */
	bool timeout_given; /* -t on the command line */
	enum cridctl_output output;
	struct crid_grpc_client *conn; /* connected on first call */
};

struct cridctl_verb {
	const char *name;
	const char *summary; /* NULL: a crictl verb cridctl does not have yet */
	int (*run)(struct cridctl *ctl, int argc, char **argv);
};

/* Verbs, one per crictl command (runtime.c). Return the process exit code. */
int cridctl_version(struct cridctl *ctl, int argc, char **argv);
int cridctl_info(struct cridctl *ctl, int argc, char **argv);
int cridctl_runtime_config(struct cridctl *ctl, int argc, char **argv);

/* Image verbs (images.c). */
int cridctl_pull(struct cridctl *ctl, int argc, char **argv);
int cridctl_images(struct cridctl *ctl, int argc, char **argv);
int cridctl_inspecti(struct cridctl *ctl, int argc, char **argv);
int cridctl_rmi(struct cridctl *ctl, int argc, char **argv);
int cridctl_imagefsinfo(struct cridctl *ctl, int argc, char **argv);

/* Pod sandbox verbs (pods.c). */
int cridctl_runp(struct cridctl *ctl, int argc, char **argv);
int cridctl_pods(struct cridctl *ctl, int argc, char **argv);
int cridctl_inspectp(struct cridctl *ctl, int argc, char **argv);
int cridctl_stopp(struct cridctl *ctl, int argc, char **argv);
int cridctl_rmp(struct cridctl *ctl, int argc, char **argv);

/* Sets ctl->output from an -o value; prints an error and returns -1 for an unknown format. */
int cridctl_set_output(struct cridctl *ctl, const char *name);

/*
 * Parses the options a verb shares: -o/--output, -h/--help, and -q/--quiet
 * when |quiet| is not NULL. argv[0] is the verb. Returns 0 to go on, 1 after
 * printing |usage| for --help, -1 on a usage error (printed).
 */
int cridctl_verb_opts(struct cridctl *ctl, int argc, char **argv, const char *usage, bool *quiet);

/*
 * Resolves ctl->output against what the verb |supported| (a mask) and its
 * |fallback|. Prints an error naming |verb| and returns 0 when unsupported.
 */
enum cridctl_output cridctl_output_for(struct cridctl *ctl, const char *verb, unsigned supported,
				       enum cridctl_output fallback);

/*
 * Unary call of /runtime.v1.RuntimeService/|method|: packs |req|, unpacks the
 * reply into *resp (free with protobuf_c_message_free_unpacked). On failure
 * prints "cridctl: <method>: rpc error: code = <Name> desc = <message>" like
 * crictl and returns -1.
 */
int cridctl_call(struct cridctl *ctl, const char *method, const ProtobufCMessage *req,
		 const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp);

/* As cridctl_call with its own |timeout_ms| (0 = none). */
int cridctl_call_timeout(struct cridctl *ctl, const char *method, int timeout_ms,
			 const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
			 ProtobufCMessage **resp);

/* Connects ctl->conn if not yet; prints the error as the first call would and returns -1. */
int cridctl_connect(struct cridctl *ctl, const char *method);

/* Prints "cridctl: <method>: rpc error: code = <Name> desc = <msg>" to stderr. */
void cridctl_rpc_error(const char *method, int code, const char *msg);

/* As cridctl_call, for /runtime.v1.ImageService/|method| with its own |timeout_ms| (0 = none). */
int cridctl_image_call(struct cridctl *ctl, const char *method, int timeout_ms,
		       const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
		       ProtobufCMessage **resp);

/* JSON (json.c) */

/* A yajl generator for compact output; NULL when out of memory. */
yajl_gen cridctl_json_new(void);

/* Prints the generator's document indented like Go's json.Indent(..., "", "  "), then frees it. */
void cridctl_json_print(yajl_gen g, FILE *f);

void cridctl_json_str(yajl_gen g, const char *s);
void cridctl_json_kv_str(yajl_gen g, const char *key, const char *value);
void cridctl_json_kv_bool(yajl_gen g, const char *key, bool value);

/* Emits |v| with object keys sorted, as Go's encoding/json does for maps. */
void cridctl_json_sorted(yajl_gen g, yajl_val v);

/*
 * A verbose-info value as crictl's outputStatusData shows it: a JSON object
 * is embedded (keys sorted), anything else is a string with quotes trimmed.
 */
void cridctl_json_info_value(yajl_gen g, const char *value);

/* Tables (table.c): rows of strings, the first row usually the header. */
#define CRIDCTL_TABLE_COLS 8

struct cridctl_table {
	char *(*cells)[CRIDCTL_TABLE_COLS];
	size_t rows, cap, cols; /* set |cols| before the first row */
};

/* Copies the |t->cols| strings of |vals| as a new row; -1 when out of memory. */
int cridctl_table_add(struct cridctl_table *t, const char *const *vals);

/* Prints like Go's tabwriter(minwidth 20, tabwidth 1, padding 3) as crictl does. */
void cridctl_table_print(const struct cridctl_table *t);

void cridctl_table_free(struct cridctl_table *t);

#endif
