/* Which execution a connection reaches: decided from the port it arrived on,
 * the username and the offered key (DESIGN.md "Routing and auth"). */
#ifndef PEON_ROUTE_H
#define PEON_ROUTE_H

#include "registry.h"

enum route_result {
	ROUTE_OK,         /* exactly one execution: *chosen */
	ROUTE_NONE,       /* no execution on this port takes this key (for this user) */
	ROUTE_AMBIGUOUS,  /* several do: the user must log in as <execution-id>@host */
	ROUTE_REFUSED,    /* routed, but refused: a limit, or the session cannot be recorded (daemon.c) */
};

enum route_result route_pick(const struct registry *r, int port, const char *user,
			     const char *fingerprint, const struct execution **chosen);

/* The same, for a client at address ip (text) at time now_ms: a key whose
 * authorized_keys options refuse it there and then (from=, expiry-time=)
 * is not held, as in OpenSSH; *why says which option, when that is what
 * left no execution. */
enum route_result route_pick_from(const struct registry *r, int port, const char *user, const char *fingerprint,
				  const char *ip, long long now_ms, const struct execution **chosen, const char **why);

/* Does an execution on this port run in a job (not on the worker)? */
bool route_port_has_job(const struct registry *r, int port);

/* The message shown when ROUTE_AMBIGUOUS: names the candidate ids. Heap. */
char *route_ambiguous_message(const struct registry *r, int port, const char *fingerprint);

#endif
