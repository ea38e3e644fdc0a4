#include "ctlexec.h"
#include "ctlproto.h"
#include "duration.h"
#include "keyset.h"
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
/* Keys named one by one in a log line; the rest are counted. */
#define KEYS_NAMED_MAX 8

/* The request's execution: NULL with *reply set when there is none. */
static struct execution *find_execution(struct daemon *d, json_object *req, json_object **reply)
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

/* e as it would be with its keys replaced by next: on disk first, then in
 * memory. Nothing changes when the record cannot be written. On success
 * next is taken (left empty). */
static int set_keys(struct daemon *d, struct execution *e, struct keylist *next, char *err)
{
	struct execution view = *e;
	struct keyindex ki;
	char dir[PATH_MAX];
	int r;

	if (registry_keys_prepare(&d->reg, e, next->n, &ki) < 0)
		return errf(err, -ENOMEM, "out of memory");
	view.keys = next->v;
	view.n_keys = next->n;
	if ((r = regstore_write(daemon_records_dir(d, dir, sizeof(dir)), &view, err)) < 0) {
		registry_keys_abort(&ki);
		return r;
	}
	registry_keys_commit(&d->reg, e, next->v, &ki);
	*next = (struct keylist){ 0 };
	return 0;
}

/* "SHA256:a (alice), SHA256:b (bob) and 3 more" into buf at *used. */
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

/* "added ...; removed ...; 3 keys now; 1 session ended" */
static void describe_change(char *buf, size_t len, const struct keylist *added, const struct keylist *removed,
			    size_t now, int ended)
{
	size_t used = 0;

	buf[0] = '\0';
	if (added->n) {
		used += (size_t)snprintf(buf + used, len - used, "added ");
		name_keys(buf, len, &used, added);
	}
	if (removed->n && used < len) {
		used += (size_t)snprintf(buf + used, len - used, "%sremoved ", used ? "; " : "");
		name_keys(buf, len, &used, removed);
	}
	if (used < len)
		used += (size_t)snprintf(buf + used, len - used, "; %zu key%s now", now, now == 1 ? "" : "s");
	if (ended && used < len)
		snprintf(buf + used, len - used, "; %d session%s of removed keys ended", ended, ended == 1 ? "" : "s");
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

/* next = e's keys without those named in rm (each must be held); the
 * removed keys (copies) into removed. */
static int take_out(const struct execution *e, json_object *rm, struct keylist *next, struct keylist *removed,
		    char *err)
{
	size_t n = rm ? json_object_array_length(rm) : 0;

	if (n > KEYS_REMOVE_MAX)
		return errf(err, -E2BIG, "at most %d keys can be removed at once", KEYS_REMOVE_MAX);
	for (size_t i = 0; i < n; i++) {
		json_object *v = json_object_array_get_idx(rm, i);
		const char *fp = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
		const struct authkey *k;

		if (!key_fingerprint_valid(fp))
			return errf(err, -EINVAL, "'%.80s' is not a key fingerprint: use the SHA256:... form that list --json shows",
				    fp ? fp : json_object_to_json_string(v));
		if (!(k = keys_find(e->keys, e->n_keys, fp)))
			return errf(err, -ENOENT, "execution %s holds no key %s", e->id, fp);
		if (keylist_add_copy(removed, k) < 0)
			return errf(err, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < e->n_keys; i++)
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

/* The keys of add into next, after the removals: a key already held with
 * the same line is left as it is; with other options it is refused (remove
 * it in the same request to change them). */
static int put_in(const struct execution *e, json_object *add, struct keylist *next, struct keylist *added,
		  char *err)
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
		if (!held && (keylist_add_copy(next, &parsed.v[i]) < 0 || keylist_add_copy(added, &parsed.v[i]) < 0)) {
			r = errf(err, -ENOMEM, "out of memory");
			goto out;
		}
	}
out:
	keylist_free(&parsed);
	return r;
}

/* The sessions that logged in with a removed key: a revoked key ends them. */
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
	struct keylist next = { 0 }, added = { 0 }, removed = { 0 };
	json_object *add, *rm, *reply = NULL;
	struct execution *e;
	char err[ERRLEN], what[REPORT_LINE_MAX - 64], line[REPORT_LINE_MAX];
	int ended;

	if (ctl_check_fields(req, fields, "keys request", err) < 0 || array_member(req, "add", &add, err) < 0 ||
	    array_member(req, "remove", &rm, err) < 0)
		return ctl_error("%s", err);
	if (!(e = find_execution(d, req, &reply)))
		return reply;
	if (!add && !rm)
		return list_keys(e);
	if (take_out(e, rm, &next, &removed, err) < 0 || put_in(e, add, &next, &added, err) < 0) {
		reply = ctl_error("%s", err);
		goto out;
	}
	if (next.n > (size_t)d->cfg.limits.max_keys) {
		reply = ctl_error("too many keys: execution %s would hold %zu, limits.max_keys is %d", e->id, next.n,
				  d->cfg.limits.max_keys);
		goto out;
	}
	if ((added.n || removed.n) && set_keys(d, e, &next, err) < 0) {
		reply = ctl_error("%s; the keys of execution %s are unchanged", err, e->id);
		goto out;
	}
	/* From here the removed keys open nothing new; then what they opened ends. */
	ended = end_sessions(d, e, &removed);
	if (added.n || removed.n) {
		describe_change(what, sizeof(what), &added, &removed, e->n_keys, ended);
		snprintf(line, sizeof(line), "SSH keys changed: %s.", what);
		report_line(&d->cfg, e, line, NULL);
	} else {
		snprintf(what, sizeof(what), "no change: execution %s already holds these keys", e->id);
	}
	reply = list_keys(e);
	json_object_object_add(reply, "message", json_object_new_string(what));
	json_object_object_add(reply, "added", keys_json(&added));
	json_object_object_add(reply, "removed", keys_json(&removed));
	json_object_object_add(reply, "sessions_ended", json_object_new_int(ended));
	daemon_notify_status(d);
out:
	keylist_free(&next);
	keylist_free(&added);
	keylist_free(&removed);
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
	if (!(e = find_execution(d, req, &reply)))
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
