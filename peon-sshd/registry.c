#include "registry.h"
#include "containerd.h"
#include "docker.h"
#include "ctlproto.h"
#include "duration.h"
#include "keyset.h"
#include "keyurl.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct execution *execution_new(void)
{
	struct execution *e = calloc(1, sizeof(*e));

	if (e)
		e->pidfd = e->follow_fd = -1;
	return e;
}

/* Leaves u empty: a freed slot may be filled again (a repeated URL's). */
static void key_url_free(struct key_url *u)
{
	free(u->url);
	for (size_t i = 0; i < u->n_keys; i++)
		authkey_free(&u->keys[i]);
	free(u->keys);
	free(u->error);
	*u = (struct key_url){ 0 };
}

void execution_free(struct execution *e)
{
	if (!e)
		return;
	free(e->id);
	free(e->user);
	for (size_t i = 0; i < e->n_keys; i++)
		authkey_free(&e->keys[i]);
	free(e->keys);
	for (size_t i = 0; i < e->n_urls; i++)
		key_url_free(&e->urls[i]);
	free(e->urls);
	free(e->log_file);
	free(e->log_url);
	job_seccomp_free(e->seccomp);
	if (e->pidfd >= 0)
		close(e->pidfd);
	if (e->follow_fd >= 0)
		close(e->follow_fd);
	free(e);
}

const char *const execution_no_forwarding_names[4] = { "local", "remote", "agent", "x11" };

static const struct authkey *find_key(const struct execution *e, const char *fingerprint)
{
	for (size_t i = 0; i < e->n_keys; i++)
		if (strcmp(e->keys[i].fingerprint, fingerprint) == 0)
			return &e->keys[i];
	return NULL;
}

const struct authkey *execution_key(const struct execution *e, const char *fingerprint)
{
	return find_key(e, fingerprint);
}

bool execution_has_key(const struct execution *e, const char *fingerprint)
{
	return find_key(e, fingerprint) != NULL;
}

const char *execution_key_comment(const struct execution *e, const char *fingerprint)
{
	const struct authkey *k = find_key(e, fingerprint);

	return k && k->comment ? k->comment : "";
}

static const char *const target_names[] = {
	[TARGET_PID] = "pid", [TARGET_HOST] = "host", [TARGET_DOCKER] = "docker", [TARGET_CONTAINERD] = "containerd",
};

const char *target_type_name(enum target_type t)
{
	return (size_t)t < ARRAY_SIZE(target_names) ? target_names[t] : "?";
}

const char *target_describe(const struct target *t, char *buf, size_t len)
{
	switch (t->type) {
	case TARGET_HOST: snprintf(buf, len, "host"); break;
	case TARGET_PID: snprintf(buf, len, "pid %d", (int)t->pid); break;
	default: snprintf(buf, len, "%s %s", target_type_name(t->type), t->ref); break;
	}
	return buf;
}

