/*
 * The CRI messages of the records: ContainerStatus, PodSandboxStatus, a
 * pod's container statuses, the GetContainerEvents message and the
 * ListContainers / ListPodSandbox items. The status RPCs (container_status.c,
 * sandbox.c) and the event stream (events.c) all build through here, so a
 * field is filled the same way wherever kubelet reads it. May call runtime/
 * (records, image names) and handlers/list_reply.h; no handler.
 */
#include "handlers/status_msg.h"

#include <string.h>

#include "handlers/ctr_config.h"
#include "handlers/list_reply.h"
#include "reactor/loop.h"
#include "reactor/mem.h"
#include "runtime/image/image_names.h"

Runtime__V1__ContainerState crid_status_msg_ctr_state(enum crid_ctr_state s)
{
	switch (s) {
	case CRID_CTR_CREATED:
		return RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED;
	case CRID_CTR_RUNNING:
		return RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
	case CRID_CTR_EXITED:
		return RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED;
	default:
		return RUNTIME__V1__CONTAINER_STATE__CONTAINER_UNKNOWN;
	}
}

static Runtime__V1__PodSandboxState sandbox_state(const struct crid_sandbox *sb)
{
	return sb->state == CRID_SANDBOX_READY ? RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY
					       : RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY;
}

/* Every generated map<string,string> entry has this layout; |desc| says which one it is. */
void *crid_status_msg_kv_entries(struct crid_arena *a, const struct crid_kvs *kvs,
				 const ProtobufCMessageDescriptor *desc)
{
	Runtime__V1__Container__LabelsEntry **v = crid_arena_alloc(a, (kvs->n + 1) * sizeof(*v));

	if (!v)
		return NULL;
	for (size_t i = 0; i < kvs->n; i++) {
		v[i] = crid_arena_alloc(a, sizeof(*v[i]));
		if (!v[i])
			return NULL;
		protobuf_c_message_init(desc, v[i]);
		v[i]->key = kvs->v[i].key;
		v[i]->value = kvs->v[i].value;
	}
	return v;
}

static Runtime__V1__ContainerMetadata *ctr_metadata(struct crid_arena *a,
						    const struct crid_container *c)
{
	Runtime__V1__ContainerMetadata *m = crid_arena_alloc(a, sizeof(*m));

	if (m) {
		runtime__v1__container_metadata__init(m);
		m->name = c->name;
		m->attempt = c->attempt;
	}
	return m;
}

static Runtime__V1__PodSandboxMetadata *sandbox_metadata(struct crid_arena *a,
							 const struct crid_sandbox *sb)
{
	Runtime__V1__PodSandboxMetadata *m = crid_arena_alloc(a, sizeof(*m));

	if (!m)
		return NULL;
	runtime__v1__pod_sandbox_metadata__init(m);
	m->name = sb->name;
	m->uid = sb->uid;
	m->namespace_ = sb->namespace;
	m->attempt = sb->attempt;
	return m;
}

static Runtime__V1__ImageSpec *image_spec(struct crid_arena *a, char *image)
{
	Runtime__V1__ImageSpec *i = crid_arena_alloc(a, sizeof(*i));

	if (i) {
		runtime__v1__image_spec__init(i);
		i->image = image;
	}
	return i;
}

/* ---- ContainerStatus ---- */

/*
 * What containerd's ContainerStatus reports (internal/cri/server/
 * container_status.go): image = the image's first repo tag, image_ref = its
 * repo digest (kubelet's imageID, what scanners read), image_id = the image
 * id; without a tag or a repo digest, the image as given and the id. Looked
 * up by id in the image store, whose records survive a restart as the
 * container's do. ListContainers keeps the id (kubelet's image GC matches it
 * against ListImages' ids), as containerd does.
 */
static void image_names(struct crid_rpc *rpc, const struct crid_container *c, char **image,
			char **image_ref)
{
	struct crid_image *img = crid_image_store_find(rpc->d->images, c->image_ref);
	const char *tag = img ? crid_image_names_repo_tag(img) : NULL;
	const char *digest = img ? crid_image_names_repo_digest(img, c->image) : NULL;

	*image = (char *)(tag ? tag : c->image);
	*image_ref = (char *)(digest ? digest : c->image_ref);
}

