#include "keyurls.h"
#include "ctlexec.h"
#include "ctlproto.h"
#include "execkeys.h"
#include "keyfetch.h"
#include "keyurl.h"
#include "log.h"
#include "report.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Adds and refreshes waiting for fetches at once (each holds a control
 * client, of which there are CTL_MAX_CLIENTS, until it is answered). */
#define WAITERS_MAX 64
/* With no execution naming a URL, look again this much later. */
#define IDLE_RESCAN_MS 3600000LL
/* A waiter not answered by then is answered with a failure: a backstop
 * (fetches end sooner), within the control client's CTL_ANSWER_TIMEOUT_MS. */
#define WAITER_DEADLINE_MS 40000

/* A control request waiting for fetches: an add, or a refresh. */
struct waiter {
	struct ctl_ref client;
	uint64_t after;               /* only fetches numbered from here count */
	char **urls;                  /* those still awaited: NULL once answered */
	size_t n_urls, left;
	struct execution *e;          /* an add: the execution, not registered yet */
	long long ttl_ms;
	char *id;                     /* a refresh: its execution */
	char **before;                /* a refresh: the fingerprints held before */
	size_t n_before;
	char *error;                  /* the first failure */
	size_t failed;
	long long deadline;           /* mono ms */
};

struct keyurls {
	struct waiter **w;
	size_t n;
	long long next_due;           /* mono ms of the next periodic refresh; 0: look now */
	int refresh_s;                /* key_urls.refresh when next_due was computed */
};

static struct keyurls *get(struct daemon *d)
{
	if (!d->ku)
		d->ku = calloc(1, sizeof(*d->ku));
	return d->ku;
}

static void waiter_free(struct waiter *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->n_urls; i++)
		free(w->urls[i]);
	free(w->urls);
	execution_free(w->e);
	free(w->id);
	for (size_t i = 0; i < w->n_before; i++)
		free(w->before[i]);
	free(w->before);
	free(w->error);
	free(w);
}

/* Detach w from the list (it is answered now). */
static void unlist(struct daemon *d, struct waiter *w)
{
	struct keyurls *ku = d->ku;

	for (size_t i = 0; i < ku->n; i++)
		if (ku->w[i] == w) {
			ku->w[i] = ku->w[--ku->n];
			return;
		}
}

static bool enlist(struct daemon *d, struct waiter *w)
{
	struct keyurls *ku = get(d);
	struct waiter **nv;

	if (!ku || ku->n >= WAITERS_MAX || !(nv = realloc(ku->w, (ku->n + 1) * sizeof(*nv))))
		return false;
	ku->w = nv;
	ku->w[ku->n++] = w;
	return true;
}

bool keyurls_adding(const struct daemon *d, const char *id)
{
	for (size_t i = 0; d->ku && i < d->ku->n; i++)
		if (d->ku->w[i]->e && strcmp(d->ku->w[i]->e->id, id) == 0)
			return true;
	return false;
}

bool keyurls_holds_port(const struct daemon *d, int port)
{
	for (size_t i = 0; d->ku && i < d->ku->n; i++)
		if (d->ku->w[i]->e && d->ku->w[i]->e->port == port)
			return true;
	return false;
}

/* When a fetch was last asked for u. After a restart nothing was: the last
 * good fetch's age stands in for it (never fetched: long ago). */
static long long last_asked(struct key_url *u, long long mono, long long wall)
{
	if (!u->asked_mono) {
		long long age = u->fetched_ms ? wall - u->fetched_ms : 10LL * 366 * 86400 * 1000;

		u->asked_mono = mono - (age > 0 ? age : 0);
		if (!u->asked_mono)
			u->asked_mono = 1;
	}
	return u->asked_mono;
}

static void ask(struct daemon *d, struct key_url *u, enum kf_prio prio, bool fresh)
{
	struct log_ctx ctx = { 0 };
	char shown[512];

	if (!keyfetch_queue(d, u->url, prio, fresh)) {
		keyurl_redact(u->url, shown, sizeof(shown));
		log_full(LOG_WARNING, &ctx, "cannot queue a fetch of %s: the key fetch queue is full", shown);
	}
	u->asked_mono = mono_ms();
}

