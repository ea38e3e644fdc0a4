#include "peonconf.h"
#include "log.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define PEONCONF_MAX (1024 * 1024)

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* Trailing text after a value: only blanks or a comment. */
static bool only_comment(const char *p)
{
	p = skip_ws(p);
	return *p == '\0' || *p == '#' || *p == '\r' || *p == '\n';
}

static int parse_double_quoted(const char *p, char *out, char *err, const char **end)
{
	size_t n = 0;

	for (p++; *p && *p != '"'; p++) {
		if (*p == '\\' && p[1] && strchr("\"\\$`", p[1]))
			p++;
		out[n++] = *p;
	}
	if (*p != '"')
		return errf(err, -EINVAL, "unterminated double quote");
	out[n] = '\0';
	*end = p + 1;
	return 0;
}

static int parse_value(const char *p, char *out, char *err)
{
	const char *end = p;
	size_t n;

	if (*p == '"') {
		if (parse_double_quoted(p, out, err, &end) < 0)
			return -EINVAL;
	} else if (*p == '\'') {
		end = strchr(p + 1, '\'');
		if (!end)
			return errf(err, -EINVAL, "unterminated single quote");
		n = (size_t)(end - p - 1);
		memcpy(out, p + 1, n);
		out[n] = '\0';
		end++;
	} else {
		/* Unquoted: up to a comment introduced by blank+#, trailing blanks cut. */
		end = p;
		while (*end && *end != '\n' && *end != '\r' &&
		       !(*end == '#' && end > p && (end[-1] == ' ' || end[-1] == '\t')))
			end++;
		n = (size_t)(end - p);
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		memcpy(out, p, n);
		out[n] = '\0';
		return 0;
	}
	if (!only_comment(end))
		return errf(err, -EINVAL, "unexpected text after the closing quote");
	return 0;
}

int peonconf_parse_line(const char *line, char **key, char **value, char *err)
{
	const char *p = skip_ws(line), *k;
	char *v;
	size_t klen;

	if (*p == '\0' || *p == '#' || *p == '\n' || *p == '\r')
		return 0;
	if (strncmp(p, "export", 6) == 0 && (p[6] == ' ' || p[6] == '\t'))
		p = skip_ws(p + 6);
	k = p;
	if (!isalpha((unsigned char)*p) && *p != '_')
		return errf(err, -EINVAL, "expected KEY=VALUE");
	while (isalnum((unsigned char)*p) || *p == '_')
		p++;
	klen = (size_t)(p - k);
	p = skip_ws(p);
	if (*p != '=')
		return errf(err, -EINVAL, "expected '=' after %.*s", (int)klen, k);
	p = skip_ws(p + 1);
	v = malloc(strlen(p) + 1);
	if (!v)
		return -ENOMEM;
	if (parse_value(p, v, err) < 0) {
		free(v);
		return -EINVAL;
	}
	*key = strndup(k, klen);
	if (!*key) {
		free(v);
		return -ENOMEM;
	}
	*value = v;
	return 1;
}

static int apply_line(const char *path, int no, const char *line, int *port, int *port_line,
		      char *err)
{
	char lerr[ERRLEN], *key = NULL, *value = NULL;
	int r = peonconf_parse_line(line, &key, &value, lerr);

	if (r == -EINVAL) {
		/* Other software owns the rest of this file: only a malformed
		 * DEBUG_PORT line is ours to refuse. */
		if (strncmp(skip_ws(line), "DEBUG_PORT", 10) == 0)
			return errf(err, -EINVAL, "%s:%d: DEBUG_PORT: %s", path, no, lerr);
		log_debug("%s:%d: ignoring line: %s", path, no, lerr);
		return 0;
	}
	if (r <= 0)
		return r;
	if (strcmp(key, "DEBUG_PORT") == 0) {
		r = parse_port(value, port);
		if (r < 0)
			r = errf(err, -EINVAL, "%s:%d: DEBUG_PORT=\"%s\" is not a port between 1024 and 65535",
				 path, no, value);
		else
			*port_line = no;
	} else {
		r = 0;
	}
	free(key);
	free(value);
	return r;
}

int peonconf_load(const char *path, int *port, int *line_no, char *err)
{
	char *buf = NULL, *line, *save = NULL;
	int r, no = 0, found_line = 0;

	r = read_file(path, PEONCONF_MAX, &buf, NULL);
	if (r == -ENOENT)
		return -ENOENT;
	if (r < 0)
		return errf(err, r, "%s: cannot read: %s", path, strerror(-r));
	/* strtok_r would merge empty lines and shift line numbers: split by hand. */
	for (line = buf; line; line = save) {
		save = strchr(line, '\n');
		if (save)
			*save++ = '\0';
		no++;
		r = apply_line(path, no, line, port, &found_line, err);
		if (r < 0)
			goto out;
	}
	r = found_line ? 0 : -ENOENT;
	if (line_no)
		*line_no = found_line;
out:
	free(buf);
	return r;
}
