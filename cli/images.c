/*
 * cridctl image verbs: pull, images, inspecti, rmi, imagefsinfo. Output
 * mirrors crictl (cri-tools cmd/crictl/image.go): tables laid out like Go's
 * tabwriter (minwidth 20, padding 3), JSON like protojson with unpopulated
 * fields emitted, sizes like go-units HumanSizeWithPrecision(size, 3).
 * Prints through table.c and json.c, calls the daemon through rpc.c.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cridctl.h"
#include "proto/api.pb-c.h"
#include "reactor/mem.h"

#define TRUNC_ID_LEN 13

/* Options of an image verb; the letters a verb does not take are refused. */
struct image_opts {
	bool quiet, digests, no_trunc, all;
	const char *creds, *auth;
	int first_arg; /* index of the first positional argument in argv */
};

static int image_opt(void *user, const char *verb, int opt, const char *arg)
{
	struct image_opts *o = user;

	(void)verb;
	switch (opt) {
	case 'q':
		o->quiet = true;
		return 0;
	case 'D':
		o->digests = true;
		return 0;
	case 'N':
		o->no_trunc = true;
		return 0;
	case 'a':
		o->all = true;
		return 0;
	case 'C':
		o->creds = arg;
		return 0;
	case 'A':
		o->auth = arg;
		return 0;
	default:
		return 1;
	}
}

