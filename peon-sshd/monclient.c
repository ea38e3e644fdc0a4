/* The network child's side of the monitor protocol (monproto.h): it asks,
 * the monitor decides. Requests that need an answer before the loop can go
 * on (authentication, spawn) wait for it, taking in the monitor's other
 * records meanwhile; connects are answered whenever the job has connected.
 * A monitor that is gone or does not answer ends the connection. */
#include "chan.h"
#include "monclient.h"
#include "monproto.h"
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The monitor asks the daemon (5 s at most) or forks into the job. */
#define ENDING_WAIT_MS 1000
#define ANSWER_TIMEOUT_MS 30000

static int mon_fd = -1;
static unsigned char rbuf[MON_MSG_MAX];

void monc_init(int fd)
{
	mon_fd = fd;
}

static int send_rec(struct mon_buf *b)
{
	int r = mon_send(mon_fd, b, NULL, 0);

	mon_buf_free(b);
	return r;
}

void monc_log(int prio, const char *msg)
{
	struct mon_buf b;

	mon_buf_init(&b, MON_LOG);
	mon_put_u32(&b, (uint32_t)prio);
	mon_put_bytes(&b, msg, strnlen(msg, MON_LOG_MAX));
	send_rec(&b);
}

/* ---- records from the monitor that arrive on their own ---- */

static void on_exited(struct sess *ss, struct mon_reader *r)
{
	uint32_t id = mon_get_u32(r), status = mon_get_u32(r);

	if (mon_reader_done(r))
		chan_child_exited(ss, id, (int)status);
}

static void on_connected(struct sess *ss, struct mon_reader *r, int *fds, int nfds)
{
	uint32_t id = mon_get_u32(r), ok = mon_get_u32(r);
	char *err = mon_get_str(r, MON_ERR_MAX);

	if (mon_reader_done(r))
		chan_direct_connected(ss, id, ok && nfds == 1 ? fds[0] : -1, err ? err : "no answer");
	else if (nfds == 1)
		close(fds[0]);
	free(err);
}

/* One record in buf: an asynchronous one is applied; 1 when it is the
 * wanted type (left in buf for the caller), 0 otherwise, -1 when bad. */
static int take(struct sess *ss, size_t len, int *fds, int nfds, enum mon_type want)
{
	struct mon_reader r;

	if (len < 1)
		return -1;
	if (rbuf[0] == want)
		return 1;
	mon_reader_init(&r, rbuf + 1, len - 1);
	if (rbuf[0] == MON_EXITED) {
		on_exited(ss, &r);
	} else if (rbuf[0] == MON_CLOSE) {
		log_full(LOG_INFO, &ss->lctx, "closing: access to the execution has ended");
		ss->quit = true;
		ss->ended_by_us = true;
	} else if (rbuf[0] == MON_CONNECTED) {
		on_connected(ss, &r, fds, nfds);
		return 0;
	} else {
		log_full(LOG_ERR, &ss->lctx, "unexpected record %u from the monitor", (unsigned)rbuf[0]);
		ss->quit = true;
		ss->internal_error = true;
	}
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	return ss->internal_error ? -1 : 0;
}

static ssize_t recv_one(int *fds, int *nfds, int flags)
{
	return mon_recv(mon_fd, rbuf, fds, 3, nfds, flags);
}

void monc_read_async(struct sess *ss)
{
	for (;;) {
		int fds[3], nfds;
		ssize_t n = recv_one(fds, &nfds, MSG_DONTWAIT);

		if (n == -EAGAIN)
			return;
		if (n <= 0 || nfds < 0) {
			log_full(LOG_ERR, &ss->lctx, "the monitor is gone; closing");
			ss->quit = true;
			return;
		}
		if (take(ss, (size_t)n, fds, nfds, 0) < 0)
			return;
	}
}

/* Wait at most timeout_ms for a record of type want; its fds go to fds.
 * Records of other types are applied (take) with ss, and dropped without
 * (the connection is ending). Length; -EPROTO for a record take refuses;
 * -ETIMEDOUT when the time is up, the monitor is gone or ss is quitting. */
