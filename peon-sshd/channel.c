/* The channel table of one connection: limits per kind, accepting an open
 * request, the libssh callbacks (which only record facts), finishing a
 * channel (exit status, EOF, close) and freeing it. */
#include "chan.h"
#include "monclient.h"
#include "monproto.h"
#include "util.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

bool chan_room(struct sess *ss, enum chan_kind kind)
{
	int n = kind == CHAN_SESSION ? ss->n_session_chans : ss->n_forward_chans;
	int max = kind == CHAN_SESSION ? ss->cfg->limits.max_sessions : ss->cfg->limits.max_forwards;

	if (n < max)
		return true;
	log_full(LOG_WARNING, &ss->lctx, "refused %s channel: limit of %d per connection reached (limits.%s)",
		 kind == CHAN_SESSION ? "session" : "forward", max,
		 kind == CHAN_SESSION ? "max_sessions" : "max_forwards");
	return false;
}

void stream_end(struct chan *c, int which)
{
	struct stream *s = &c->st[which];

	if (s->fd >= 0) {
		/* With a pty, in and out are dups of one master. */
		close(s->fd);
		s->fd = -1;
	}
	s->eof = true;
	s->len = s->off = 0;
}

/* The data callback runs while libssh processes packets, possibly from
 * inside one of our own libssh calls: it only notes how much is waiting.
 * Consuming nothing keeps the bytes in libssh's buffer (and the client's
 * window closed) until the relay takes them. */
static int on_data(ssh_session s, ssh_channel ch, void *data, uint32_t len, int is_stderr, void *u)
{
	struct chan *c = u;

	(void)s;
	(void)ch;
	(void)data;
	if (is_stderr)
		return (int)len;     /* a client has no stderr to send: drop it */
	c->in_avail = len;
	return 0;
}

static void on_eof(ssh_session s, ssh_channel ch, void *u)
{
	struct chan *c = u;

	(void)s;
	(void)ch;
	c->in_eof = true;
}

static void hangup(struct chan *c)
{
	if (c->spawned && !c->exited && !c->hung_up) {
		monc_hangup(c->id);
		c->hung_up = true;
	}
}

static void on_close(ssh_session s, ssh_channel ch, void *u)
{
	struct chan *c = u;

	(void)s;
	(void)ch;
	c->remote_closed = true;
	hangup(c);
}

static void on_signal(ssh_session s, ssh_channel ch, const char *name, void *u)
{
	struct chan *c = u;

	(void)s;
	(void)ch;
	int sig = monproto_signal_number(name);

	if (sig && c->spawned && !c->exited)
		monc_signal(c->id, sig);
}

/* libssh 0.10.6 answers auth-agent-req itself: "failure" without a handler,
 * "success" with one. Agent forwarding is not offered yet, so no handler
 * would be honest; this one only makes the refusal visible in the log
 * (OpenSSH sends the request without asking for a reply). */
static void on_agent_req(ssh_session s, ssh_channel ch, void *u)
{
	struct chan *c = u;

	(void)s;
	(void)ch;
	log_full(LOG_INFO, &c->ss->lctx, "refused agent forwarding request: not supported");
}

struct chan *chan_accept(struct sess *ss, ssh_message msg, enum chan_kind kind)
{
	struct chan *c = calloc(1, sizeof(*c)), **nv;

	nv = c ? realloc(ss->chans, (ss->n_chans + 1) * sizeof(*nv)) : NULL;
	if (!nv) {
		free(c);
		return NULL;
	}
	ss->chans = nv;
	c->ch = ssh_message_channel_request_open_reply_accept(msg);
	if (!c->ch) {
		log_full(LOG_WARNING, &ss->lctx, "cannot open a channel: %s", ssh_get_error(ss->s));
		free(c);
		return NULL;
	}
	c->ss = ss;
	c->id = ++ss->next_chan_id;
	c->kind = kind;
	for (int i = 0; i < W_N; i++)
		c->st[i] = (struct stream){ .fd = -1, .slot = -1 };
	c->cb = (struct ssh_channel_callbacks_struct){
		.userdata = c, .channel_data_function = on_data, .channel_eof_function = on_eof,
		.channel_close_function = on_close, .channel_signal_function = on_signal,
		.channel_auth_agent_req_function = on_agent_req,
	};
	ssh_callbacks_init(&c->cb);
	ssh_set_channel_callbacks(c->ch, &c->cb);
	ss->chans[ss->n_chans++] = c;
	if (kind == CHAN_SESSION)
		ss->n_session_chans++;
	else
		ss->n_forward_chans++;
	return c;
}