/* Index of the first execution whose id is >= id. */
static size_t id_lower_bound(const struct registry *r, const char *id)
{
	size_t lo = 0, hi = r->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(r->v[mid]->id, id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Index of the first key entry >= (fingerprint, id); "" sorts before every id. */
static size_t key_lower_bound(const struct registry *r, const char *fp, const char *id)
{
	size_t lo = 0, hi = r->n_by_key;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct keyref *k = &r->by_key[mid];
		int c = strcmp(k->fingerprint, fp);

		if (c < 0 || (c == 0 && strcmp(k->e->id, id) < 0))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct execution *registry_find(const struct registry *r, const char *id)
{
	size_t i = id_lower_bound(r, id);

	return i < r->n && strcmp(r->v[i]->id, id) == 0 ? r->v[i] : NULL;
}

size_t registry_with_key(const struct registry *r, const char *fingerprint, const struct keyref **first)
{
	size_t i = key_lower_bound(r, fingerprint, ""), j = i;

	while (j < r->n_by_key && strcmp(r->by_key[j].fingerprint, fingerprint) == 0)
		j++;
	*first = r->by_key + i;
	return j - i;
}

int registry_add(struct registry *r, struct execution *e)
{
	size_t at = id_lower_bound(r, e->id);
	struct execution **nv;
	struct keyref *nk;

	if (at < r->n && strcmp(r->v[at]->id, e->id) == 0)
		return -EEXIST;
	/* Both arrays grow first, so a failure leaves the registry as it was. */
	nv = realloc(r->v, (r->n + 1) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	r->v = nv;
	nk = realloc(r->by_key, (r->n_by_key + e->n_keys + 1) * sizeof(*nk));
	if (!nk)
		return -ENOMEM;
	r->by_key = nk;
	memmove(&r->v[at + 1], &r->v[at], (r->n - at) * sizeof(*r->v));
	r->v[at] = e;
	r->n++;
	/* Keys of one execution are distinct (parse_key folds duplicates). */
	for (size_t i = 0; i < e->n_keys; i++) {
		size_t k = key_lower_bound(r, e->keys[i].fingerprint, e->id);

		memmove(&r->by_key[k + 1], &r->by_key[k], (r->n_by_key - k) * sizeof(*r->by_key));
		r->by_key[k] = (struct keyref){ .fingerprint = e->keys[i].fingerprint, .e = e };
		r->n_by_key++;
	}
	return 0;
}

struct execution *registry_take(struct registry *r, const char *id)
{
	size_t i = id_lower_bound(r, id), kept = 0;
	struct execution *e;

	if (i >= r->n || strcmp(r->v[i]->id, id) != 0)
		return NULL;
	e = r->v[i];
	memmove(&r->v[i], &r->v[i + 1], (r->n - i - 1) * sizeof(*r->v));
	r->n--;
	for (size_t k = 0; k < r->n_by_key; k++)
		if (r->by_key[k].e != e)
			r->by_key[kept++] = r->by_key[k];
	r->n_by_key = kept;
	return e;
}

int registry_keys_prepare(const struct registry *r, const struct execution *e, size_t n_new, struct keyindex *ki)
{
	size_t n = r->n_by_key - e->n_keys + n_new;

	ki->v = malloc((n ? n : 1) * sizeof(*ki->v));
	ki->n = n;
	ki->n_new = n_new;
	return ki->v ? 0 : -ENOMEM;
}

void registry_keys_abort(struct keyindex *ki)
{
	free(ki->v);
	*ki = (struct keyindex){ 0 };
}

static int by_fingerprint(const void *a, const void *b)
{
	return strcmp(((const struct keyref *)a)->fingerprint, ((const struct keyref *)b)->fingerprint);
}

/* (fingerprint, id) order, as the index is sorted. */
static bool keyref_before(const struct keyref *a, const struct keyref *b)
{
	int c = strcmp(a->fingerprint, b->fingerprint);

	return c < 0 || (c == 0 && strcmp(a->e->id, b->e->id) < 0);
}

void registry_keys_commit(struct registry *r, struct execution *e, struct authkey *keys, struct keyindex *ki)
{
	size_t n = ki->n_new;
	struct keyref *mine = ki->v + (ki->n - n), *out = ki->v;
	size_t i = 0, j = 0;

	for (size_t k = 0; k < e->n_keys; k++)
		authkey_free(&e->keys[k]);
	free(e->keys);
	e->keys = keys;
	e->n_keys = n;
	/* e's new entries at the tail of the new array, sorted; then merged
	 * with everyone else's, which are sorted already. The merge writes
	 * front to back and never passes the tail's unread entries. */
	for (size_t k = 0; k < n; k++)
		mine[k] = (struct keyref){ .fingerprint = keys[k].fingerprint, .e = e };
	qsort(mine, n, sizeof(*mine), by_fingerprint);
	while (i < r->n_by_key || j < n) {
		if (i < r->n_by_key && r->by_key[i].e == e) {
			i++;
			continue;
		}
		if (j == n || (i < r->n_by_key && keyref_before(&r->by_key[i], &mine[j])))
			*out++ = r->by_key[i++];
		else
			*out++ = mine[j++];
	}
	free(r->by_key);
	r->by_key = ki->v;
	r->n_by_key = ki->n;
	*ki = (struct keyindex){ 0 };
}

void registry_clear(struct registry *r)
{
	for (size_t i = 0; i < r->n; i++)
		execution_free(r->v[i]);
	free(r->v);
	free(r->by_key);
	*r = (struct registry){ 0 };
}

size_t registry_count_port(const struct registry *r, int port)
{
	size_t n = 0;

	for (size_t i = 0; i < r->n; i++)
		n += r->v[i]->port == port;
	return n;
}

static void add_str(json_object *o, const char *k, const char *v)
{
	if (v)
		json_object_object_add(o, k, json_object_new_string(v));
}

static json_object *target_to_json(const struct target *t)
{
	json_object *o = json_object_new_object();

	add_str(o, "type", target_type_name(t->type));
	if (target_is_container(t))
		add_str(o, "container", t->ref);
	if (t->type == TARGET_DOCKER && *t->id)
		add_str(o, "container_id", t->id);
	if (t->type != TARGET_HOST && t->pid) {
		json_object_object_add(o, "pid", json_object_new_int(t->pid));
		json_object_object_add(o, "starttime", json_object_new_uint64(t->starttime));
	}
	return o;
}

/* Members both forms share. */
static json_object *common_json(const struct execution *e)
{
	json_object *o = json_object_new_object();

	add_str(o, "id", e->id);
	json_object_object_add(o, "port", json_object_new_int(e->port));
	json_object_object_add(o, "target", target_to_json(&e->target));
	add_str(o, "user", e->user);
	add_str(o, "log_file", e->log_file);
	add_str(o, "log_url", e->log_url);
	if (e->no_forwarding) {
		json_object *nf = json_object_new_array();

		for (size_t i = 0; i < ARRAY_SIZE(execution_no_forwarding_names); i++)
			if (e->no_forwarding & (1u << i))
				json_object_array_add(nf, json_object_new_string(execution_no_forwarding_names[i]));
		json_object_object_add(o, "no_forwarding", nf);
	}
	json_object_object_add(o, "created_ms", json_object_new_int64(e->created_ms));
	json_object_object_add(o, "expires_ms", json_object_new_int64(e->expires_ms));
	return o;
}

json_object *authkey_to_json(const struct authkey *key)
{
	json_object *k = json_object_new_object();

	add_str(k, "fingerprint", key->fingerprint);
	add_str(k, "type", key->type);
	add_str(k, "comment", key->comment);
	return k;
}

/* The URL a key beyond the static ones came from. */
static const char *key_source(const struct execution *e, size_t i)
{
	if (i < execution_static_keys(e))
		return NULL;
	for (size_t u = 0; u < e->n_urls; u++)
		if (keys_find(e->urls[u].keys, e->urls[u].n_keys, e->keys[i].fingerprint))
			return e->urls[u].url;
	return NULL;
}

json_object *execution_keys_json(const struct execution *e)
{
	json_object *keys = json_object_new_array();

	for (size_t i = 0; i < e->n_keys; i++) {
		json_object *k = authkey_to_json(&e->keys[i]);

		add_str(k, "url", key_source(e, i));
		json_object_array_add(keys, k);
	}
	return keys;
}

/* For people and tools: each URL with its key count, last good fetch and
 * last failure. */
static json_object *key_urls_json(const struct execution *e)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < e->n_urls; i++) {
		json_object *u = json_object_new_object();

		add_str(u, "url", e->urls[i].url);
		json_object_object_add(u, "keys", json_object_new_int64((int64_t)e->urls[i].n_keys));
		json_object_object_add(u, "fetched_ms", json_object_new_int64(e->urls[i].fetched_ms));
		add_str(u, "error", e->urls[i].error);
		json_object_array_add(a, u);
	}
	return a;
}

json_object *execution_to_json(const struct execution *e)
{
	json_object *o = common_json(e);

	/* Whole seconds too, as before: what scripts and people read. */
	json_object_object_add(o, "created", json_object_new_int64(e->created_ms / 1000));
	json_object_object_add(o, "expires", json_object_new_int64(e->expires_ms / 1000));
	json_object_object_add(o, "keys", execution_keys_json(e));
	if (e->n_urls)
		json_object_object_add(o, "key_urls", key_urls_json(e));
	return o;
}

static json_object *key_lines(const struct authkey *keys, size_t n)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < n; i++) {
		char *line = authkey_format(&keys[i]);

		json_object_array_add(a, json_object_new_string(line ? line : ""));
		free(line);
	}
	return a;
}

