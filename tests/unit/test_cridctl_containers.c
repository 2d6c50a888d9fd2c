/* Unit tests for cridctl's container verbs: the ps row, update's flags, sizes, JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cridctl.h"
#include "tap.h"

#define NS 1000000000LL

static void test_ps_row(void)
{
	Runtime__V1__Container c = RUNTIME__V1__CONTAINER__INIT;
	Runtime__V1__ContainerMetadata md = RUNTIME__V1__CONTAINER_METADATA__INIT;
	Runtime__V1__ImageSpec im = RUNTIME__V1__IMAGE_SPEC__INIT;
	Runtime__V1__Container__LabelsEntry l1 = RUNTIME__V1__CONTAINER__LABELS_ENTRY__INIT;
	Runtime__V1__Container__LabelsEntry *labels[] = { &l1 };
	char cells[CRIDCTL_PS_COLS][128];

	c.id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	c.pod_sandbox_id = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";
	md.name = "web";
	md.attempt = 2;
	c.metadata = &md;
	im.image = "sha256:aaaabbbbccccddddeeeeffff0000111122223333444455556666777788889999";
	c.image = &im;
	c.state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
	c.created_at = 100 * NS;
	l1.key = "io.kubernetes.pod.name";
	l1.value = "nginx-pod";
	c.labels = labels;
	c.n_labels = 1;
	cridctl_ps_row(&c, false, 100 * NS + 90 * NS, cells, sizeof(cells[0]));
	CHECK(strcmp(cells[0], "0123456789abc") == 0, "ID cut to 13: %s", cells[0]);
	CHECK(strcmp(cells[1], "aaaabbbbccccd") == 0, "image digest cut: %s", cells[1]);
	CHECK(strcmp(cells[2], "About a minute ago") == 0, "created: %s", cells[2]);
	CHECK(strcmp(cells[3], "Running") == 0, "state word");
	CHECK(strcmp(cells[4], "web") == 0 && strcmp(cells[5], "2") == 0, "name and attempt");
	CHECK(strcmp(cells[6], "fedcba9876543") == 0, "pod ID cut: %s", cells[6]);
	CHECK(strcmp(cells[7], "nginx-pod") == 0, "pod name from the label");
	cridctl_ps_row(&c, true, 100 * NS, cells, sizeof(cells[0]));
	CHECK(strcmp(cells[0], c.id) == 0 && strcmp(cells[1], im.image) == 0,
	      "--no-trunc keeps ID and image");
	CHECK(strcmp(cells[2], "Less than a second ago") == 0, "just created");
	im.image = "busybox:latest";
	c.n_labels = 0;
	c.state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED;
	cridctl_ps_row(&c, false, 100 * NS + 7200 * NS, cells, sizeof(cells[0]));
	CHECK(strcmp(cells[1], "busybox:latest") == 0, "a name is not cut");
	CHECK(strcmp(cells[3], "Exited") == 0 && strcmp(cells[7], "unknown") == 0,
	      "Exited; no pod label: unknown");
	CHECK(strcmp(cells[2], "2 hours ago") == 0, "2 hours: %s", cells[2]);
}

static void test_table(void)
{
	struct cridctl_table t = { .cols = CRIDCTL_PS_COLS };
	const char *row[CRIDCTL_PS_COLS] = {
		"abc", "img", "1 second ago", "Running", "a-rather-long-container-name",
		"0",   "def", "pod"
	};
	char out[1024] = "";
	FILE *f = fmemopen(out, sizeof(out), "w");
	FILE *saved = stdout;

	CHECK(cridctl_table_add(&t, cridctl_ps_header) == 0 && cridctl_table_add(&t, row) == 0,
	      "rows added");
	stdout = f;
	cridctl_table_print(&t);
	stdout = saved;
	fclose(f);
	CHECK(strncmp(out,
		      "CONTAINER           IMAGE               CREATED             STATE"
		      "               NAME                           ATTEMPT             POD ID"
		      "              POD\n",
		      148) == 0,
	      "header padded like Go's tabwriter (min 20, padding 3):\n%s", out);
	CHECK(strstr(out, "\nabc                 img ") != NULL, "row aligned");
	cridctl_table_free(&t);
}

static int parse(Runtime__V1__LinuxContainerResources *r, int argc, char **argv)
{
	runtime__v1__linux_container_resources__init(r);
	return cridctl_update_parse(argc, argv, r);
}

static void test_update_flags(void)
{
	Runtime__V1__LinuxContainerResources r;
	char *ok[] = { "update",	  "--cpu-share", "512",		  "--cpu-quota=50000",
		       "--cpu-period",	  "100000",	 "--memory",	  "104857600",
		       "--cpuset-cpus",	  "0-1",	 "--cpuset-mems", "0",
		       "--oom-score-adj", "-5",		 "abc",		  "def" };
	char *bad_num[] = { "update", "--memory", "1g", "abc" };
	char *no_id[] = { "update", "--cpu-share", "2" };
	char *unknown[] = { "update", "--cpus", "2", "abc" };

	CHECK(parse(&r, 16, ok) == 14, "IDs start after the flags");
	CHECK(r.cpu_shares == 512 && r.cpu_quota == 50000 && r.cpu_period == 100000, "cpu flags");
	CHECK(r.memory_limit_in_bytes == 104857600 && r.oom_score_adj == -5, "memory, oom");
	CHECK(strcmp(r.cpuset_cpus, "0-1") == 0 && strcmp(r.cpuset_mems, "0") == 0, "cpusets");
	CHECK(parse(&r, 4, bad_num) < 0, "a non-integer memory is refused (crictl takes bytes)");
	CHECK(parse(&r, 3, no_id) < 0, "no ID refused");
	CHECK(parse(&r, 4, unknown) < 0, "unknown flag refused");
}

static void test_sizes_and_json(void)
{
	Runtime__V1__ContainerStatus s = RUNTIME__V1__CONTAINER_STATUS__INIT;
	Runtime__V1__ContainerMetadata md = RUNTIME__V1__CONTAINER_METADATA__INIT;
	Runtime__V1__ContainerStatus__LabelsEntry l1 =
	    RUNTIME__V1__CONTAINER_STATUS__LABELS_ENTRY__INIT;
	Runtime__V1__ContainerStatus__LabelsEntry *labels[] = { &l1 };
	yajl_gen g = cridctl_json_new();
	const unsigned char *buf;
	size_t len;
	char b[32];

	cridctl_human_size(0, b, sizeof(b));
	CHECK(strcmp(b, "0B") == 0, "0B");
	cridctl_human_size(1234567, b, sizeof(b));
	CHECK(strcmp(b, "1.235MB") == 0, "HumanSize 4 digits: %s", b);
	cridctl_human_size(999, b, sizeof(b));
	CHECK(strcmp(b, "999B") == 0, "999B");
	s.id = "c1";
	md.name = "web";
	s.metadata = &md;
	s.state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED;
	s.exit_code = 3;
	s.created_at = 12345678901234LL;
	s.log_path = "/var/log/x.log";
	l1.key = "k";
	l1.value = "v";
	s.labels = labels;
	s.n_labels = 1;
	cridctl_json_message(g, &s.base, NULL, NULL);
	yajl_gen_get_buf(g, &buf, &len);
	CHECK(strstr((const char *)buf,
		     "\"id\":\"c1\",\"metadata\":{\"name\":\"web\",\"attempt\":0}"
		     ",\"state\":\"CONTAINER_EXITED\",\"createdAt\":"
		     "\"12345678901234\"") != NULL,
	      "protojson: camelCase, enum names, int64 as strings: %.*s", (int)len, buf);
	CHECK(strstr((const char *)buf, "\"exitCode\":3") != NULL, "int32 as a number");
	CHECK(strstr((const char *)buf, "\"labels\":{\"k\":\"v\"}") != NULL, "a map as an object");
	CHECK(strstr((const char *)buf, "\"logPath\":\"/var/log/x.log\"") != NULL, "log path");
	CHECK(strstr((const char *)buf, "\"image\":") == NULL, "an unset message is left out");
	CHECK(strstr((const char *)buf, "\"mounts\":[]") != NULL, "an empty list is shown");
	yajl_gen_free(g);
}

int main(void)
{
	test_ps_row();
	test_table();
	test_update_flags();
	test_sizes_and_json();
	return tap_done();
}
