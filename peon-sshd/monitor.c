/* The monitor of one connection (root). It starts the network child, a
 * fresh image that sandboxes itself before it reads from the network,
 * hands it the connection and the host key files unread, and then only
 * answers its requests (monproto.h). It decides every privileged act:
 * which execution the offered key reaches (asking the daemon, with a
 * fingerprint it computes itself from the key blob), whether a request is
 * allowed at this point of the connection, and what runs inside the job.
 * A request out of order or malformed ends the connection. */
#include "monitor.h"
#include "monitor_int.h"
#include "preauth.h"
#include "report.h"
#include "routeq.h"
#include "sessfile.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libssh/libssh.h>

#define SEND_TIMEOUT_S 5
#define CLOSE_GRACE_MS 5000
#define LOG_BURST 200            /* lines per LOG_WINDOW_MS from the child */
#define LOG_WINDOW_MS 10000
#define CHILD_SOCKBUF (2 * MON_MSG_MAX)
#define SPARE_NICE 10             /* added to the daemon's while a spare waits */

void mon_violation(struct mon *m, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (!m->violation)
		log_full(LOG_WARNING, &m->lctx, "network child broke the protocol: %s; closing the connection", what);
	m->violation = true;
	if (!m->child_done)
		kill(m->child, SIGKILL);
}

void mon_reply(struct mon *m, struct mon_buf *b, const int *fds, int nfds)
{
	int r;

	if (m->violation || m->child_done) {
		mon_buf_free(b);
		return;
	}
	r = mon_send(m->sock, b, fds, nfds);
	mon_buf_free(b);
	if (r < 0 && !m->child_done) {
		log_full(LOG_WARNING, &m->lctx, "cannot answer the network child: %s; closing the connection",
			 strerror(-r));
		kill(m->child, SIGKILL);
		m->violation = true;
	}
}

/* ---- addresses ---- */


/* ---- the network child ---- */

/* A private key file is opened here and read only by the child. */
/* Put fds at 0..n-1 exactly (whatever numbers they have now), close all others. */
static int place_fds(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		if ((fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 64)) < 0)
			return -1;
	for (int i = 0; i < n; i++)
		if (dup2(fds[i], i) < 0)
			return -1;
	return (int)syscall(SYS_close_range, (unsigned)n, ~0U, 0U);
}

static char **child_env(void)
{
	static char *envp[3];
	size_t n = 0;

#if defined(__SANITIZE_ADDRESS__)
	/* SAN=1 test builds: the sandbox allows neither the symbolizer nor
	 * LeakSanitizer's ptrace; reports still go to stderr. */
	envp[n++] = "ASAN_OPTIONS=detect_leaks=0:symbolize=0:abort_on_error=0";
	if (getenv("UBSAN_OPTIONS"))
		envp[n++] = "UBSAN_OPTIONS=print_stacktrace=0";
#endif
	envp[n] = NULL;
	return envp;
}

static void __attribute__((noreturn)) exec_child(const struct monitor_args *a, int sock, const int *keys, int nkeys)
{
	char *argv[] = { "peon-sshd-net", NULL };
	int fds[3 + HOSTKEY_MAX + 1], n = 0, nul = open("/dev/null", O_RDWR | O_CLOEXEC);
	sigset_t none;

	if (nul < 0)
		_exit(127);
	/* fd 0 is the connection's place: /dev/null until it comes (MON_CONNECTION). */
	fds[n++] = nul;
	fds[n++] = sock;
	/* Where the daemon logs to stderr (-d, tests), so may the child's
	 * sanitizers; under journald the child logs only through us. */
	fds[n++] = log_to_stderr() ? 2 : nul;
	for (int i = 0; i < nkeys; i++)
		fds[n++] = keys[i];
	fds[n++] = a->net_image;
	if (place_fds(fds, n) < 0)
		_exit(127);
	fd_set_cloexec(n - 1, true);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	syscall(SYS_execveat, n - 1, "", argv, child_env(), AT_EMPTY_PATH);
	_exit(127);
}