static ssize_t await_record(struct sess *ss, enum mon_type want, long long timeout_ms, int *fds, int *nfds)
{
	long long end = mono_ms() + timeout_ms;

	while (!ss || !ss->quit) {
		struct pollfd p = { .fd = mon_fd, .events = POLLIN };
		long long left = end - mono_ms();
		ssize_t n;

		if (left <= 0 || (poll(&p, 1, (int)left) < 0 && errno != EINTR))
			break;
		n = recv_one(fds, nfds, MSG_DONTWAIT);
		if (n == -EAGAIN)
			continue;
		if (n <= 0 || *nfds < 0)
			break;
		if (!ss) {
			if (rbuf[0] == want)
				return n;
			for (int i = 0; i < *nfds; i++)
				close(fds[i]);
			continue;
		}
		switch (take(ss, (size_t)n, fds, *nfds, want)) {
		case 1: return n;
		case 0: continue;
		default: return -EPROTO;
		}
	}
	return -ETIMEDOUT;
}

/* Wait for the answer of type want; its fds go to fds. Length or -errno. */
static ssize_t wait_answer(struct sess *ss, enum mon_type want, int *fds, int *nfds)
{
	ssize_t n = await_record(ss, want, ANSWER_TIMEOUT_MS, fds, nfds);

	if (n == -ETIMEDOUT) {
		log_full(LOG_ERR, &ss->lctx, "the monitor did not answer; closing");
		ss->quit = true;
	}
	return n;
}

/* ---- requests ---- */

int monc_auth(struct sess *ss, bool claim, const char *user, ssh_key key, struct monc_auth *ans)
{
	char *b64 = NULL;
	struct mon_reader r;
	struct mon_buf b;
	int fds[3], nfds;
	ssize_t n;

	memset(ans, 0, sizeof(*ans));
	ans->result = MON_AUTH_ERROR;
	/* libssh 0.10 exports a key's blob only in base64. */
	if (ssh_pki_export_pubkey_base64(key, &b64) != SSH_OK)
		return -EINVAL;
	mon_buf_init(&b, claim ? MON_AUTH_CLAIM : MON_AUTH_PROBE);
	mon_put_bytes(&b, user, strnlen(user, MON_USER_MAX));
	mon_put_str(&b, b64);
	ssh_string_free_char(b64);
	if (send_rec(&b) < 0 || (n = wait_answer(ss, MON_AUTH_ANSWER, fds, &nfds)) < 0)
		return -EPIPE;
	mon_reader_init(&r, rbuf + 1, (size_t)n - 1);
	ans->result = (int)mon_get_u32(&r);
	ans->banner = mon_get_str(&r, 4096);
	ans->exec_id = mon_get_str(&r, 4096);
	ans->comment = mon_get_str(&r, 4096);
	ans->reason = mon_get_str(&r, 4096);
	for (int i = 0; i < PERM_N; i++) {
		ans->denied[i] = mon_get_str(&r, 4096);
		if (ans->denied[i] && !*ans->denied[i]) {
			free(ans->denied[i]);
			ans->denied[i] = NULL;
		}
	}
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	if (!mon_reader_done(&r) || nfds) {
		monc_auth_clear(ans);
		ans->result = MON_AUTH_ERROR;
		return -EPROTO;
	}
	return 0;
}

void monc_auth_clear(struct monc_auth *a)
{
	free(a->banner);
	free(a->exec_id);
	free(a->comment);
	free(a->reason);
	for (int i = 0; i < PERM_N; i++)
		free(a->denied[i]);
	memset(a, 0, sizeof(*a));
}

int monc_spawn(struct sess *ss, const struct chan *c, int kind, const char *command, int fds[3], int *nfds,
	       char *err)
{
	struct mon_reader r;
	struct mon_buf b;
	uint32_t ok;
	char *text;
	ssize_t n;

	mon_buf_init(&b, MON_SPAWN);
	mon_put_u32(&b, c->id);
	mon_put_u32(&b, (uint32_t)kind);
	mon_put_u32(&b, c->pty);
	mon_put_str(&b, c->term);
	mon_put_u32(&b, c->ws.ws_col);
	mon_put_u32(&b, c->ws.ws_row);
	mon_put_u32(&b, c->ws.ws_xpixel);
	mon_put_u32(&b, c->ws.ws_ypixel);
	mon_put_u32(&b, command ? 1 : 0);
	if (command)
		mon_put_str(&b, command);
	mon_put_u32(&b, (uint32_t)c->n_env);
	for (size_t i = 0; i < c->n_env; i++)
		mon_put_str(&b, c->env[i]);
	if (b.failed) {
		mon_buf_free(&b);
		return errf(err, -E2BIG, "the command is too long");
	}
	if (send_rec(&b) < 0 || (n = wait_answer(ss, MON_SPAWNED, fds, nfds)) < 0)
		return errf(err, -EPIPE, "the monitor did not answer");
	mon_reader_init(&r, rbuf + 1, (size_t)n - 1);
	mon_get_u32(&r);
	ok = mon_get_u32(&r);
	text = mon_get_str(&r, MON_ERR_MAX);
	if (!ok || !mon_reader_done(&r) || (*nfds != 1 && *nfds != 3)) {
		errf(err, -EIO, "%s", ok ? "a malformed answer from the monitor" : text ? text : "refused");
		for (int i = 0; i < *nfds; i++)
			close(fds[i]);
		*nfds = 0;
		free(text);
		return -EIO;
	}
	free(text);
	return 0;
}

