#include "reporter.h"
#include "log.h"
#include "util.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define POST_TIMEOUT_MS 5000
#define BACKOFF_MAX 60
#define MAX_PENDING 4096

struct attempt {
	char name[256];
	int tries;
	time_t next;
};

struct reporter {
	const struct peon_config *cfg;
	char dir[PATH_MAX];
	struct attempt a[MAX_PENDING];
	size_t n;
};

static struct attempt *attempt_for(struct reporter *r, const char *name)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->a[i].name, name) == 0)
			return &r->a[i];
	if (r->n == MAX_PENDING)
		return NULL;
	snprintf(r->a[r->n].name, sizeof(r->a[r->n].name), "%s", name);
	r->a[r->n].tries = 0;
	r->a[r->n].next = 0;
	return &r->a[r->n++];
}

static void attempt_done(struct reporter *r, const char *name)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->a[i].name, name) == 0) {
			r->a[i] = r->a[--r->n];
			return;
		}
}

/* The bearer token is read at each delivery: rotating the file needs no reload. */
static struct curl_slist *headers(const struct peon_config *cfg)
{
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	char *tok = NULL, *hdr = NULL;

	if (*cfg->report.token_file && read_file(cfg->report.token_file, 8192, &tok, NULL) == 0) {
		tok[strcspn(tok, "\r\n")] = '\0';
		if (*tok && asprintf(&hdr, "Authorization: Bearer %s", tok) > 0)
			h = curl_slist_append(h, hdr);
	}
	free(tok);
	free(hdr);
	return h;
}

static size_t discard(char *p, size_t sz, size_t n, void *u)
{
	(void)p;
	(void)u;
	return sz * n;
}

static int post(const struct peon_config *cfg, const char *url, const char *body, long *status)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h;
	CURLcode rc;

	if (!c)
		return -ENOMEM;
	h = headers(cfg);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)POST_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return rc == CURLE_OK ? 0 : -EIO;
}

static bool in_list(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

/* Deliver one spooled line, unless its URL is in *blocked (an earlier line
 * for it waits: order per URL). A line that stays queued adds its URL to
 * *blocked. Returns seconds until it is due again, 0 otherwise. */
static long deliver(struct reporter *r, const char *name, time_t now, char ***blocked, size_t *nb)
{
	char path[PATH_MAX + 512], *text = NULL;
	json_object *o = NULL, *body = NULL, *v;
	struct attempt *at;
	const char *url, *exec;
	long status = 0, wait = 0;
	struct log_ctx ctx = { 0 };

	snprintf(path, sizeof(path), "%s/%s", r->dir, name);
	if (read_file(path, 1 << 20, &text, NULL) < 0 || !(o = json_tokener_parse(text)) ||
	    !json_object_object_get_ex(o, "url", &v) || !(url = json_object_get_string(v)) ||
	    !json_object_object_get_ex(o, "execution", &v) || !(exec = json_object_get_string(v))) {
		unlink(path);     /* not ours or half-written by a crash: nothing to deliver */
		goto out;
	}
	if (in_list(*blocked, *nb, url))
		goto out;
	ctx.execution_id = exec;
	at = attempt_for(r, name);
	if (!at || at->next > now) {
		wait = at ? (long)(at->next - now) : 1;
		goto queued;
	}
	body = json_object_new_object();
	json_object_object_add(body, "execution", json_object_new_string(exec));
	json_object_object_get_ex(o, "message", &v);
	json_object_object_add(body, "message", json_object_get(v));
	if (post(r->cfg, url, json_object_to_json_string(body), &status) == 0 && status >= 200 && status < 300) {
		unlink(path);
		attempt_done(r, name);
	} else if (json_object_object_get_ex(o, "created", &v) &&
		   now - json_object_get_int64(v) > r->cfg->report.retry_for) {
		log_full(LOG_ERR, &ctx, "giving up on %s after %d attempts over %d s (last answer: %ld)", url,
			 at->tries + 1, r->cfg->report.retry_for, status);
		unlink(path);
		attempt_done(r, name);
	} else {
		if (at->tries++ == 0)
			log_full(LOG_WARNING, &ctx, "log URL %s: %s; retrying", url,
				 status ? "unexpected HTTP status" : "unreachable");
		wait = 1L << (at->tries < 6 ? at->tries : 6);
		if (wait > BACKOFF_MAX)
			wait = BACKOFF_MAX;
		at->next = now + wait;
		goto queued;
	}
	goto out;
queued:
	strv_push(blocked, nb, url);
out:
	json_object_put(body);
	json_object_put(o);
	free(text);
	return wait;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int only_json(const struct dirent *d)
{
	size_t l = strlen(d->d_name);

	return l > 5 && strcmp(d->d_name + l - 5, ".json") == 0;
}

/* One pass over the spool; returns ms until the next due retry (or -1). */
static int pass(struct reporter *r)
{
	struct dirent **list = NULL;
	int n = scandir(r->dir, &list, only_json, by_name);
	long soonest = -1;
	time_t now = time(NULL);
	char **blocked = NULL;
	size_t nb = 0;

	/* In order per URL: behind a line that waits, later lines wait too. */
	for (int i = 0; i < n; i++) {
		long w = deliver(r, list[i]->d_name, now, &blocked, &nb);

		if (w > 0 && (soonest < 0 || w < soonest))
			soonest = w;
		free(list[i]);
	}
	free(list);
	strv_free(blocked);
	return soonest < 0 ? -1 : (int)(soonest * 1000);
}

static void __attribute__((noreturn)) run(const struct peon_config *cfg)
{
	static struct reporter r;
	int in;

	r.cfg = cfg;
	snprintf(r.dir, sizeof(r.dir), "%s/spool", cfg->runtime_dir);
	mkdir(r.dir, 0700);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (in >= 0)
		inotify_add_watch(in, r.dir, IN_MOVED_TO | IN_CLOSE_WRITE);
	for (;;) {
		struct pollfd p = { .fd = in, .events = POLLIN };
		char buf[4096];
		int t = pass(&r);

		/* Also rescan every 10 s: inotify may be missing or overflow. */
		if (t < 0 || t > 10000)
			t = 10000;
		if (poll(&p, in >= 0 ? 1 : 0, t) > 0)
			while (read(in, buf, sizeof(buf)) > 0)
				;
	}
}

pid_t reporter_start(const struct peon_config *cfg, void (*close_fds)(void *), void *arg)
{
	pid_t parent = getpid(), pid = fork();
	sigset_t none;

	if (pid != 0)
		return pid;
	/* Dies with the daemon; the next daemon starts a new one on the spool. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(0);
	if (close_fds)
		close_fds(arg);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	run(cfg);
}