static int start_child(struct mon *m, const struct monitor_args *a, char *err)
{
	int sp[2], keys[HOSTKEY_MAX], nkeys = 0, buf = CHILD_SOCKBUF, r = 0;
	struct timeval tv = { .tv_sec = SEND_TIMEOUT_S };

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
		return errf(err, -errno, "socketpair: %s", strerror(errno));
	for (int i = 0; i < 2; i++) {
		setsockopt(sp[i], SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf));
		setsockopt(sp[i], SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf));
	}
	setsockopt(sp[0], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	/* Only keys the configured algorithms can sign with: the child needs
	 * no other, and reading and importing one costs every connection. */
	for (int i = 0; i < a->hk->n && r == 0; i++)
		if (hostkey_offered(a->hk->keys[i], a->cfg->algo.host_keys) &&
		    (r = hostkey_open_private(a->hk, i, err)) >= 0)
			keys[nkeys++] = r, r = 0;
	m->n_hostkeys = nkeys;
	if (r == 0) {
		m->child = fork();
		if (m->child == 0)
			exec_child(a, sp[1], keys, nkeys);
		if (m->child < 0)
			r = errf(err, -errno, "cannot start the network child: %s", strerror(errno));
	}
	for (int i = 0; i < nkeys; i++)
		close(keys[i]);
	close(sp[1]);
	m->sock = sp[0];
	return r;
}

static int send_setup(struct mon *m, const struct monitor_args *a, char *err)
{
	const struct peon_config *c = a->cfg;
	struct mon_setup s = {
		.uid = a->uid, .gid = a->gid, .monitor_pid = (uint32_t)getpid(), .empty_dir = (char *)a->empty_dir,
		.log_level = c->log_level, .algo = c->algo,
		.login_grace_time = (uint32_t)c->limits.login_grace_time,
		.max_auth_tries = (uint32_t)c->limits.max_auth_tries, .max_sessions = (uint32_t)c->limits.max_sessions,
		.max_forwards = (uint32_t)c->limits.max_forwards,
		.client_alive_interval = (uint32_t)c->limits.client_alive_interval,
		.client_alive_count_max = (uint32_t)c->limits.client_alive_count_max,
		.rekey_time = (uint32_t)c->limits.rekey_time, .rekey_data_hi = (uint32_t)(c->limits.rekey_data >> 32),
		.rekey_data_lo = (uint32_t)c->limits.rekey_data, .n_hostkeys = (uint32_t)m->n_hostkeys,
		.accept_env = c->accept_env, .max_listeners = (uint32_t)c->fwd.max_listeners,
		.unused_timeout = (uint32_t)c->limits.unused_connection_timeout,
	};
	struct mon_buf b;
	int r;

	for (size_t i = 0; i < IDLE_N; i++)
		s.chan_timeout[i] = (uint32_t)c->limits.channel_timeout[i];
	monproto_setup_build(&b, &s);
	r = mon_send(m->sock, &b, NULL, 0);
	mon_buf_free(&b);
	return r < 0 ? errf(err, r, "cannot send the network child its settings: %s", strerror(-r)) : 0;
}

/* ---- authentication ---- */

/* The registry is indexed by SHA256 fingerprints: hash the blob as sent,
 * without parsing the key here (the child's libssh parsed and verified
 * it). The base64 is well-formed (monproto checked it). */
static char *blob_fingerprint(const char *b64)
{
	size_t n = strlen(b64), pad = (n && b64[n - 1] == '=') + (n > 1 && b64[n - 2] == '=');
	unsigned char *blob = malloc(n / 4 * 3 + 1), h[EVP_MAX_MD_SIZE];
	unsigned int hl = 0;
	char *fp, *copy;
	int len = blob ? EVP_DecodeBlock(blob, (const unsigned char *)b64, (int)n) : -1;

	if (len < (int)pad || !EVP_Digest(blob, (size_t)len - pad, h, &hl, EVP_sha256(), NULL)) {
		free(blob);
		return NULL;
	}
	free(blob);
	fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, h, hl);
	copy = fp ? strdup(fp) : NULL;
	if (fp)
		ssh_string_free_char(fp);
	return copy;
}

