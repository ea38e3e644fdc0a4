#include "execkeys.h"
#include "regstore.h"
#include "sessfile.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Keys named one by one in a line; the rest are counted. */
#define KEYS_NAMED_MAX 8

static bool same_options(const struct authkey *a, const struct authkey *b)
{
	return (!a->options && !b->options) || (a->options && b->options && strcmp(a->options, b->options) == 0);
}

/* Copies of the keys of a[0..na) that b[0..nb) does not hold as they are. */
static int missing_from(const struct authkey *a, size_t na, const struct authkey *b, size_t nb, struct keylist *out)
{
	for (size_t i = 0; i < na; i++) {
		const struct authkey *k = keys_find(b, nb, a[i].fingerprint);

		if ((!k || !same_options(k, &a[i])) && keylist_add_copy(out, &a[i]) < 0)
			return -ENOMEM;
	}
	return 0;
}

static bool same_lines(const struct authkey *a, size_t na, const struct authkey *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++) {
		char *x = authkey_format(&a[i]), *y = authkey_format(&b[i]);
		bool same = x && y && strcmp(x, y) == 0;

		free(x);
		free(y);
		if (!same)
			return false;
	}
	return true;
}

static int end_sessions(struct daemon *d, const struct execution *e, const struct keylist *removed)
{
	char **fps = calloc(removed->n + 1, sizeof(*fps));
	int n;

	if (!fps)
		return 0;
	for (size_t i = 0; i < removed->n; i++)
		fps[i] = removed->v[i].fingerprint;
	n = sessfile_signal_keys(d->cfg.runtime_dir, e->id, fps, removed->n, SIGTERM);
	free(fps);
	return n;
}

/* The record of view, whose keys become all[0..n): written, or err. */
static int record(struct daemon *d, const struct execution *view, const struct keylist *all, char *err)
{
	struct execution v = *view;
	char dir[PATH_MAX];

	v.keys = all->v;
	v.n_keys = all->n;
	return regstore_write(daemon_records_dir(d, dir, sizeof(dir)), &v, err);
}

int execkeys_set(struct daemon *d, struct execution *e, struct keylist *stat, size_t url_idx,
		 struct keylist *url_keys, struct keychange *out, char *err)
{
	struct execution view = *e;
	struct key_url *urls = NULL;
	struct keylist all = { 0 };
	struct keyindex ki = { 0 };
	int r;

	*out = (struct keychange){ 0 };
	if (url_keys && !stat && same_lines(url_keys->v, url_keys->n, e->urls[url_idx].keys, e->urls[url_idx].n_keys)) {
		keylist_free(url_keys);
		return 0;
	}
	if (stat) {
		view.keys = stat->v;
		view.n_keys = view.n_static = stat->n;
	}
	if (url_keys) {
		if (!(urls = malloc(e->n_urls * sizeof(*urls))))
			return errf(err, -ENOMEM, "out of memory");
		memcpy(urls, e->urls, e->n_urls * sizeof(*urls));
		urls[url_idx].keys = url_keys->v;
		urls[url_idx].n_keys = url_keys->n;
		view.urls = urls;
	}
	if ((r = execution_key_union(&view, &all)) < 0 || (r = missing_from(e->keys, e->n_keys, all.v, all.n, &out->removed)) < 0 ||
	    (r = missing_from(all.v, all.n, e->keys, e->n_keys, &out->added)) < 0) {
		errf(err, r, "out of memory");
		goto fail;
	}
	if (all.n > (size_t)d->cfg.limits.max_keys) {
		r = errf(err, -E2BIG, "too many keys: execution %s would hold %zu, limits.max_keys is %d", e->id, all.n,
			 d->cfg.limits.max_keys);
		goto fail;
	}
	if ((r = registry_keys_prepare(&d->reg, e, all.n, &ki)) < 0) {
		errf(err, r, "out of memory");
		goto fail;
	}
	if ((r = record(d, &view, &all, err)) < 0)
		goto fail;
	/* Recorded: now it takes effect, and nothing below can fail. */
	registry_keys_commit(&d->reg, e, all.v, &ki);
	if (stat) {
		e->n_static = stat->n;
		keylist_free(stat);
	}
	if (url_keys) {
		struct key_url *u = &e->urls[url_idx];

		for (size_t i = 0; i < u->n_keys; i++)
			authkey_free(&u->keys[i]);
		free(u->keys);
		u->keys = url_keys->v;
		u->n_keys = url_keys->n;
		*url_keys = (struct keylist){ 0 };
	}
	free(urls);
	out->sessions_ended = end_sessions(d, e, &out->removed);
	return 0;
fail:
	registry_keys_abort(&ki);
	keylist_free(&all);
	keychange_free(out);
	free(urls);
	return r;
}

void keychange_free(struct keychange *c)
{
	keylist_free(&c->added);
	keylist_free(&c->removed);
}

/* "SHA256:a (alice), SHA256:b and 3 more" at buf + *used. */
static void name_keys(char *buf, size_t len, size_t *used, const struct keylist *l)
{
	for (size_t i = 0; i < l->n && *used < len; i++) {
		if (i == KEYS_NAMED_MAX) {
			*used += (size_t)snprintf(buf + *used, len - *used, " and %zu more", l->n - i);
			return;
		}
		*used += (size_t)snprintf(buf + *used, len - *used, "%s%s%s%s%s", i ? ", " : "", l->v[i].fingerprint,
					  *l->v[i].comment ? " (" : "", l->v[i].comment, *l->v[i].comment ? ")" : "");
	}
}

void keychange_describe(const struct keychange *c, size_t now, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	if (c->added.n) {
		used += (size_t)snprintf(buf + used, len - used, "added ");
		name_keys(buf, len, &used, &c->added);
	}
	if (c->removed.n && used < len) {
		used += (size_t)snprintf(buf + used, len - used, "%sremoved ", used ? "; " : "");
		name_keys(buf, len, &used, &c->removed);
	}
	if (used < len)
		used += (size_t)snprintf(buf + used, len - used, "%s%zu key%s now", used ? "; " : "", now,
					 now == 1 ? "" : "s");
	if (c->sessions_ended && used < len)
		snprintf(buf + used, len - used, "; %d session%s of removed keys ended", c->sessions_ended,
			 c->sessions_ended == 1 ? "" : "s");
}
