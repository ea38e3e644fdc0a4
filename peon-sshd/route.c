#include "route.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Candidate ids named in the ambiguity message; more are counted, not listed. */
#define ROUTE_MESSAGE_MAX_IDS 16

/* Does this key let a client at ip in now? NULL when it does, else the
 * option that refuses. No ip: options are not checked. */
static const char *key_refuses(const struct authkey *key, const char *ip, long long now)
{
	if (!ip)
		return NULL;
	if (!authkey_from_allows(&key->opts, ip))
		return "the key's from= option does not allow this address";
	if (authkey_expired(&key->opts, now))
		return "the key's expiry-time has passed";
	return NULL;
}

enum route_result route_pick_from(const struct registry *r, int port, const char *user, const char *fingerprint,
				  const char *ip, long long now, const struct execution **chosen, const char **why)
{
	const struct execution *named = user ? registry_find(r, user) : NULL;
	const struct keyref *k;
	size_t n = registry_with_key(r, fingerprint, &k), hits = 0;
	const char *no;

	*chosen = NULL;
	*why = NULL;
	/* A username naming an execution on this port pins the choice: the
	 * key must belong to that execution, with no fallback to others. */
	if (named && named->port == port) {
		const struct authkey *key = execution_key(named, fingerprint);

		if (!key)
			return ROUTE_NONE;
		if ((no = key_refuses(key, ip, now))) {
			*why = no;
			return ROUTE_NONE;
		}
		*chosen = named;
		return ROUTE_OK;
	}
	for (size_t i = 0; i < n; i++) {
		if (k[i].e->port != port)
			continue;
		if ((no = key_refuses(execution_key(k[i].e, fingerprint), ip, now))) {
			*why = no;
			continue;
		}
		if (hits++ == 0)
			*chosen = k[i].e;
	}
	if (hits)
		*why = NULL;
	if (hits == 1)
		return ROUTE_OK;
	*chosen = NULL;
	return hits == 0 ? ROUTE_NONE : ROUTE_AMBIGUOUS;
}

enum route_result route_pick(const struct registry *r, int port, const char *user,
			     const char *fingerprint, const struct execution **chosen)
{
	const char *why;

	return route_pick_from(r, port, user, fingerprint, NULL, 0, chosen, &why);
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

bool route_port_has_job(const struct registry *r, int port)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i]->port == port && r->v[i]->target.type != TARGET_HOST)
			return true;
	return false;
}
