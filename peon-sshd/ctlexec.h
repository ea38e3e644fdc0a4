/* Control requests that change a live execution without ending it: its
 * keys (`keys ID --add/--remove`) and its expiry (`ttl ID`). Each change is
 * on disk before it takes effect (an update that cannot be recorded changes
 * nothing), ends what it revokes, and is told to the execution's log. */
#ifndef PEON_CTLEXEC_H
#define PEON_CTLEXEC_H

#include "daemon.h"

#include <json-c/json.h>

json_object *ctl_keys(struct daemon *d, json_object *req);
/* The live execution a request's "id" names: NULL with *reply set (the
 * error to answer) when the id is not a string or names none. Shared by
 * every request about one live execution (keys, ttl, refresh). */
struct execution *ctl_request_execution(struct daemon *d, json_object *req, json_object **reply);
json_object *ctl_ttl(struct daemon *d, json_object *req);

#endif
