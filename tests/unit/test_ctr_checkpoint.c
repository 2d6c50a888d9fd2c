/* Unit tests for runtime/container/ctr_checkpoint: the line quoted from `criu check`. */
#include <string.h>

#include "runtime/container/ctr_checkpoint.h"
#include "tap.h"

int main(void)
{
	/* criu 3.17.1 on this host's 6.18 kernel */
	static const char vdso[] =
	    "Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds\n"
	    "Error (criu/vdso.c:613): vdso: Failed to fill self vdso symtable\n"
	    "Error (criu/kerndat.c:1615): kerndat_vdso_fill_symtable failed when initializing "
	    "kerndat.\n"
	    "Error (criu/crtools.c:260): Could not initialize kernel features detection.\n";
	char line[256];

	crid_ckpt_criu_error(vdso, line, sizeof(line));
	CHECK(strcmp(line, "Error (criu/crtools.c:260): Could not initialize kernel features "
			   "detection.") == 0,
	      "last Error line: %s", line);
	crid_ckpt_criu_error("Warn: x\nError: no CAP_SYS_ADMIN\nLooks bad\n\n", line, sizeof(line));
	CHECK(strcmp(line, "Error: no CAP_SYS_ADMIN") == 0, "Error preferred to a later line");
	crid_ckpt_criu_error("Looks good but some kernel features are missing\n", line,
			     sizeof(line));
	CHECK(strcmp(line, "Looks good but some kernel features are missing") == 0,
	      "no Error line: the last line");
	crid_ckpt_criu_error("", line, sizeof(line));
	CHECK(line[0] == '\0', "no output: empty");
	crid_ckpt_criu_error("Error abcdefghijklmnop", line, 8);
	CHECK(strcmp(line, "Error a") == 0, "truncated to the buffer");
	return tap_done();
}
