/* Unit tests for runtime/oci/rt_features: the `features` document against the kernel's half. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "runtime/oci/rt_features.h"
#include "tap.h"

/* Trimmed from runc 1.1.5's answer on this host. */
static const char runc_115[] =
    "{\"ociVersionMin\":\"1.0.0\",\"mountOptions\":[\"bind\",\"ro\",\"rro\",\"rrw\"],"
    "\"linux\":{\"namespaces\":[\"cgroup\",\"ipc\",\"mount\",\"network\",\"pid\",\"user\","
    "\"uts\"]},\"annotations\":{\"org.opencontainers.runc.checkpoint.enabled\":\"true\"}}";

/* runc 1.2's shape: idmapped mounts announced under linux.mountExtensions. */
static const char runc_12[] = "{\"mountOptions\":[\"rro\"],\"linux\":{\"namespaces\":[\"user\"],"
			      "\"mountExtensions\":{\"idmap\":{\"enabled\":true}}}}";

static void parse(const char *json, bool setattr, bool userns, struct crid_rt_features *f)
{
	struct crid_kernel_features k = { .mount_setattr = setattr, .userns = userns };

	crid_rt_features_parse(json, strlen(json), &k, f);
}

static void test_runc_115(void)
{
	struct crid_rt_features f;

	parse(runc_115, true, true, &f);
	CHECK(f.probed && !f.why[0], "runc 1.1.5 parsed");
	CHECK(f.rro, "rro listed and kernel has mount_setattr: rro");
	CHECK(!f.userns, "no idmap mount extension: no user namespaces");
	CHECK(f.checkpoint, "checkpoint annotation true: checkpoint");
	parse(runc_115, false, true, &f);
	CHECK(!f.rro, "kernel without mount_setattr: no rro whatever the runtime says");
}

static void test_runc_12(void)
{
	struct crid_rt_features f;

	parse(runc_12, true, true, &f);
	CHECK(f.rro && f.userns, "idmap enabled + user namespace + kernel: userns");
	CHECK(!f.checkpoint, "no checkpoint annotation: no checkpoint");
	parse(runc_12, true, false, &f);
	CHECK(!f.userns, "kernel with user namespaces off: no userns");
	parse("{\"mountOptions\":[\"ro\"],\"linux\":{\"namespaces\":[\"user\"],"
	      "\"mountExtensions\":{\"idmap\":{\"enabled\":false}}}}",
	      true, true, &f);
	CHECK(!f.rro && !f.userns, "ro only, idmap disabled: neither");
}

static void test_bad(void)
{
	static const char *const bad[] = { "", "null", "[\"rro\"]",
					   "{\"mountOptions\":", "unknown command features\n" };
	struct crid_rt_features f;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		parse(bad[i], true, true, &f);
		CHECK(f.probed && !f.rro && !f.userns && !f.checkpoint && f.why[0],
		      "malformed answer %zu: everything false, with a reason (%s)", i, f.why);
	}
	parse("{\"mountOptions\":\"rro\",\"annotations\":{"
	      "\"org.opencontainers.runc.checkpoint.enabled\":true}}",
	      true, true, &f);
	CHECK(!f.rro && !f.checkpoint, "wrong member types are not features");
}

static void test_kernel(void)
{
	struct crid_kernel_features k;

	crid_kernel_features_detect(&k);
	/* this host runs Linux 6.x: mount_setattr (5.12) exists */
	CHECK(k.mount_setattr, "mount_setattr detected on this kernel");
}

int main(void)
{
	test_runc_115();
	test_runc_12();
	test_bad();
	test_kernel();
	return tap_done();
}
