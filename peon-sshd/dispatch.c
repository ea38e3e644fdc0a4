/* Every request from the client, answered from the main loop: service and
 * authentication requests, channel opens by kind, requests on channels,
 * global requests. What is not offered is refused and logged. */
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
	 * direct-streamlocal@openssh.com of ssh -L /path). */
	log_full(LOG_INFO, &ss->lctx, "refused channel open %s: not supported", refused_open_name(sub));
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

static void global_request(struct sess *ss, ssh_message msg)
{
	int sub = ssh_message_subtype(msg);
	const char *addr = ssh_message_global_request_address(msg);
	char *shown = str_printable(addr ? addr : "", 100);

	if (sub == SSH_GLOBAL_REQUEST_TCPIP_FORWARD || sub == SSH_GLOBAL_REQUEST_CANCEL_TCPIP_FORWARD)
		log_full(LOG_INFO, &ss->lctx, "refused %s for %s port %d: remote forwarding is not supported",
			 sub == SSH_GLOBAL_REQUEST_TCPIP_FORWARD ? "tcpip-forward" : "cancel-tcpip-forward",
			 shown ? shown : "?", ssh_message_global_request_port(msg));
	else
		log_full(LOG_INFO, &ss->lctx, "refused a global request: not supported");
	free(shown);
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