static void send_id(enum mon_type type, uint32_t id, bool with_sig, int sig)
{
	struct mon_buf b;

	mon_buf_init(&b, type);
	mon_put_u32(&b, id);
	if (with_sig)
		mon_put_u32(&b, (uint32_t)sig);
	send_rec(&b);
}

void monc_signal(uint32_t id, int sig)
{
	send_id(MON_SIGNAL, id, true, sig);
}

void monc_hangup(uint32_t id)
{
	send_id(MON_HANGUP, id, false, 0);
}

void monc_release(uint32_t id)
{
	send_id(MON_RELEASE, id, false, 0);
}

/* Records still on their way (a process's exit, say) no longer matter:
 * only the answer is waited for, at most ENDING_WAIT_MS. */
void monc_ending(void)
{
	struct mon_buf b;
	int fds[3], nfds = 0;

	mon_buf_init(&b, MON_ENDING);
	if (send_rec(&b) < 0 || await_record(NULL, MON_ENDED, ENDING_WAIT_MS, fds, &nfds) < 0)
		return;
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
}

int monc_connect(uint32_t id, const char *host, int port)
{
	struct mon_buf b;

	mon_buf_init(&b, MON_CONNECT);
	mon_put_u32(&b, id);
	mon_put_bytes(&b, host, strnlen(host, MON_HOST_MAX));
	mon_put_u32(&b, (uint32_t)port);
	return send_rec(&b);
}

int monc_listen(struct sess *ss, uint32_t id, const struct lsn_request *rq, int fds[2], int *nfds, int *port,
		char **path, char *err)
{
	struct mon_reader r;
	struct mon_buf b;
	uint32_t ok, p;
	char *text;
	ssize_t n;
	int got[3];

	*nfds = 0;
	mon_buf_init(&b, MON_LISTEN);
	mon_put_u32(&b, id);
	mon_put_u32(&b, (uint32_t)rq->kind);
	mon_put_u32(&b, rq->channel);
	mon_put_bytes(&b, rq->addr ? rq->addr : "", rq->addr ? strnlen(rq->addr, MON_HOST_MAX) : 0);
	mon_put_u32(&b, (uint32_t)rq->port);
	mon_put_str(&b, rq->x11_proto);
	mon_put_str(&b, rq->x11_cookie);
	mon_put_u32(&b, (uint32_t)rq->screen);
	if (send_rec(&b) < 0 || (n = wait_answer(ss, MON_LISTENING, got, nfds)) < 0)
		return errf(err, -EPIPE, "the monitor did not answer");
	mon_reader_init(&r, rbuf + 1, (size_t)n - 1);
	mon_get_u32(&r);
	ok = mon_get_u32(&r);
	text = mon_get_str(&r, MON_ERR_MAX);
	p = mon_get_u32(&r);
	*path = mon_get_str(&r, MON_PATH_MAX);
	if (!ok || !mon_reader_done(&r) || *nfds < 1 || *nfds > 2 || p > 65535) {
		errf(err, -EIO, "%s", ok ? "a malformed answer from the monitor" : text ? text : "refused");
		for (int i = 0; i < *nfds; i++)
			close(got[i]);
		*nfds = 0;
		free(text);
		free(*path);
		*path = NULL;
		return -EIO;
	}
	free(text);
	memcpy(fds, got, (size_t)*nfds * sizeof(int));
	*port = (int)p;
	return 0;
}

void monc_unlisten(uint32_t id)
{
	send_id(MON_UNLISTEN, id, false, 0);
}

#ifdef PEON_TEST_HOOKS
int monc_raw(const void *p, size_t len, int fd)
{
	struct mon_buf b = { .p = (unsigned char *)p, .len = len, .cap = len };

	return mon_send(mon_fd, &b, fd >= 0 ? &fd : NULL, fd >= 0 ? 1 : 0);
}
#endif