json_object *execution_to_record(const struct execution *e)
{
	json_object *o = common_json(e);

	json_object_object_add(o, "version", json_object_new_int(REGISTRY_RECORD_VERSION));
	json_object_object_add(o, "keys", key_lines(e->keys, execution_static_keys(e)));
	if (e->n_urls) {
		json_object *a = json_object_new_array();

		for (size_t i = 0; i < e->n_urls; i++) {
			json_object *u = json_object_new_object();

			add_str(u, "url", e->urls[i].url);
			json_object_object_add(u, "fetched_ms", json_object_new_int64(e->urls[i].fetched_ms));
			json_object_object_add(u, "keys", key_lines(e->urls[i].keys, e->urls[i].n_keys));
			json_object_array_add(a, u);
		}
		json_object_object_add(o, "key_urls", a);
	}
	if (e->seccomp)
		json_object_object_add(o, "seccomp", job_seccomp_to_json(e->seccomp));
	return o;
}

json_object *execution_record_one_key(const struct execution *e, const char *fingerprint)
{
	const struct authkey *k = keys_find(e->keys, e->n_keys, fingerprint);
	struct execution view = *e;

	view.keys = (struct authkey *)k;
	view.n_keys = view.n_static = k ? 1 : 0;
	view.urls = NULL;
	view.n_urls = 0;
	return execution_to_record(&view);
}

