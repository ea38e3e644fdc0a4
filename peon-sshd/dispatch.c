/* Every request from the client, answered from the main loop: service and
 * authentication requests, channel opens by kind and global requests by
 * name (one table each), requests on channels. What is not offered is
 * refused and logged. Channels the server opens toward the client
 * (forwarded-tcpip, x11, auth-agent@openssh.com) start from the
 * connection's listeners (listeners.c).
 *
 * | client opens / asks      | file             |
 * |--------------------------|------------------|
 * | session                  | chan_session.c   |
 * | direct-tcpip (-L -D -W)  | chan_direct.c    |
 * | tcpip-forward (-R)       | chan_forwarded.c |
 * | auth-agent-req (-A)      | chan_agent.c     |
 * | x11-req (-X)             | chan_x11.c       |
 *
 * Unix-socket forwarding (direct-streamlocal@openssh.com,
 * streamlocal-forward@openssh.com) cannot be served with libssh 0.10.6:
 * it passes unknown channel types without their name and refuses unknown
 * global requests itself. */
#include "chan.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The channel kinds a client may open. Adding a kind: one row, one file. */
static void open_session(struct sess *ss, ssh_message msg)
{
	if (!chan_room(ss, CHAN_SESSION) || !chan_accept(ss, msg, CHAN_SESSION))
		ssh_message_reply_default(msg);
	ssh_message_free(msg);
}

static const struct chan_type {
	int subtype;
	const char *name;
	/* Takes msg: answers and frees it, now or later. */
	void (*open)(struct sess *ss, ssh_message msg);
} chan_types[] = {
	{ SSH_CHANNEL_SESSION, "session", open_session },
	{ SSH_CHANNEL_DIRECT_TCPIP, "direct-tcpip", chan_direct_open },
};

static const char *refused_open_name(int subtype)
{
	switch (subtype) {
	case SSH_CHANNEL_FORWARDED_TCPIP: return "forwarded-tcpip";
	case SSH_CHANNEL_X11: return "x11";
	case SSH_CHANNEL_AUTH_AGENT: return "auth-agent@openssh.com";
	default: return "of an unknown type";
	}
}

static void channel_open(struct sess *ss, ssh_message msg)
{
	int sub = ssh_message_subtype(msg);

	for (size_t i = 0; i < ARRAY_SIZE(chan_types); i++)
		if (chan_types[i].subtype == sub) {
			chan_types[i].open(ss, msg);
			return;
		}
	/* libssh 0.10 does not pass the name of an unknown type (e.g. the
	 * direct-streamlocal@openssh.com of ssh -L with a socket path). */
	if (sub == SSH_CHANNEL_UNKNOWN)
		log_full(LOG_INFO, &ss->lctx, "refused a channel open of a type libssh 0.10.6 does not name, such as "
			 "direct-streamlocal@openssh.com (ssh -L/-W to a unix socket: not supported, forward a TCP "
			 "port instead)");
	else
		log_full(LOG_INFO, &ss->lctx, "refused channel open %s: a client may not open it",
			 refused_open_name(sub));
	ssh_message_reply_default(msg);
	ssh_message_free(msg);
}

static void channel_request(struct sess *ss, ssh_message msg)
{
	struct chan *c = chan_find(ss, ssh_message_channel_request_channel(msg));

	if (c && c->kind == CHAN_SESSION && !c->done && !c->remote_closed) {
		chan_session_request(ss, c, msg);
		return;
	}
	log_full(LOG_INFO, &ss->lctx, "refused a request on a %s channel",
		 c ? (c->kind == CHAN_SESSION ? "closed" : "forward") : "unknown");
	ssh_message_reply_default(msg);
}

/* The global requests libssh 0.10 passes on. Adding one: a row and a file
 * (libssh answers keepalive@openssh.com itself and refuses the names it
 * does not know, streamlocal-forward@openssh.com among them). */
static const struct global_type {
	int subtype;
	void (*handle)(struct sess *ss, ssh_message msg);   /* answers msg */
} global_types[] = {
	{ SSH_GLOBAL_REQUEST_TCPIP_FORWARD, chan_forwarded_request },
	{ SSH_GLOBAL_REQUEST_CANCEL_TCPIP_FORWARD, chan_forwarded_request },
};

static void global_request(struct sess *ss, ssh_message msg)
{
	int sub = ssh_message_subtype(msg);

	for (size_t i = 0; i < ARRAY_SIZE(global_types); i++)
		if (global_types[i].subtype == sub) {
			global_types[i].handle(ss, msg);
			return;
		}
	log_full(LOG_INFO, &ss->lctx, "refused a global request: not supported");
	ssh_message_reply_default(msg);
}

static void service_request(struct sess *ss, ssh_message msg)
{
	const char *svc = ssh_message_service_service(msg);

	if (svc && strcmp(svc, "ssh-userauth") == 0) {
		ssh_message_reply_default(msg);   /* SERVICE_ACCEPT */
		return;
	}
	log_full(LOG_INFO, &ss->lctx, "closing: the client asked for an unknown service");
	ss->quit = true;
}

void dispatch_message(struct sess *ss, ssh_message msg)
{
	int type = ssh_message_type(msg);

	if (type == SSH_REQUEST_SERVICE)
		service_request(ss, msg);
	else if (type == SSH_REQUEST_AUTH)
		auth_handle(ss, msg);
	else if (!ss->authenticated)
		ssh_message_reply_default(msg);   /* nothing else before authentication */
	else if (type == SSH_REQUEST_CHANNEL_OPEN) {
		channel_open(ss, msg);            /* owns msg */
		return;
	} else if (type == SSH_REQUEST_CHANNEL)
		channel_request(ss, msg);
	else if (type == SSH_REQUEST_GLOBAL)
		global_request(ss, msg);
	else
		ssh_message_reply_default(msg);
	ssh_message_free(msg);
}