static void session_report(struct mon *m, const char *what)
{
	char line[REPORT_LINE_MAX], runs[400] = "";

	/* The name the client sent, and who the shell actually is in the job. */
	if (*m->runs_as.name)
		snprintf(runs, sizeof(runs), " (runs as %s, uid %lu in the %s)", m->runs_as.name, m->runs_as.uid,
			 m->exec->target.type == TARGET_HOST ? "worker" : "job");
	snprintf(line, sizeof(line), "SSH session %s: key %s (%s) from %s as %s%s.", what, m->fp,
		 m->key_comment ? m->key_comment : "", m->ep.remote, m->user ? m->user : "?", runs);
	report_line(m->cfg, m->exec, line, NULL);
}

/* The daemon recorded the session: from here the child may ask for the job. */
static void logged_in(struct mon *m, const char *user, struct route_answer *ans, char *fp)
{
	alarm(0);
	m->authed = true;
	m->exec = ans->exec;
	ans->exec = NULL;
	m->fp = fp;
	m->user = str_printable(user, MON_USER_MAX);
	m->key_comment = strdup(execution_key_comment(m->exec, fp));
	m->lctx.execution_id = m->exec->id;
	m->lctx.key_fp = m->fp;
	log_full(LOG_INFO, &m->lctx, "accepted key %s (%s) for user %s", fp, m->key_comment ? m->key_comment : "",
		 m->user ? m->user : "?");
	monfwd_decide(m);
}

/* After the child has its answer: who the shell runs as takes reading the
 * job (and, for a container, asking its runtime), which the client need
 * not wait for. The child's next request is read only after this. */
static void report_login(struct mon *m)
{
	char why[ERRLEN];

	/* The container's process now: the daemon's record may be older. */
	if (monjob_refresh(m, why) < 0 || job_identity(m->exec, &m->runs_as, why) < 0)
		log_full(LOG_INFO, &m->lctx, "who the shell runs as is unknown: %s", why);
	session_report(m, "opened");
}

static enum mon_auth_result auth_result(enum route_result rr)
{
	switch (rr) {
	case ROUTE_OK: return MON_AUTH_OK;
	case ROUTE_NONE: return MON_AUTH_NO;
	default: return MON_AUTH_REFUSED;
	}
}

static void on_auth(struct mon *m, const struct mon_request *rq)
{
	bool claim = rq->type == MON_AUTH_CLAIM;
	struct route_answer ans = { .result = ROUTE_NONE };
	enum mon_auth_result res = MON_AUTH_ERROR;
	char err[ERRLEN], *fp;
	struct mon_buf b;

	if (m->authed) {
		mon_violation(m, claim ? "a second claim" : "a key probe after authentication");
		return;
	}
	/* The child counts tries; this bounds a child that does not. A try is a
	 * probe and a claim at most, plus the first "none". */
	if (++m->auth_asks > 2 * m->cfg->limits.max_auth_tries + 2) {
		mon_violation(m, "more authentication requests than max_auth_tries allows");
		return;
	}
	fp = blob_fingerprint(rq->key_b64);
	if (fp && routeq_ask(m->daemon_fd, claim ? ROUTEQ_CLAIM : ROUTEQ_PROBE, rq->text, fp, &ans, err) == 0) {
		res = auth_result(ans.result);
		if (ans.result == ROUTE_AMBIGUOUS && !claim)
			res = MON_AUTH_OK;      /* the claim then says why, in a banner */
	} else {
		log_full(LOG_ERR, &m->lctx, "cannot ask the daemon: %s", fp ? err : "cannot hash the key");
		m->internal_error = true;
	}
	if (res == MON_AUTH_OK && claim) {
		logged_in(m, rq->text, &ans, fp);
		fp = NULL;
	} else if (fp && res != MON_AUTH_OK) {
		/* The child's line about this refusal gets the key's field (on_log). */
		free(m->refused_fp);
		m->refused_fp = fp;
		fp = NULL;
	}
	mon_buf_init(&b, MON_AUTH_ANSWER);
	mon_put_u32(&b, res);
	mon_put_str(&b, ans.message);
	mon_put_str(&b, res == MON_AUTH_OK && claim ? m->exec->id : "");
	mon_put_str(&b, res == MON_AUTH_OK && claim ? m->key_comment : "");
	mon_put_str(&b, ans.reason ? ans.reason : ans.result == ROUTE_AMBIGUOUS ?
		    "several executions accept it; the user must name one" : "");
	monfwd_put_perms(m, &b);
	mon_reply(m, &b, NULL, 0);
	if (res == MON_AUTH_OK && claim)
		report_login(m);
	route_answer_clear(&ans);
	free(fp);
}