static void *arena_alloc_cb(void *data, size_t size)
{
	return crid_arena_alloc(data, size);
}

static void arena_free_cb(void *data, void *p)
{
	(void)data, (void)p;
}

static Runtime__V1__ContainerUser *user_of(struct crid_arena *a, const struct crid_container *c)
{
	Runtime__V1__ContainerUser *u = crid_arena_alloc(a, sizeof(*u));
	Runtime__V1__LinuxContainerUser *l = crid_arena_alloc(a, sizeof(*l));
	int64_t *g = crid_arena_alloc(a, (c->user.n_additional_gids + 1) * sizeof(*g));

	if (!u || !l || !g)
		return NULL;
	runtime__v1__container_user__init(u);
	runtime__v1__linux_container_user__init(l);
	l->uid = c->user.uid;
	l->gid = c->user.gid;
	for (size_t i = 0; i < c->user.n_additional_gids; i++)
		g[i] = c->user.additional_gids[i];
	l->supplemental_groups = g;
	l->n_supplemental_groups = c->user.n_additional_gids;
	u->linux = l;
	return u;
}

/*
 * Mounts and resources come from the config kubelet sent (and the last
 * update). Decoded with an allocator of its own: the event stream's rpc has
 * an arena but no decoder.
 */
static int from_config(struct crid_rpc *rpc, const struct crid_container *c,
		       Runtime__V1__ContainerStatus *st)
{
	ProtobufCAllocator al = { arena_alloc_cb, arena_free_cb, &rpc->arena };
	Runtime__V1__ContainerConfig *cfg = (void *)protobuf_c_message_unpack(
	    &runtime__v1__container_config__descriptor, &al, c->config_len, c->config);
	Runtime__V1__LinuxContainerResources *res = NULL;
	Runtime__V1__ContainerResources *cr;

	if (!cfg)
		return -1;
	st->mounts = cfg->mounts;
	st->n_mounts = cfg->n_mounts;
	if (c->resources)
		res = (void *)protobuf_c_message_unpack(
		    &runtime__v1__linux_container_resources__descriptor, &al, c->resources_len,
		    c->resources);
	else if (cfg->linux)
		res = cfg->linux->resources;
	if (res) {
		cr = crid_arena_alloc(&rpc->arena, sizeof(*cr));
		if (!cr)
			return -1;
		runtime__v1__container_resources__init(cr);
		cr->linux = res;
		st->resources = cr;
	}
	return 0;
}

int crid_status_msg_container(struct crid_rpc *rpc, const struct crid_container *c,
			      Runtime__V1__ContainerStatus *st)
{
	struct crid_arena *a = &rpc->arena;
	char *image, *image_ref;

	runtime__v1__container_status__init(st);
	image_names(rpc, c, &image, &image_ref);
	st->id = (char *)c->id;
	st->metadata = ctr_metadata(a, c);
	st->state = crid_status_msg_ctr_state(c->state);
	st->created_at = c->created_at;
	st->started_at = c->started_at;
	st->finished_at = c->finished_at;
	st->exit_code = c->state == CRID_CTR_EXITED ? c->exit_code : 0;
	st->image = image_spec(a, image);
	st->image_ref = image_ref;
	st->image_id = c->image_ref;
	st->reason = c->reason ? c->reason : "";
	st->message = c->message ? c->message : "";
	st->n_labels = c->labels.n;
	st->labels = crid_status_msg_kv_entries(
	    a, &c->labels, &runtime__v1__container_status__labels_entry__descriptor);
	st->n_annotations = c->annotations.n;
	st->annotations = crid_status_msg_kv_entries(
	    a, &c->annotations, &runtime__v1__container_status__annotations_entry__descriptor);
	st->log_path = c->log_path;
	st->user = user_of(a, c);
	st->stop_signal = crid_linux_signal_to_cri(c->stop_signal);
	if (!st->metadata || !st->image || !st->labels || !st->annotations || !st->user)
		return -1;
	return from_config(rpc, c, st);
}

