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
#include <fcntl.h>
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
	/* A forward's client may close right after its last bytes: libssh
	 * holds them back (delayed close) until read, and the socket must
	 * still get them, then EOF, before our close goes out. */
	if (c->kind == CHAN_FORWARD && c->started && c->st[W_IN].fd >= 0 && !c->st[W_IN].eof &&
	    (c->in_avail || c->st[W_IN].len))
		c->draining_in = true;
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

/* libssh 0.10.6 answers auth-agent-req itself, inside packet processing:
 * "success" when a handler exists, "failure" without one. The handler
 * only records the wish (chan_agent.c acts on it from the loop), so a
 * refusal decided later has already been answered "success"; OpenSSH's
 * client sends the request without wanting a reply, and the refusal is
 * logged with its reason. */
static void on_agent_req(ssh_session s, ssh_channel ch, void *u)
{
	(void)s;
	(void)ch;
	chan_agent_requested(u);
}

static struct chan *chan_new(struct sess *ss, enum chan_kind kind, enum chan_idle_kind idle)
{
	struct chan *c = calloc(1, sizeof(*c)), **nv;

	nv = c ? realloc(ss->chans, (ss->n_chans + 1) * sizeof(*nv)) : NULL;
	if (!nv) {
		free(c);
		return NULL;
	}
	ss->chans = nv;
	c->ss = ss;
	c->kind = kind;
	c->idle_kind = idle;
	c->open_fd = -1;
	c->last_io_ms = mono_ms();
	for (int i = 0; i < W_N; i++)
		c->st[i] = (struct stream){ .fd = -1, .slot = -1 };
	return c;
}

static void chan_register(struct sess *ss, struct chan *c)
{
	c->id = ++ss->next_chan_id;
	c->cb = (struct ssh_channel_callbacks_struct){
		.userdata = c, .channel_data_function = on_data, .channel_eof_function = on_eof,
		.channel_close_function = on_close, .channel_signal_function = on_signal,
		.channel_auth_agent_req_function = c->kind == CHAN_SESSION ? on_agent_req : NULL,
	};
	ssh_callbacks_init(&c->cb);
	ssh_set_channel_callbacks(c->ch, &c->cb);
	ss->chans[ss->n_chans++] = c;
	if (c->kind == CHAN_SESSION)
		ss->n_session_chans++;
	else
		ss->n_forward_chans++;
}

struct chan *chan_accept(struct sess *ss, ssh_message msg, enum chan_kind kind)
{
	struct chan *c = chan_new(ss, kind, kind == CHAN_SESSION ? IDLE_SESSION : IDLE_DIRECT_TCPIP);

	if (!c)
		return NULL;
	c->ch = ssh_message_channel_request_open_reply_accept(msg);
	if (!c->ch) {
		log_full(LOG_WARNING, &ss->lctx, "cannot open a channel: %s", ssh_get_error(ss->s));
		free(c);
		return NULL;
	}
	chan_register(ss, c);
	return c;
}

struct chan *chan_open_out(struct sess *ss, enum chan_idle_kind idle, int fd, char *label,
			   int (*open_fn)(struct chan *c))
{
	struct chan *c = NULL;

	if (!chan_room(ss, CHAN_FORWARD) || !(c = chan_new(ss, CHAN_FORWARD, idle)) ||
	    !(c->ch = ssh_channel_new(ss->s))) {
		log_full(LOG_WARNING, &ss->lctx, "dropped a connection to %s: %s", label ? label : "a listener",
			 c ? "cannot make a channel" : "no room for another forward channel");
		close(fd);
		free(label);
		free(c);
		return NULL;
	}
	c->label = label;
	c->open_fd = fd;
	c->open_fn = open_fn;
	chan_register(ss, c);
	return c;
}

void chan_attach_socket(struct chan *c, int fd)
{
	c->started = c->exited = true;
	c->st[W_IN].fd = fd;
	c->st[W_OUT].fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	c->st[W_ERR].eof = true;
	c->last_io_ms = mono_ms();
	if (c->st[W_OUT].fd < 0)
		c->remote_closed = true;
}

/* Whether the client took the channels we asked it to open. Calling the
 * open function again asks libssh for the outcome without blocking (the
 * session is non-blocking); it may process packets, whose callbacks only
 * record. */
