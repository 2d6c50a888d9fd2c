/* CreateContainer's ContainerConfig into runtime/oci/ctr_spec.h terms, and the CRI's signal names. */
#ifndef CRID_HANDLERS_CTR_CONFIG_H
#define CRID_HANDLERS_CTR_CONFIG_H

#include "handlers/rpc.h"
#include "proto/api.pb-c.h"
#include "runtime/oci/ctr_spec.h"

/*
 * Fills |s| from |c| (pointers into |c| and the call's arena). Bad input is
 * EINVAL with a message naming the field ("config.mounts[1].host_path: ...").
 */
int crid_ctr_config_translate(struct crid_rpc *rpc, const Runtime__V1__ContainerConfig *c,
			      struct crid_ctr_spec *s, struct crid_err *err);

/* The CRI Signal enum value as a Linux signal number (0 = runtime default), -1 if unknown. */
int crid_cri_signal_to_linux(int cri);

/* A Linux signal number as the CRI Signal enum value (0 when it has none). */
int crid_linux_signal_to_cri(int signo);

#endif