int execution_key_union(const struct execution *e, struct keylist *out)
{
	for (size_t i = 0; i < execution_static_keys(e); i++)
		if (keylist_add_copy(out, &e->keys[i]) < 0)
			return -ENOMEM;
	for (size_t u = 0; u < e->n_urls; u++)
		for (size_t i = 0; i < e->urls[u].n_keys; i++)
			if (keylist_add_copy(out, &e->urls[u].keys[i]) < 0)
				return -ENOMEM;
	return 0;
}

/* ---- parsing: shared by requests (untrusted) and records (the daemon's own) ---- */

static const char *opt_str(json_object *o, const char *k)
{
	json_object *v;

	if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* An optional string member of at most max bytes into *out (NULL when absent or ""). */
static int dup_opt(json_object *o, const char *k, size_t max, char **out, char *err)
{
	json_object *v;

	if (!json_object_object_get_ex(o, k, &v))
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return errf(err, -EINVAL, "%s must be a string", k);
	if ((size_t)json_object_get_string_len(v) > max)
		return errf(err, -EINVAL, "%s is longer than %zu bytes", k, max);
	if (json_object_get_string_len(v) == 0)
		return 0;
	*out = strdup(json_object_get_string(v));
	return *out ? 0 : -ENOMEM;
}

/* A container target's "container" (and, in records, "container_id"). */
static int parse_container(json_object *tj, struct target *t, bool request, char *err)
{
	const char *ref = opt_str(tj, "container"), *id = request ? NULL : opt_str(tj, "container_id");
	bool ok = ref && (t->type == TARGET_DOCKER ? docker_ref_valid(ref) : containerd_ref_valid(ref));

	if (!ok && t->type == TARGET_DOCKER)
		return errf(err, -EINVAL, "--docker needs a container name or id (letters, digits, _ . -, at most %d)",
			    DOCKER_REF_MAX);
	if (!ok)
		return errf(err, -EINVAL, "--containerd needs NAMESPACE/ID (letters, digits and single . _ - between them)");
	snprintf(t->ref, sizeof(t->ref), "%s", ref);
	if (id && (strlen(id) != TARGET_ID_MAX || strspn(id, "0123456789abcdef") != TARGET_ID_MAX))
		return errf(err, -EINVAL, "container_id must be 64 hex digits");
	if (id)
		snprintf(t->id, sizeof(t->id), "%s", id);
	return 0;
}

static int parse_target(json_object *o, struct target *t, bool request, char *err)
{
	static const char *const pid_fields[] = { "type", "pid", NULL };
	static const char *const container_fields[] = { "type", "container", NULL };
	json_object *tj;
	const char *type;
	int64_t v;
	size_t i;
	int r;

	if (!json_object_object_get_ex(o, "target", &tj) || !(type = opt_str(tj, "type")))
		return errf(err, -EINVAL, "a target is required: --docker CONTAINER, --containerd NAMESPACE/ID, --pid PID or --host");
	for (i = 0; i < ARRAY_SIZE(target_names) && strcmp(type, target_names[i]) != 0; i++)
		;
	if (i == ARRAY_SIZE(target_names))
		return errf(err, -EINVAL, "unknown target type '%.64s'", type);
	t->type = (enum target_type)i;
	if (request && (r = ctl_check_fields(tj, target_is_container(t) ?
					     container_fields : pid_fields, "add request's target", err)) < 0)
		return r;
	if (t->type == TARGET_HOST)
		return 0;
	if (target_is_container(t)) {
		if ((r = parse_container(tj, t, request, err)) < 0)
			return r;
	} else if (json_int_in(tj, "pid", 1, PID_MAX, &v) < 0) {
		return errf(err, -EINVAL, "target pid must be a process id between 1 and %d", PID_MAX);
	} else {
		t->pid = (pid_t)v;
	}
	/* Only the daemon knows the process and its start time: it looks them
	 * up when registering (for containers, again whenever it follows one). */
	if (!request && target_is_container(t) && json_int_in(tj, "pid", 1, PID_MAX, &v) == 0)
		t->pid = (pid_t)v;
	if (!request && json_int_in(tj, "starttime", 0, INT64_MAX, &v) == 0)
		t->starttime = (unsigned long long)v;
	return 0;
}

/* "key_urls": in requests a list of URLs, each one peon-sshd may fetch
 * (keyurl.h); in records [{"url", "fetched_ms", "keys": [lines]}]. */
static int parse_key_url(json_object *v, bool request, struct key_url *u, char *err)
{
	struct keylist l = { 0 };
	json_object *k;
	int64_t ms;
	int r;

	if (request) {
		if (!json_object_is_type(v, json_type_string))
			return errf(err, -EINVAL, "key_urls must be a list of URLs");
		if ((r = keyurl_check(json_object_get_string(v), err)) < 0)
			return r;
		return (u->url = strdup(json_object_get_string(v))) ? 0 : -ENOMEM;
	}
	if (!json_object_object_get_ex(v, "url", &k) || !json_object_is_type(k, json_type_string) ||
	    !json_object_object_get_ex(v, "keys", &k) || !json_object_is_type(k, json_type_array))
		return errf(err, -EINVAL, "a key_urls entry needs a url and keys");
	if (!(u->url = strdup(json_object_get_string(json_object_object_get(v, "url")))))
		return -ENOMEM;
	r = keylist_from_json(k, 1, &l, err);
	u->keys = l.v;
	u->n_keys = l.n;
	if (json_int_in(v, "fetched_ms", 0, INT64_MAX / 2, &ms) == 0)
		u->fetched_ms = ms;
	return r;
}

static int parse_key_urls(json_object *o, struct execution *e, bool request, char *err)
{
	json_object *arr;
	size_t n;

	if (!json_object_object_get_ex(o, "key_urls", &arr))
		return 0;
	if (!json_object_is_type(arr, json_type_array) || (n = json_object_array_length(arr)) > EXECUTION_MAX_KEY_URLS)
		return errf(err, -EINVAL, "key_urls must be a list of at most %d URLs", EXECUTION_MAX_KEY_URLS);
	if (n && !(e->urls = calloc(n, sizeof(*e->urls))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct key_url *u = &e->urls[e->n_urls++];
		int r = parse_key_url(json_object_array_get_idx(arr, i), request, u, err);

		if (r < 0)
			return r;
		/* The same URL twice is fetched once. */
		for (size_t j = 0; j + 1 < e->n_urls; j++)
			if (strcmp(e->urls[j].url, u->url) == 0) {
				key_url_free(u);
				e->n_urls--;
				break;
			}
	}
	return 0;
}

/* Requests need a key or a key URL; a record may hold none (every key was
 * removed with `peon-sshctl keys --remove`: the execution admits nobody).
 * The URLs' keys (records) join the static ones. */
static int parse_keys(json_object *o, struct execution *e, bool request, char *err)
{
	struct keylist l = { 0 };
	json_object *arr = NULL;
	bool has = json_object_object_get_ex(o, "keys", &arr);
	int r;

	if ((r = parse_key_urls(o, e, request, err)) < 0)
		return r;
	if ((!has && !e->n_urls) || (has && !json_object_is_type(arr, json_type_array)))
		return errf(err, -EINVAL, "at least one key is required (--key, --key-file or --key-url)");
	r = has ? keylist_from_json(arr, 1, &l, err) : 0;
	e->n_static = l.n;
	for (size_t u = 0; r == 0 && u < e->n_urls; u++)
		for (size_t i = 0; r == 0 && i < e->urls[u].n_keys; i++)
			if (keylist_add_copy(&l, &e->urls[u].keys[i]) < 0)
				r = errf(err, -ENOMEM, "out of memory");
	e->keys = l.v;
	e->n_keys = l.n;
	if (r < 0)
		return r;
	if (request && e->n_keys == 0 && e->n_urls == 0)
		return errf(err, -EINVAL, "no public key was given (only blank or comment lines)");
	return 0;
}

/* "no_forwarding": ["local", "remote", "agent", "x11"]: what this
 * execution's connections may not do, whatever the configuration allows. */
static int parse_no_forwarding(json_object *o, struct execution *e, char *err)
{
	json_object *arr;
	size_t n;

	if (!json_object_object_get_ex(o, "no_forwarding", &arr))
		return 0;
	if (!json_object_is_type(arr, json_type_array) ||
	    (n = json_object_array_length(arr)) > ARRAY_SIZE(execution_no_forwarding_names))
		return errf(err, -EINVAL, "no_forwarding must be a list of local, remote, agent, x11");
	for (size_t i = 0; i < n; i++) {
		json_object *v = json_object_array_get_idx(arr, i);
		const char *name = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
		size_t k = 0;

		while (k < ARRAY_SIZE(execution_no_forwarding_names) && strcmp(name, execution_no_forwarding_names[k]))
			k++;
		if (k == ARRAY_SIZE(execution_no_forwarding_names))
			return errf(err, -EINVAL, "no_forwarding: \"%.64s\" is not one of local, remote, agent, x11", name);
		e->no_forwarding |= 1u << k;
	}
	return 0;
}

/* What requests and records share: id, port, target, keys, user and sinks. */
static int parse_common(json_object *o, struct execution *e, bool request, char *err)
{
	json_object *v;
	const char *id;
	int64_t port;
	int r;

	if (!json_object_object_get_ex(o, "id", &v) || !json_object_is_type(v, json_type_string))
		return errf(err, -EINVAL, "execution id must be a string");
	id = json_object_get_string(v);
	if (!execution_id_valid(id))
		return errf(err, -EINVAL, "execution id '%.200s' is invalid: use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit",
			    id);
	if (!(e->id = strdup(id)))
		return -ENOMEM;
	if (json_object_object_get_ex(o, "port", &v)) {
		if (!json_object_is_type(v, json_type_int))
			return errf(err, -EINVAL, "port must be an integer between 1024 and 65535");
		/* Range-checked on the 64-bit value, before any narrowing. */
		if (json_int_in(o, "port", 1024, 65535, &port) < 0)
			return errf(err, -ERANGE, "port %.32s is not allowed: use a port between 1024 and 65535",
				    json_object_to_json_string(v));
		e->port = (int)port;
	} else if (!request) {
		return errf(err, -EINVAL, "the record has no port");
	}
	if ((r = parse_target(o, &e->target, request, err)) < 0 || (r = parse_keys(o, e, request, err)) < 0 ||
	    (r = dup_opt(o, "user", 256, &e->user, err)) < 0 ||
	    (r = dup_opt(o, "log_file", PATH_MAX - 1, &e->log_file, err)) < 0 ||
	    (r = dup_opt(o, "log_url", 8192, &e->log_url, err)) < 0 || (r = parse_no_forwarding(o, e, err)) < 0)
		return r;
	if (e->log_file && e->log_file[0] != '/')
		return errf(err, -EINVAL, "--log-file %s: must be an absolute path", e->log_file);
	if (e->log_url && strncmp(e->log_url, "http://", 7) != 0 && strncmp(e->log_url, "https://", 8) != 0)
		return errf(err, -EINVAL, "--log-url %s: must be an http:// or https:// URL", e->log_url);
	return 0;
}

int execution_from_request(json_object *req, struct execution **out, long long *ttl_ms, char *err)
{
	static const char *const fields[] = { "cmd", "id", "port", "target", "keys", "key_urls", "user", "log_file",
					      "log_url", "ttl", "no_forwarding", NULL };
	struct execution *e;
	json_object *v;
	int64_t ttl = 0;
	int r = ctl_check_fields(req, fields, "add request", err);

	if (r < 0)
		return r;
	if (!(e = execution_new()))
		return -ENOMEM;
	r = parse_common(req, e, true, err);
	if (r == 0 && json_object_object_get_ex(req, "ttl", &v) && json_int_in(req, "ttl", 1, DURATION_MAX, &ttl) < 0)
		r = errf(err, -ERANGE, "ttl must be a whole number of seconds between 1 and %ld", DURATION_MAX);
	if (r < 0) {
		execution_free(e);
		return r;
	}
	*ttl_ms = ttl * 1000;
	*out = e;
	return 0;
}

/* A time in milliseconds; version-1 records (executions.json) hold seconds. */
static long long record_time(json_object *o, const char *ms_key, const char *s_key)
{
	int64_t v;

	if (json_int_in(o, ms_key, 0, INT64_MAX / 2, &v) == 0)
		return v;
	if (json_int_in(o, s_key, 0, INT64_MAX / 2000, &v) == 0)
		return v * 1000;
	return 0;
}

int execution_from_record(json_object *o, struct execution **out, char *err)
{
	struct execution *e;
	json_object *v;
	int r;

	if (!json_object_is_type(o, json_type_object))
		return errf(err, -EINVAL, "not a JSON object");
	if (!(e = execution_new()))
		return -ENOMEM;
	r = parse_common(o, e, false, err);
	if (r == 0 && json_object_object_get_ex(o, "seccomp", &v))
		r = job_seccomp_from_json(v, &e->seccomp, err);
	if (r < 0) {
		execution_free(e);
		return r;
	}
	e->created_ms = record_time(o, "created_ms", "created");
	e->expires_ms = record_time(o, "expires_ms", "expires");
	*out = e;
	return 0;
}
