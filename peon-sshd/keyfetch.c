#include "keyfetch.h"
#include "keyfetcher.h"
#include "keyurls.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* curl gives up at KF_TOTAL_TIMEOUT_MS: a fetch unanswered well past that
 * means a wedged fetcher, which is killed. */
#define KF_DEADLINE_MS (KF_TOTAL_TIMEOUT_MS + 10000)
/* Distinct URLs waiting at once. */
#define KF_QUEUE_MAX 4096
/* A fetcher that died is not restarted sooner than this. */
#define KF_RESTART_PAUSE_MS 1000

struct kf_entry {
	char *url;
	enum kf_prio prio;
	bool queued;                 /* waiting for a slot (also while in flight: then again after it) */
	uint64_t seq;                /* in flight: its number; 0: not in flight */
	long long deadline;          /* mono ms, while in flight */
	unsigned long long order;    /* first come, first served within a priority */
};

struct keyfetch {
	pid_t pid;                   /* 0: none */
	int fd;
	int uid_slot;
	bool killed;                 /* killed, not reaped yet */
	uint64_t next_seq;
	unsigned long long next_order;
	long long restart_at;        /* mono ms */
	struct kf_entry *v;
	size_t n;
	unsigned in_flight;
};

static struct keyfetch *get(struct daemon *d)
{
	if (!d->kf && (d->kf = calloc(1, sizeof(*d->kf)))) {
		d->kf->fd = -1;
		d->kf->uid_slot = -1;
		d->kf->next_seq = 1;
	}
	return d->kf;
}

uint64_t keyfetch_next_seq(const struct daemon *d)
{
	return d->kf ? d->kf->next_seq : 1;
}

int keyfetch_fd(const struct daemon *d)
{
	return d->kf ? d->kf->fd : -1;
}

void keyfetch_close_inherited(struct daemon *d)
{
	if (d->kf && d->kf->fd >= 0)
		close(d->kf->fd);
}

static void drop_entry(struct keyfetch *kf, size_t i)
{
	free(kf->v[i].url);
	kf->v[i] = kf->v[--kf->n];
}

/* The fetch of entry i has its answer (or failed): keyurls.c is told, and
 * the entry goes unless it is to be fetched again. */
static void settle(struct daemon *d, size_t i, const char *body, size_t len, const char *error)
{
	struct keyfetch *kf = d->kf;
	/* A fetch that failed before it was sent fails now: after every waiter. */
	uint64_t seq = kf->v[i].seq ? kf->v[i].seq : UINT64_MAX;
	char *url = strdup(kf->v[i].url);

	if (kf->v[i].seq)
		kf->in_flight--;
	kf->v[i].seq = 0;
	if (!kf->v[i].queued)
		drop_entry(kf, i);
	/* The entry may move below (keyurls.c may queue more): only the copy is used. */
	if (url)
		keyurls_result(d, url, seq, body, len, error);
	free(url);
}

static void stop_fetcher(struct keyfetch *kf, const char *why)
{
	if (kf->pid > 0 && !kf->killed) {
		log_warn("key fetcher %d: %s; ending it", (int)kf->pid, why);
		kill(kf->pid, SIGKILL);
		kf->killed = true;
	}
	if (kf->fd >= 0)
		close(kf->fd);
	kf->fd = -1;
}

static void close_inherited_fds(void *arg);

static bool ensure_fetcher(struct daemon *d, char *err)
{
	struct keyfetch *kf = d->kf;
	uint64_t rnd = 0;
	long long id;

	if (kf->pid > 0)
		return kf->fd >= 0 ? true : (errf(err, -EPIPE, "the key fetcher is restarting"), false);
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) < 0)
		rnd = (uint64_t)mono_ms();
	/* A uid of its own from the privsep range: no other process, network
	 * children included, shares it. */
	if ((kf->uid_slot = uidpool_take(&d->uids, rnd)) < 0) {
		errf(err, -EAGAIN, "every uid of the privsep range is in use");
		return false;
	}
	id = d->cfg.privsep.uid_base + kf->uid_slot;
	kf->pid = keyfetcher_start((uid_t)id, (gid_t)id, close_inherited_fds, d, &kf->fd);
	if (kf->pid < 0) {
		errf(err, -errno, "cannot start the key fetcher: %s", strerror(errno));
		uidpool_give(&d->uids, kf->uid_slot);
		kf->pid = 0;
		kf->uid_slot = -1;
		return false;
	}
	kf->killed = false;
	log_info("key fetcher started (pid %d, uid %lld)", (int)kf->pid, id);
	return true;
}

