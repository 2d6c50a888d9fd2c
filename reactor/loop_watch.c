/*
 * reactor/loop_watch: see loop_watch.h. The handler only calls backtrace()
 * (warmed up at start: its first call loads libgcc_s) into static storage;
 * naming the frames happens on the loop, after the iteration, and only when
 * the timer fired. SA_RESTART: a system call the signal lands in restarts.
 */
#include "reactor/loop_watch.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "reactor/log.h"

#define FRAMES 12
#define WATCH_SIGNAL (SIGRTMIN + 4)

static struct {
	int on;
	timer_t timer;
	struct itimerspec arm;
	volatile sig_atomic_t fired;
	void *frames[FRAMES];
	volatile sig_atomic_t n_frames;
	/* the binary's .symtab, mapped the first time a frame is named */
	const Elf64_Sym *syms;
	size_t n_syms;
	const char *strs;
	uintptr_t base;
	int tried;
} w;

static void on_timer(int sig, siginfo_t *si, void *uc)
{
	int e = errno;

	(void)sig;
	(void)si;
	(void)uc;
	if (!w.fired) {
		w.n_frames = backtrace(w.frames, FRAMES);
		w.fired = 1;
	}
	errno = e;
}

int crid_loop_watch_start(double threshold_s, struct crid_err *err)
{
	struct sigevent sev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = WATCH_SIGNAL };
	struct sigaction sa = { .sa_sigaction = on_timer, .sa_flags = SA_SIGINFO | SA_RESTART };
	void *warm[2];

	if (w.on)
		return 0;
	backtrace(warm, 2);
	sigemptyset(&sa.sa_mask);
	if (sigaction(WATCH_SIGNAL, &sa, NULL) < 0)
		return crid_err_set(err, errno, "loop watch: sigaction");
	if (timer_create(CLOCK_MONOTONIC, &sev, &w.timer) < 0) {
		signal(WATCH_SIGNAL, SIG_DFL);
		return crid_err_set(err, errno, "loop watch: timer_create");
	}
	w.arm.it_value.tv_sec = (time_t)threshold_s;
	w.arm.it_value.tv_nsec = (long)((threshold_s - (double)(time_t)threshold_s) * 1e9);
	w.on = 1;
	return 0;
}

void crid_loop_watch_arm(void)
{
	if (w.on)
		timer_settime(w.timer, 0, &w.arm, NULL);
}

/* The binary's symbol table (not stripped: built with -g), or nothing. */
static void load_symtab(void)
{
	const Elf64_Ehdr *eh;
	const Elf64_Shdr *sh;
	Dl_info di;
	struct stat st;
	void *map;
	int fd;

	w.tried = 1;
	if (!dladdr((void *)load_symtab, &di) || !di.dli_fbase)
		return;
	w.base = (uintptr_t)di.dli_fbase;
	fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	map = fstat(fd, &st) == 0 && (size_t)st.st_size > sizeof(*eh)
		  ? mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0)
		  : MAP_FAILED;
	close(fd);
	if (map == MAP_FAILED)
		return;
	eh = map;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_shoff + (uint64_t)eh->e_shnum * sizeof(*sh) > (uint64_t)st.st_size)
		return;
	sh = (const Elf64_Shdr *)((const char *)map + eh->e_shoff);
	for (size_t i = 0; i < eh->e_shnum; i++) {
		if (sh[i].sh_type != SHT_SYMTAB || sh[i].sh_link >= eh->e_shnum ||
		    sh[i].sh_offset + sh[i].sh_size > (uint64_t)st.st_size ||
		    sh[sh[i].sh_link].sh_offset + sh[sh[i].sh_link].sh_size > (uint64_t)st.st_size)
			continue;
		w.syms = (const Elf64_Sym *)((const char *)map + sh[i].sh_offset);
		w.n_syms = sh[i].sh_size / sizeof(Elf64_Sym);
		w.strs = (const char *)map + sh[sh[i].sh_link].sh_offset;
		return;
	}
}

/* "name+0xoff" for one frame: the binary's own symbols, then the dynamic ones. */
static void frame_name(void *pc, char *buf, size_t size)
{
	uintptr_t a = (uintptr_t)pc;
	Dl_info di;

	if (!w.tried)
		load_symtab();
	for (size_t i = 0; w.syms && i < w.n_syms; i++) {
		const Elf64_Sym *s = &w.syms[i];
		uintptr_t lo = w.base + s->st_value;

		if (ELF64_ST_TYPE(s->st_info) == STT_FUNC && s->st_size && a >= lo &&
		    a < lo + s->st_size) {
			snprintf(buf, size, "%s+0x%lx", w.strs + s->st_name,
				 (unsigned long)(a - lo));
			return;
		}
	}
	if (dladdr(pc, &di) && di.dli_sname)
		snprintf(buf, size, "%s+0x%lx", di.dli_sname,
			 (unsigned long)(a - (uintptr_t)di.dli_saddr));
	else if (di.dli_fname)
		snprintf(buf, size, "%s+0x%lx",
			 strrchr(di.dli_fname, '/') ? strrchr(di.dli_fname, '/') + 1 : di.dli_fname,
			 (unsigned long)(a - (uintptr_t)di.dli_fbase));
	else
		snprintf(buf, size, "%p", pc);
}

void crid_loop_watch_disarm(double busy_s)
{
	static const struct itimerspec zero;
	char line[1536], name[160];
	size_t len = 0;

	if (!w.on)
		return;
	timer_settime(w.timer, 0, &zero, NULL);
	if (!w.fired)
		return;
	/* fired between the caller's clock read and this disarm: not a long iteration */
	if (busy_s * 1e9 < (double)w.arm.it_value.tv_sec * 1e9 + (double)w.arm.it_value.tv_nsec) {
		w.fired = 0;
		return;
	}
	/* frames[0] is the handler and [1] the signal trampoline: the interrupted code follows */
	for (int i = 2; i < w.n_frames && len + 1 < sizeof(line); i++) {
		frame_name(w.frames[i], name, sizeof(name));
		len += (size_t)snprintf(line + len, sizeof(line) - len, "%s%s", i > 2 ? " < " : "",
					name);
	}
	line[len < sizeof(line) ? len : sizeof(line) - 1] = '\0';
	crid_log_debug("loop: iteration of %.1f ms; at %.0f ms it was in %s", busy_s * 1e3,
		       (double)w.arm.it_value.tv_sec * 1e3 + (double)w.arm.it_value.tv_nsec / 1e6,
		       line);
	w.fired = 0;
}

void crid_loop_watch_stop(void)
{
	if (!w.on)
		return;
	timer_delete(w.timer);
	signal(WATCH_SIGNAL, SIG_DFL);
	w.on = 0;
	w.fired = 0;
}
