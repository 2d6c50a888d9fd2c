/*
 * libFuzzer target for CNI network configurations (a node's conf dir and the
 * copies kept in pod records are both parsed): any bytes go to the config
 * parser and to the network loader that rebuilds the list crid runs; each
 * must give a network or an error, never a crash or a leak, and an accepted
 * config must name between one and the maximum number of plugins.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reactor/mem.h"
#include "runtime/cni/cni.h"
#include "runtime/cni/cni_conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *dirs[] = { "/nonexistent" };
	const struct crid_strv plugin_dirs = { dirs, 1 };
	struct crid_cni_conf conf;
	struct crid_cni_net *net = NULL;
	struct crid_err err;
	char problem[256];
	char *buf;

	if (size > (1u << 20))
		return 0;
	buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	if (crid_cni_conf_parse(&conf, buf, size, problem, sizeof(problem)) == 0) {
		if (conf.n == 0 || conf.n > CRID_CNI_MAX_PLUGINS || !conf.name || !conf.version)
			abort();
		crid_cni_conf_free(&conf);
	}
	if (crid_cni_net_parse("fuzz", buf, size, &plugin_dirs, &net, &err) == 0) {
		if (!crid_cni_net_json(net) || !crid_cni_net_name(net))
			abort();
		crid_cni_net_free(net);
	}
	free(buf);
	return 0;
}