/* ---- the child's log lines ---- */

static void on_log(struct mon *m, const struct mon_request *rq)
{
	long long now = mono_ms();
	struct log_ctx ctx;
	char *shown;

	if (now - m->log_window > LOG_WINDOW_MS) {
		if (m->log_dropped)
			log_full(LOG_WARNING, &m->lctx, "dropped %d log lines of the network child", m->log_dropped);
		m->log_window = now;
		m->log_count = m->log_dropped = 0;
	}
	if (++m->log_count > LOG_BURST) {
		m->log_dropped++;
		return;
	}
	shown = str_printable(rq->text, MON_LOG_MAX);
	/* KEY_FINGERPRINT on a refusal: the monitor's own hash of the key it
	 * asked about, on the child's line naming that key and no other. */
	ctx = m->lctx;
	if (!m->authed && m->refused_fp && shown && strstr(shown, m->refused_fp))
		ctx.key_fp = m->refused_fp;
	/* The child may not raise alarms above "err". */
	log_full(rq->prio < LOG_ERR ? LOG_ERR : (int)rq->prio, &ctx, "%s", shown ? shown : "?");
	free(shown);
}

/* The connection's byte counts come from the kernel (montally.c), and
 * only while the socket lives: once the child closes it, its tcp_info is
 * gone with it. So the child says when it is about to close, and waits
 * for this answer; a child that does not only loses its own tail from the
 * counters. */
static void on_ending(struct mon *m)
{
	struct mon_buf b;

	montally_send(m);
	mon_buf_init(&b, MON_ENDED);
	mon_reply(m, &b, NULL, 0);
}

/* ---- the loop ---- */

static void handle(struct mon *m, const struct mon_request *rq)
{
	/* A child that has ended gets nothing done any more; its log lines count. */
	if (m->child_done && rq->type != MON_LOG)
		return;
	switch (rq->type) {
	case MON_LOG: on_log(m, rq); break;
	case MON_AUTH_PROBE:
	case MON_AUTH_CLAIM: on_auth(m, rq); break;
	case MON_SPAWN: monjob_spawn(m, rq); break;
	case MON_SIGNAL: monjob_signal(m, rq); break;
	case MON_HANGUP: monjob_hangup(m, rq); break;
	case MON_RELEASE: monjob_release(m, rq); montally_send(m); break;
	case MON_CONNECT: monjob_connect(m, rq); break;
	case MON_LISTEN: monfwd_listen(m, rq); break;
	case MON_UNLISTEN: monfwd_unlisten(m, rq); break;
	case MON_ENDING: on_ending(m); break;
	default: mon_violation(m, "a record of type %u", (unsigned)rq->type); break;
	}
}

/* At most a round's worth: a child that floods still lets the loop see
 * signals and connects. */
#define RECORDS_PER_ROUND 64

static void read_requests(struct mon *m, unsigned char *buf)
{
	for (int i = 0; i < RECORDS_PER_ROUND && !m->violation && !m->sock_eof; i++) {
		struct mon_request rq;
		char err[ERRLEN];
		int nfds;
		ssize_t n = mon_recv(m->sock, buf, NULL, 0, &nfds, MSG_DONTWAIT);

		if (nfds) {
			mon_violation(m, "file descriptors sent to the monitor");
			return;
		}
		if (n == 0)
			m->sock_eof = true; /* the child is ending; SIGCHLD follows */
		if (n == -EAGAIN || n == 0)
			return;
		if (n == -EMSGSIZE) {
			mon_violation(m, "message too large");
			return;
		}
		if (n < 0)
			return;
		if (monproto_parse_request(buf, (size_t)n, &rq, err) < 0) {
			mon_violation(m, "%s", err);
			return;
		}
		handle(m, &rq);
		monproto_request_clear(&rq);
	}
}

