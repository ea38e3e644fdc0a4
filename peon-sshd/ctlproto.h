/* The control protocol: one JSON object per line each way over the unix
 * socket. Requests carry "cmd"; replies carry "ok" and "error" or data. */
#ifndef PEON_CTLPROTO_H
#define PEON_CTLPROTO_H

#include <json-c/json.h>
#include <stddef.h>

#define CTL_MAX_MSG (4 * 1024 * 1024)

int ctl_send(int fd, json_object *o);
/* Blocking read of one line-terminated JSON object, up to timeout_ms. */
int ctl_recv(int fd, int timeout_ms, json_object **out);
/* Parse a complete line; NULL if it is not a JSON object. */
json_object *ctl_parse(const char *line, size_t len);
json_object *ctl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