struct chan *chan_find(struct sess *ss, ssh_channel ch)
{
	for (size_t i = 0; i < ss->n_chans; i++)
		if (ss->chans[i]->ch == ch)
			return ss->chans[i];
	return NULL;
}

static void send_exit(struct chan *c)
{
	int st = c->status;

	if (WIFSIGNALED(st)) {
		const char *name = sigabbrev_np(WTERMSIG(st));
		ssh_channel_request_send_exit_signal(c->ch, name ? name : "KILL", WCOREDUMP(st), "", "");
	} else {
		ssh_channel_request_send_exit_status(c->ch, WIFEXITED(st) ? WEXITSTATUS(st) : 255);
	}
}

static void close_channel(struct chan *c)
{
	if (c->done)
		return;
	c->done = true;
	if (!c->remote_closed) {
		if (c->kind == CHAN_SESSION)
			send_exit(c);
		if (!c->eof_sent)
			ssh_channel_send_eof(c->ch);
	}
	/* May process incoming packets: callbacks only record, so that is safe. */
	ssh_channel_close(c->ch);
}

void chan_maybe_finish(struct chan *c)
{
	bool out_done = c->st[W_OUT].eof && c->st[W_OUT].len == 0;
	bool err_done = c->st[W_ERR].eof && c->st[W_ERR].len == 0;

	if (c->done || c->remote_closed)
		return;
	if (c->kind == CHAN_FORWARD) {
		/* TCP half-close travels both ways; close once both are done. */
		if (out_done && !c->eof_sent) {
			ssh_channel_send_eof(c->ch);
			c->eof_sent = true;
		}
		if (out_done && c->st[W_IN].eof)
			close_channel(c);
		return;
	}
	if (c->started && c->exited && out_done && (c->pty || err_done))
		close_channel(c);
}

static void report_start_error(struct chan *c)
{
	char msg[ERRLEN + 32];
	int n = snprintf(msg, sizeof(msg), "peon-sshd: %s\r\n", c->start_error);

	if (!c->remote_closed)
		ssh_channel_write_stderr(c->ch, msg, (uint32_t)(n < (int)sizeof(msg) ? n : (int)sizeof(msg) - 1));
	free(c->start_error);
	c->start_error = NULL;
}

static void chan_free(struct sess *ss, struct chan *c)
{
	for (int i = 0; i < W_N; i++) {
		if (c->st[i].fd >= 0)
			close(c->st[i].fd);
		free(c->st[i].buf);
	}
	if (c->kind == CHAN_SESSION)
		ss->n_session_chans--;
	else
		ss->n_forward_chans--;
	if (c->spawned)
		monc_release(c->id);
	ssh_remove_channel_callbacks(c->ch, &c->cb);
	/* libssh frees it now, or when the client's close arrives. */
	ssh_channel_free(c->ch);
	strv_free(c->env);
	free(c->start_error);
	free(c->label);
	free(c);
}

/* A channel can go once it is closed and its process (if any) has ended or
 * been hung up on. */
static bool chan_gone(const struct chan *c)
{
	return (c->done || c->remote_closed) && !(c->spawned && !c->exited && !c->remote_closed);
}

void chan_housekeeping(struct sess *ss)
{
	size_t keep = 0;

	for (size_t i = 0; i < ss->n_chans; i++) {
		struct chan *c = ss->chans[i];

		if (c->start_error)
			report_start_error(c);
		if (c->remote_closed && !c->done)
			close_channel(c);
		chan_maybe_finish(c);
	}
	/* Separate pass: nothing above adds or removes channels. */
	for (size_t i = 0; i < ss->n_chans; i++) {
		struct chan *c = ss->chans[i];

		if (chan_gone(c)) {
			chan_free(ss, c);
			continue;
		}
		ss->chans[keep++] = c;
	}
	ss->n_chans = keep;
}

void chan_child_exited(struct sess *ss, uint32_t id, int status)
{
	for (size_t i = 0; i < ss->n_chans; i++) {
		struct chan *c = ss->chans[i];

		if (c->id != id || !c->spawned || c->exited)
			continue;
		c->exited = true;
		c->status = status;
		return;
	}
}

void chan_hangup_all(struct sess *ss)
{
	for (size_t i = 0; i < ss->n_chans; i++)
		hangup(ss->chans[i]);
}

void chan_free_all(struct sess *ss)
{
	for (size_t i = 0; i < ss->n_chans; i++)
		chan_free(ss, ss->chans[i]);
	free(ss->chans);
	ss->chans = NULL;
	ss->n_chans = 0;
}
