/*
 * Node-wide settings kubelet pushes through UpdateRuntimeConfig (the pod
 * CIDR), kept in memory and in `<root>/node-state.json` so a restarted
 * daemon still knows them: kubelet only sends them again when they change.
 */
#ifndef CRID_NODE_STATE_H
#define CRID_NODE_STATE_H

#include "reactor/err.h"

struct crid_node_state {
	char *path;
	char *pod_cidr; /* "" until kubelet sends one */
};

/* Loads |root|/node-state.json if present (a corrupt file is an error naming it). */
int crid_node_state_load(struct crid_node_state *ns, const char *root, struct crid_err *err);

/* Validates |cidr| ("" clears; otherwise comma-separated IPv4/IPv6 CIDRs), persists, keeps. */
int crid_node_state_set_pod_cidr(struct crid_node_state *ns, const char *cidr,
				 struct crid_err *err);

void crid_node_state_free(struct crid_node_state *ns);

#endif