/* ---- a fetch's outcome, applied ---- */

/* A failure of u for e: the journal always, the execution's log when it is
 * news (the first, or another reason than last time). */
static void told_failure(struct daemon *d, const struct execution *e, struct key_url *u, const char *why)
{
	struct log_ctx ctx = { .execution_id = e->id };
	char line[REPORT_LINE_MAX];
	size_t kept = u->n_keys;

	snprintf(line, sizeof(line), "SSH keys could not be refreshed: %s; the last good keys are kept (%zu from this URL).",
		 why, kept);
	if (!u->error || strcmp(u->error, why) != 0)
		report_line(&d->cfg, e, line, NULL);
	else
		log_full(LOG_WARNING, &ctx, "%s", line);
	free(u->error);
	u->error = strdup(why);
}

/* The keys parsed from u's answer (or why there are none) for e. */
static void apply(struct daemon *d, struct execution *e, size_t i, const struct keylist *parsed, const char *why)
{
	struct key_url *u = &e->urls[i];
	struct keylist mine = { 0 };
	struct keychange chg;
	char err[ERRLEN], shown[512], what[REPORT_LINE_MAX - 320], line[REPORT_LINE_MAX];
	bool was_failing = u->error != NULL;

	keyurl_redact(u->url, shown, sizeof(shown));
	if (why) {
		told_failure(d, e, u, why);
		return;
	}
	for (size_t k = 0; k < parsed->n; k++)
		if (keylist_add_copy(&mine, &parsed->v[k]) < 0) {
			keylist_free(&mine);
			told_failure(d, e, u, "out of memory");
			return;
		}
	if (execkeys_set(d, e, NULL, i, &mine, &chg, err) < 0) {
		char full[ERRLEN + 600];

		keylist_free(&mine);
		snprintf(full, sizeof(full), "--key-url %s: %s", shown, err);
		told_failure(d, e, u, full);
		return;
	}
	u->fetched_ms = now_ms();
	free(u->error);
	u->error = NULL;
	if (chg.added.n || chg.removed.n) {
		keychange_describe(&chg, e->n_keys, what, sizeof(what));
		snprintf(line, sizeof(line), "SSH keys refreshed from %.256s: %s.", shown, what);
		report_line(&d->cfg, e, line, NULL);
	} else {
		log_full(was_failing ? LOG_NOTICE : LOG_DEBUG, &(struct log_ctx){ .execution_id = e->id },
			 "keys from %s fetched%s: %zu, unchanged", shown, was_failing ? " again" : "", u->n_keys);
	}
	keychange_free(&chg);
}

static long url_index(const struct execution *e, const char *url)
{
	for (size_t i = 0; i < e->n_urls; i++)
		if (strcmp(e->urls[i].url, url) == 0)
			return (long)i;
	return -1;
}

static void finish(struct daemon *d, struct waiter *w);

/* w was waiting for url: it has its answer. A refresh's execution had it
 * applied already; what failed there (a limit, the record) is its answer. */
static void waiter_result(struct daemon *d, struct waiter *w, size_t k, const struct keylist *parsed,
			  const char *why)
{
	long i = w->e ? url_index(w->e, w->urls[k]) : -1;
	const struct execution *r = w->id ? registry_find(&d->reg, w->id) : NULL;
	long ri = r ? url_index(r, w->urls[k]) : -1;

	if (!why && ri >= 0)
		why = r->urls[ri].error;

	free(w->urls[k]);
	w->urls[k] = NULL;
	w->left--;
	if (why) {
		if (!w->failed++)
			w->error = strdup(why);
	} else if (i >= 0) {
		struct key_url *u = &w->e->urls[i];
		struct keylist l = { 0 };

		for (size_t j = 0; j < parsed->n; j++)
			if (keylist_add_copy(&l, &parsed->v[j]) < 0 && !w->failed++)
				w->error = strdup("out of memory");
		u->keys = l.v;
		u->n_keys = l.n;
		u->fetched_ms = now_ms();
	}
	/* An add fails at its first failure; a refresh reports them all. */
	if (!w->left || (w->e && w->failed))
		finish(d, w);
}

