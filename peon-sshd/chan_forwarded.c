/* Remote forwarding (ssh -R): tcpip-forward makes a listener inside the
 * job's network namespace (the monitor's job-side helper binds it as the
 * job's user, so a port below 1024 works only where the job could bind it
 * itself), cancel-tcpip-forward closes it, and each connection to it
 * becomes a forwarded-tcpip channel toward the client. The channel names
 * the address exactly as the client sent it and the port it listens on:
 * OpenSSH's client refuses a channel whose address it did not ask for.
 * Remote dynamic forwarding (ssh -R 1080) needs nothing more: the client
 * speaks SOCKS on the channels. */
#include "chan.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void refused(struct sess *ss, const char *what, const char *addr, int port, const char *why)
{
	char *shown = str_printable(addr, 100);

	log_full(LOG_INFO, &ss->lctx, "refused %s for \"%s\" port %d: %s", what, shown ? shown : "?", port, why);
	free(shown);
}

static void forward(struct sess *ss, ssh_message msg, const char *addr, int port)
{
	struct lsn_request rq = { .kind = MON_LISTEN_TCP, .addr = addr, .port = port, .x11_proto = "", .x11_cookie = "" };
	const char *why;
	struct lsn *l;
	char err[ERRLEN];

	if (ss->denied[PERM_REMOTE_FWD]) {
		refused(ss, "tcpip-forward", addr, port, ss->denied[PERM_REMOTE_FWD]);
		ssh_message_reply_default(msg);
		return;
	}
	/* Port 0 asks for a new port each time: never a duplicate. */
	why = strlen(addr) > 255 ? "a bad bind address" : port && lsn_find_tcp(ss, addr, port) ? "already forwarded" :
									       NULL;
	if (why) {
		refused(ss, "tcpip-forward", addr, port, why);
		ssh_message_reply_default(msg);
		return;
	}
	if (lsn_open(ss, &rq, &l, err) < 0) {
		refused(ss, "tcpip-forward", addr, port, err);
		ssh_message_reply_default(msg);
		return;
	}
	/* The port goes into the reply only when the client asked for any. */
	ssh_message_global_request_reply_success(msg, (uint16_t)l->bound);
}

static void cancel(struct sess *ss, ssh_message msg, const char *addr, int port)
{
	struct lsn *l = lsn_find_tcp(ss, addr, port);

	if (!l) {
		refused(ss, "cancel-tcpip-forward", addr, port, "no such forward");
		ssh_message_reply_default(msg);
		return;
	}
	log_full(LOG_INFO, &ss->lctx, "cancelled the remote forward of port %d", l->bound);
	lsn_close(ss, l);
	ssh_message_global_request_reply_success(msg, 0);
}

void chan_forwarded_request(struct sess *ss, ssh_message msg)
{
	const char *addr = ssh_message_global_request_address(msg);
	int port = ssh_message_global_request_port(msg);

	if (!addr || port < 0 || port > 65535) {
		refused(ss, "a remote forward", addr ? addr : "", port, "a malformed request");
		ssh_message_reply_default(msg);
		return;
	}
	if (ssh_message_subtype(msg) == SSH_GLOBAL_REQUEST_TCPIP_FORWARD)
		forward(ss, msg, addr, port);
	else
		cancel(ss, msg, addr, port);
}

static int open_forwarded(struct chan *c)
{
	return ssh_channel_open_reverse_forward(c->ch, c->o_addr, c->o_port, c->o_src, c->o_sport);
}

void chan_forwarded_accepted(struct sess *ss, struct lsn *l, int fd, const char *peer_ip, int peer_port)
{
	char *label = NULL;
	struct chan *c;

	if (asprintf(&label, "the client from port %d in the job", l->bound) < 0)
		label = NULL;
	c = chan_open_out(ss, IDLE_FORWARDED_TCPIP, fd, label, open_forwarded);
	if (!c)
		return;
	c->o_addr = strdup(l->addr);
	c->o_src = strdup(peer_ip);
	c->o_port = l->bound;
	c->o_sport = peer_port;
	if (!c->o_addr || !c->o_src) {
		c->open_fn = NULL;
		c->done = c->remote_closed = true;
	}
}