static bool send_request(struct keyfetch *kf, uint64_t seq, const char *url)
{
	char buf[KF_REQUEST_MAX];
	size_t n = strlen(url);

	if (n > KEYURL_MAX_LEN)
		return false;
	memcpy(buf, &seq, sizeof(seq));
	memcpy(buf + sizeof(seq), url, n);
	return send(kf->fd, buf, sizeof(seq) + n, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)(sizeof(seq) + n);
}

/* The most urgent queued entry not in flight, or -1. */
static long next_entry(const struct keyfetch *kf)
{
	long best = -1;

	for (size_t i = 0; i < kf->n; i++) {
		const struct kf_entry *e = &kf->v[i];

		if (!e->queued || e->seq)
			continue;
		if (best < 0 || e->prio > kf->v[best].prio ||
		    (e->prio == kf->v[best].prio && e->order < kf->v[best].order))
			best = (long)i;
	}
	return best;
}

static void pump(struct daemon *d)
{
	struct keyfetch *kf = d->kf;
	char err[ERRLEN];
	long i;

	while (kf && kf->in_flight < KF_MAX_IN_FLIGHT && (i = next_entry(kf)) >= 0) {
		if (kf->pid <= 0 && mono_ms() < kf->restart_at)
			return;
		if (!ensure_fetcher(d, err)) {
			if (kf->pid > 0)
				return;     /* killed, not reaped yet: the reap restarts the queue */
			kf->v[i].queued = false;
			settle(d, (size_t)i, NULL, 0, err);
			continue;
		}
		kf->v[i].seq = kf->next_seq++;
		kf->v[i].queued = false;
		kf->v[i].deadline = mono_ms() + KF_DEADLINE_MS;
		kf->in_flight++;
		if (!send_request(kf, kf->v[i].seq, kf->v[i].url)) {
			stop_fetcher(kf, "it does not take requests");
			return;
		}
	}
}

bool keyfetch_queue(struct daemon *d, const char *url, enum kf_prio prio, bool fresh)
{
	struct keyfetch *kf = get(d);
	struct kf_entry *e = NULL, *nv;

	if (!kf)
		return false;
	for (size_t i = 0; i < kf->n && !e; i++)
		if (strcmp(kf->v[i].url, url) == 0)
			e = &kf->v[i];
	if (!e) {
		if (kf->n >= KF_QUEUE_MAX || !(nv = realloc(kf->v, (kf->n + 1) * sizeof(*nv))))
			return false;
		kf->v = nv;
		e = &kf->v[kf->n];
		*e = (struct kf_entry){ .url = strdup(url), .prio = prio, .order = kf->next_order++ };
		if (!e->url)
			return false;
		kf->n++;
	}
	/* In flight and not fresh enough: the answer on its way will do. */
	if (!e->seq || fresh)
		e->queued = true;
	if (prio > e->prio)
		e->prio = prio;
	/* Sent from the loop (keyfetch_tick), never from here: a failure to
	 * send is answered at once, and the caller may not be ready for it. */
	return true;
}

/* ---- answers ---- */

/* The body behind a memfd the fetcher filled: exactly len bytes. */
static int read_body(int fd, size_t len, char **out)
{
	struct stat st;
	size_t got = 0;
	char *buf;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size != len || len > KEYURL_MAX_BYTES)
		return -EPROTO;
	if (!(buf = malloc(len + 1)))
		return -ENOMEM;
	while (got < len) {
		ssize_t n = pread(fd, buf + got, len - got, (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(buf);
			return -EPROTO;
		}
		got += (size_t)n;
	}
	buf[len] = '\0';
	*out = buf;
	return 0;
}

/* One answer record: -EAGAIN when none is waiting, -EPROTO for anything
 * the fetcher may not send, 0 when handled. */
