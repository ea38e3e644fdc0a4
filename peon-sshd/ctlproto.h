/* The control protocol: one JSON object per line each way over the unix
 * socket. Requests carry "cmd"; replies carry "ok" and "error" or data. */
#ifndef PEON_CTLPROTO_H
#define PEON_CTLPROTO_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#define CTL_MAX_MSG (4 * 1024 * 1024)
/* The "version" of the replies of add, list and sessions (docs/json.md):
 * raised only when a field changes meaning or goes away, never for a new one. */
#define CTL_JSON_VERSION 1

int ctl_send(int fd, json_object *o);
/* Blocking read of one line-terminated JSON object, up to timeout_ms. */
int ctl_recv(int fd, int timeout_ms, json_object **out);
/* Parse a complete line; NULL if it is not a JSON object. */
json_object *ctl_parse(const char *line, size_t len);
/* Refuse members of o not named in allowed (NULL-terminated):
 * -EINVAL with err "unknown field 'x' in <what>". */
int ctl_check_fields(json_object *o, const char *const *allowed, const char *what, char *err);
/* An integer member within [min, max], checked on its JSON type and 64-bit
 * value before any narrowing: 0 with *out, -ENOENT when absent, -EINVAL
 * when not an integer, -ERANGE outside the range. */
int json_int_in(json_object *o, const char *key, int64_t min, int64_t max, int64_t *out);
json_object *ctl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
