#include "ctlexec.h"
#include "ctlproto.h"
#include "duration.h"
#include "execkeys.h"
#include "keyset.h"
#include "keyurl.h"
#include "log.h"
#include "regstore.h"
#include "report.h"
#include "sessfile.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Fingerprints one --remove list may name. */
#define KEYS_REMOVE_MAX 1024

struct execution *ctl_request_execution(struct daemon *d, json_object *req, json_object **reply)
{
	struct execution *e;
	json_object *v;
	const char *id;

	if (!json_object_object_get_ex(req, "id", &v) || !json_object_is_type(v, json_type_string)) {
		*reply = ctl_error("execution id must be a string");
		return NULL;
	}
	id = json_object_get_string(v);
	if (!(e = registry_find(&d->reg, id)))
		*reply = ctl_error("no execution '%.200s' is registered", id);
	return e;
}

static json_object *keys_json(const struct keylist *l)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < l->n; i++)
		json_object_array_add(a, authkey_to_json(&l->v[i]));
	return a;
}

static json_object *ok_reply(const struct execution *e)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(1));
	json_object_object_add(o, "execution", json_object_new_string(e->id));
	return o;
}

static json_object *list_keys(const struct execution *e)
{
	json_object *o = ok_reply(e);

	json_object_object_add(o, "keys", execution_keys_json(e));
	return o;
}

/* The URL of e that serves the key with this fingerprint, or NULL. */
static const char *served_by(const struct execution *e, const char *fp)
{
	for (size_t u = 0; u < e->n_urls; u++)
		if (keys_find(e->urls[u].keys, e->urls[u].n_keys, fp))
			return e->urls[u].url;
	return NULL;
}

/* next = e's static keys without those named in rm. Each must be held, and
 * held only as a static key: a key a URL serves would stay (or come back)
 * whatever this request says, so its removal is refused with the way out. */