static int take_answer(struct daemon *d)
{
	struct keyfetch *kf = d->kf;
	union {
		char buf[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} u;
	struct kf_answer a;
	struct iovec iov = { .iov_base = &a, .iov_len = sizeof(a) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	int fds[4], nfds = 0, r = 0;
	char *body = NULL, *error = NULL;
	ssize_t n = recvmsg(kf->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	size_t i;

	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -EAGAIN : -EPIPE;
	if (n == 0)
		return -EPIPE;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			for (size_t k = 0; k < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int) && nfds < 4; k++)
				memcpy(&fds[nfds++], CMSG_DATA(c) + k * sizeof(int), sizeof(int));
	for (i = 0; i < kf->n && !(kf->v[i].seq && kf->v[i].seq == a.seq); i++)
		;
	if ((size_t)n != sizeof(a) || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || i == kf->n ||
	    nfds != (a.ok ? 1 : 0) || memchr(a.error, '\0', sizeof(a.error)) == NULL) {
		r = -EPROTO;
		goto out;
	}
	if (a.ok && (r = read_body(fds[0], a.body_len, &body)) < 0)
		goto out;
	if (!a.ok)
		error = str_printable(*a.error ? a.error : "the fetch failed", KF_ERROR_MAX);
	settle(d, i, body, a.ok ? a.body_len : 0, a.ok ? NULL : error ? error : "the fetch failed");
out:
	for (int k = 0; k < nfds; k++)
		close(fds[k]);
	free(body);
	free(error);
	return r;
}

void keyfetch_io(struct daemon *d)
{
	/* A few per round: the loop has other work. */
	for (int i = 0; d->kf && d->kf->fd >= 0 && i < KF_MAX_IN_FLIGHT; i++) {
		int r = take_answer(d);

		if (r == -EAGAIN)
			break;
		if (r == -EPROTO)
			stop_fetcher(d->kf, "it sent an answer that is not one");
		else if (r < 0)
			stop_fetcher(d->kf, "it closed its socket");
		if (r < 0)
			return;
	}
	pump(d);
}

bool keyfetch_reaped(struct daemon *d, pid_t pid, int status)
{
	struct keyfetch *kf = d->kf;
	char why[128];

	if (!kf || pid != kf->pid)
		return false;
	if (!kf->killed && !d->stopping)
		log_warn("the key fetcher exited (status 0x%x)", status);
	if (kf->fd >= 0)
		close(kf->fd);
	kf->fd = -1;
	kf->pid = 0;
	uidpool_give(&d->uids, kf->uid_slot);
	kf->uid_slot = -1;
	kf->restart_at = mono_ms() + KF_RESTART_PAUSE_MS;
	snprintf(why, sizeof(why), "the key fetcher ended before it answered (status 0x%x)", status);
	for (size_t i = kf->n; i-- > 0;)
		if (i < kf->n && kf->v[i].seq)
			settle(d, i, NULL, 0, why);
	pump(d);
	return true;
}

void keyfetch_tick(struct daemon *d)
{
	struct keyfetch *kf = d->kf;
	long long now = mono_ms();

	if (!kf)
		return;
	for (size_t i = 0; i < kf->n; i++)
		if (kf->v[i].seq && kf->v[i].deadline <= now) {
			stop_fetcher(kf, "a fetch is past its deadline");
			break;
		}
	pump(d);
}

/* Could pump() send something now? */
static bool sendable(const struct keyfetch *kf, long long now)
{
	if (kf->in_flight >= KF_MAX_IN_FLIGHT || next_entry(kf) < 0)
		return false;
	return kf->pid > 0 ? kf->fd >= 0 : now >= kf->restart_at;
}

int keyfetch_timeout(const struct daemon *d)
{
	const struct keyfetch *kf = d->kf;
	long long now = mono_ms(), soonest = -1;

	if (!kf)
		return -1;
	if (sendable(kf, now))
		return 0;
	for (size_t i = 0; i < kf->n; i++) {
		long long t = kf->v[i].seq ? kf->v[i].deadline : kf->v[i].queued && kf->pid <= 0 ? kf->restart_at : -1;

		if (t >= 0 && (soonest < 0 || t < soonest))
			soonest = t;
	}
	if (soonest < 0)
		return -1;
	return soonest <= now ? 0 : (int)(soonest - now);
}

void keyfetch_free(struct daemon *d)
{
	struct keyfetch *kf = d->kf;

	if (!kf)
		return;
	if (kf->pid > 0)
		kill(kf->pid, SIGTERM);
	if (kf->fd >= 0)
		close(kf->fd);
	for (size_t i = 0; i < kf->n; i++)
		free(kf->v[i].url);
	free(kf->v);
	free(kf);
	d->kf = NULL;
}

static void close_inherited_fds(void *arg)
{
	daemon_close_inherited(arg);
}