void keyurls_result(struct daemon *d, const char *url, uint64_t seq, const char *body, size_t len,
		    const char *error)
{
	struct keylist parsed = { 0 };
	char shown[512], why[ERRLEN + 600] = "";
	long i;

	keyurl_redact(url, shown, sizeof(shown));
	/* Every line as the same line of --key-file would be: one parser, and
	 * errors named "URL:line". Any bad line refuses the answer whole. */
	if (error)
		snprintf(why, sizeof(why), "--key-url %s: %s", shown, error);
	else if (keylist_from_text(body, len, shown, KEYURL_MAX_KEYS, &parsed, why) < 0)
		keylist_free(&parsed);
	for (size_t k = 0; k < d->reg.n; k++)
		if ((i = url_index(d->reg.v[k], url)) >= 0)
			apply(d, d->reg.v[k], (size_t)i, &parsed, *why ? why : NULL);
	/* Waiters may finish (and leave the list) as they are told. */
	for (size_t k = 0; d->ku && k < d->ku->n;) {
		struct waiter *w = d->ku->w[k];
		size_t j = 0;

		while (j < w->n_urls && !(w->urls[j] && strcmp(w->urls[j], url) == 0))
			j++;
		if (j == w->n_urls || seq < w->after) {
			k++;
			continue;
		}
		waiter_result(d, w, j, &parsed, *why ? why : NULL);
		if (k < d->ku->n && d->ku->w[k] == w)
			k++;
	}
	keylist_free(&parsed);
	if (d->ku)
		d->ku->next_due = 0;
}

/* ---- waiters: add and refresh ---- */

static struct waiter *new_waiter(struct daemon *d, char *const *urls, size_t n)
{
	struct waiter *w = calloc(1, sizeof(*w));

	if (!w || !(w->urls = calloc(n, sizeof(*w->urls)))) {
		free(w);
		return NULL;
	}
	w->client = control_current(d);
	w->after = keyfetch_next_seq(d);
	w->deadline = mono_ms() + WAITER_DEADLINE_MS;
	for (size_t i = 0; i < n; i++)
		if (!(w->urls[w->n_urls++] = strdup(urls[i]))) {
			waiter_free(w);
			return NULL;
		}
	w->left = n;
	return w;
}

/* The add's execution, its URLs fetched: registered, or why not. */
static json_object *register_added(struct daemon *d, struct waiter *w)
{
	struct execution *e = w->e;
	struct keylist all = { 0 };
	json_object *reply;
	bool none;

	w->e = NULL;
	/* The ttl counts from now, when the execution becomes live. */
	e->created_ms = now_ms();
	e->expires_ms = w->ttl_ms ? e->created_ms + w->ttl_ms : 0;
	if (execution_key_union(e, &all) < 0) {
		reply = ctl_error("out of memory");
		goto fail;
	}
	if (all.n > (size_t)d->cfg.limits.max_keys) {
		reply = ctl_error("too many keys: execution %s would hold %zu, limits.max_keys is %d", e->id, all.n,
				  d->cfg.limits.max_keys);
		goto fail;
	}
	if (d->reg.n >= (size_t)d->cfg.limits.max_executions) {
		reply = ctl_error("too many executions (limits.max_executions = %d)", d->cfg.limits.max_executions);
		goto fail;
	}
	for (size_t i = 0; i < e->n_keys; i++)
		authkey_free(&e->keys[i]);
	free(e->keys);
	e->keys = all.v;
	e->n_keys = all.n;
	none = all.n == 0;
	reply = control_register(d, e, true);
	/* Live, but nobody can log in yet: said, not refused (the URL may serve
	 * a key later, and a refresh picks it up). */
	if (none && json_object_get_boolean(json_object_object_get(reply, "ok")))
		json_object_object_add(reply, "warning",
				       json_object_new_string("the key URLs hold no key yet: nobody can log in until "
							      "one serves a key and it is refreshed"));
	return reply;
fail:
	keylist_free(&all);
	daemon_release_port(d, e->port);
	execution_free(e);
	return reply;
}

