/* Execution records (the daemon's own files) and add requests (the control
 * socket): both JSON, parsed by separate entry points. */
#include "registry.h"
#include "util.h"

#include <json-c/json.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_tokener *tok = json_tokener_new();
	json_object *o;
	struct execution *e = NULL;
	long long ttl;
	char err[ERRLEN];

	if (!tok)
		return 0;
	o = json_tokener_parse_ex(tok, (const char *)data, (int)size);
	json_tokener_free(tok);
	if (!o)
		return 0;
	if (execution_from_record(o, &e, err) == 0)
		execution_free(e);
	e = NULL;
	if (execution_from_request(o, &e, &ttl, err) == 0)
		execution_free(e);
	json_object_put(o);
	return 0;
}
