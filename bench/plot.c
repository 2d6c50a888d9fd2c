/*
 * PNG plots with gnuplot (Debian gnuplot-nox), for people who would rather
 * look than read: per series, the latency CDF of every endpoint; for density,
 * the runtime's memory against the pod count. Data and scripts stay next to
 * the PNGs (DIR/<scenario>-<series>.{dat,gp,png}) so plots can be redone.
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "bench/bench.h"

extern char **environ;

static void safe_name(char *dst, size_t size, const char *src)
{
	size_t i = 0;

	for (; src[i] && i + 1 < size; i++)
		dst[i] = (src[i] == '/' || src[i] == ' ') ? '_' : src[i];
	dst[i] = '\0';
}

static int gnuplot(const char *script)
{
	char *argv[] = { "gnuplot", (char *)script, NULL };
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int st, rc;

	/* quiet: gnuplot warns about one-sample ranges, which are fine here */
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	rc = posix_spawnp(&pid, "gnuplot", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0)
		return -1;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static void cdf(const struct crid_bench_run *run, const char *series)
{
	char base[256], path[300], sn[64];
	const char *unit = "";
	FILE *f;
	size_t blocks = 0;
	const char *names[CRID_BENCH_MAX_ENDPOINTS + 1];

	safe_name(sn, sizeof(sn), series);
	snprintf(base, sizeof(base), "%s/%s-%s", run->plots_dir, run->scenario, sn);
	snprintf(path, sizeof(path), "%s.dat", base);
	f = fopen(path, "we");
	if (!f)
		return;
	for (size_t e = 0; e <= run->n_ep; e++) {
		const struct crid_bench_endpoint *ep = e < run->n_ep ? &run->ep[e] : &run->floor;
		const struct crid_bench_series *s = crid_bench_find_series(ep, series);

		if (!s || !s->s.n)
			continue;
		unit = s->unit;
		names[blocks++] = e < run->n_ep ? ep->name : "floor";
		fprintf(f, "# %s\n", names[blocks - 1]);
		for (size_t i = 0; i < s->s.n; i++) /* sorted by crid_bench_summarize */
			fprintf(f, "%.6f %.6f\n", s->s.v[i], (double)(i + 1) / (double)s->s.n);
		fprintf(f, "\n\n");
	}
	fclose(f);
	if (!blocks)
		return;
	snprintf(path, sizeof(path), "%s.gp", base);
	f = fopen(path, "we");
	if (!f)
		return;
	fprintf(f,
		"set terminal pngcairo size 900,560 noenhanced\nset output '%s.png'\n"
		"set title '%s: %s, CDF per endpoint'\nset xlabel '%s'\nset ylabel 'fraction'\n"
		"set key bottom right\nset grid\nset yrange [0:1]\nplot ",
		base, run->scenario, series, unit);
	for (size_t b = 0; b < blocks; b++)
		fprintf(f, "%s'%s.dat' index %zu using 1:2 with steps lw 2 title '%s'",
			b ? ", " : "", base, b, names[b]);
	fprintf(f, "\n");
	fclose(f);
	if (gnuplot(path) < 0)
		fprintf(stderr, "crid-bench: gnuplot %s failed\n", path);
}

static void memory_curve(const struct crid_bench_run *run)
{
	char base[256], path[300];
	size_t blocks = 0;
	const char *names[CRID_BENCH_MAX_ENDPOINTS];
	FILE *f;

	snprintf(base, sizeof(base), "%s/%s-memory", run->plots_dir, run->scenario);
	snprintf(path, sizeof(path), "%s.dat", base);
	f = fopen(path, "we");
	if (!f)
		return;
	for (size_t e = 0; e < run->n_ep; e++) {
		const struct crid_bench_result *r = &run->ep[e].res;

		if (!r->n_curve)
			continue;
		names[blocks++] = run->ep[e].name;
		fprintf(f, "# %s: pods pss_mib rss_mib\n", run->ep[e].name);
		for (size_t i = 0; i < r->n_curve; i++)
			fprintf(f, "%zu %.3f %.3f\n", r->curve[i].pods, r->curve[i].pss_kib / 1024,
				r->curve[i].rss_kib / 1024);
		fprintf(f, "\n\n");
	}
	fclose(f);
	if (!blocks)
		return;
	snprintf(path, sizeof(path), "%s.gp", base);
	f = fopen(path, "we");
	if (!f)
		return;
	fprintf(f,
		"set terminal pngcairo size 900,560 noenhanced\nset output '%s.png'\n"
		"set title 'runtime memory besides containers (daemon, shims, pause)'\n"
		"set xlabel 'pods'\nset ylabel 'MiB'\nset key top left\nset grid\nplot ",
		base);
	for (size_t b = 0; b < blocks; b++)
		fprintf(f,
			"%s'%s.dat' index %zu using 1:2 with linespoints lw 2 title '%s PSS', "
			"'%s.dat' index %zu using 1:3 with linespoints dt 2 title '%s RSS'",
			b ? ", " : "", base, b, names[b], base, b, names[b]);
	fprintf(f, "\n");
	fclose(f);
	if (gnuplot(path) < 0)
		fprintf(stderr, "crid-bench: gnuplot %s failed\n", path);
}

void crid_bench_plots(const struct crid_bench_run *run)
{
	const char *seen[CRID_BENCH_MAX_SERIES * (CRID_BENCH_MAX_ENDPOINTS + 1)];
	size_t n = 0;

	if (!run->plots_dir)
		return;
	if (mkdir(run->plots_dir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "crid-bench: mkdir `%s`: %s\n", run->plots_dir, strerror(errno));
		return;
	}
	for (size_t e = 0; e <= run->n_ep; e++) {
		const struct crid_bench_endpoint *ep = e < run->n_ep ? &run->ep[e] : &run->floor;

		for (size_t i = 0; i < ep->res.n_series; i++) {
			bool dup = false;

			for (size_t j = 0; j < n && !dup; j++)
				dup = strcmp(seen[j], ep->res.series[i].name) == 0;
			if (!dup) {
				seen[n++] = ep->res.series[i].name;
				cdf(run, ep->res.series[i].name);
			}
		}
	}
	memory_curve(run);
}