/* ---- PodSandboxStatus ---- */

static int fill_network(struct crid_arena *a, const struct crid_sandbox *sb,
			Runtime__V1__PodSandboxNetworkStatus *net)
{
	runtime__v1__pod_sandbox_network_status__init(net);
	if (sb->n_ips == 0 || sb->state != CRID_SANDBOX_READY)
		return 0;
	net->ip = (char *)sb->ips[0];
	net->additional_ips = crid_arena_alloc(a, sb->n_ips * sizeof(*net->additional_ips));
	if (!net->additional_ips)
		return -1;
	for (size_t i = 1; i < sb->n_ips; i++) {
		Runtime__V1__PodIP *ip = crid_arena_alloc(a, sizeof(*ip));

		if (!ip)
			return -1;
		runtime__v1__pod_ip__init(ip);
		ip->ip = (char *)sb->ips[i];
		net->additional_ips[net->n_additional_ips++] = ip;
	}
	return 0;
}

int crid_status_msg_sandbox(struct crid_rpc *rpc, const struct crid_sandbox *sb,
			    Runtime__V1__PodSandboxStatus *st)
{
	struct crid_arena *a = &rpc->arena;
	Runtime__V1__PodSandboxNetworkStatus *net = crid_arena_alloc(a, sizeof(*net));
	Runtime__V1__LinuxPodSandboxStatus *lx = crid_arena_alloc(a, sizeof(*lx));
	Runtime__V1__Namespace *ns = crid_arena_alloc(a, sizeof(*ns));
	Runtime__V1__NamespaceOption *opt = crid_arena_alloc(a, sizeof(*opt));

	if (!net || !lx || !ns || !opt || fill_network(a, sb, net) < 0)
		return -1;
	runtime__v1__pod_sandbox_status__init(st);
	runtime__v1__linux_pod_sandbox_status__init(lx);
	runtime__v1__namespace__init(ns);
	runtime__v1__namespace_option__init(opt);
	opt->network = (Runtime__V1__NamespaceMode)sb->ns_network;
	opt->pid = (Runtime__V1__NamespaceMode)sb->ns_pid;
	opt->ipc = (Runtime__V1__NamespaceMode)sb->ns_ipc;
	ns->options = opt;
	lx->namespaces = ns;
	st->id = (char *)sb->id;
	st->metadata = sandbox_metadata(a, sb);
	st->state = sandbox_state(sb);
	st->created_at = sb->created_at;
	st->network = net;
	st->linux = lx;
	st->runtime_handler = sb->runtime_handler;
	st->n_labels = sb->labels.n;
	st->labels = crid_status_msg_kv_entries(
	    a, &sb->labels, &runtime__v1__pod_sandbox_status__labels_entry__descriptor);
	st->n_annotations = sb->annotations.n;
	st->annotations = crid_status_msg_kv_entries(
	    a, &sb->annotations, &runtime__v1__pod_sandbox_status__annotations_entry__descriptor);
	return st->metadata && st->labels && st->annotations ? 0 : -1;
}

int crid_status_msg_pod_containers(struct crid_rpc *rpc, const struct crid_sandbox *sb,
				   Runtime__V1__ContainerStatus ***out, size_t *n)
{
	struct crid_ctrs *ctrs = rpc->d->ctrs;
	size_t count = ctrs ? crid_ctrs_of_pod(ctrs, sb->id, NULL, 0) : 0;
	Runtime__V1__ContainerStatus **list;
	struct crid_container **v;

	*out = NULL;
	*n = 0;
	if (!count)
		return 0;
	v = crid_arena_alloc(&rpc->arena, count * sizeof(*v));
	list = crid_arena_alloc(&rpc->arena, count * sizeof(*list));
	if (!v || !list)
		return -1;
	crid_ctrs_of_pod(ctrs, sb->id, v, count);
	for (size_t i = 0; i < count; i++) {
		list[i] = crid_arena_alloc(&rpc->arena, sizeof(*list[i]));
		if (!list[i] || crid_status_msg_container(rpc, v[i], list[i]) < 0)
			return -1;
	}
	*out = list;
	*n = count;
	return 0;
}

