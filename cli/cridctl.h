/*
 * cridctl, the troubleshooting client: shared state of one invocation and
 * the helpers every verb uses: RPC and output format (rpc.c), the one JSON
 * printer (json.c), the one table writer (table.c), the one filter
 * (filter.c). A verb is a function in the table of cridctl.c; it gets argv
 * from its own name on.
 */
#ifndef CRIDCTL_H
#define CRIDCTL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <protobuf-c/protobuf-c.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "io/grpc_client.h"
#include "proto/api.pb-c.h"

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

/* Container verbs (containers.c, logs.c, stats.c). */
int cridctl_create(struct cridctl *ctl, int argc, char **argv);
int cridctl_start(struct cridctl *ctl, int argc, char **argv);
int cridctl_run(struct cridctl *ctl, int argc, char **argv);
int cridctl_ps(struct cridctl *ctl, int argc, char **argv);
int cridctl_inspect(struct cridctl *ctl, int argc, char **argv);
int cridctl_stop(struct cridctl *ctl, int argc, char **argv);
int cridctl_rm(struct cridctl *ctl, int argc, char **argv);
int cridctl_exec(struct cridctl *ctl, int argc, char **argv);
int cridctl_update(struct cridctl *ctl, int argc, char **argv);
int cridctl_events(struct cridctl *ctl, int argc, char **argv);
int cridctl_logs(struct cridctl *ctl, int argc, char **argv);
int cridctl_stats(struct cridctl *ctl, int argc, char **argv);
int cridctl_statsp(struct cridctl *ctl, int argc, char **argv);

/* Streaming verbs (streaming.c): exec without --sync is the Exec RPC, then the session. */
int cridctl_exec_stream(struct cridctl *ctl, const char *transport, char **cmd, size_t n_cmd,
			const char *ctr, bool keep_stdin, bool tty);
int cridctl_attach(struct cridctl *ctl, int argc, char **argv);
int cridctl_port_forward(struct cridctl *ctl, int argc, char **argv);

/* The ps table: one header then a row per container, crictl's columns. */
#define CRIDCTL_PS_COLS 8
extern const char *const cridctl_ps_header[CRIDCTL_PS_COLS];

/*
 * Fills |cells| (CRIDCTL_PS_COLS strings of |cell_len| bytes) with the ps row
 * of |c| as crictl shows it at time |now_ns|: IDs and an image digest cut to
 * 13 characters unless |no_trunc|, pod name from the kubernetes labels.
 */
void cridctl_ps_row(const Runtime__V1__Container *c, bool no_trunc, int64_t now_ns,
		    char (*cells)[128], size_t cell_len);

/*
 * update's resource flags (--cpu-share, --cpu-quota, --cpu-period, --memory,
 * --cpuset-cpus, --cpuset-mems, --oom-score-adj) into |res| (initialized by
 * the caller; strings point into argv). Returns the index of the first
 * ID argument, 0 after --help, -1 on a usage error (printed).
 */
int cridctl_update_parse(int argc, char **argv, Runtime__V1__LinuxContainerResources *res);

/* Sets ctl->output from an -o value; prints an error and returns -1 for an unknown format. */
int cridctl_set_output(struct cridctl *ctl, const char *name);

/*
 * Parses the options a verb shares: -o/--output, -h/--help, and -q/--quiet
 * when |quiet| is not NULL. argv[0] is the verb. Returns 0 to go on, 1 after
 * printing |usage| for --help, -1 on a usage error (printed).
 */
int cridctl_verb_opts(struct cridctl *ctl, int argc, char **argv, const char *usage, bool *quiet);

/*
 * A verb's getopt loop over |longs|: takes the short options in |shorts| and
 * the long-only letters in |allowed| (any other is a bad option), the filter
 * options into |f| when not NULL (cridctl_filter_opt), -o/--output into
 * ctl->output, and hands the rest to |take| with |o|; |take| returns 0 when
 * taken, -1 on a bad value (printed), 1 for an option it does not know.
 * Returns 0 to go on (optind is the first argument), 1 after printing |usage|
 * for --help, -1 on a usage error (printed, naming the verb argv[0]).
 */
struct option;
struct cridctl_filter;
int cridctl_opts_parse(struct cridctl *ctl, int argc, char **argv, const char *shorts,
		       const char *allowed, const struct option *longs, const char *usage,
		       struct cridctl_filter *f,
		       int (*take)(void *o, const char *verb, int opt, const char *arg), void *o);

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

/* Time as crictl prints it (pods.c) */

/* go-units HumanDuration of |ns|, e.g. "About a minute". */
void cridctl_human_duration(int64_t ns, char *buf, size_t n);

/* time.Unix(0, ns) in local time: Go's String() when |rfc3339| is false, else RFC3339Nano. */
void cridctl_go_time(int64_t ns, bool rfc3339, char *buf, size_t n);

int64_t cridctl_now_ns(void);

/* uuid.New(): a random (version 4) UUID, as crictl fills an empty metadata.uid. */
int cridctl_random_uuid(char *buf, size_t n);

/* go-units HumanSize: 4 significant digits, decimal units ("1.235MB"). */
void cridctl_human_size(uint64_t size, char *buf, size_t n);

/* go-units HumanSizeWithPrecision(size, |prec|): as cridctl_human_size with |prec| digits. */
void cridctl_human_size_prec(uint64_t size, int prec, char *buf, size_t n);

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

/*
 * A protobuf message as protojson prints it (camelCase keys, 64-bit integers
 * and enums as strings, maps as objects; unset sub-messages left out). When
 * |hook| is set it runs for each field first and returns true when it has
 * emitted the field itself (e.g. a timestamp as RFC 3339 text).
 */