/* A refresh's answer: what the execution holds now against before. */
static json_object *refresh_reply(struct daemon *d, struct waiter *w)
{
	const struct execution *e = registry_find(&d->reg, w->id);
	json_object *o, *added, *removed;
	char msg[600];
	size_t n_added = 0, n_removed = 0;

	if (!e)
		return ctl_error("execution %s was removed while its keys were being refreshed", w->id);
	if (w->failed)
		return ctl_error("%s%s; the last good keys are kept (%zu key%s)", w->error ? w->error : "a fetch failed",
				 w->failed > 1 ? " (and other key URLs failed too)" : "", e->n_keys, e->n_keys == 1 ? "" : "s");
	o = json_object_new_object();
	added = json_object_new_array();
	removed = json_object_new_array();
	for (size_t i = 0; i < e->n_keys; i++) {
		size_t j = 0;

		while (j < w->n_before && strcmp(w->before[j], e->keys[i].fingerprint))
			j++;
		if (j == w->n_before && ++n_added)
			json_object_array_add(added, authkey_to_json(&e->keys[i]));
	}
	for (size_t j = 0; j < w->n_before; j++)
		if (!keys_find(e->keys, e->n_keys, w->before[j]) && ++n_removed)
			json_object_array_add(removed, json_object_new_string(w->before[j]));
	snprintf(msg, sizeof(msg), "keys refreshed: %zu before, %zu after (%zu added, %zu removed)", w->n_before,
		 e->n_keys, n_added, n_removed);
	json_object_object_add(o, "ok", json_object_new_boolean(1));
	json_object_object_add(o, "execution", json_object_new_string(e->id));
	json_object_object_add(o, "message", json_object_new_string(msg));
	json_object_object_add(o, "keys_before", json_object_new_int64((int64_t)w->n_before));
	json_object_object_add(o, "keys_after", json_object_new_int64((int64_t)e->n_keys));
	json_object_object_add(o, "added", added);
	json_object_object_add(o, "removed", removed);
	json_object_object_add(o, "keys", execution_keys_json(e));
	return o;
}

static void finish(struct daemon *d, struct waiter *w)
{
	struct log_ctx ctx = { .execution_id = w->e ? w->e->id : w->id };
	json_object *reply;

	unlist(d, w);
	if (w->e && (w->failed || !control_waiting(d, w->client))) {
		/* Nothing registered: a failed add changes nothing, and one whose
		 * client went away is not reported live to nobody. */
		if (!w->failed)
			log_full(LOG_NOTICE, &ctx, "add abandoned: peon-sshctl went away before the key URLs answered");
		else
			log_full(LOG_NOTICE, &ctx, "add refused: %s", w->error ? w->error : "a key URL could not be fetched");
		reply = w->failed ? ctl_error("%s", w->error ? w->error : "a key URL could not be fetched") : NULL;
		daemon_release_port(d, w->e->port);
	} else {
		reply = w->e ? register_added(d, w) : refresh_reply(d, w);
	}
	if (reply)
		control_answer(d, w->client, reply);
	waiter_free(w);
}

json_object *keyurls_add(struct daemon *d, struct execution *e, long long ttl_ms)
{
	char **urls = calloc(e->n_urls, sizeof(*urls));
	struct waiter *w;

	for (size_t i = 0; urls && i < e->n_urls; i++)
		urls[i] = e->urls[i].url;
	w = urls ? new_waiter(d, urls, e->n_urls) : NULL;
	free(urls);
	if (!w || !enlist(d, w)) {
		waiter_free(w);
		daemon_release_port(d, e->port);
		execution_free(e);
		return ctl_error("too many adds and refreshes are waiting for key URLs; try again shortly");
	}
	w->e = e;
	w->ttl_ms = ttl_ms;
	/* Queued only: the fetcher is driven from the loop, never from here. */
	for (size_t i = 0; i < e->n_urls; i++)
		ask(d, &e->urls[i], KF_ASKED, true);
	return NULL;
}

