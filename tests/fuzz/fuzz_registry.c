/* Execution records (the daemon's own files) and add requests (the control
 * socket): both JSON, parsed by separate entry points. A record that loads
 * must come back the same through execution_to_record (static keys, key
 * URLs and their last good keys), and a session's one-key view of it must
 * load too. */
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
	if (execution_from_record(o, &e, err) == 0) {
		json_object *rec = execution_to_record(e), *one;
		struct execution *again = NULL, *view = NULL;

		if (execution_from_record(rec, &again, err) != 0 || again->n_keys != e->n_keys ||
		    again->n_static != e->n_static || again->n_urls != e->n_urls)
			abort();
		one = e->n_keys ? execution_record_one_key(e, e->keys[e->n_keys - 1].fingerprint) : NULL;
		if (one && (execution_from_record(one, &view, err) != 0 || view->n_keys != 1 || view->n_urls))
			abort();
		execution_free(view);
		execution_free(again);
		json_object_put(one);
		json_object_put(rec);
		execution_free(e);
	}
	e = NULL;
	if (execution_from_request(o, &e, &ttl, err) == 0)
		execution_free(e);
	json_object_put(o);
	return 0;
}