typedef bool (*cridctl_json_hook)(yajl_gen g, const ProtobufCFieldDescriptor *f,
				  const ProtobufCMessage *m, void *user);
void cridctl_json_message(yajl_gen g, const ProtobufCMessage *m, cridctl_json_hook hook,
			  void *user);

/* A generator for |verb|'s output; prints "cridctl: <verb>: out of memory" and returns NULL on failure. */
yajl_gen cridctl_json_begin(const char *verb);

/* Prints |m| as cridctl_json_message does; returns the exit code (1 when out of memory). */
int cridctl_json_print_message(const ProtobufCMessage *m, const char *verb);

/* "key": "<v>" with a 64-bit integer as text, as protojson writes int64 and uint64. */
void cridctl_json_kv_i64(yajl_gen g, const char *key, int64_t v);
void cridctl_json_kv_u64(yajl_gen g, const char *key, uint64_t v);

/* "key": [strings]. */
void cridctl_json_kv_strv(yajl_gen g, const char *key, char *const *v, size_t n);

/* "key": {map}, the |n| string map |entries| (struct cridctl_kv *) sorted first when |sort|. */
void cridctl_json_kv_map(yajl_gen g, const char *key, void *entries, size_t n, bool sort);

/*
 * What |emit| writes for |arg|, parsed back as a tree so that it can be
 * printed with sorted keys (cridctl_json_sorted). NULL when out of memory;
 * free with yajl_tree_free.
 */
yajl_val cridctl_json_tree(void (*emit)(yajl_gen g, const void *arg), const void *arg);

/*
 * crictl's inspect output for |n| IDs: |one| runs for each ID in turn, with
 * the generator when |json| (the documents become an array when n > 1,
 * printed once all succeeded) or NULL for text it prints itself; it returns
 * non-zero to stop. No IDs: prints "no IDs provided or nothing found per
 * filter" naming |verb|. Returns the exit code.
 */
int cridctl_json_each(const char *verb, bool json, char *const *ids, size_t n,
		      int (*one)(void *user, const char *id, yajl_gen g), void *user);

/* cridctl_json_sorted of |tree| (a yajl_val), in the shape cridctl_json_status_doc calls. */
void cridctl_json_sorted_tree(yajl_gen g, const void *tree);

/*
 * crictl's outputStatusData document: one object holding "status" (written
 * by |status| with |arg|) and every info entry (|info|, struct cridctl_kv *,
 * sorted here) as cridctl_json_info_value shows it, in Go map key order. An
 * info entry named "status" is dropped unless |info_wins|, in which case it
 * replaces the status.
 */
void cridctl_json_status_doc(yajl_gen g, void (*status)(yajl_gen g, const void *arg),
			     const void *arg, void *info, size_t n_info, bool info_wins);

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

/*
 * Ends a table: prints |t| when |rc| is 0 (every row added), else reports
 * "cridctl: <verb>: out of memory" (nothing when |verb| is NULL: the caller
 * has reported its own error); frees |t|. Returns the exit code.
 */
int cridctl_table_finish(struct cridctl_table *t, int rc, const char *verb);

/* A string map as crictl's verbose text shows it: "<title>:" then "\t<key> -> <value>" sorted; nothing when empty. */
void cridctl_text_map(const char *title, void *entries, size_t n);

/* Verbose info as Go prints a map[string]string: "Info: map[k:v k:v]", keys sorted. */
void cridctl_text_info(void *entries, size_t n);

/* Filters and order (filter.c): what a list verb shows, as crictl selects it. */
#define CRIDCTL_MAX_LABELS 32

/* Layout of every generated string map entry (labels, annotations, info, label selectors). */
struct cridctl_kv {
	ProtobufCMessage base;
	char *key;
	char *value;
};

/* The filters pods and containers share: server-side (id, state, labels) and client-side. */
struct cridctl_filter {
	const char *id, *name, *ns, *state;
	const char *labels[CRIDCTL_MAX_LABELS];
	size_t n_labels;
	bool latest;
	long last;
};

/*
 * Takes a filter option: -l/--latest, -n/--last, -s/--state, and the long
 * --id (I), --name (N), --namespace (S), --label (L). Returns 0 when taken,
 * 1 when |opt| is not a filter option, -1 on a bad value (printed naming |verb|).
 */
int cridctl_filter_opt(struct cridctl_filter *f, const char *verb, int opt, const char *arg);

/* crictl's matchesRegex: an empty pattern matches, a bad one matches nothing. */
bool cridctl_filter_matches(const char *pattern, const char *s);

/*
 * The label selector from the "k=v" arguments: |ents| (room for
 * CRIDCTL_MAX_LABELS messages of |desc|, a string map entry type) filled with
 * pointers into |buf| and listed in |ptrs|. crictl refuses anything but one '=':
 * prints "incorrectly specified label" naming |verb| and returns -1.
 */
int cridctl_filter_labels(const struct cridctl_filter *f, const char *verb,
			  const ProtobufCMessageDescriptor *desc, void *ents, void **ptrs,
			  char *buf, size_t buflen);

/*
 * Orders |items| (messages with an int64 created_at at |created_off|) newest
 * first and returns how many to show after --latest and --last.
 */
size_t cridctl_filter_newest(const struct cridctl_filter *f, void *items, size_t n,
			     size_t created_off);

/* Frees |n| IDs and the array holding them (either may be NULL/0). */
void cridctl_ids_free(char **ids, size_t n);

/* Sorts |n| string map |entries| (struct cridctl_kv *) by key, as Go ranges over a sorted map. */
void cridctl_kv_sort(void *entries, size_t n);

/* The value of |key| among |n| string map |entries|, or "unknown" as crictl shows a missing label. */
const char *cridctl_kv_get(void *entries, size_t n, const char *key);

#endif
