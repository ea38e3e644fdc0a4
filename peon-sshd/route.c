#include "route.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool candidate(const struct execution *e, int port, const char *fp)
{
	return e->port == port && execution_has_key(e, fp);
}

enum route_result route_pick(const struct registry *r, int port, const char *user,
			     const char *fingerprint, const struct execution **chosen)
{
	const struct execution *named = user ? registry_find(r, user) : NULL;
	size_t hits = 0;

	*chosen = NULL;
	/* A username naming an execution on this port pins the choice: the
	 * key must belong to that execution, with no fallback to others. */
	if (named && named->port == port) {
		if (!execution_has_key(named, fingerprint))
			return ROUTE_NONE;
		*chosen = named;
		return ROUTE_OK;
	}
	for (size_t i = 0; i < r->n; i++) {
		if (!candidate(r->v[i], port, fingerprint))
			continue;
		if (hits++ == 0)
			*chosen = r->v[i];
	}
	if (hits == 1)
		return ROUTE_OK;
	*chosen = NULL;
	return hits == 0 ? ROUTE_NONE : ROUTE_AMBIGUOUS;
}

char *route_ambiguous_message(const struct registry *r, int port, const char *fingerprint)
{
	size_t cap = 256, len;
	char *msg = malloc(cap), *nm;
	const char *example = NULL;

	if (!msg)
		return NULL;
	len = (size_t)snprintf(msg, cap, "peon-sshd: this key opens several executions on this port (");
	for (size_t i = 0; i < r->n; i++) {
		const struct execution *e = r->v[i];
		size_t need = strlen(e->id) + 3;

		if (!candidate(e, port, fingerprint))
			continue;
		if (len + need + 128 > cap) {
			cap = (len + need + 128) * 2;
			nm = realloc(msg, cap);
			if (!nm) {
				free(msg);
				return NULL;
			}
			msg = nm;
		}
		len += (size_t)snprintf(msg + len, cap - len, "%s%s", example ? ", " : "", e->id);
		if (!example)
			example = e->id;
	}
	snprintf(msg + len, cap - len,
		 "); connect as <execution-id>@host, for example: ssh %s@HOST\n", example ? example : "ID");
	return msg;
}
