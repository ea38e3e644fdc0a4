/* Encoding and parsing of the monitor <-> network child records
 * (monproto.h). The request parser runs in the root monitor on bytes an
 * unprivileged, possibly compromised process wrote: every read is bounds-
 * checked and every field is checked before it is used. */
#include "monproto.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- signals ---- */

static const struct {
	const char *name;
	int sig;
} client_signals[] = {
	{ "ABRT", SIGABRT }, { "ALRM", SIGALRM }, { "FPE", SIGFPE },   { "HUP", SIGHUP },
	{ "ILL", SIGILL },   { "INT", SIGINT },   { "KILL", SIGKILL }, { "PIPE", SIGPIPE },
	{ "QUIT", SIGQUIT }, { "SEGV", SIGSEGV }, { "TERM", SIGTERM }, { "USR1", SIGUSR1 },
	{ "USR2", SIGUSR2 },
};

int monproto_signal_number(const char *name)
{
	for (size_t i = 0; name && i < ARRAY_SIZE(client_signals); i++)
		if (strcmp(name, client_signals[i].name) == 0)
			return client_signals[i].sig;
	return 0;
}

bool monproto_signal_allowed(int sig)
{
	for (size_t i = 0; i < ARRAY_SIZE(client_signals); i++)
		if (client_signals[i].sig == sig)
			return true;
	return false;
}

/* ---- building ---- */

static void reserve(struct mon_buf *b, size_t more)
{
	unsigned char *np;
	size_t cap;

	if (b->failed)
		return;
	if (b->len + more > MON_MSG_MAX) {
		b->failed = true;
		return;
	}
	if (b->len + more <= b->cap)
		return;
	cap = b->cap ? b->cap : 256;
	while (cap < b->len + more)
		cap *= 2;
	np = realloc(b->p, cap);
	if (!np) {
		b->failed = true;
		return;
	}
	b->p = np;
	b->cap = cap;
}

void mon_buf_init(struct mon_buf *b, enum mon_type type)
{
	*b = (struct mon_buf){ 0 };
	reserve(b, 1);
	if (!b->failed)
		b->p[b->len++] = (unsigned char)type;
}

void mon_put_u32(struct mon_buf *b, uint32_t v)
{
	reserve(b, 4);
	if (b->failed)
		return;
	b->p[b->len++] = (unsigned char)(v >> 24);
	b->p[b->len++] = (unsigned char)(v >> 16);
	b->p[b->len++] = (unsigned char)(v >> 8);
	b->p[b->len++] = (unsigned char)v;
}

void mon_put_bytes(struct mon_buf *b, const void *p, size_t len)
{
	if (len > MON_MSG_MAX) {
		b->failed = true;
		return;
	}
	mon_put_u32(b, (uint32_t)len);
	reserve(b, len);
	if (b->failed)
		return;
	if (len)
		memcpy(b->p + b->len, p, len);
	b->len += len;
}

void mon_put_str(struct mon_buf *b, const char *s)
{
	mon_put_bytes(b, s ? s : "", s ? strlen(s) : 0);
}

void mon_buf_free(struct mon_buf *b)
{
	free(b->p);
	*b = (struct mon_buf){ 0 };
}

int mon_send(int sock, struct mon_buf *b, const int *fds, int nfds)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(3 * sizeof(int))];
	} cm;
	struct iovec iov = { .iov_base = b->p, .iov_len = b->len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (b->failed || !b->p)
		return -EMSGSIZE;
	if (nfds < 0 || nfds > 3)
		return -EINVAL;
	if (nfds > 0) {
		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.buf;
		mh.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
		cm.h.cmsg_level = SOL_SOCKET;
		cm.h.cmsg_type = SCM_RIGHTS;
		cm.h.cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
		memcpy(CMSG_DATA(&cm.h), fds, (size_t)nfds * sizeof(int));
	}
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == b->len ? 0 : -EMSGSIZE;
}

ssize_t mon_recv(int sock, void *buf, int *fds, int maxfds, int *nfds, int flags)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(8 * sizeof(int))];
	} cm;
	struct iovec iov = { .iov_base = buf, .iov_len = MON_MSG_MAX };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf,
			     .msg_controllen = sizeof(cm.buf) };
	ssize_t n;

	bool extra = false;

	*nfds = 0;
	do
		n = recvmsg(sock, &mh, flags | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		size_t k;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len < CMSG_LEN(0))
			continue;
		k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (*nfds < maxfds) {
				fds[(*nfds)++] = fd;
			} else {
				close(fd);
				extra = true;
			}
		}
	}
	/* More than the receiver takes (or than fit): none are kept. */
	if (extra || (mh.msg_flags & MSG_CTRUNC)) {
		for (int i = 0; i < *nfds; i++)
			close(fds[i]);
		*nfds = -1;
	}
	if (mh.msg_flags & MSG_TRUNC)
		return -EMSGSIZE;
	return n;
}

