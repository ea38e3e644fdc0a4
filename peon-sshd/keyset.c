#include "keyset.h"
#include "ctlproto.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void keylist_free(struct keylist *l)
{
	for (size_t i = 0; i < l->n; i++)
		authkey_free(&l->v[i]);
	free(l->v);
	*l = (struct keylist){ 0 };
}

const struct authkey *keys_find(const struct authkey *v, size_t n, const char *fingerprint)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].fingerprint, fingerprint) == 0)
			return &v[i];
	return NULL;
}

static int grow(struct keylist *l)
{
	size_t cap = l->cap ? l->cap * 2 : 8;
	struct authkey *nv;

	if (l->n < l->cap)
		return 0;
	nv = realloc(l->v, cap * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	l->v = nv;
	l->cap = cap;
	return 0;
}

int keylist_take(struct keylist *l, struct authkey *k)
{
	if (keys_find(l->v, l->n, k->fingerprint)) {
		authkey_free(k);
		return 0;
	}
	if (grow(l) < 0) {
		authkey_free(k);
		return -ENOMEM;
	}
	l->v[l->n++] = *k;
	memset(k, 0, sizeof(*k));
	return 1;
}

int keylist_add_copy(struct keylist *l, const struct authkey *k)
{
	struct authkey c;

	if (keys_find(l->v, l->n, k->fingerprint))
		return 0;
	if (authkey_copy(&c, k) < 0)
		return -ENOMEM;
	return keylist_take(l, &c);
}

/* One line named label in errors: appended, or 0 for blank/comment lines. */
static int take_line(const char *line, const char *label, struct keylist *l, char *err)
{
	char kerr[ERRLEN];
	struct authkey key;
	int r = authkey_parse(line, &key, kerr);

	if (r < 0)
		return errf(err, r, "%s: %s", label, kerr);
	if (r == 0)
		return 0;
	r = keylist_take(l, &key);
	return r < 0 ? errf(err, r, "out of memory") : 0;
}

/* A key entry is "line" or {"line": ..., "source": "file:3"}. */
static int take_entry(json_object *k, size_t no, struct keylist *l, char *err)
{
	static const char *const fields[] = { "line", "source", NULL };
	char label[300];
	const char *line = NULL;
	json_object *v;
	int r;

	snprintf(label, sizeof(label), "key #%zu", no);
	if (json_object_is_type(k, json_type_string)) {
		line = json_object_get_string(k);
	} else if (json_object_is_type(k, json_type_object)) {
		if ((r = ctl_check_fields(k, fields, label, err)) < 0)
			return r;
		if (json_object_object_get_ex(k, "line", &v) && json_object_is_type(v, json_type_string))
			line = json_object_get_string(v);
		if (json_object_object_get_ex(k, "source", &v) && json_object_is_type(v, json_type_string))
			snprintf(label, sizeof(label), "%.256s", json_object_get_string(v));
	}
	if (!line)
		return errf(err, -EINVAL, "%s: not a key line", label);
	return take_line(line, label, l, err);
}

int keylist_from_json(json_object *arr, size_t first, struct keylist *l, char *err)
{
	size_t n = json_object_array_length(arr);

	for (size_t i = 0; i < n; i++) {
		int r = take_entry(json_object_array_get_idx(arr, i), first + i, l, err);

		if (r < 0)
			return r;
	}
	return 0;
}

static bool is_key_line(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
		i++;
	return i < len && s[i] != '#';
}

int keylist_from_text(const char *text, size_t len, const char *origin, size_t max, struct keylist *l, char *err)
{
	size_t keys = 0, no = 0;
	const char *p = text, *end = text + len;

	/* authkey_parse reads C strings: a NUL would hide the rest of a line. */
	if (memchr(text, '\0', len))
		return errf(err, -EINVAL, "%s: holds a NUL byte; it is not an authorized_keys file", origin);
	/* Counted before any key is parsed: a list too long costs no crypto. */
	for (p = text; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

		keys += is_key_line(p, n);
		p += n + 1;
	}
	if (keys > max)
		return errf(err, -E2BIG, "%s: holds %zu keys; at most %zu are accepted", origin, keys, max);
	for (p = text; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		char label[300], *line;
		int r;

		no++;
		if (is_key_line(p, n)) {
			if (!(line = strndup(p, n)))
				return errf(err, -ENOMEM, "out of memory");
			line[strcspn(line, "\r")] = '\0';
			snprintf(label, sizeof(label), "%.280s:%zu", origin, no);
			r = take_line(line, label, l, err);
			free(line);
			if (r < 0)
				return r;
		}
		p += n + 1;
	}
	return 0;
}

bool key_fingerprint_valid(const char *s)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	return s && strncmp(s, "SHA256:", 7) == 0 && strlen(s + 7) == 43 && strspn(s + 7, b64) == 43;
}
