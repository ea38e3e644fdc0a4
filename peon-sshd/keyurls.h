/* Executions' key URLs (`--key-url`), kept fresh: the add that waits for
 * its first fetch, `refresh ID`, the periodic refresh (key_urls.refresh),
 * the refresh an unknown key triggers (key_urls.min_age), and a fetch's
 * outcome applied to every execution naming the URL. A failed fetch keeps
 * the last good keys and is told to the journal and the execution's log. */
#ifndef PEON_KEYURLS_H
#define PEON_KEYURLS_H

#include "daemon.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

/* The answer to fetch seq of url (keyfetch.c): the body, or error. */
void keyurls_result(struct daemon *d, const char *url, uint64_t seq, const char *body, size_t len,
		    const char *error);
/* The rest of an add whose execution names key URLs: e is checked and its
 * port listens. Takes e. NULL: answered once every URL has been fetched
 * (live with its keys), or with the first failure (nothing registered).
 * Else an error reply, e freed and its port released when unused. */
json_object *keyurls_add(struct daemon *d, struct execution *e, long long ttl_ms);
/* Is an add of this id waiting for its key URLs? */
bool keyurls_adding(const struct daemon *d, const char *id);
/* Does a waiting add hold this port open? */
bool keyurls_holds_port(const struct daemon *d, int port);
/* The control request "refresh": NULL, answered once the execution's URLs
 * have been fetched. */
json_object *keyurls_refresh(struct daemon *d, json_object *req);
/* A key held by no execution on this port was offered: fetch the key URLs
 * of that port's executions not fetched for key_urls.min_age. The attempt
 * itself is refused; a later one sees the new keys. */
void keyurls_unknown_key(struct daemon *d, int port, const char *fingerprint);
/* Start the periodic refreshes that are due. */
void keyurls_tick(struct daemon *d);
/* ms until keyurls_tick has work, or -1. */
int keyurls_timeout(struct daemon *d);
void keyurls_free(struct daemon *d);

#endif
