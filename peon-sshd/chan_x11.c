/* X11 forwarding (ssh -X, -Y): x11-req on a session channel makes a display
 * inside the job's network namespace (127.0.0.1:6000+N, N the first free
 * from forwarding.x11_display_offset) and an Xauthority file holding the
 * client's cookie (written by libXau in the job as the job's user: no
 * xauth needed in the image); the process started on that channel gets
 * DISPLAY=localhost:N.S and XAUTHORITY. Each connection to the display
 * becomes an x11 channel toward the client. OpenSSH's client sent a fake
 * cookie and swaps in the real one itself, so the job never holds the
 * real cookie. */
#include "chan.h"
#include "util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libssh 0.10 reads x11-req's fields out of a queued request only through
 * these accessors, deprecated in favour of a callback that must answer at
 * once; requests are answered from the main loop (see session_int.h). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static void x11_fields(ssh_message msg, bool *single, const char **proto, const char **cookie, int *screen)
{
	*single = ssh_message_channel_request_x11_single_connection(msg) != 0;
	*proto = ssh_message_channel_request_x11_auth_protocol(msg);
	*cookie = ssh_message_channel_request_x11_auth_cookie(msg);
	*screen = ssh_message_channel_request_x11_screen_number(msg);
}
#pragma GCC diagnostic pop

static void refuse(struct sess *ss, ssh_message msg, const char *why)
{
	log_full(LOG_INFO, &ss->lctx, "refused X11 forwarding: %s", why);
	ssh_message_reply_default(msg);
}

void chan_x11_request(struct sess *ss, struct chan *c, ssh_message msg)
{
	struct lsn_request rq = { .kind = MON_LISTEN_X11, .channel = c->id, .addr = "" };
	const char *proto, *cookie;
	char hex[MON_X11_COOKIE_MAX + 1], err[ERRLEN];
	struct lsn *l;
	bool single;
	int screen;

	if (ss->denied[PERM_X11]) {
		refuse(ss, msg, ss->denied[PERM_X11]);
		return;
	}
	x11_fields(msg, &single, &proto, &cookie, &screen);
	if (c->started || !proto || !cookie || screen < 0 || screen > 1000 || strlen(cookie) > MON_X11_COOKIE_MAX) {
		refuse(ss, msg, "a malformed request (or after the process started)");
		return;
	}
	for (size_t i = 0; i <= strlen(cookie); i++)
		hex[i] = (char)tolower((unsigned char)cookie[i]);
	for (size_t i = 0; i < ss->n_lsns; i++)
		if (ss->lsns[i]->kind == MON_LISTEN_X11 && ss->lsns[i]->channel == c->id) {
			refuse(ss, msg, "this session already has a display");
			return;
		}
	rq.x11_proto = proto;
	rq.x11_cookie = hex;
	rq.screen = screen;
	if (lsn_open(ss, &rq, &l, err) < 0) {
		refuse(ss, msg, err);
		return;
	}
	l->single = single;
	ssh_message_channel_request_reply_success(msg);
}

static int open_x11(struct chan *c)
{
	return ssh_channel_open_x11(c->ch, c->o_src, c->o_sport);
}

void chan_x11_accepted(struct sess *ss, struct lsn *l, int fd, const char *peer_ip, int peer_port)
{
	char *label = NULL;
	struct chan *c;

	if (asprintf(&label, "X11 display %d", l->bound) < 0)
		label = NULL;
	c = chan_open_out(ss, IDLE_X11, fd, label, open_x11);
	if (c && !(c->o_src = strdup(peer_ip))) {
		c->open_fn = NULL;
		c->done = c->remote_closed = true;
	}
	if (c)
		c->o_sport = peer_port;
}