static void handle_signals(struct mon *m)
{
	struct signalfd_siginfo si;
	int status;
	pid_t pid;

	while (read(m->sigfd, &si, sizeof(si)) == sizeof(si)) {
		if ((si.ssi_signo == SIGTERM || si.ssi_signo == SIGHUP) && !m->terminating && !m->child_done) {
			/* The child says goodbye to the client and ends. */
			struct mon_buf b;

			m->terminating = true;
			m->kill_at = mono_ms() + CLOSE_GRACE_MS;
			mon_buf_init(&b, MON_CLOSE);
			mon_reply(m, &b, NULL, 0);
		}
	}
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == m->child) {
			m->child_done = true;
			m->child_status = status;
		} else {
			monjob_reaped(m, pid, status);
		}
	}
}

static int loop_timeout(const struct mon *m)
{
	int t = monjob_timeout(m), tt = montally_timeout(m);

	if (t < 0 || tt < t)
		t = tt;
	if (m->terminating) {
		long long left = m->kill_at - mono_ms();
		int k = left < 0 ? 0 : (int)left;
		t = t < 0 || k < t ? k : t;
	}
	return t;
}

static void serve(struct mon *m)
{
	static unsigned char buf[MON_MSG_MAX];
	struct pollfd p[2 + 64];

	while (!m->child_done) {
		size_t n = 2;

		p[0] = (struct pollfd){ .fd = m->sigfd, .events = POLLIN };
		p[1] = (struct pollfd){ .fd = m->violation || m->sock_eof ? -1 : m->sock, .events = POLLIN };
		n += monjob_poll(m, p + 2, ARRAY_SIZE(p) - 2);
		if (poll(p, n, loop_timeout(m)) < 0 && errno != EINTR)
			break;
		/* Requests first: a child's last words come before its exit. */
		if (p[1].revents)
			read_requests(m, buf);
		if (p[0].revents)
			handle_signals(m);
		monjob_run(m, p + 2);
		montally_tick(m);
		if (m->terminating && !m->child_done && mono_ms() >= m->kill_at)
			kill(m->child, SIGKILL);
	}
	/* What it sent before it ended (its log lines) is still read. */
	read_requests(m, buf);
}

/* The exit code tells the daemon how a connection that never logged in
 * ended (preauth.h). The child's word is taken only for what it cannot
 * abuse: it cannot claim to have logged in, and its own failure counts as
 * a client that left. */
static int exit_code(const struct mon *m)
{
	int st = m->child_status;

	if (m->authed || m->terminating)
		return SESSION_EXIT_OK;
	if (m->internal_error)
		return SESSION_EXIT_INTERNAL;
	if (m->violation)
		return SESSION_EXIT_PROTOCOL;
	if (WIFSIGNALED(st))
		return SESSION_EXIT_SIGNALED + WTERMSIG(st);
	switch (WIFEXITED(st) ? WEXITSTATUS(st) : 0) {
	case SESSION_EXIT_AUTHFAIL: return SESSION_EXIT_AUTHFAIL;
	case SESSION_EXIT_PROTOCOL: return SESSION_EXIT_PROTOCOL;
	default: return SESSION_EXIT_NOAUTH;
	}
}

static void log_child_end(const struct mon *m)
{
	int st = m->child_status;

	if (WIFSIGNALED(st) && !m->violation && !(m->terminating && WTERMSIG(st) == SIGKILL))
		log_full(WTERMSIG(st) == SIGKILL ? LOG_INFO : LOG_WARNING, &m->lctx,
			 "network child %d serving %s was killed by signal %d (%s)", (int)m->child, m->ep.remote,
			 WTERMSIG(st), strsignal(WTERMSIG(st)));
	else if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
		log_full(LOG_ERR, &m->lctx, "the network child could not be started");
}

static int setup_signals(struct mon *m)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_SETMASK, &set, NULL);
	m->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	return m->sigfd < 0 ? -errno : 0;
}

static void cleanup(struct mon *m)
{
	if (m->authed) {
		log_full(LOG_INFO, &m->lctx, "connection closed");
		session_report(m, "closed");
		/* The daemon also drops the record when it reaps us; it may have restarted. */
		sessfile_remove(m->cfg->runtime_dir);
	}
	execution_free(m->exec);
	free(m->fp);
	free(m->refused_fp);
	free(m->user);
	free(m->key_comment);
	free(m->procs);
	free(m->tasks);
	if (m->sock >= 0)
		close(m->sock);
	if (m->daemon_fd >= 0)
		close(m->daemon_fd);
}

