#include "runtime/oci/proc_signal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* /proc/<pid>/status is about 1.5 KiB; the fields we need come in its first half. */
#define STATUS_MAX 4096

/* The value of line `<key>:\t...` in |s|, or NULL; |end| is where the line ends. */
static const char *field(const char *s, size_t len, const char *key, const char **end)
{
	size_t klen = strlen(key);
	const char *p = s, *stop = s + len;

	while (p < stop) {
		const char *nl = memchr(p, '\n', (size_t)(stop - p));
		const char *eol = nl ? nl : stop;

		if ((size_t)(eol - p) > klen && memcmp(p, key, klen) == 0 && p[klen] == ':') {
			*end = eol;
			return p + klen + 1;
		}
		p = eol + 1;
	}
	return NULL;
}

/* `NSpid:\t<host pid>\t...\t<pid in the innermost namespace>`: is the last one 1? */
static int is_ns_init(const char *s, size_t len)
{
	const char *end, *v = field(s, len, "NSpid", &end), *last = NULL;

	if (!v)
		return -1; /* kernel before 4.1: unknown */
	for (const char *p = v; p < end; p++)
		if ((*p >= '0' && *p <= '9') && (p == v || p[-1] == '\t' || p[-1] == ' '))
			last = p;
	return last && last[0] == '1' && (last + 1 == end || last[1] < '0' || last[1] > '9');
}

/* Bit |sig| of the hex mask of |key| (SigCgt, SigIgn); -1 when missing. */
static int mask_bit(const char *s, size_t len, const char *key, int sig)
{
	const char *end, *v = field(s, len, key, &end);
	char buf[32], *rest;
	size_t n;
	uint64_t mask;

	if (!v)
		return -1;
	while (v < end && (*v == '\t' || *v == ' '))
		v++;
	n = (size_t)(end - v);
	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, v, n);
	buf[n] = '\0';
	errno = 0;
	mask = strtoull(buf, &rest, 16);
	if (errno || rest == buf || *rest)
		return -1;
	return (mask >> (sig - 1)) & 1;
}

enum crid_sig_reach crid_proc_sig_reach_parse(const char *status, size_t len, int sig)
{
	const char *end, *state = field(status, len, "State", &end);

	if (sig < 1 || sig > 64)
		return CRID_SIG_REACHES;
	if (state) {
		while (state < end && (*state == '\t' || *state == ' '))
			state++;
		if (state < end && (*state == 'Z' || *state == 'X'))
			return CRID_SIG_GONE;
	}
	if (is_ns_init(status, len) != 1)
		return CRID_SIG_REACHES;
	return mask_bit(status, len, "SigCgt", sig) == 0 ? CRID_SIG_DROPPED : CRID_SIG_REACHES;
}

int crid_proc_exe_id(pid_t pid, struct crid_exe_id *out)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	if (stat(path, &st) < 0)
		return -1;
	out->dev = st.st_dev;
	out->ino = st.st_ino;
	return 0;
}

enum crid_sig_reach crid_proc_sig_reach(pid_t pid, int sig, const struct crid_exe_id *runtime_exe)
{
	char path[64], buf[STATUS_MAX];
	struct crid_exe_id now;
	ssize_t n;
	int fd;

	/*
	 * execve switches the exe a little before it resets the handlers: a read
	 * in between (microseconds, inside the kernel) still sees the runtime's.
	 */
	if (runtime_exe && crid_proc_exe_id(pid, &now) == 0 && now.dev == runtime_exe->dev &&
	    now.ino == runtime_exe->ino)
		return CRID_SIG_DROPPED;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ESRCH ? CRID_SIG_GONE : CRID_SIG_REACHES;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n <= 0)
		return n < 0 && errno == ESRCH ? CRID_SIG_GONE : CRID_SIG_REACHES;
	return crid_proc_sig_reach_parse(buf, (size_t)n, sig);
}
