/* Session channels: the requests that set up and start a shell, a command
 * or SFTP inside the job (pty-req, env, shell, exec, subsystem) and the
 * ones that follow (window-change). Signals arrive through channel.c. */
#include "chan.h"
#include "envfilter.h"
#include "monclient.h"
#include "monproto.h"
#include "testhook.h"
#include "util.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

/* libssh 0.10 reads pty sizes out of a queued request only through these
 * accessors, deprecated in favour of callbacks that must answer at once.
 * Requests are answered from the main loop here (see session_int.h). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static void pty_size(ssh_message msg, int *cols, int *rows, int *px, int *py, const char **term)
{
	*cols = ssh_message_channel_request_pty_width(msg);
	*rows = ssh_message_channel_request_pty_height(msg);
	*px = ssh_message_channel_request_pty_pxwidth(msg);
	*py = ssh_message_channel_request_pty_pxheight(msg);
	if (term)
		*term = ssh_message_channel_request_pty_term(msg);
}
#pragma GCC diagnostic pop

static bool size_ok(int cols, int rows)
{
	return cols >= 0 && rows >= 0 && cols <= 10000 && rows <= 10000;
}

static unsigned short pixels(int v)
{
	return (unsigned short)(v > 0 && v < 65536 ? v : 0);
}

static int req_pty(struct chan *c, ssh_message msg)
{
	int cols, rows, px, py;
	const char *term;

	pty_size(msg, &cols, &rows, &px, &py, &term);
	if (c->ss->denied[PERM_PTY]) {
		log_full(LOG_INFO, &c->ss->lctx, "refused pty-req: %s", c->ss->denied[PERM_PTY]);
		return -1;
	}
	if (c->started || c->pty || !size_ok(cols, rows))
		return -1;
	c->pty = true;
	snprintf(c->term, sizeof(c->term), "%s", term && *term ? term : "vt100");
	for (char *p = c->term; *p; p++)
		if (*p < 0x21 || *p > 0x7e)
			*p = '?';
	c->ws = (struct winsize){ .ws_col = (unsigned short)cols, .ws_row = (unsigned short)rows,
				  .ws_xpixel = pixels(px), .ws_ypixel = pixels(py) };
	return 0;
}

static int req_window_change(struct chan *c, ssh_message msg)
{
	int cols, rows, px, py;

	pty_size(msg, &cols, &rows, &px, &py, NULL);
	if (!c->pty || !size_ok(cols, rows))
		return -1;
	c->ws = (struct winsize){ .ws_col = (unsigned short)cols, .ws_row = (unsigned short)rows,
				  .ws_xpixel = pixels(px), .ws_ypixel = pixels(py) };
	if (c->started && c->st[W_OUT].fd >= 0)
		ioctl(c->st[W_OUT].fd, TIOCSWINSZ, &c->ws);
	return 0;
}

static int req_env(struct chan *c, ssh_message msg)
{
	const char *name = ssh_message_channel_request_env_name(msg);
	const char *value = ssh_message_channel_request_env_value(msg);
	char *kv;
	int r;

	if (!name || !value || c->started || c->n_env >= ENV_CLIENT_MAX ||
	    !envfilter_accept(name, value, c->ss->cfg->accept_env)) {
		char *shown = str_printable(name ? name : "", 64);
		log_full(LOG_DEBUG, &c->ss->lctx, "refused env request %s", shown ? shown : "?");
		free(shown);
		return -1;
	}
	if (asprintf(&kv, "%s=%s", name, value) < 0)
		return -1;
	r = strv_push(&c->env, &c->n_env, kv);
	free(kv);
	return r < 0 ? -1 : 0;
}

/* Start the shell, a command or SFTP: the monitor starts it inside the job
 * and hands back its fds. A failure is still a started channel: the
 * request succeeds, the reason goes to the client's stderr and the channel
 * ends with status 255, as OpenSSH does when exec fails. */
static const char *kind_name(int kind)
{
	return kind == MON_SPAWN_SFTP ? "sftp" : kind == MON_SPAWN_TOOLBOX ? "the toolbox" :
	       kind == MON_SPAWN_EXEC ? "command" : "shell";
}

static int start(struct chan *c, const char *command, int kind)
{
	struct sess *ss = c->ss;
	bool sftp = kind == MON_SPAWN_SFTP;
	char err[ERRLEN];
	int fds[3], nfds = 0;

	if (c->started)
		return -1;
	c->started = true;
	if (sftp)
		c->pty = false;
	/* An agent asked for on any channel: its socket before the process. */
	chan_agent_setup(ss);
	testhook_postauth(ss);
	if (monc_spawn(ss, c, kind, command, fds, &nfds, err) < 0)
		goto failed;
	c->spawned = true;
	c->st[W_IN].fd = fds[0];
	if (nfds == 1) {
		/* A pty: one master for both directions, no stderr. */
		c->st[W_OUT].fd = fcntl(fds[0], F_DUPFD_CLOEXEC, 0);
		c->st[W_ERR].eof = true;
		if (c->st[W_OUT].fd < 0)
			c->remote_closed = true;
	} else {
		c->st[W_OUT].fd = fds[1];
		c->st[W_ERR].fd = fds[2];
	}
	return 0;
failed:
	/* The monitor logged why it could not start it. */
	log_full(LOG_DEBUG, &ss->lctx, "cannot start %s: %s", kind_name(kind), err);
	c->start_error = strdup(err);
	c->exited = true;
	for (int i = 0; i < W_N; i++)
		c->st[i].eof = true;
	c->status = 255 << 8;
	return 0;
}

static int req_subsystem(struct chan *c, ssh_message msg)
{
	const char *name = ssh_message_channel_request_subsystem(msg);
	char *shown;

	if (name && strcmp(name, "sftp") == 0)
		return start(c, NULL, MON_SPAWN_SFTP);
	/* busybox's shell and applets, for images without a shell or tools. */
	if (name && strcmp(name, "toolbox") == 0)
		return start(c, NULL, MON_SPAWN_TOOLBOX);
	shown = str_printable(name ? name : "", 64);
	log_full(LOG_INFO, &c->ss->lctx, "refused subsystem request '%s': not supported", shown ? shown : "?");
	free(shown);
	return -1;
}

void chan_session_request(struct sess *ss, struct chan *c, ssh_message msg)
{
	int type = ssh_message_subtype(msg), r = -1;

	switch (type) {
	case SSH_CHANNEL_REQUEST_PTY: r = req_pty(c, msg); break;
	case SSH_CHANNEL_REQUEST_ENV: r = req_env(c, msg); break;
	case SSH_CHANNEL_REQUEST_SHELL: r = start(c, NULL, MON_SPAWN_SHELL); break;
	case SSH_CHANNEL_REQUEST_EXEC: r = start(c, ssh_message_channel_request_command(msg), MON_SPAWN_EXEC); break;
	case SSH_CHANNEL_REQUEST_SUBSYSTEM: r = req_subsystem(c, msg); break;
	case SSH_CHANNEL_REQUEST_WINDOW_CHANGE: r = req_window_change(c, msg); break;
	case SSH_CHANNEL_REQUEST_X11:
		chan_x11_request(ss, c, msg);
		return;
	default:
		log_full(LOG_INFO, &ss->lctx, "refused an unknown channel request");
		break;
	}
	if (r == 0)
		ssh_message_channel_request_reply_success(msg);
	else
		ssh_message_reply_default(msg);
}
