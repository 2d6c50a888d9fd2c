/* The cached streaming request's destructor and names (runtime/stream/stream_req.h). */
#include "runtime/stream/stream_req.h"

#include "reactor/mem.h"

void crid_stream_req_free(struct crid_stream_req *req)
{
	if (!req)
		return;
	for (size_t i = 0; req->argv && i < req->argc; i++)
		crid_free(req->argv[i]);
	crid_free(req->argv);
	crid_free(req->ports);
	crid_free(req);
}

const char *crid_stream_kind_name(enum crid_stream_kind kind)
{
	switch (kind) {
	case CRID_STREAM_EXEC:
		return "exec";
	case CRID_STREAM_ATTACH:
		return "attach";
	case CRID_STREAM_PORTFORWARD:
		return "portforward";
	}
	return "?";
}