/* A spare until the daemon hands over a connection: the child is started
 * and sandboxing itself meanwhile. The socket closing means the daemon
 * does not need this spare (reload, stop): -EPIPE, said by nobody. A child
 * that ends first could not start. */
static int await_connection(struct mon *m, char *err)
{
	struct pollfd p[2] = { { .fd = m->daemon_fd, .events = POLLIN }, { .fd = m->sigfd, .events = POLLIN } };
	int fd;

	for (;;) {
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			return errf(err, -errno, "poll: %s", strerror(errno));
		if (p[0].revents)
			break;
		if (p[1].revents) {
			handle_signals(m);
			if (m->child_done)
				return errf(err, -ECHILD, "the network child ended before a connection came");
		}
	}
	fd = mon_recv_connection(m->daemon_fd);
	return fd == -EPROTO ? errf(err, fd, "the daemon sent something other than a connection") : fd;
}

/* The connection is the child's: the monitor never reads from it. */
static int hand_to_child(struct mon *m, int fd, char *err)
{
	struct mon_buf b;
	int r;

	mon_buf_init(&b, MON_CONNECTION);
	r = mon_send(m->sock, &b, &fd, 1);
	mon_buf_free(&b);
	return r < 0 ? errf(err, r, "cannot hand the connection to the network child: %s", strerror(-r)) : 0;
}

int monitor_run(const struct monitor_args *a)
{
	struct mon m = { .cfg = a->cfg, .sock = -1, .daemon_fd = a->daemon_fd, .sigfd = -1, .child = -1 };
	char err[ERRLEN];
	int code = SESSION_EXIT_INTERNAL, fd = -1, nice_was;
	bool lowered;

	/* ps tells a spare (spares.h) from a connection's monitor. A spare
	 * and its child start at a low priority: getting ready for the next
	 * client should take little CPU from the clients being served on a
	 * busy machine. A monitor forked because no spare was left is not
	 * getting ready for anyone: its client is waiting, so it starts as a
	 * connection's monitor, at the daemon's priority. */
	prctl(PR_SET_NAME, a->spare ? "peon-sshd-spare" : "peon-sshd-mon");
	errno = 0;
	nice_was = getpriority(PRIO_PROCESS, 0);
	lowered = a->spare && errno == 0 &&
		  setpriority(PRIO_PROCESS, 0, nice_was + SPARE_NICE > 19 ? 19 : nice_was + SPARE_NICE) == 0;
	if (setup_signals(&m) < 0)
		goto out;
	if (start_child(&m, a, err) < 0 || send_setup(&m, a, err) < 0 || (fd = await_connection(&m, err)) < 0) {
		if (fd != -EPIPE)
			log_full(LOG_ERR, &m.lctx, "%s", err);
		if (m.child > 0 && !m.child_done) {
			kill(m.child, SIGKILL);
			while (waitpid(m.child, NULL, 0) < 0 && errno == EINTR)
				;
		}
		goto out;
	}
	prctl(PR_SET_NAME, "peon-sshd-mon");
	if (lowered) {
		setpriority(PRIO_PROCESS, 0, nice_was);
		setpriority(PRIO_PROCESS, m.child, nice_was);
	}
	endpoints_read(fd, &m.ep);
	m.lctx.remote_addr = m.ep.remote;
	/* libssh 0.10 has no LoginGraceTime: the alarm's default action ends
	 * us (the child follows by its parent-death signal), and the daemon
	 * reads the SIGALRM as "grace time exceeded". */
	alarm((unsigned)a->cfg->limits.login_grace_time);
	if (hand_to_child(&m, fd, err) < 0) {
		log_full(LOG_ERR, &m.lctx, "%s", err);
		close(fd);
		kill(m.child, SIGKILL);
		goto out;
	}
	montally_start(&m, fd);
	close(fd);
	serve(&m);
	while (!m.child_done && waitpid(m.child, &m.child_status, 0) < 0 && errno == EINTR)
		;
	montally_send(&m);
	log_child_end(&m);
	monjob_end(&m);
	code = exit_code(&m);
out:
	cleanup(&m);
	return code;
}
