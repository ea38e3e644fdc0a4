#include "monclient.h"
#include "session.h"
#include "session_int.h"
#include "util.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>


int pollset_add(struct pollset *ps, int fd, short events)
{
	if (fd < 0 || ps->n >= POLL_MAX)
		return -1;
	ps->p[ps->n] = (struct pollfd){ .fd = fd, .events = events };
	return (int)ps->n++;
}

short pollset_revents(const struct pollset *ps, int slot)
{
	return slot >= 0 && (nfds_t)slot < ps->n ? ps->p[slot].revents : 0;
}

/* Access ends by the monitor's MON_CLOSE record (monclient.c), not by a
 * signal: the child holds no signalfd. SIGPIPE: writes to a job's closed
 * pipe fail with EPIPE instead. */
static void setup_signals(void)
{
	signal(SIGPIPE, SIG_IGN);
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

static int min_timeout(int a, int b)
{
	if (a < 0)
		return b;
	if (b < 0)
		return a;
	return a < b ? a : b;
}

/* One poll for everything: the client's socket (POLLOUT only while libssh
 * has output queued), signals, the monitor, the job's fds. */
static int wait_round(struct sess *ss, struct pollset *ps, int *ssh_slot, int *mon_slot)
{
	long long now = mono_ms();
	int timeout = min_timeout(min_timeout(client_alive(ss, now), chan_direct_timeout(ss)), chan_idle_run(ss, now));
	short ev = POLLIN;

	if (ssh_get_poll_flags(ss->s) & SSH_WRITE_PENDING)
		ev |= POLLOUT;
	ps->n = 0;
	*ssh_slot = pollset_add(ps, ss->fd, ev);
	*mon_slot = pollset_add(ps, ss->mon_fd, POLLIN);
	relay_poll(ss, ps);
	lsn_poll(ss, ps);
	if (ss->quit)
		return 0;
	return poll(ps->p, ps->n, timeout);
}

/* libssh 0.10.6 refuses global requests it does not know by itself, and
 * tells only its log: streamlocal-forward@openssh.com (ssh -R with a unix
 * socket path) would be refused without a trace. This log callback picks
 * out that one line; it runs inside libssh and only writes a log record
 * to the monitor, touching neither libssh nor the channel table. */
static void libssh_log(int prio, const char *function, const char *buffer, void *u)
{
	static const char tag[] = "UNKNOWN SSH_MSG_GLOBAL_REQUEST ";
	const char *p = buffer ? strstr(buffer, tag) : NULL;
	struct sess *ss = u;
	char *name;

	(void)prio;
	(void)function;
	if (!p || !ss)
		return;
	p += sizeof(tag) - 1;
	name = str_printable(p, 64);
	if (name && strchr(name, ','))
		*strchr(name, ',') = '\0';
	if (name && strncmp(name, "streamlocal-forward@openssh.com", 31) == 0)
		log_full(LOG_INFO, &ss->lctx, "refused streamlocal-forward@openssh.com (ssh -R with a unix socket path): "
			 "libssh 0.10.6 cannot serve it; forward a TCP port instead");
	else
		log_full(LOG_INFO, &ss->lctx, "refused global request %s: not supported", name ? name : "?");
	free(name);
}

/* From authentication on (global requests come only then), at the level
 * that carries the line; the level is checked before anything is formatted,
 * and nothing at this level is logged per data packet. */
void session_watch_refused_requests(struct sess *ss)
{
	ssh_set_log_userdata(ss);
	ssh_set_log_callback(libssh_log);
	ssh_set_log_level(SSH_LOG_PROTOCOL);
}

/* libssh 0.10 reads at most 4 KiB per poll event (MAX_BUF_SIZE, compiled
 * in), so a 32 KiB packet took eight rounds of this loop, each polling every
 * fd of the connection. While libssh's own poll finds more to do (SSH_OK;
 * SSH_AGAIN when nothing is waiting) it reads again, at most SOCKET_READS
 * times a round, so the monitor and the job's fds are still served. */
#define SOCKET_READS 16

static void read_socket(struct sess *ss)
{
	for (int i = 0; i < SOCKET_READS && !ss->quit; i++)
		if (ssh_event_dopoll(ss->ev, 0) != SSH_OK)
			break;
}

static void serve(struct sess *ss)
{
	static struct pollset ps;
	int ssh_slot, mon_slot;
	ssh_message msg;

	ss->ev = ssh_event_new();
	if (!ss->ev || ssh_event_add_session(ss->ev, ss->s) != SSH_OK) {
		log_full(LOG_ERR, &ss->lctx, "cannot set up the session event loop");
		return;
	}
	ss->last_rx_ms = mono_ms();
	while (!ss->quit) {
		if (wait_round(ss, &ps, &ssh_slot, &mon_slot) < 0 && errno != EINTR) {
			log_full(LOG_ERR, &ss->lctx, "poll: %s", strerror(errno));
			break;
		}
		if (pollset_revents(&ps, mon_slot))
			monc_read_async(ss);
		if (pollset_revents(&ps, ssh_slot)) {
			if (pollset_revents(&ps, ssh_slot) & (POLLIN | POLLHUP | POLLERR)) {
				ss->last_rx_ms = mono_ms();
				ss->alive_probes = 0;
			}
			/* Read and process packets: callbacks record, requests queue. */
			read_socket(ss);
		}
		/* An agent asked for before a queued shell request: socket first. */
		chan_agent_setup(ss);
		while (!ss->quit && (msg = ssh_message_get(ss->s)))
			dispatch_message(ss, msg);
		chan_direct_run(ss);
		lsn_run(ss, &ps);
		chan_open_out_run(ss);
		relay_run(ss, &ps);
		chan_housekeeping(ss);
		if (connection_over(ss))
			break;
	}
	if (ssh_get_status(ss->s) & SSH_CLOSED_ERROR) {
		char *why = str_printable(ssh_get_error(ss->s), 200);

		log_full(LOG_INFO, &ss->lctx, "connection ended: %s", why && *why ? why : "closed by the client");
		free(why);
	}
	chan_hangup_all(ss);
	chan_direct_cancel_all(ss);
	lsn_close_all(ss);
	chan_housekeeping(ss);
}

/* How libssh words a peer that went away: EOF or a reset on the socket
 * ("Socket error: ..."), or its SSH_MSG_DISCONNECT. Anything else that
 * ends the session in error is the client breaking the protocol. */
static bool client_left(const char *why)
{
	return !*why || strncmp(why, "Socket error", 12) == 0 ||
	       strncmp(why, "Received SSH_MSG_DISCONNECT", 27) == 0;
}

/* A connection that never authenticated ends here: logged once with the
 * client's address, and told to the daemon by the exit code (preauth.h),
 * which holds it against the source. The endings we cannot log ourselves
 * (the grace alarm, a crash) the daemon logs when it reaps us. */
static int preauth_ending(struct sess *ss, bool in_kex)
{
	const char *why = ss->s ? ssh_get_error(ss->s) : "";
	char *shown;

	if (ss->authenticated || ss->ended_by_us)
		return SESSION_EXIT_OK;
	if (ss->internal_error)
		return SESSION_EXIT_INTERNAL;
	if (ss->tries_exhausted)
		return SESSION_EXIT_AUTHFAIL;       /* logged when it happened */
	if (client_left(why)) {
		log_full(LOG_INFO, &ss->lctx, "connection from %s closed before authentication (%s)", ss->ep.remote,
			 in_kex ? "during key exchange" : ss->auth_failures ? "after failed attempts" :
			 "without an authentication attempt");
		return ss->auth_failures ? SESSION_EXIT_AUTHFAIL : SESSION_EXIT_NOAUTH;
	}
	shown = str_printable(why, 200);
	log_full(LOG_NOTICE, &ss->lctx, "protocol error from %s%s: %s", ss->ep.remote,
		 in_kex ? " during key exchange" : "", shown ? shown : "?");
	free(shown);
	return SESSION_EXIT_PROTOCOL;
}

int session_run(const struct session_args *a)
{
	struct sess ss = { .cfg = a->cfg, .fd = a->fd, .count_fd = -1, .mon_fd = a->mon_fd };
	int one = 1, code = SESSION_EXIT_INTERNAL;

	setup_signals();
	endpoints_read(ss.fd, &ss.ep);
	ss.lctx.remote_addr = ss.ep.remote;
	setsockopt(ss.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* No server callbacks and no message callback: libssh queues every
	 * request and the loop answers them (see session_int.h). */
	if (ssh_bind_accept_fd(a->bind, a->s, ss.fd) != SSH_OK) {
		log_full(LOG_WARNING, &ss.lctx, "cannot start the SSH session: %s", ssh_get_error(a->bind));
		goto out;
	}
	ss.s = a->s;
	ssh_set_auth_methods(ss.s, SSH_AUTH_METHOD_PUBLICKEY);
	ssh_set_blocking(ss.s, 0);
	if (key_exchange(&ss) != SSH_OK) {
		code = preauth_ending(&ss, true);
		goto out;
	}
	serve(&ss);
	code = preauth_ending(&ss, false);
out:
	auth_session_closed(&ss);
	chan_free_all(&ss);
	if (ss.ev)
		ssh_event_free(ss.ev);
	if (ss.s) {
		monc_ending();
		ssh_disconnect(ss.s);
	}
	if (ss.count_fd >= 0)
		close(ss.count_fd);
	free(ss.exec_id);
	if (ss.fp)
		ssh_string_free_char(ss.fp);
	free(ss.user);
	free(ss.key_comment);
	for (int i = 0; i < PERM_N; i++)
		free(ss.denied[i]);
	return code;
}
