#include "session.h"
#include "authkeys.h"
#include "report.h"
#include "routeq.h"
#include "sessfile.h"
#include "session_int.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static void addr_string(const struct sockaddr_storage *sa, char *ip, size_t len, int *port)
{
	if (sa->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, ip, (socklen_t)len);
		*port = ntohs(s6->sin6_port);
		/* IPv4-mapped addresses read better as IPv4. */
		if (strncmp(ip, "::ffff:", 7) == 0 && strchr(ip, '.'))
			memmove(ip, ip + 7, strlen(ip + 7) + 1);
	} else {
		const struct sockaddr_in *s4 = (const void *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, ip, (socklen_t)len);
		*port = ntohs(s4->sin_port);
	}
}

static void read_addresses(struct sess *ss)
{
	struct sockaddr_storage sa;
	socklen_t l = sizeof(sa);

	if (getpeername(ss->fd, (struct sockaddr *)&sa, &l) == 0)
		addr_string(&sa, ss->remote_ip, sizeof(ss->remote_ip), &ss->remote_port);
	l = sizeof(sa);
	if (getsockname(ss->fd, (struct sockaddr *)&sa, &l) == 0)
		addr_string(&sa, ss->local_ip, sizeof(ss->local_ip), &ss->local_port);
	snprintf(ss->remote, sizeof(ss->remote), "%s%s%s:%d", strchr(ss->remote_ip, ':') ? "[" : "",
		 ss->remote_ip, strchr(ss->remote_ip, ':') ? "]" : "", ss->remote_port);
	ss->lctx.remote_addr = ss->remote;
}

static void send_banner(struct sess *ss, const char *msg)
{
	ssh_string b = ssh_string_from_char(msg);

	if (b) {
		ssh_send_issue_banner(ss->s, b);
		ssh_string_free(b);
	}
}

static const char *key_comment(const struct execution *e, const char *fp)
{
	for (size_t i = 0; i < e->n_keys; i++)
		if (strcmp(e->keys[i].fingerprint, fp) == 0)
			return e->keys[i].comment;
	return "";
}

/* Only the daemon knows the executions (routeq.h): a connection that waited
 * in key exchange can never get into an execution removed meanwhile, and a
 * daemon that does not answer means no. */
static int ask_daemon(struct sess *ss, enum routeq_kind kind, const char *user, const char *fp,
		      struct route_answer *ans)
{
	char err[ERRLEN];
	int r = routeq_ask(ss->daemon_fd, kind, user, fp, ans, err);

	if (r < 0)
		log_full(LOG_ERR, &ss->lctx, "cannot ask the daemon: %s", err);
	return r;
}

static void session_report(struct sess *ss, const char *what)
{
	char line[REPORT_LINE_MAX];

	snprintf(line, sizeof(line), "SSH session %s: key %s (%s) from %s as %s.", what, ss->fp,
		 ss->key_comment ? ss->key_comment : "", ss->remote, ss->user ? ss->user : "?");
	report_line(ss->cfg, ss->exec, line, NULL);
}

/* The daemon has recorded the session (routeq CLAIM): take its copy of the execution. */
static int accept_key(struct sess *ss, const char *user, struct route_answer *ans, char *fp)
{
	alarm(0);
	ss->authenticated = true;
	ss->exec = ans->exec;
	ans->exec = NULL;
	ss->fp = fp;
	ss->user = str_printable(user, 256);
	ss->key_comment = strdup(key_comment(ss->exec, fp));
	ss->lctx.execution_id = ss->exec->id;
	ss->lctx.key_fp = ss->fp;
	log_full(LOG_INFO, &ss->lctx, "accepted key %s (%s) for user %s", fp, ss->key_comment ? ss->key_comment : "",
		 ss->user ? ss->user : "?");
	session_report(ss, "opened");
	return SSH_AUTH_SUCCESS;
}

static int deny(struct sess *ss, const char *user, const char *fp, const char *why)
{
	char *u = str_printable(user, 64);

	ss->auth_failures++;
	log_full(LOG_INFO, &ss->lctx, "refused key %s for user %s: %s", fp ? fp : "(unreadable)", u ? u : "?", why);
	free(u);
	if (ss->auth_failures >= ss->cfg->limits.max_auth_tries) {
		log_full(LOG_NOTICE, &ss->lctx, "too many authentication failures (%d)", ss->auth_failures);
		ss->quit = true;
	}
	return SSH_AUTH_DENIED;
}

static int on_auth_pubkey(ssh_session s, const char *user, struct ssh_key_struct *pubkey,
			  char state, void *u)
{
	struct sess *ss = u;
	struct route_answer ans = { .result = ROUTE_NONE };
	bool probe = state == SSH_PUBLICKEY_STATE_NONE;
	char *fp;
	int ret;

	(void)s;
	if (ss->authenticated || ss->quit)
		return SSH_AUTH_DENIED;
	if (state != SSH_PUBLICKEY_STATE_NONE && state != SSH_PUBLICKEY_STATE_VALID)
		return deny(ss, user, NULL, "bad signature");
	fp = authkey_fingerprint(pubkey);
	if (!fp || ask_daemon(ss, probe ? ROUTEQ_PROBE : ROUTEQ_CLAIM, user, fp, &ans) < 0) {
		ret = deny(ss, user, fp, "internal error");
		goto out;
	}
	switch (ans.result) {
	case ROUTE_NONE:
		ret = deny(ss, user, fp, "no execution on this port accepts it");
		break;
	case ROUTE_OK:
	case ROUTE_AMBIGUOUS:
		if (probe) {
			/* Say yes so the client proves possession with a signature. */
			ret = SSH_AUTH_SUCCESS;
			break;
		}
		if (ans.result == ROUTE_OK) {
			ret = accept_key(ss, user, &ans, fp);
			fp = NULL;  /* now owned by ss */
			break;
		}
		if (ans.message)
			send_banner(ss, ans.message);
		ret = deny(ss, user, fp, "several executions accept it; the user must name one");
		break;
	case ROUTE_REFUSED:
	default:
		/* A limit, or the daemon could not record the session: say why. */
		if (ans.message)
			send_banner(ss, ans.message);
		log_full(LOG_WARNING, &ss->lctx, "refused key %s: %s", fp, ans.reason ? ans.reason : "refused");
		ss->auth_failures++;
		ret = SSH_AUTH_DENIED;
		break;
	}
out:
	route_answer_clear(&ans);
	if (fp)
		ssh_string_free_char(fp);
	return ret;
}

