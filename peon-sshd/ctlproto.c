#include "ctlproto.h"
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int ctl_send(int fd, json_object *o)
{
	const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	size_t len = strlen(text);
	char *line = malloc(len + 2);
	int r;

	if (!line)
		return -ENOMEM;
	memcpy(line, text, len);
	line[len] = '\n';
	r = write_all(fd, line, len + 1);
	free(line);
	return r;
}

json_object *ctl_parse(const char *line, size_t len)
{
	struct json_tokener *tok = json_tokener_new();
	json_object *o;

	if (!tok)
		return NULL;
	o = json_tokener_parse_ex(tok, line, (int)len);
	if (o && (!json_object_is_type(o, json_type_object) ||
		  json_tokener_get_error(tok) != json_tokener_success)) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

int ctl_recv(int fd, int timeout_ms, json_object **out)
{
	size_t cap = 4096, used = 0;
	char *buf = malloc(cap), *nl;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r = -EPROTO;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n;

		if (poll(&p, 1, timeout_ms) <= 0) {
			r = -ETIMEDOUT;
			break;
		}
		if (used == cap) {
			char *nb = cap < CTL_MAX_MSG ? realloc(buf, cap * 2) : NULL;
			if (!nb) {
				r = -EMSGSIZE;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		n = read(fd, buf + used, cap - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		used += (size_t)n;
		nl = memchr(buf, '\n', used);
		if (nl) {
			*out = ctl_parse(buf, (size_t)(nl - buf));
			r = *out ? 0 : -EPROTO;
			break;
		}
	}
	free(buf);
	return r;
}

int ctl_check_fields(json_object *o, const char *const *allowed, const char *what, char *err)
{
	/* Iterating anything but an object reads json-c's internals wrongly. */
	if (!json_object_is_type(o, json_type_object))
		return errf(err, -EINVAL, "%s must be a JSON object", what);
	json_object_object_foreach(o, k, v) {
		size_t i = 0;

		(void)v;
		while (allowed[i] && strcmp(allowed[i], k) != 0)
			i++;
		if (!allowed[i])
			return errf(err, -EINVAL, "unknown field '%.64s' in %s", k, what);
	}
	return 0;
}

int json_int_in(json_object *o, const char *key, int64_t min, int64_t max, int64_t *out)
{
	json_object *v;
	int64_t x;

	if (!json_object_object_get_ex(o, key, &v))
		return -ENOENT;
	if (!json_object_is_type(v, json_type_int))
		return -EINVAL;
	/* json-c keeps values above INT64_MAX as unsigned; get_int64 would clamp them. */
	if (json_object_get_int64(v) == INT64_MAX && json_object_get_uint64(v) > (uint64_t)INT64_MAX)
		return -ERANGE;
	x = json_object_get_int64(v);
	if (x < min || x > max)
		return -ERANGE;
	*out = x;
	return 0;
}

json_object *ctl_error(const char *fmt, ...)
{
	char msg[ERRLEN];
	va_list ap;
	json_object *o = json_object_new_object();

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_object_add(o, "ok", json_object_new_boolean(0));
	json_object_object_add(o, "error", json_object_new_string(msg));
	return o;
}