static int take_out(const struct execution *e, json_object *rm, struct keylist *next, struct keylist *removed,
		    char *err)
{
	size_t n = rm ? json_object_array_length(rm) : 0;
	char url[512];

	if (n > KEYS_REMOVE_MAX)
		return errf(err, -E2BIG, "at most %d keys can be removed at once", KEYS_REMOVE_MAX);
	for (size_t i = 0; i < n; i++) {
		json_object *v = json_object_array_get_idx(rm, i);
		const char *fp = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL, *by;
		const struct authkey *k;

		if (!key_fingerprint_valid(fp))
			return errf(err, -EINVAL, "'%.80s' is not a key fingerprint: use the SHA256:... form that list --json shows",
				    fp ? fp : json_object_to_json_string(v));
		if (!keys_find(e->keys, e->n_keys, fp))
			return errf(err, -ENOENT, "execution %s holds no key %s", e->id, fp);
		k = keys_find(e->keys, execution_static_keys(e), fp);
		if ((by = served_by(e, fp))) {
			keyurl_redact(by, url, sizeof(url));
			return errf(err, -EPERM, "key %s %s --key-url %s: remove it there, then run peon-sshctl refresh %s", fp,
				    k ? "is also served by" : "comes from", url, e->id);
		}
		if (keylist_add_copy(removed, k) < 0)
			return errf(err, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < execution_static_keys(e); i++)
		if (!keys_find(removed->v, removed->n, e->keys[i].fingerprint) && keylist_add_copy(next, &e->keys[i]) < 0)
			return errf(err, -ENOMEM, "out of memory");
	return 0;
}

static bool same_line(const struct authkey *a, const struct authkey *b)
{
	char *x = authkey_format(a), *y = authkey_format(b);
	bool same = x && y && strcmp(x, y) == 0;

	free(x);
	free(y);
	return same;
}

/* The keys of add into next (the static keys after the removals): a key
 * already there with the same line is left as it is; with other options it
 * is refused (remove it in the same request to change them). *added counts
 * the keys put in. */
static int put_in(const struct execution *e, json_object *add, struct keylist *next, size_t *added, char *err)
{
	struct keylist parsed = { 0 };
	int r = 0;

	if (add && (r = keylist_from_json(add, 1, &parsed, err)) < 0)
		goto out;
	if (add && parsed.n == 0) {
		r = errf(err, -EINVAL, "no public key was given (only blank or comment lines)");
		goto out;
	}
	for (size_t i = 0; i < parsed.n; i++) {
		const struct authkey *held = keys_find(next->v, next->n, parsed.v[i].fingerprint);

		if (held && !same_line(held, &parsed.v[i])) {
			r = errf(err, -EEXIST, "execution %s already holds key %s with other options; remove it in the same request to change them",
				 e->id, parsed.v[i].fingerprint);
			goto out;
		}
		if (!held && keylist_add_copy(next, &parsed.v[i]) < 0) {
			r = errf(err, -ENOMEM, "out of memory");
			goto out;
		}
		*added += !held;
	}
out:
	keylist_free(&parsed);
	return r;
}

static int array_member(json_object *req, const char *name, json_object **out, char *err)
{
	*out = NULL;
	if (!json_object_object_get_ex(req, name, out))
		return 0;
	if (!json_object_is_type(*out, json_type_array))
		return errf(err, -EINVAL, "%s must be a list", name);
	return 0;
}

json_object *ctl_keys(struct daemon *d, json_object *req)
{
	static const char *const fields[] = { "cmd", "id", "add", "remove", NULL };
	struct keylist next = { 0 }, removed = { 0 };
	struct keychange chg = { 0 };
	json_object *add, *rm, *reply = NULL;
	struct execution *e;
	char err[ERRLEN], what[REPORT_LINE_MAX - 64], line[REPORT_LINE_MAX];
	size_t added = 0;
	int r;

	if (ctl_check_fields(req, fields, "keys request", err) < 0 || array_member(req, "add", &add, err) < 0 ||
	    array_member(req, "remove", &rm, err) < 0)
		return ctl_error("%s", err);
	if (!(e = ctl_request_execution(d, req, &reply)))
		return reply;
	if (!add && !rm)
		return list_keys(e);
	if (take_out(e, rm, &next, &removed, err) < 0 || put_in(e, add, &next, &added, err) < 0) {
		reply = ctl_error("%s", err);
		goto out;
	}
	if (!added && !removed.n) {
		snprintf(what, sizeof(what), "no change: execution %s already holds these keys", e->id);
	} else if ((r = execkeys_set(d, e, &next, 0, NULL, &chg, err)) < 0) {
		/* A limit says itself what did not happen; a failed write does not. */
		reply = r == -E2BIG ? ctl_error("%s", err) :
				      ctl_error("%s; the keys of execution %s are unchanged", err, e->id);
		goto out;
	} else {
		keychange_describe(&chg, e->n_keys, what, sizeof(what));
		snprintf(line, sizeof(line), "SSH keys changed: %s.", what);
		report_line(&d->cfg, e, line, NULL);
	}
	reply = list_keys(e);
	json_object_object_add(reply, "message", json_object_new_string(what));
	json_object_object_add(reply, "added", keys_json(&chg.added));
	json_object_object_add(reply, "removed", keys_json(&chg.removed));
	json_object_object_add(reply, "sessions_ended", json_object_new_int(chg.sessions_ended));
	daemon_notify_status(d);
out:
	keylist_free(&next);
	keylist_free(&removed);
	keychange_free(&chg);
	return reply;
}

/* ---- ttl ---- */

/* "ttl": seconds from now, or "none": 0 with *ms (0 = never), else err. */
static int parse_ttl(json_object *req, long long *ms, char *err)
{
	json_object *v;
	int64_t s;

	if (json_object_object_get_ex(req, "ttl", &v) && json_object_is_type(v, json_type_string) &&
	    strcmp(json_object_get_string(v), "none") == 0) {
		*ms = 0;
		return 0;
	}
	if (json_int_in(req, "ttl", 1, DURATION_MAX, &s) < 0)
		return errf(err, -ERANGE, "ttl must be a whole number of seconds between 1 and %ld, or \"none\"",
			    DURATION_MAX);
	*ms = s * 1000;
	return 0;
}

static void utc_time(long long ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

json_object *ctl_ttl(struct daemon *d, json_object *req)
{
	static const char *const fields[] = { "cmd", "id", "ttl", NULL };
	struct execution *e, view;
	json_object *reply = NULL;
	char err[ERRLEN], dir[PATH_MAX], when[64], msg[400], line[REPORT_LINE_MAX];
	long long ttl_ms = 0;

	if (ctl_check_fields(req, fields, "ttl request", err) < 0 || parse_ttl(req, &ttl_ms, err) < 0)
		return ctl_error("%s", err);
	if (!(e = ctl_request_execution(d, req, &reply)))
		return reply;
	/* From now, to the millisecond, as add's --ttl. */
	view = *e;
	view.expires_ms = ttl_ms ? now_ms() + ttl_ms : 0;
	if (regstore_write(daemon_records_dir(d, dir, sizeof(dir)), &view, err) < 0)
		return ctl_error("%s; the expiry of execution %s is unchanged", err, e->id);
	e->expires_ms = view.expires_ms;
	if (e->expires_ms) {
		utc_time(e->expires_ms, when, sizeof(when));
		snprintf(msg, sizeof(msg), "execution %s now expires at %s, in %lld s", e->id, when, ttl_ms / 1000);
		snprintf(line, sizeof(line), "SSH debug access now ends at %s.", when);
	} else {
		snprintf(msg, sizeof(msg), "execution %s no longer expires", e->id);
		snprintf(line, sizeof(line), "SSH debug access no longer ends at a set time.");
	}
	report_line(&d->cfg, e, line, NULL);
	reply = ok_reply(e);
	json_object_object_add(reply, "message", json_object_new_string(msg));
	json_object_object_add(reply, "expires_ms", json_object_new_int64(e->expires_ms));
	json_object_object_add(reply, "expires", json_object_new_int64(e->expires_ms / 1000));
	return reply;
}