void chan_open_out_run(struct sess *ss)
{
	for (size_t i = 0; i < ss->n_chans; i++) {
		struct chan *c = ss->chans[i];
		int r;

		if (!c->open_fn || c->done || c->remote_closed)
			continue;
		r = c->open_fn(c);
		if (r == SSH_AGAIN)
			continue;
		c->open_fn = NULL;
		if (r != SSH_OK) {
			char *why = str_printable(ssh_get_error(ss->s), 200);

			log_full(LOG_INFO, &ss->lctx, "the client refused the channel for %s: %s", c->label,
				 why ? why : "?");
			free(why);
			/* Never open: nothing to close toward the client. */
			c->done = c->remote_closed = true;
			continue;
		}
		chan_attach_socket(c, c->open_fd);
		c->open_fd = -1;
	}
}

static bool chan_in_use(const struct sess *ss)
{
	return ss->n_chans || ss->n_lsns || ss->n_opens;
}

#define DRAIN_MS 60000

int chan_idle_run(struct sess *ss, long long now)
{
	const int *tmo = ss->cfg->limits.channel_timeout;
	long long next = -1;

	for (size_t i = 0; i < ss->n_chans; i++) {
		struct chan *c = ss->chans[i];
		long long limit = (long long)tmo[c->idle_kind] * 1000, due = c->last_io_ms + limit;

		/* A socket that takes nothing more of what the client sent before
		 * closing is given up after a minute. */
		if (c->draining_in && now - c->last_io_ms >= DRAIN_MS) {
			log_full(LOG_INFO, &ss->lctx, "dropped what the client sent last to %s: not taken in %d s",
				 c->label ? c->label : "a forward", DRAIN_MS / 1000);
			c->draining_in = false;
			continue;
		}
		if (c->draining_in && (next < 0 || c->last_io_ms + DRAIN_MS < next))
			next = c->last_io_ms + DRAIN_MS;
		if (limit <= 0 || c->done || c->remote_closed || c->open_fn)
			continue;
		if (now >= due) {
			log_full(LOG_INFO, &ss->lctx, "closing an idle %s channel%s%s after %d s (limits.channel_timeout)",
				 chan_idle_names[c->idle_kind], c->label ? " to " : "", c->label ? c->label : "",
				 tmo[c->idle_kind]);
			c->remote_closed = true;      /* housekeeping closes it */
			hangup(c);
			continue;
		}
		if (next < 0 || due < next)
			next = due;
	}
	if (ss->cfg->limits.unused_connection_timeout > 0 && ss->authenticated) {
		long long limit = (long long)ss->cfg->limits.unused_connection_timeout * 1000;

		if (chan_in_use(ss)) {
			ss->unused_since = 0;
		} else if (!ss->unused_since) {
			ss->unused_since = now;
		} else if (now - ss->unused_since >= limit) {
			log_full(LOG_INFO, &ss->lctx, "closing: no channel open for %d s (limits.unused_connection_timeout)",
				 ss->cfg->limits.unused_connection_timeout);
			ss->quit = true;
			ss->ended_by_us = true;
			return 0;
		}
		if (ss->unused_since && (next < 0 || ss->unused_since + limit < next))
			next = ss->unused_since + limit;
	}
	return next < 0 ? -1 : next <= now ? 0 : (int)(next - now);
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
	/* A session's X11 display ends with it, as in OpenSSH. */
	for (size_t i = 0; c->kind == CHAN_SESSION && i < ss->n_lsns; i++)
		if (ss->lsns[i]->kind == MON_LISTEN_X11 && ss->lsns[i]->channel == c->id) {
			lsn_close(ss, ss->lsns[i]);
			break;
		}
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
	if (c->open_fd >= 0)
		close(c->open_fd);
	free(c->o_addr);
	free(c->o_src);
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
	if (c->draining_in)
		return false;
	return (c->done || c->remote_closed) && !(c->spawned && !c->exited && !c->remote_closed);
}

void chan_housekeeping(struct sess *ss)
{
	size_t keep = 0;

	for (size_t i = 0; i < ss->n_chans; i++) {
		struct chan *c = ss->chans[i];

		if (c->start_error)
			report_start_error(c);
		if (c->remote_closed && !c->done && !c->draining_in)
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
