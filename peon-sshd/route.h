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

/* The message shown when ROUTE_AMBIGUOUS: names the candidate ids. Heap. */
char *route_ambiguous_message(const struct registry *r, int port, const char *fingerprint);

#endif