/* libssh 0.10 has no server callback for direct-tcpip: it arrives here. */
static int on_message(ssh_session s, ssh_message msg, void *u)
{
	struct sess *ss = u;

	(void)s;
	if (!ss->authenticated || ssh_message_type(msg) != SSH_REQUEST_CHANNEL_OPEN ||
	    ssh_message_subtype(msg) != SSH_CHANNEL_DIRECT_TCPIP)
		return 1;  /* libssh's default reply: refused */
	chan_open_forward(ss, msg);
	return 0;
}

static int on_signalfd(socket_t fd, int revents, void *u)
{
	struct sess *ss = u;
	struct signalfd_siginfo si;
	pid_t pid;
	int status;

	(void)revents;
	while (read(fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGHUP) {
			log_full(LOG_INFO, &ss->lctx, "closing: access to the execution has ended");
			ss->quit = true;
		}
	}
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		chan_child_exited(ss, pid, status);
	return 0;
}

static int setup_signals(struct sess *ss)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_SETMASK, &set, NULL);
	ss->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	return ss->sigfd < 0 ? -errno : 0;
}

static bool connection_over(struct sess *ss)
{
	return !ssh_is_connected(ss->s) || (ssh_get_status(ss->s) & (SSH_CLOSED | SSH_CLOSED_ERROR));
}

/* When the client's KEXINIT arrives we have nothing to send, so Linux
 * delays its ACK, and the client's small ECDH_INIT then waits behind Nagle
 * for ~40 ms. Quick-ACK mode is not sticky: re-arm it before every wait.
 * The grace alarm bounds the whole exchange. */
static int key_exchange(struct sess *ss)
{
	struct pollfd p = { .fd = ss->fd, .events = POLLIN };
	int one = 1, rc;

	while ((rc = ssh_handle_key_exchange(ss->s)) == SSH_AGAIN) {
		setsockopt(ss->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
		if (poll(&p, 1, 1000) < 0 && errno != EINTR)
			return SSH_ERROR;
	}
	return rc;
}

static void serve(struct sess *ss)
{
	ss->ev = ssh_event_new();
	if (!ss->ev || ssh_event_add_session(ss->ev, ss->s) != SSH_OK ||
	    ssh_event_add_fd(ss->ev, ss->sigfd, POLLIN, on_signalfd, ss) != SSH_OK) {
		log_full(LOG_ERR, &ss->lctx, "cannot set up the session event loop");
		return;
	}
	while (!ss->quit) {
		if (ssh_event_dopoll(ss->ev, 10000) == SSH_ERROR && connection_over(ss))
			break;
		chan_housekeeping(ss);
		if (connection_over(ss))
			break;
	}
	chan_hangup_all(ss);
	chan_housekeeping(ss);
}

int session_run(const struct session_args *a)
{
	struct sess ss = { .cfg = a->cfg, .fd = a->fd, .daemon_fd = a->daemon_fd, .sigfd = -1 };
	int one = 1;

	if (setup_signals(&ss) < 0)
		return 1;
	/* libssh 0.10 has no LoginGraceTime: the alarm's default action ends us. */
	alarm((unsigned)a->cfg->limits.login_grace_time);
	read_addresses(&ss);
	setsockopt(ss.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	ss.s = ssh_new();
	if (!ss.s)
		return 1;
	ss.scb = (struct ssh_server_callbacks_struct){
		.userdata = &ss, .auth_pubkey_function = on_auth_pubkey,
		.channel_open_request_session_function = chan_open_session,
	};
	ssh_callbacks_init(&ss.scb);
	ssh_set_server_callbacks(ss.s, &ss.scb);
	ssh_set_message_callback(ss.s, on_message, &ss);
	if (ssh_bind_accept_fd(a->bind, ss.s, ss.fd) != SSH_OK) {
		log_full(LOG_WARNING, &ss.lctx, "cannot start the SSH session: %s", ssh_get_error(a->bind));
		goto out;
	}
	ssh_set_auth_methods(ss.s, SSH_AUTH_METHOD_PUBLICKEY);
	ssh_set_blocking(ss.s, 0);
	if (key_exchange(&ss) != SSH_OK) {
		log_full(LOG_INFO, &ss.lctx, "key exchange failed: %s", ssh_get_error(ss.s));
		goto out;
	}
	serve(&ss);
	if (ss.authenticated) {
		log_full(LOG_INFO, &ss.lctx, "connection closed");
		session_report(&ss, "closed");
	}
out:
	if (ss.authenticated)
		sessfile_remove(ss.cfg->runtime_dir);
	if (ss.ev)
		ssh_event_free(ss.ev);
	ssh_disconnect(ss.s);
	ssh_free(ss.s);
	execution_free(ss.exec);
	if (ss.fp)
		ssh_string_free_char(ss.fp);
	free(ss.user);
	free(ss.key_comment);
	free(ss.chans);
	return 0;
}