/* ---- reading ---- */

void mon_reader_init(struct mon_reader *r, const void *buf, size_t len)
{
	*r = (struct mon_reader){ .p = buf, .len = len };
}

uint32_t mon_get_u32(struct mon_reader *r)
{
	const unsigned char *q;

	if (r->bad || r->len - r->off < 4) {
		r->bad = true;
		return 0;
	}
	q = r->p + r->off;
	r->off += 4;
	return (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3];
}

static const unsigned char *get_bytes(struct mon_reader *r, size_t max, size_t *len)
{
	uint32_t n = mon_get_u32(r);
	const unsigned char *q;

	if (r->bad || n > max || r->len - r->off < n) {
		r->bad = true;
		return NULL;
	}
	q = r->p + r->off;
	r->off += n;
	*len = n;
	return q;
}

char *mon_get_str(struct mon_reader *r, size_t max)
{
	size_t n = 0;
	const unsigned char *q = get_bytes(r, max, &n);
	char *s;

	if (!q)
		return NULL;
	if (memchr(q, '\0', n)) {
		r->bad = true;
		return NULL;
	}
	s = malloc(n + 1);
	if (!s) {
		r->bad = true;
		return NULL;
	}
	memcpy(s, q, n);
	s[n] = '\0';
	return s;
}

bool mon_reader_done(const struct mon_reader *r)
{
	return !r->bad && r->off == r->len;
}

/* ---- the child's requests ---- */

static int bad(char *err, const char *what)
{
	return errf(err, -EBADMSG, "%s", what);
}

