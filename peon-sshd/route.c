#include "route.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Candidate ids named in the ambiguity message; more are counted, not listed. */
#define ROUTE_MESSAGE_MAX_IDS 16

enum route_result route_pick(const struct registry *r, int port, const char *user,
			     const char *fingerprint, const struct execution **chosen)
{
	const struct execution *named = user ? registry_find(r, user) : NULL;
	const struct keyref *k;
	size_t n = registry_with_key(r, fingerprint, &k), hits = 0;

	*chosen = NULL;
	/* A username naming an execution on this port pins the choice: the
	 * key must belong to that execution, with no fallback to others. */
	if (named && named->port == port) {
		if (!execution_has_key(named, fingerprint))
			return ROUTE_NONE;
		*chosen = named;
		return ROUTE_OK;
	}
	for (size_t i = 0; i < n; i++) {
		if (k[i].e->port != port)
			continue;
		if (hits++ == 0)
			*chosen = k[i].e;
	}
	if (hits == 1)
		return ROUTE_OK;
	*chosen = NULL;
	return hits == 0 ? ROUTE_NONE : ROUTE_AMBIGUOUS;
}

char *route_ambiguous_message(const struct registry *r, int port, const char *fingerprint)
{
	const struct keyref *k;
	size_t n = registry_with_key(r, fingerprint, &k), listed = 0, more = 0;
	/* 16 ids of at most 128 bytes, separators and the fixed text. */
	size_t cap = ROUTE_MESSAGE_MAX_IDS * 131 + 512, len;
	char *msg = malloc(cap);
	const char *example = NULL;

	if (!msg)
		return NULL;
	len = (size_t)snprintf(msg, cap, "peon-sshd: this key opens several executions on this port (");
	for (size_t i = 0; i < n; i++) {
		if (k[i].e->port != port)
			continue;
		if (listed == ROUTE_MESSAGE_MAX_IDS) {
			more++;
			continue;
		}
		len += (size_t)snprintf(msg + len, cap - len, "%s%s", example ? ", " : "", k[i].e->id);
		if (!example)
			example = k[i].e->id;
		listed++;
	}
	if (more)
		len += (size_t)snprintf(msg + len, cap - len, " and %zu more", more);
	snprintf(msg + len, cap - len,
		 "); connect as <execution-id>@host, for example: ssh %s@HOST\n", example ? example : "ID");
	return msg;
}
