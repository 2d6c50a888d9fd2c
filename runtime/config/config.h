/*
 * Room runtime/config/: crid's settings and the TOML reader they come from
 * (config.c, toml.c). Owns nothing on disk but reads the config file; calls
 * only reactor/ (errors, memory). Every other room reads a struct crid_config.
 *
 * crid's configuration: defaults, the TOML file (--config), then command-line
 * flags, in that order of precedence (flags win). Flag names follow CRI-O's
 * where CRI-O has the same setting, so operators' habits carry over.
 */
#ifndef CRID_CONFIG_H
#define CRID_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "reactor/err.h"

struct crid_strv {
	char **v;
	size_t n;
};

/* One OCI runtime handler ([crid.runtime.runtimes.NAME]). */
struct crid_runtime_handler {
	char *name;	    /* RuntimeClass handler name, e.g. "crun" */
	char *runtime_path; /* binary, e.g. "/usr/bin/crun" */
	char *runtime_root; /* --root passed to the runtime; "" = runtime default */
};

/* Per-registry settings ([crid.image.registries."HOST[:PORT]"]). */
struct crid_registry {
	char *host;    /* "127.0.0.1:5000", "docker.io" */
	bool insecure; /* plain HTTP / no TLS verification */
	char *ca_file; /* "" = system trust store */
	struct crid_strv mirrors;
};

struct crid_config {
	char *config_path; /* file that was loaded, "" when none */

	/* [crid] */
	char *listen;		/* unix socket path */
	char *root;		/* persistent state */
	char *runroot;		/* state that does not survive a reboot */
	char *log_level;	/* error|warn|info|debug|trace */
	char *log_format;	/* "text" or "json" (one object per line) */
	long long log_size_max; /* bytes per container log before rotation, -1 = no limit */
	char *listen_group;	/* group owning the socket: a name or a gid, "" = crid's */
	int listen_mode;	/* the socket's permission bits (0660) */
	char *helper_dir;	/* crid-pinns and crid-keeper, "" = found from the executable */

	/* [crid.runtime] */
	char *default_runtime; /* handler used when RuntimeClass is empty */
	char *cgroup_manager;  /* "cgroupfs" or "systemd" */
	struct crid_strv default_capabilities;
	char *seccomp_profile; /* "" = built-in RuntimeDefault, or a JSON file */
	struct crid_runtime_handler *runtimes;
	size_t n_runtimes;

	/* [crid.network] */
	char *cni_config_dir;
	struct crid_strv cni_plugin_dirs;
	int cni_timeout; /* seconds one CNI ADD or DEL chain may take */

	/* [crid.image] */
	char *registries_conf;	     /* containers-registries.conf(5) v2 file, "" = none */
	char *auth_file;	     /* docker config.json style auth file, "" = none */
	char *certs_dir;	     /* <dir>/<host[:port]>/ca.crt per registry (certs.d layout) */
	long long max_layer_entries; /* archive members per layer before a pull is refused */
	int max_layers;		     /* layers per image, refused at the manifest (<= 500) */
	long long max_layer_unpacked_bytes; /* regular-file bytes one layer may write */
	long long max_image_unpacked_bytes; /* the same over all of an image's layers */
	struct crid_strv insecure_registries;
	struct crid_registry *registries;
	size_t n_registries;

	/* [crid.stream] */
	char *stream_address;
	int stream_port;	 /* 0 = pick a free port */
	int stream_idle_timeout; /* seconds a session may pass without a byte either way */
	char *stream_tls_cert;	 /* PEM certificate (chain) for the streaming server, "" = no TLS */
	char *stream_tls_key;	 /* its PEM private key; both set or neither */

	/* [crid.metrics] */
	bool enable_metrics; /* serve Prometheus metrics */
	char *metrics_host;  /* address of the metrics endpoint */
	int metrics_port;    /* its port, 0 = pick a free port */
	char *metrics_cert;  /* PEM certificate (chain): served over TLS; "" = plain HTTP */
	char *metrics_key;   /* its PEM private key; both set or neither */
};

/* What crid_config_from_args() asks main to do. */
enum crid_config_action {
	CRID_CONFIG_RUN = 0,
	CRID_CONFIG_HELP,    /* print crid_config_usage() and exit 0 */
	CRID_CONFIG_VERSION, /* print the version and exit 0 */
};

/* Fills |cfg| with the defaults documented in config.example.toml. */
int crid_config_init_defaults(struct crid_config *cfg, struct crid_err *err);

/*
 * Parses the TOML file |path| into |cfg|, replacing only the keys it sets.
 * Unknown sections or keys and values of the wrong type are errors whose
 * message starts with "PATH:LINE:COL: ".
 */
int crid_config_load_file(struct crid_config *cfg, const char *path, struct crid_err *err);

/* Same as crid_config_load_file() for an in-memory document (|name| is used in messages). */
int crid_config_load_buffer(struct crid_config *cfg, const char *name, const char *buf, size_t len,
			    struct crid_err *err);

/*
 * Defaults, then --config FILE (if given), then every other flag.
 * Returns -1 with a message naming the flag or file on bad input.
 */
int crid_config_from_args(struct crid_config *cfg, int argc, char **argv,
			  enum crid_config_action *action, struct crid_err *err);

/* Checks cross-field rules (default runtime exists, cgroup manager known...). */
int crid_config_validate(const struct crid_config *cfg, struct crid_err *err);

/* The --help text. */
const char *crid_config_usage(void);

/* Looks up a runtime handler by name; "" means the default runtime. NULL if unknown. */
const struct crid_runtime_handler *crid_config_find_runtime(const struct crid_config *cfg,
							    const char *name);

void crid_config_free(struct crid_config *cfg);

#endif
