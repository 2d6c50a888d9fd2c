/*
 * Config files as crictl reads them (runp's pod config, later create's
 * container config): JSON or YAML with the CRI's proto field names
 * (snake_case; the camelCase JSON names are accepted too), enums as numbers
 * or value names. The file is read into a yajl tree (YAML is first converted
 * to JSON text) and the tree is walked against the protobuf-c descriptor, so
 * any CRI message can be filled. Unlike crictl, unknown fields are errors.
 */
#ifndef CRIDCTL_PODCONFIG_H
#define CRIDCTL_PODCONFIG_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#include "proto/api.pb-c.h"
#include "reactor/err.h"

/* Files larger than this are refused before parsing. */
#define CRIDCTL_CONFIG_MAX_BYTES (1 << 20)

/*
 * Parses |len| bytes of |text| (NUL-terminated at |len|) as a |desc| message.
 * JSON when the first non-blank byte is '{', YAML otherwise. |name| names the
 * file in messages: "pod config `x.yaml`: line 3: ..." for syntax errors,
 * "pod config `x.json`: unknown field `metadata.nmae`" for content errors
 * (|kind| is "pod config" there). On success *out is a new message; free it
 * with cridctl_config_free.
 */
int cridctl_config_parse(const char *kind, const char *name, const char *text, size_t len,
			 const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out,
			 struct crid_err *err);

/*
 * Reads the pod config file |path| and checks what crictl checks: metadata
 * set, with a name and a namespace (an empty uid is left for the caller).
 */
int cridctl_podconfig_load(const char *path, Runtime__V1__PodSandboxConfig **out,
			   struct crid_err *err);

/*
 * Reads the container config file |path|; metadata.name and image.image must
 * be set (crictl checks the name; the image is what create needs).
 */
int cridctl_ctrconfig_load(const char *path, Runtime__V1__ContainerConfig **out,
			   struct crid_err *err);

/* Frees a message from cridctl_config_parse or cridctl_podconfig_load; NULL is fine. */
void cridctl_config_free(ProtobufCMessage *m);

#endif