json_object *keyurls_refresh(struct daemon *d, json_object *req)
{
	json_object *reply;
	struct execution *e;
	struct waiter *w;
	char **urls;

	if (!(e = ctl_request_execution(d, req, &reply)))
		return reply;
	if (!e->n_urls)
		return ctl_error("execution %s has no --key-url to refresh", e->id);
	urls = calloc(e->n_urls, sizeof(*urls));
	for (size_t i = 0; urls && i < e->n_urls; i++)
		urls[i] = e->urls[i].url;
	w = urls ? new_waiter(d, urls, e->n_urls) : NULL;
	free(urls);
	if (w && (!(w->id = strdup(e->id)) || !(w->before = calloc(e->n_keys + 1, sizeof(*w->before))))) {
		waiter_free(w);
		w = NULL;
	}
	for (size_t i = 0; w && i < e->n_keys; i++)
		if ((w->before[w->n_before] = strdup(e->keys[i].fingerprint)))
			w->n_before++;
	if (!w || !enlist(d, w)) {
		waiter_free(w);
		return ctl_error("too many adds and refreshes are waiting for key URLs; try again shortly");
	}
	for (size_t i = 0; i < e->n_urls; i++)
		ask(d, &e->urls[i], KF_ASKED, true);
	return NULL;
}

/* ---- when to fetch by itself ---- */

void keyurls_unknown_key(struct daemon *d, int port, const char *fingerprint)
{
	const struct keyref *k;
	size_t n = registry_with_key(&d->reg, fingerprint, &k);
	long long mono = mono_ms(), wall = now_ms(), min_age = (long long)d->cfg.key_urls.min_age * 1000;

	for (size_t i = 0; i < n; i++)
		if (k[i].e->port == port)
			return;     /* held here: not unknown, whatever refused it */
	for (size_t i = 0; i < d->reg.n; i++) {
		struct execution *e = d->reg.v[i];

		if (e->port != port)
			continue;
		for (size_t j = 0; j < e->n_urls; j++)
			if (mono - last_asked(&e->urls[j], mono, wall) >= min_age) {
				log_full(LOG_INFO, &(struct log_ctx){ .execution_id = e->id, .key_fp = fingerprint },
					 "unknown key %s offered on port %d: refreshing the execution's key URLs",
					 fingerprint, port);
				ask(d, &e->urls[j], KF_UNKNOWN_KEY, false);
			}
	}
}

/* Waiters past their deadline are answered with a failure. */
static void overdue(struct daemon *d, long long mono)
{
	for (size_t k = 0; d->ku && k < d->ku->n; k++) {
		struct waiter *w = d->ku->w[k];

		if (w->deadline > mono)
			continue;
		if (!w->failed++)
			w->error = strdup("no answer from the key fetcher in time");
		finish(d, w);
		k = (size_t)-1;     /* the list changed: from the start */
	}
}

void keyurls_tick(struct daemon *d)
{
	struct keyurls *ku = get(d);
	long long mono = mono_ms(), wall = now_ms(), every = (long long)d->cfg.key_urls.refresh * 1000, next = 0;

	overdue(d, mono);
	if (!ku || (ku->next_due && ku->refresh_s == d->cfg.key_urls.refresh && mono < ku->next_due))
		return;
	ku->refresh_s = d->cfg.key_urls.refresh;
	for (size_t i = 0; every && i < d->reg.n; i++)
		for (size_t j = 0; j < d->reg.v[i]->n_urls; j++) {
			struct key_url *u = &d->reg.v[i]->urls[j];
			long long due = last_asked(u, mono, wall) + every;

			if (due <= mono) {
				ask(d, u, KF_PERIODIC, false);
				due = mono + every;
			}
			if (!next || due < next)
				next = due;
		}
	ku->next_due = next ? next : mono + IDLE_RESCAN_MS;
}

int keyurls_timeout(struct daemon *d)
{
	long long mono = mono_ms(), soonest;

	if (!d->ku || !d->ku->next_due || d->ku->refresh_s != d->cfg.key_urls.refresh)
		return 0;
	soonest = d->ku->next_due;
	for (size_t k = 0; k < d->ku->n; k++)
		if (d->ku->w[k]->deadline < soonest)
			soonest = d->ku->w[k]->deadline;
	return soonest <= mono ? 0 : (int)(soonest - mono > 3600000 ? 3600000 : soonest - mono);
}

void keyurls_free(struct daemon *d)
{
	if (!d->ku)
		return;
	for (size_t i = 0; i < d->ku->n; i++)
		waiter_free(d->ku->w[i]);
	free(d->ku->w);
	free(d->ku);
	d->ku = NULL;
}