/* ---- GetContainerEvents ---- */

uint8_t *crid_status_msg_event(struct crid_rpc *rpc, enum crid_ctr_event type,
			       const struct crid_container *c, size_t *len)
{
	Runtime__V1__ContainerEventResponse ev = RUNTIME__V1__CONTAINER_EVENT_RESPONSE__INIT;
	Runtime__V1__PodSandboxStatus *ps = crid_arena_alloc(&rpc->arena, sizeof(*ps));
	Runtime__V1__ContainerStatus *cs = crid_arena_alloc(&rpc->arena, sizeof(*cs));
	Runtime__V1__ContainerStatus **list = crid_arena_alloc(&rpc->arena, sizeof(*list));
	struct crid_sandbox *sb;
	uint8_t *buf;
	bool amb;

	if (!ps || !cs || !list || crid_status_msg_container(rpc, c, cs) < 0)
		return NULL;
	ev.container_id = (char *)c->id;
	ev.container_event_type = (Runtime__V1__ContainerEventType)type;
	ev.created_at = crid_wall_ns();
	sb = crid_sandbox_find(rpc->d->pods->store, c->sandbox_id, &amb);
	if (sb && crid_status_msg_sandbox(rpc, sb, ps) == 0)
		ev.pod_sandbox_status = ps;
	list[0] = cs;
	ev.containers_statuses = list;
	ev.n_containers_statuses = 1;
	*len = protobuf_c_message_get_packed_size(&ev.base);
	buf = crid_arena_alloc(&rpc->arena, *len + 1);
	if (buf)
		protobuf_c_message_pack(&ev.base, buf);
	return buf;
}

/* ---- List items ---- */

int crid_status_msg_container_item(void *rec, uint8_t **out, size_t *len)
{
	const struct crid_container *c = rec;
	Runtime__V1__Container item = RUNTIME__V1__CONTAINER__INIT;
	struct crid_arena a;
	int r = -1;

	crid_arena_init(&a, 1u << 20);
	item.id = (char *)c->id;
	item.pod_sandbox_id = (char *)c->sandbox_id;
	item.metadata = ctr_metadata(&a, c);
	item.image = image_spec(&a, c->image);
	item.image_ref = c->image_ref;
	item.image_id = c->image_ref;
	item.state = crid_status_msg_ctr_state(c->state);
	item.created_at = c->created_at;
	item.n_labels = c->labels.n;
	item.labels = crid_status_msg_kv_entries(&a, &c->labels,
						 &runtime__v1__container__labels_entry__descriptor);
	item.n_annotations = c->annotations.n;
	item.annotations = crid_status_msg_kv_entries(
	    &a, &c->annotations, &runtime__v1__container__annotations_entry__descriptor);
	if (item.metadata && item.image && item.labels && item.annotations)
		r = crid_list_item_encode(&item.base, out, len);
	crid_arena_reset(&a);
	return r;
}

int crid_status_msg_sandbox_item(void *rec, uint8_t **out, size_t *len)
{
	const struct crid_sandbox *sb = rec;
	Runtime__V1__PodSandbox item = RUNTIME__V1__POD_SANDBOX__INIT;
	struct crid_arena a; /* small: the inline chunk serves a pod with a few dozen labels */
	int r = -1;

	crid_arena_init(&a, 1u << 20);
	item.id = (char *)sb->id;
	item.metadata = sandbox_metadata(&a, sb);
	item.state = sandbox_state(sb);
	item.created_at = sb->created_at;
	item.runtime_handler = (char *)sb->runtime_handler;
	item.n_labels = sb->labels.n;
	item.labels = crid_status_msg_kv_entries(
	    &a, &sb->labels, &runtime__v1__pod_sandbox__labels_entry__descriptor);
	item.n_annotations = sb->annotations.n;
	item.annotations = crid_status_msg_kv_entries(
	    &a, &sb->annotations, &runtime__v1__pod_sandbox__annotations_entry__descriptor);
	if (item.metadata && item.labels && item.annotations)
		r = crid_list_item_encode(&item.base, out, len);
	crid_arena_reset(&a);
	return r;
}
