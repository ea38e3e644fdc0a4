/* Control requests that change a live execution without ending it: its
 * keys (`keys ID --add/--remove`) and its expiry (`ttl ID`). Each change is
 * on disk before it takes effect (an update that cannot be recorded changes
 * nothing), ends what it revokes, and is told to the execution's log. */
#ifndef PEON_CTLEXEC_H
#define PEON_CTLEXEC_H

#include "daemon.h"

#include <json-c/json.h>

json_object *ctl_keys(struct daemon *d, json_object *req);
json_object *ctl_ttl(struct daemon *d, json_object *req);

#endif