static int image_opts(struct cridctl *ctl, int argc, char **argv, const char *shorts,
		      const char *usage, struct image_opts *o)
{
	static const struct option longs[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "digests", no_argument, NULL, 'D' },
		{ "no-trunc", no_argument, NULL, 'N' },
		{ "all", no_argument, NULL, 'a' },
		{ "creds", required_argument, NULL, 'C' },
		{ "auth", required_argument, NULL, 'A' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int rc;

	memset(o, 0, sizeof(*o));
	rc = cridctl_opts_parse(ctl, argc, argv, shorts, "", longs, usage, NULL, image_opt, o);
	o->first_arg = optind;
	return rc;
}

/* --- JSON of CRI messages, protojson style ------------------------------------- */

static void json_spec(yajl_gen g, const Runtime__V1__ImageSpec *s)
{
	if (!s) {
		yajl_gen_null(g);
		return;
	}
	yajl_gen_map_open(g);
	cridctl_json_kv_str(g, "image", s->image);
	cridctl_json_kv_map(g, "annotations", s->annotations, s->n_annotations, false);
	cridctl_json_kv_str(g, "userSpecifiedImage", s->user_specified_image);
	cridctl_json_kv_str(g, "runtimeHandler", s->runtime_handler);
	cridctl_json_kv_str(g, "imageRef", s->image_ref);
	yajl_gen_map_close(g);
}

static void json_image(yajl_gen g, const void *arg)
{
	const Runtime__V1__Image *im = arg;

	yajl_gen_map_open(g);
	cridctl_json_kv_str(g, "id", im->id);
	cridctl_json_kv_strv(g, "repoTags", im->repo_tags, im->n_repo_tags);
	cridctl_json_kv_strv(g, "repoDigests", im->repo_digests, im->n_repo_digests);
	cridctl_json_kv_u64(g, "size", im->size);
	cridctl_json_str(g, "uid");
	if (im->uid) {
		yajl_gen_map_open(g);
		cridctl_json_kv_i64(g, "value", im->uid->value);
		yajl_gen_map_close(g);
	} else {
		yajl_gen_null(g);
	}
	cridctl_json_kv_str(g, "username", im->username);
	cridctl_json_str(g, "spec");
	json_spec(g, im->spec);
	cridctl_json_kv_bool(g, "pinned", im->pinned);
	yajl_gen_map_close(g);
}

static void json_u64_value(yajl_gen g, const char *key, const Runtime__V1__UInt64Value *v)
{
	cridctl_json_str(g, key);
	if (!v) {
		yajl_gen_null(g);
		return;
	}
	yajl_gen_map_open(g);
	cridctl_json_kv_u64(g, "value", v->value);
	yajl_gen_map_close(g);
}

static void json_fs_usage(yajl_gen g, const char *key, Runtime__V1__FilesystemUsage **v, size_t n)
{
	cridctl_json_str(g, key);
	yajl_gen_array_open(g);
	for (size_t i = 0; i < n; i++) {
		yajl_gen_map_open(g);
		cridctl_json_kv_i64(g, "timestamp", v[i]->timestamp);
		cridctl_json_str(g, "fsId");
		if (v[i]->fs_id) {
			yajl_gen_map_open(g);
			cridctl_json_kv_str(g, "mountpoint", v[i]->fs_id->mountpoint);
			yajl_gen_map_close(g);
		} else {
			yajl_gen_null(g);
		}
		json_u64_value(g, "usedBytes", v[i]->used_bytes);
		json_u64_value(g, "inodesUsed", v[i]->inodes_used);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
}

/* --- pull ---------------------------------------------------------------------- */

/*
 * Progress of a pull on a terminal. CRI PullImage is unary, so while it runs
 * cridctl polls Status(verbose) on the same connection and reads crid's
 * "pulls" info entry: layers and compressed bytes of each pull in flight.
 */
#define PROGRESS_INTERVAL_MS 200

struct pull_state {
	struct cridctl *ctl;
	const char *image;
	bool done;
	int status;
	char *message;
	Runtime__V1__PullImageResponse *resp;
	double t0;
	unsigned polls;
	bool shown; /* a progress line is on the terminal */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void pull_reply(void *user, const struct crid_grpc_reply *r)
{
	struct pull_state *st = user;

	st->done = true;
	st->status = r->status;
	if (r->status == CRID_GRPC_OK) {
		st->resp = (Runtime__V1__PullImageResponse *)protobuf_c_message_unpack(
		    &runtime__v1__pull_image_response__descriptor, NULL, r->len, r->data);
		if (!st->resp) {
			st->status = CRID_GRPC_INTERNAL;
			st->message = crid_strdup("grpc: failed to unmarshal the received message");
		}
	} else {
		st->message = crid_strdup(r->message);
	}
}

/* The daemon names pulls by normalized reference; the user may have typed a short one. */
static bool same_image(const char *key, const char *image)
{
	size_t k = strlen(key), n = strlen(image), l = strlen(":latest");

	if (strcmp(key, image) == 0)
		return true;
	if (k > n && key[k - n - 1] == '/' && strcmp(key + k - n, image) == 0)
		return true;
	return k > n + l && key[k - n - l - 1] == '/' && strncmp(key + k - n - l, image, n) == 0 &&
	       strcmp(key + k - l, ":latest") == 0;
}

/* Our entry of the "pulls" info, or the only one in flight; NULL when none fits. */
static yajl_val find_pull(yajl_val pulls, const char *image)
{
	static const char *in_flight[] = { "inFlight", NULL };
	static const char *key[] = { "image", NULL };
	yajl_val v = yajl_tree_get(pulls, in_flight, yajl_t_array);

	if (!v)
		return NULL;
	for (size_t i = 0; i < v->u.array.len; i++) {
		const char *k =
		    YAJL_GET_STRING(yajl_tree_get(v->u.array.values[i], key, yajl_t_string));
		if (k && same_image(k, image))
			return v->u.array.values[i];
	}
	return v->u.array.len == 1 ? v->u.array.values[0] : NULL;
}

static uint64_t num(yajl_val obj, const char *name)
{
	const char *path[] = { name, NULL };
	yajl_val v = yajl_tree_get(obj, path, yajl_t_number);

	return v && YAJL_IS_INTEGER(v) && YAJL_GET_INTEGER(v) > 0 ? (uint64_t)YAJL_GET_INTEGER(v)
								  : 0;
}

static void show_progress(struct pull_state *st, yajl_val p)
{
	static const char spin[] = "|/-\\";
	double t = now_s() - st->t0;
	char done[32], total[32], rate[32];
	uint64_t bytes = p ? num(p, "bytesDone") : 0;

	printf("\r\033[K%c Pulling %s: ", spin[st->polls++ % 4], st->image);
	if (!p) {
		printf("%.1fs", t); /* not listed (yet): starting, or a daemon without "pulls" */
	} else if (!num(p, "layersTotal")) {
		printf("resolving (%.1fs)", t);
	} else {
		cridctl_human_size_prec(bytes, 3, done, sizeof(done));
		cridctl_human_size_prec(num(p, "bytesTotal"), 3, total, sizeof(total));
		cridctl_human_size_prec(t > 0 ? (uint64_t)((double)bytes / t) : 0, 3, rate,
					sizeof(rate));
		printf("%" PRIu64 "/%" PRIu64 " layers, %s/%s, %s/s (%.1fs)", num(p, "layersDone"),
		       num(p, "layersTotal"), done, total, rate, t);
	}
	fflush(stdout);
	st->shown = true;
}

static void start_status(struct pull_state *st);

static void status_reply(void *user, const struct crid_grpc_reply *r)
{
	struct pull_state *st = user;
	Runtime__V1__StatusResponse *resp = NULL;
	yajl_val pulls = NULL;

	if (st->done)
		return;
	if (r->status == CRID_GRPC_OK)
		resp = (Runtime__V1__StatusResponse *)protobuf_c_message_unpack(
		    &runtime__v1__status_response__descriptor, NULL, r->len, r->data);
	for (size_t i = 0; resp && !pulls && i < resp->n_info; i++)
		if (strcmp(resp->info[i]->key, "pulls") == 0)
			pulls = yajl_tree_parse(resp->info[i]->value, NULL, 0);
	show_progress(st, pulls ? find_pull(pulls, st->image) : NULL);
	yajl_tree_free(pulls);
	if (resp)
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	/* A client may sleep: the pull's reply waits in the socket meanwhile. */
	nanosleep(&(struct timespec){ 0, PROGRESS_INTERVAL_MS * 1000000L }, NULL);
	if (!st->done)
		start_status(st);
}

static void start_status(struct pull_state *st)
{
	Runtime__V1__StatusRequest req = RUNTIME__V1__STATUS_REQUEST__INIT;
	uint8_t buf[16];
	struct crid_err err;

	req.verbose = true;
	protobuf_c_message_pack(&req.base, buf);
	/* No progress is no failure: the pull goes on without a line. */
	crid_grpc_client_start(st->ctl->conn, "/" CRIDCTL_RUNTIME_SERVICE "/Status", buf,
			       protobuf_c_message_get_packed_size(&req.base),
			       CRIDCTL_DEFAULT_TIMEOUT_MS, status_reply, st, &err);
}

/* PullImage with Status polls beside it; returns the reply or NULL (error printed). */
static Runtime__V1__PullImageResponse *pull_with_progress(struct cridctl *ctl,
							  const Runtime__V1__PullImageRequest *req)
{
	struct pull_state st = { .ctl = ctl, .image = req->image->image, .t0 = now_s() };
	size_t len = protobuf_c_message_get_packed_size(&req->base);
	uint8_t *buf = crid_malloc(len ? len : 1);
	struct crid_err err;
	int rc;

	if (!buf || cridctl_connect(ctl, "PullImage") < 0) {
		if (!buf)
			fprintf(stderr, "cridctl: PullImage: out of memory\n");
		crid_free(buf);
		return NULL;
	}
	protobuf_c_message_pack(&req->base, buf);
	rc =
	    crid_grpc_client_start(ctl->conn, "/" CRIDCTL_IMAGE_SERVICE "/PullImage", buf, len,
				   ctl->timeout_given ? ctl->timeout_ms : 0, pull_reply, &st, &err);
	crid_free(buf);
	if (rc == 0) {
		start_status(&st);
		crid_grpc_client_pump(ctl->conn, &err);
	}
	if (st.shown)
		printf("\r\033[K");
	if (rc < 0 || !st.done)
		cridctl_rpc_error("PullImage", CRID_GRPC_UNAVAILABLE, err.msg);
	else if (st.status != CRID_GRPC_OK)
		cridctl_rpc_error("PullImage", st.status,
				  st.message ? st.message : "out of memory");
	crid_free(st.message);
	return st.done && st.status == CRID_GRPC_OK ? st.resp : NULL;
}

int cridctl_pull(struct cridctl *ctl, int argc, char **argv)
{
	static const char usage[] =
	    "Usage: cridctl pull [--creds USER[:PASS]] [--auth AUTH_STRING] IMAGE\n"
	    "Pull an image from a registry (no deadline unless the global -t is given)\n"
	    "  --creds USER[:PASS]  registry credentials\n"
	    "  --auth AUTH_STRING   base64 of USER:PASS\n";
	Runtime__V1__PullImageRequest req = RUNTIME__V1__PULL_IMAGE_REQUEST__INIT;
	Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
	Runtime__V1__AuthConfig auth = RUNTIME__V1__AUTH_CONFIG__INIT;
	Runtime__V1__PullImageResponse *r;
	struct image_opts o;
	char *user = NULL;
	int rc = image_opts(ctl, argc, argv, "hCA", usage, &o);

	if (rc)
		return rc < 0;
	if (argc - o.first_arg != 1) {
		fprintf(stderr, "cridctl: pull: expected one IMAGE\n%s", usage);
		return 1;
	}
	spec.image = argv[o.first_arg];
	req.image = &spec;
	if (o.creds) {
		char *colon;

		user = crid_strdup(o.creds);
		if (!user) {
			fprintf(stderr, "cridctl: pull: out of memory\n");
			return 1;
		}
		colon = strchr(user, ':');
		if (colon) {
			*colon = '\0';
			auth.password = colon + 1;
		}
		auth.username = user;
		req.auth = &auth;
	}
	if (o.auth) {
		auth.auth = (char *)o.auth;
		req.auth = &auth;
	}
	/* On a terminal a progress line; otherwise only the final line, as crictl prints. */
	if (isatty(STDOUT_FILENO)) {
		r = pull_with_progress(ctl, &req);
		rc = r ? 0 : -1;
	} else {
		rc = cridctl_image_call(ctl, "PullImage", ctl->timeout_given ? ctl->timeout_ms : 0,
					&req.base, &runtime__v1__pull_image_response__descriptor,
					(ProtobufCMessage **)&r);
	}
	crid_free(user);
	if (rc < 0)
		return 1;
	printf("Image is up to date for %s\n", r->image_ref);
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return 0;
}

/* --- images -------------------------------------------------------------------- */

/* "repo:tag" -> repo and tag; the ':' must come after the last '/'. */
static void split_tag(const char *ref, char *repo, size_t n, const char **tag)
{
	const char *slash = strrchr(ref, '/');
	const char *colon = strrchr(ref, ':');

	if (colon && (!slash || colon > slash)) {
		snprintf(repo, n, "%.*s", (int)(colon - ref), ref);
		*tag = colon + 1;
	} else {
		snprintf(repo, n, "%s", ref);
		*tag = "<none>";
	}
}

/* The digest of |repo| among the image's repo digests ("repo@sha256:..."), or "<none>". */
static const char *digest_of(const Runtime__V1__Image *im, const char *repo)
{
	size_t n = strlen(repo);

	for (size_t i = 0; i < im->n_repo_digests; i++) {
		const char *d = im->repo_digests[i];

		if (strncmp(d, repo, n) == 0 && d[n] == '@')
			return d + n + 1;
	}
	return "<none>";
}

static int image_rows(struct cridctl_table *t, const Runtime__V1__Image *im,
		      const struct image_opts *o)
{
	char id[256], size[32], repo[1024], digest[256];
	const char *tag, *id_s = im->id ? im->id : "";
	const char *vals[CRIDCTL_TABLE_COLS];
	size_t nv;

	if (!o->no_trunc) {
		if (strncmp(id_s, "sha256:", 7) == 0)
			id_s += 7;
		snprintf(id, sizeof(id), "%.*s", TRUNC_ID_LEN, id_s);
	} else {
		snprintf(id, sizeof(id), "%s", id_s);
	}
	cridctl_human_size_prec(im->size, 3, size, sizeof(size));
	for (size_t i = 0; i < (im->n_repo_tags ? im->n_repo_tags : 1); i++) {
		const char *d;

		if (im->n_repo_tags) {
			split_tag(im->repo_tags[i], repo, sizeof(repo), &tag);
		} else if (im->n_repo_digests) {
			const char *at = strchr(im->repo_digests[0], '@');

			snprintf(repo, sizeof(repo), "%.*s",
				 at ? (int)(at - im->repo_digests[0])
				    : (int)strlen(im->repo_digests[0]),
				 im->repo_digests[0]);
			tag = "<none>";
		} else {
			snprintf(repo, sizeof(repo), "<none>");
			tag = "<none>";
		}
		d = digest_of(im, repo);
		if (!o->no_trunc && strncmp(d, "sha256:", 7) == 0)
			d += 7;
		snprintf(digest, sizeof(digest), "%.*s", o->no_trunc ? 255 : TRUNC_ID_LEN, d);
		nv = 0;
		vals[nv++] = repo;
		vals[nv++] = tag;
		if (o->digests)
			vals[nv++] = digest;
		vals[nv++] = id;
		vals[nv++] = size;
		if (cridctl_table_add(t, vals) < 0)
			return -1;
	}
	return 0;
}

static int list_images(struct cridctl *ctl, const char *filter, Runtime__V1__ListImagesResponse **r)
{
	Runtime__V1__ListImagesRequest req = RUNTIME__V1__LIST_IMAGES_REQUEST__INIT;
	Runtime__V1__ImageFilter f = RUNTIME__V1__IMAGE_FILTER__INIT;
	Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;

	if (filter) {
		spec.image = (char *)filter;
		f.image = &spec;
		req.filter = &f;
	}
	return cridctl_image_call(ctl, "ListImages", ctl->timeout_ms, &req.base,
				  &runtime__v1__list_images_response__descriptor,
				  (ProtobufCMessage **)r);
}

int cridctl_images(struct cridctl *ctl, int argc, char **argv)
{
	static const char usage[] =
	    "Usage: cridctl images [-q] [--digests] [--no-trunc] [-o json|table] [IMAGE]\n"
	    "List images\n"
	    "  -q, --quiet    only show image IDs\n"
	    "  --digests      show digests\n"
	    "  --no-trunc     show full image IDs\n";
	Runtime__V1__ListImagesResponse *r;
	struct cridctl_table t = { 0 };
	struct image_opts o;
	enum cridctl_output out;
	int rc = image_opts(ctl, argc, argv, "o:qhDN", usage, &o);

	if (rc)
		return rc < 0;
	if (argc - o.first_arg > 1) {
		fprintf(stderr, "cridctl: images: too many arguments\n%s", usage);
		return 1;
	}
	out = cridctl_output_for(ctl, "images", CRIDCTL_OUT_TABLE | CRIDCTL_OUT_JSON,
				 CRIDCTL_OUT_TABLE);
	if (!out)
		return 1;
	if (list_images(ctl, argc > o.first_arg ? argv[o.first_arg] : NULL, &r) < 0)
		return 1;
	if (out == CRIDCTL_OUT_JSON) {
		yajl_gen g = cridctl_json_begin("images");

		if (g) {
			yajl_gen_map_open(g);
			cridctl_json_str(g, "images");
			yajl_gen_array_open(g);
			for (size_t i = 0; i < r->n_images; i++)
				json_image(g, r->images[i]);
			yajl_gen_array_close(g);
			yajl_gen_map_close(g);
			cridctl_json_print(g, stdout);
		}
		rc = !g;
	} else if (o.quiet) {
		for (size_t i = 0; i < r->n_images; i++)
			printf("%s\n", r->images[i]->id);
	} else {
		static const char *const head[CRIDCTL_TABLE_COLS] = { "IMAGE", "TAG", "IMAGE ID",
								      "SIZE" };
		static const char *const head_d[CRIDCTL_TABLE_COLS] = { "IMAGE", "TAG", "DIGEST",
									"IMAGE ID", "SIZE" };

		t.cols = o.digests ? 5 : 4;
		rc = cridctl_table_add(&t, o.digests ? head_d : head);
		for (size_t i = 0; rc == 0 && i < r->n_images; i++)
			rc = image_rows(&t, r->images[i], &o);
		rc = cridctl_table_finish(&t, rc, "images");
	}
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return rc;
}

/* --- inspecti ------------------------------------------------------------------ */

static int image_status(struct cridctl *ctl, const char *image, bool verbose,
			Runtime__V1__ImageStatusResponse **r)
{
	Runtime__V1__ImageStatusRequest req = RUNTIME__V1__IMAGE_STATUS_REQUEST__INIT;
	Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;

	spec.image = (char *)image;
	req.image = &spec;
	req.verbose = verbose;
	return cridctl_image_call(ctl, "ImageStatus", ctl->timeout_ms, &req.base,
				  &runtime__v1__image_status_response__descriptor,
				  (ProtobufCMessage **)r);
}

int cridctl_inspecti(struct cridctl *ctl, int argc, char **argv)
{
	static const char usage[] = "Usage: cridctl inspecti [-o json] IMAGE...\n"
				    "Return the status of one or more images\n";
	struct image_opts o;
	int rc = image_opts(ctl, argc, argv, "o:h", usage, &o);

	if (rc)
		return rc < 0;
	if (argc == o.first_arg) {
		fprintf(stderr, "cridctl: inspecti: expected IMAGE\n%s", usage);
		return 1;
	}
	if (!cridctl_output_for(ctl, "inspecti", CRIDCTL_OUT_JSON, CRIDCTL_OUT_JSON))
		return 1;
	for (int i = o.first_arg; i < argc; i++) {
		Runtime__V1__ImageStatusResponse *r;
		yajl_gen g;

		if (image_status(ctl, argv[i], true, &r) < 0)
			return 1;
		if (!r->image) {
			fprintf(stderr, "cridctl: inspecti: no such image \"%s\" present\n",
				argv[i]);
			protobuf_c_message_free_unpacked(&r->base, NULL);
			return 1;
		}
		g = cridctl_json_begin("inspecti");
		if (g) {
			/* an info entry "status" replaces the image, as in crictl's map */
			cridctl_json_status_doc(g, json_image, r->image, r->info, r->n_info, true);
			cridctl_json_print(g, stdout);
		}
		protobuf_c_message_free_unpacked(&r->base, NULL);
		if (!g)
			return 1;
	}
	return 0;
}

/* --- rmi ----------------------------------------------------------------------- */

static int remove_image(struct cridctl *ctl, const Runtime__V1__Image *im)
{
	Runtime__V1__RemoveImageRequest req = RUNTIME__V1__REMOVE_IMAGE_REQUEST__INIT;
	Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
	Runtime__V1__RemoveImageResponse *r;

	spec.image = im->id;
	req.image = &spec;
	if (cridctl_image_call(ctl, "RemoveImage", ctl->timeout_ms, &req.base,
			       &runtime__v1__remove_image_response__descriptor,
			       (ProtobufCMessage **)&r) < 0)
		return -1;
	protobuf_c_message_free_unpacked(&r->base, NULL);
	if (!im->n_repo_tags)
		printf("Deleted: %s\n", im->id);
	for (size_t i = 0; i < im->n_repo_tags; i++)
		printf("Deleted: %s\n", im->repo_tags[i]);
	return 0;
}

int cridctl_rmi(struct cridctl *ctl, int argc, char **argv)
{
	static const char usage[] = "Usage: cridctl rmi [-a] IMAGE...\n"
				    "Remove one or more images\n"
				    "  -a, --all   remove all images\n";
	struct image_opts o;
	int rc = image_opts(ctl, argc, argv, "ah", usage, &o);
	int failed = 0;

	if (rc)
		return rc < 0;
	if (o.all) {
		Runtime__V1__ListImagesResponse *l;

		if (list_images(ctl, NULL, &l) < 0)
			return 1;
		for (size_t i = 0; i < l->n_images; i++)
			if (remove_image(ctl, l->images[i]) < 0)
				failed = 1;
		protobuf_c_message_free_unpacked(&l->base, NULL);
		return failed;
	}
	if (argc == o.first_arg) {
		fprintf(stderr, "cridctl: rmi: expected IMAGE\n%s", usage);
		return 1;
	}
	for (int i = o.first_arg; i < argc; i++) {
		Runtime__V1__ImageStatusResponse *r;

		if (image_status(ctl, argv[i], false, &r) < 0) {
			failed = 1;
			continue;
		}
		if (!r->image) {
			fprintf(stderr, "cridctl: rmi: no such image %s\n", argv[i]);
			failed = 1;
		} else if (remove_image(ctl, r->image) < 0) {
			failed = 1;
		}
		protobuf_c_message_free_unpacked(&r->base, NULL);
	}
	return failed;
}

/* --- imagefsinfo --------------------------------------------------------------- */

int cridctl_imagefsinfo(struct cridctl *ctl, int argc, char **argv)
{
	static const char usage[] = "Usage: cridctl imagefsinfo [-o json]\n"
				    "Return image filesystem info\n";
	Runtime__V1__ImageFsInfoRequest req = RUNTIME__V1__IMAGE_FS_INFO_REQUEST__INIT;
	Runtime__V1__ImageFsInfoResponse *r;
	struct image_opts o;
	yajl_gen g;
	int rc = image_opts(ctl, argc, argv, "o:h", usage, &o);

	if (rc)
		return rc < 0;
	if (argc > o.first_arg) {
		fprintf(stderr, "cridctl: imagefsinfo: unexpected argument `%s`\n%s",
			argv[o.first_arg], usage);
		return 1;
	}
	if (!cridctl_output_for(ctl, "imagefsinfo", CRIDCTL_OUT_JSON, CRIDCTL_OUT_JSON))
		return 1;
	if (cridctl_image_call(ctl, "ImageFsInfo", ctl->timeout_ms, &req.base,
			       &runtime__v1__image_fs_info_response__descriptor,
			       (ProtobufCMessage **)&r) < 0)
		return 1;
	g = cridctl_json_begin("imagefsinfo");
	if (g) {
		yajl_gen_map_open(g);
		cridctl_json_str(g, "status");
		yajl_gen_map_open(g);
		json_fs_usage(g, "imageFilesystems", r->image_filesystems, r->n_image_filesystems);
		json_fs_usage(g, "containerFilesystems", r->container_filesystems,
			      r->n_container_filesystems);
		yajl_gen_map_close(g);
		yajl_gen_map_close(g);
		cridctl_json_print(g, stdout);
	}
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return !g;
}