static int parse_auth(struct mon_reader *r, struct mon_request *rq, char *err)
{
	size_t n;

	rq->text = mon_get_str(r, MON_USER_MAX);
	rq->key_b64 = mon_get_str(r, MON_BLOB_MAX);
	if (!rq->text || !rq->key_b64)
		return bad(err, "a malformed authentication request");
	n = strlen(rq->key_b64);
	if (n == 0 || n % 4 || strspn(rq->key_b64, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") != n ||
	    strcspn(rq->key_b64, "=") < n - 2 || (strchr(rq->key_b64, '=') && rq->key_b64[n - 1] != '='))
		return bad(err, "an offered key that is not base64");
	return 0;
}

static int parse_env(struct mon_reader *r, struct mon_request *rq, char *err)
{
	uint32_t n = mon_get_u32(r);
	size_t have = 0;

	if (r->bad || n > MON_ENV_MAX)
		return bad(err, "too many environment variables");
	rq->env = calloc((size_t)n + 1, sizeof(char *));
	if (!rq->env)
		return bad(err, "out of memory");
	for (uint32_t i = 0; i < n; i++) {
		char *kv = mon_get_str(r, MON_ENV_ENTRY_MAX);

		if (!kv || !strchr(kv, '=') || kv[0] == '=') {
			free(kv);
			return bad(err, "a malformed environment variable");
		}
		rq->env[have++] = kv;
	}
	return 0;
}

static int parse_spawn(struct mon_reader *r, struct mon_request *rq, char *err)
{
	uint32_t has_cmd, cols, rows, xp, yp;
	char *term;

	rq->id = mon_get_u32(r);
	rq->kind = mon_get_u32(r);
	rq->pty = mon_get_u32(r) != 0;
	term = mon_get_str(r, MON_TERM_MAX);
	cols = mon_get_u32(r);
	rows = mon_get_u32(r);
	xp = mon_get_u32(r);
	yp = mon_get_u32(r);
	has_cmd = mon_get_u32(r);
	if (term) {
		memcpy(rq->term, term, strlen(term) + 1);
		free(term);
	}
	if (r->bad || rq->kind > MON_SPAWN_TOOLBOX || cols > 10000 || rows > 10000 || xp > 65535 || yp > 65535)
		return bad(err, "a malformed spawn request");
	rq->ws = (struct winsize){ .ws_col = (unsigned short)cols, .ws_row = (unsigned short)rows,
				   .ws_xpixel = (unsigned short)xp, .ws_ypixel = (unsigned short)yp };
	for (char *p = rq->term; *p; p++)
		if (*p < 0x21 || *p > 0x7e)
			return bad(err, "a terminal name with control bytes");
	if ((has_cmd != 0) != (rq->kind == MON_SPAWN_EXEC) || has_cmd > 1)
		return bad(err, "a command that does not match the spawn kind");
	if (has_cmd && !(rq->command = mon_get_str(r, MON_COMMAND_MAX)))
		return bad(err, "a malformed command");
	return parse_env(r, rq, err);
}

static bool all_of(const char *s, const char *set)
{
	return strspn(s, set) == strlen(s);
}

static int parse_listen(struct mon_reader *r, struct mon_request *rq, char *err)
{
	rq->id = mon_get_u32(r);
	rq->listen_kind = mon_get_u32(r);
	rq->channel = mon_get_u32(r);
	rq->text = mon_get_str(r, MON_HOST_MAX);
	rq->port = mon_get_u32(r);
	rq->x11_proto = mon_get_str(r, MON_X11_PROTO_MAX);
	rq->x11_cookie = mon_get_str(r, MON_X11_COOKIE_MAX);
	rq->screen = mon_get_u32(r);
	if (r->bad || !rq->text || !rq->x11_proto || !rq->x11_cookie || rq->listen_kind > MON_LISTEN_X11 ||
	    rq->port > 65535 || rq->screen > 1000)
		return bad(err, "a malformed listen request");
	if (rq->listen_kind == MON_LISTEN_X11 &&
	    (!*rq->x11_proto || !all_of(rq->x11_proto, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") ||
	     !*rq->x11_cookie || strlen(rq->x11_cookie) % 2 || !all_of(rq->x11_cookie, "0123456789abcdef")))
		return bad(err, "an X11 request with a bad protocol name or cookie");
	return 0;
}

int monproto_parse_request(const void *buf, size_t len, struct mon_request *rq, char *err)
{
	struct mon_reader r;
	int rc = 0;

	memset(rq, 0, sizeof(*rq));
	if (len < 1 || len > MON_MSG_MAX)
		return bad(err, "an empty or oversized record");
	mon_reader_init(&r, buf, len);
	rq->type = ((const unsigned char *)buf)[0];
	r.off = 1;
	switch (rq->type) {
	case MON_LOG:
		rq->prio = mon_get_u32(&r);
		rq->text = mon_get_str(&r, MON_LOG_MAX);
		if (!rq->text || rq->prio > 7)
			rc = bad(err, "a malformed log record");
		break;
	case MON_AUTH_PROBE:
	case MON_AUTH_CLAIM:
		rc = parse_auth(&r, rq, err);
		break;
	case MON_SPAWN:
		rc = parse_spawn(&r, rq, err);
		break;
	case MON_SIGNAL:
		rq->id = mon_get_u32(&r);
		rq->sig = mon_get_u32(&r);
		if (r.bad || rq->sig < 1 || rq->sig > 64)
			rc = bad(err, "a malformed signal request");
		break;
	case MON_HANGUP:
	case MON_RELEASE:
		rq->id = mon_get_u32(&r);
		break;
	case MON_CONNECT:
		rq->id = mon_get_u32(&r);
		rq->text = mon_get_str(&r, MON_HOST_MAX);
		rq->port = mon_get_u32(&r);
		if (!rq->text || rq->port > 65535)
			rc = bad(err, "a malformed connect request");
		break;
	case MON_LISTEN:
		rc = parse_listen(&r, rq, err);
		break;
	case MON_UNLISTEN:
		rq->id = mon_get_u32(&r);
		break;
	case MON_ENDING:
		break;
	default:
		return errf(err, -EBADMSG, "an unknown record type %u", (unsigned)rq->type);
	}
	if (rc == 0 && !mon_reader_done(&r))
		rc = bad(err, r.bad ? "a truncated record" : "trailing bytes after a record");
	if (rc < 0)
		monproto_request_clear(rq);
	return rc;
}

int mon_recv_connection(int sock)
{
	static unsigned char buf[MON_MSG_MAX];
	int fd = -1, nfds = 0;
	ssize_t n = mon_recv(sock, buf, &fd, 1, &nfds, MSG_DONTWAIT);

	if (n == 0 || n == -ECONNRESET)
		return -EPIPE;
	if (n == 1 && buf[0] == MON_CONNECTION && nfds == 1)
		return fd;
	if (nfds > 0)
		close(fd);
	return n == 1 && buf[0] == MON_CLOSE ? -EPIPE : -EPROTO;
}

void monproto_request_clear(struct mon_request *rq)
{
	free(rq->text);
	free(rq->key_b64);
	free(rq->command);
	free(rq->x11_proto);
	free(rq->x11_cookie);
	strv_free(rq->env);
	memset(rq, 0, sizeof(*rq));
}

/* ---- settings ---- */

void monproto_setup_build(struct mon_buf *b, const struct mon_setup *s)
{
	size_t n = 0;

	mon_buf_init(b, MON_SETUP);
	mon_put_u32(b, s->uid);
	mon_put_u32(b, s->gid);
	mon_put_u32(b, s->monitor_pid);
	mon_put_str(b, s->empty_dir);
	mon_put_str(b, s->log_level);
	mon_put_str(b, s->algo.kex);
	mon_put_str(b, s->algo.ciphers);
	mon_put_str(b, s->algo.macs);
	mon_put_str(b, s->algo.host_keys);
	mon_put_str(b, s->algo.pubkeys);
	mon_put_u32(b, s->login_grace_time);
	mon_put_u32(b, s->max_auth_tries);
	mon_put_u32(b, s->max_sessions);
	mon_put_u32(b, s->max_forwards);
	mon_put_u32(b, s->client_alive_interval);
	mon_put_u32(b, s->client_alive_count_max);
	mon_put_u32(b, s->rekey_time);
	mon_put_u32(b, s->rekey_data_hi);
	mon_put_u32(b, s->rekey_data_lo);
	mon_put_u32(b, s->n_hostkeys);
	mon_put_u32(b, s->max_listeners);
	mon_put_u32(b, s->unused_timeout);
	for (size_t i = 0; i < ARRAY_SIZE(s->chan_timeout); i++)
		mon_put_u32(b, s->chan_timeout[i]);
	while (s->accept_env && s->accept_env[n])
		n++;
	mon_put_u32(b, (uint32_t)n);
	for (size_t i = 0; i < n; i++)
		mon_put_str(b, s->accept_env[i]);
}

int monproto_setup_parse(const void *buf, size_t len, struct mon_setup *s, char *err)
{
	struct mon_reader r;
	uint32_t n;

	memset(s, 0, sizeof(*s));
	mon_reader_init(&r, buf, len);
	if (len < 1 || ((const unsigned char *)buf)[0] != MON_SETUP)
		return bad(err, "the monitor's first record is not the setup");
	r.off = 1;
	s->uid = mon_get_u32(&r);
	s->gid = mon_get_u32(&r);
	s->monitor_pid = mon_get_u32(&r);
	s->empty_dir = mon_get_str(&r, 4096);
	s->log_level = mon_get_str(&r, 32);
	s->algo.kex = mon_get_str(&r, 4096);
	s->algo.ciphers = mon_get_str(&r, 4096);
	s->algo.macs = mon_get_str(&r, 4096);
	s->algo.host_keys = mon_get_str(&r, 4096);
	s->algo.pubkeys = mon_get_str(&r, 4096);
	s->login_grace_time = mon_get_u32(&r);
	s->max_auth_tries = mon_get_u32(&r);
	s->max_sessions = mon_get_u32(&r);
	s->max_forwards = mon_get_u32(&r);
	s->client_alive_interval = mon_get_u32(&r);
	s->client_alive_count_max = mon_get_u32(&r);
	s->rekey_time = mon_get_u32(&r);
	s->rekey_data_hi = mon_get_u32(&r);
	s->rekey_data_lo = mon_get_u32(&r);
	s->n_hostkeys = mon_get_u32(&r);
	s->max_listeners = mon_get_u32(&r);
	s->unused_timeout = mon_get_u32(&r);
	for (size_t i = 0; i < ARRAY_SIZE(s->chan_timeout); i++)
		s->chan_timeout[i] = mon_get_u32(&r);
	n = mon_get_u32(&r);
	if (!r.bad && n <= 1024)
		s->accept_env = calloc((size_t)n + 1, sizeof(char *));
	for (uint32_t i = 0; s->accept_env && i < n; i++)
		if (!(s->accept_env[i] = mon_get_str(&r, 1024)))
			break;
	if (!s->accept_env || !mon_reader_done(&r) || s->n_hostkeys > 8) {
		monproto_setup_clear(s);
		return bad(err, "a malformed setup record");
	}
	return 0;
}

void monproto_setup_clear(struct mon_setup *s)
{
	free(s->empty_dir);
	free(s->log_level);
	free(s->algo.kex);
	free(s->algo.ciphers);
	free(s->algo.macs);
	free(s->algo.host_keys);
	free(s->algo.pubkeys);
	strv_free(s->accept_env);
	memset(s, 0, sizeof(*s));
}
