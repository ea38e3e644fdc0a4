/* Session channels: requests (pty, env, shell, exec, signal, window-change)
 * and the byte relay between the channel and the job process, with flow
 * control in both directions. */
#include "envfilter.h"
#include "session_int.h"
#include "forward.h"
#include "spawn.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define RELAY_BUF (256 * 1024)
#define INBUF_MAX (64 * 1024)
#define READS_PER_WAKEUP 4
#define FORWARD_CONNECT_MS 10000

enum { W_IN, W_OUT, W_ERR, W_N };

/* An fd we poll through libssh's event; changes are applied between poll
 * rounds because libssh callbacks may run re-entrantly. */
struct watch {
	int fd;
	short want, have;
	bool close_req;
	/* Output read from fd that the channel did not take yet: libssh 0.10
	 * writes nothing while a key re-exchange runs (non-blocking mode). */
	char *pend;
	size_t pend_len, pend_off;
};

struct chan {
	struct sess *ss;
	ssh_channel ch;
	struct ssh_channel_callbacks_struct cb;
	bool pty;
	char term[64];
	struct winsize ws;
	char **env;
	size_t n_env;
	bool started;
	char *start_error;
	pid_t pid;
	bool exited;
	int status;
	struct watch w[W_N];
	bool out_eof, err_eof;
	char inbuf[INBUF_MAX];
	size_t inlen;          /* bytes in inbuf not yet written to the job */
	size_t pending;        /* bytes libssh still holds for us (window closed) */
	bool in_eof;           /* client sent EOF */
	bool forward;          /* direct-tcpip: a socket, no process */
	bool in_done;          /* forward: nothing more goes to the socket */
	bool eof_sent;
	bool paused;           /* output waits for the peer to open its window */
	bool remote_closed, done, dead;
};

static void watch_close(struct watch *w)
{
	if (w->fd >= 0) {
		w->want = 0;
		w->close_req = true;
	}
}

static void finish(struct chan *c)
{
	int st = c->status;

	if (c->done || c->remote_closed)
		return;
	c->done = true;
	if (c->forward) {
		/* No process behind a forward: nothing to report. */
	} else if (WIFSIGNALED(st)) {
		const char *name = sigabbrev_np(WTERMSIG(st));
		ssh_channel_request_send_exit_signal(c->ch, name ? name : "KILL", WCOREDUMP(st), "", "");
	} else {
		ssh_channel_request_send_exit_status(c->ch, WIFEXITED(st) ? WEXITSTATUS(st) : 255);
	}
	if (!c->eof_sent)
		ssh_channel_send_eof(c->ch);
	ssh_channel_close(c->ch);
	c->dead = true;
}

static void maybe_finish(struct chan *c)
{
	if (c->forward) {
		/* TCP half-close travels both ways; close once both are done. */
		if (c->out_eof && !c->eof_sent && !c->done && !c->remote_closed) {
			ssh_channel_send_eof(c->ch);
			c->eof_sent = true;
		}
		if (c->out_eof && c->in_done)
			finish(c);
		return;
	}
	if (c->started && c->exited && c->out_eof && (c->pty || c->err_eof))
		finish(c);
}

static void mark_eof(struct chan *c, int which)
{
	watch_close(&c->w[which]);
	if (which == W_OUT)
		c->out_eof = true;
	else
		c->err_eof = true;
	/* With a pty, in and out are one terminal: done reading, done writing. */
	if (c->pty && which == W_OUT)
		watch_close(&c->w[W_IN]);
	maybe_finish(c);
}

static int chan_write(struct chan *c, int which, const char *p, size_t n)
{
	return which == W_ERR ? ssh_channel_write_stderr(c->ch, p, (uint32_t)n) :
				ssh_channel_write(c->ch, p, (uint32_t)n);
}

/* Keep what the channel did not take; false when the channel is broken. */
static bool keep_rest(struct chan *c, int which, const char *p, size_t n, int wr)
{
	struct watch *w = &c->w[which];

	if (wr == SSH_ERROR) {
		c->remote_closed = true;
		return false;
	}
	if (wr < 0)
		wr = 0;     /* SSH_AGAIN: nothing taken */
	if ((size_t)wr >= n)
		return true;
	if (!w->pend)
		w->pend = malloc(RELAY_BUF);
	if (!w->pend) {
		c->remote_closed = true;
		return false;
	}
	memmove(w->pend, p + wr, n - (size_t)wr);
	w->pend_len = n - (size_t)wr;
	w->pend_off = 0;
	w->want = 0;
	c->paused = true;
	return true;
}

/* Retry held-back output. true when nothing is held back any more. */
static bool flush_pend(struct chan *c, int which)
{
	struct watch *w = &c->w[which];
	uint32_t win = ssh_channel_window_size(c->ch);
	size_t n = w->pend_len;
	int wr;

	if (n == 0)
		return true;
	if (win == 0 || c->remote_closed || c->done)
		return false;
	if (n > win)
		n = win;
	wr = chan_write(c, which, w->pend + w->pend_off, n);
	if (wr == SSH_ERROR) {
		c->remote_closed = true;
		return false;
	}
	if (wr < 0)
		wr = 0;
	w->pend_off += (size_t)wr;
	w->pend_len -= (size_t)wr;
	return w->pend_len == 0;
}

/* Move job output into the channel while the peer's window allows. */
static void pump_out_locked(struct chan *c, int which)
{
	struct watch *w = &c->w[which];
	static char buf[RELAY_BUF];

	if (!flush_pend(c, which)) {
		w->want = 0;
		c->paused = true;
		return;
	}
	for (int i = 0; i < READS_PER_WAKEUP && w->fd >= 0 && !w->close_req; i++) {
		uint32_t win = ssh_channel_window_size(c->ch);
		ssize_t n;
		int wr;

		if (c->remote_closed || c->done)
			return;
		if (win == 0) {
			/* libssh 0.10 signals write_wontblock only when its socket
			 * buffer drains, not on WINDOW_ADJUST: housekeeping resumes us. */
			w->want = 0;
			c->paused = true;
			return;
		}
		n = read(w->fd, buf, win < sizeof(buf) ? win : sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			/* A pty whose shell exited may stay open in background
			 * processes: what is there is drained, stop here. */
			if (c->pty && c->exited)
				break;
			w->want = POLLIN;
			return;
		}
		if (n <= 0) {
			mark_eof(c, which);
			return;
		}
		wr = chan_write(c, which, buf, (size_t)n);
		if (!keep_rest(c, which, buf, (size_t)n, wr) || wr < n)
			return;
		/* A short read means drained: skip the read that would only say
		 * EAGAIN (one syscall less per keystroke). */
		if ((size_t)n < (win < sizeof(buf) ? win : sizeof(buf)) && !c->exited)
			break;
	}
	if (c->pty && c->exited && w->fd >= 0 && !w->close_req)
		mark_eof(c, which);
	else if (w->fd >= 0 && !w->close_req)
		w->want = POLLIN;
}

/* ssh_channel_write may poll our whole event (to wait out a key
 * re-exchange) and so call the fd callbacks again from inside: a nested
 * pump would overwrite the chunk the outer one is still writing. */
static void pump_out(struct chan *c, int which)
{
	static bool pumping;

	if (pumping)
		return;
	pumping = true;
	pump_out_locked(c, which);
	pumping = false;
}

static int on_out_ready(socket_t fd, int revents, void *u)
{
	(void)fd;
	(void)revents;
	pump_out(u, W_OUT);
	return 0;
}

static int on_err_ready(socket_t fd, int revents, void *u)
{
	(void)fd;
	(void)revents;
	pump_out(u, W_ERR);
	return 0;
}

static void input_done(struct chan *c)
{
	if (c->forward && !c->in_done) {
		if (c->w[W_IN].fd >= 0)
			shutdown(c->w[W_IN].fd, SHUT_WR);
		c->in_done = true;
		maybe_finish(c);
	}
	watch_close(&c->w[W_IN]);
}

static void maybe_close_stdin(struct chan *c)
{
	if (c->in_eof && c->inlen == 0 && c->pending == 0 && !c->pty)
		input_done(c);
}

/* Write buffered input; refill from what libssh holds. false: would block. */
static bool flush_in(struct chan *c)
{
	int fd = c->w[W_IN].fd;

	while (fd >= 0 && !c->w[W_IN].close_req) {
		if (c->inlen == 0 && c->pending > 0) {
			int k = ssh_channel_read_nonblocking(c->ch, c->inbuf,
							    (uint32_t)(c->pending < INBUF_MAX ? c->pending : INBUF_MAX), 0);
			if (k <= 0) {
				c->pending = 0;
				break;
			}
			c->inlen = (size_t)k;
			c->pending -= (size_t)k;
		}
		if (c->inlen == 0)
			break;
		ssize_t n = write(fd, c->inbuf, c->inlen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return false;
		if (n < 0) {
			/* The job closed its stdin: what the client sends is dropped. */
			c->inlen = c->pending = 0;
			input_done(c);
			return true;
		}
		memmove(c->inbuf, c->inbuf + n, c->inlen - (size_t)n);
		c->inlen -= (size_t)n;
	}
	return true;
}

static int on_in_ready(socket_t fd, int revents, void *u)
{
	struct chan *c = u;

	(void)fd;
	(void)revents;
	if (flush_in(c))
		c->w[W_IN].want = 0;
	maybe_close_stdin(c);
	return 0;
}

static int on_data(ssh_session s, ssh_channel ch, void *data, uint32_t len, int is_stderr, void *u)
{
	struct chan *c = u;
	int fd = c->w[W_IN].fd;
	ssize_t n;

	(void)s;
	(void)ch;
	if (is_stderr || !c->started || fd < 0 || c->w[W_IN].close_req)
		return (int)len;
	if (c->inlen > 0) {
		c->pending = len;
		c->w[W_IN].want = POLLOUT;
		return 0;
	}
	n = write(fd, data, len);
	if (n < 0 && errno != EAGAIN && errno != EINTR) {
		input_done(c);
		return (int)len;
	}
	if (n < 0)
		n = 0;
	if ((size_t)n < len) {
		size_t k = len - (size_t)n < INBUF_MAX ? len - (size_t)n : INBUF_MAX;

		memcpy(c->inbuf, (char *)data + n, k);
		c->inlen = k;
		n += (ssize_t)k;
		c->w[W_IN].want = POLLOUT;
	}
	c->pending = len - (size_t)n;
	return (int)n;
}

static void on_eof(ssh_session s, ssh_channel ch, void *u)
{
	struct chan *c = u;

	(void)s;
	(void)ch;
	c->in_eof = true;
	maybe_close_stdin(c);
}

static void hangup(struct chan *c)
{
	if (c->pid > 0 && !c->exited) {
		kill(-c->pid, SIGHUP);
		kill(c->pid, SIGHUP);
		kill(-c->pid, SIGCONT);
	}
}

static void on_close(ssh_session s, ssh_channel ch, void *u)
{
	struct chan *c = u;

	(void)s;
	(void)ch;
	c->remote_closed = true;
	hangup(c);
	for (int i = 0; i < W_N; i++)
		watch_close(&c->w[i]);
}

static int on_pty(ssh_session s, ssh_channel ch, const char *term, int cols, int rows, int px,
		  int py, void *u)
{
	struct chan *c = u;

	(void)s;
	(void)ch;
	if (c->forward || c->started || c->pty || cols < 0 || rows < 0 || cols > 10000 || rows > 10000)
		return -1;
	c->pty = true;
	snprintf(c->term, sizeof(c->term), "%s", term && *term ? term : "vt100");
	for (char *p = c->term; *p; p++)
		if (*p < 0x21 || *p > 0x7e)
			*p = '?';
	c->ws = (struct winsize){ .ws_col = (unsigned short)cols, .ws_row = (unsigned short)rows,
				  .ws_xpixel = (unsigned short)(px > 0 && px < 65536 ? px : 0),
				  .ws_ypixel = (unsigned short)(py > 0 && py < 65536 ? py : 0) };
	return 0;
}

static int on_window_change(ssh_session s, ssh_channel ch, int cols, int rows, int px, int py, void *u)
{
	struct chan *c = u;

	(void)s;
	(void)ch;
	(void)px;
	(void)py;
	if (!c->pty || cols < 0 || rows < 0 || cols > 10000 || rows > 10000)
		return -1;
	c->ws.ws_col = (unsigned short)cols;
	c->ws.ws_row = (unsigned short)rows;
	if (c->started && c->w[W_OUT].fd >= 0)
		ioctl(c->w[W_OUT].fd, TIOCSWINSZ, &c->ws);
	return 0;
}

static int on_env(ssh_session s, ssh_channel ch, const char *name, const char *value, void *u)
{
	struct chan *c = u;
	char *kv;

	(void)s;
	(void)ch;
	if (c->forward || c->started || c->n_env >= ENV_CLIENT_MAX ||
	    !envfilter_accept(name, value, c->ss->cfg->accept_env)) {
		log_full(LOG_DEBUG, &c->ss->lctx, "refused env request %.64s", name);
		return -1;
	}
	if (asprintf(&kv, "%s=%s", name, value) < 0)
		return -1;
	if (strv_push(&c->env, &c->n_env, kv) < 0) {
		free(kv);
		return -1;
	}
	free(kv);
	return 0;
}

static void connection_strings(const struct sess *ss, char *conn, size_t cl, char *client, size_t l2)
{
	snprintf(conn, cl, "%s %d %s %d", ss->remote_ip, ss->remote_port, ss->local_ip, ss->local_port);
	snprintf(client, l2, "%s %d %d", ss->remote_ip, ss->remote_port, ss->local_port);
}

static int start(struct chan *c, const char *command, bool sftp)
{
	struct sess *ss = c->ss;
	char err[ERRLEN], conn[256], client[256];
	struct spawn_res res;
	struct spawn_req rq = {
		.exec = ss->exec, .pty = c->pty && !sftp, .term = c->term, .ws = c->ws, .command = command,
		.sftp = sftp, .client_env = c->env, .ssh_connection = conn, .ssh_client = client,
	};

	if (c->started || c->forward)
		return -1;
	c->started = true;
	connection_strings(ss, conn, sizeof(conn), client, sizeof(client));
	if (!ss->pidns_entered) {
		if (spawn_enter_ns(ss->exec, "pid", CLONE_NEWPID, err) < 0)
			goto failed;
		ss->pidns_entered = true;
	}
	if (spawn_start(&rq, &res, err) < 0)
		goto failed;
	c->pid = res.pid;
	c->w[W_IN].fd = res.in_fd;
	c->w[W_OUT].fd = res.out_fd;
	c->w[W_OUT].want = POLLIN;
	c->w[W_ERR].fd = res.err_fd;
	c->w[W_ERR].want = res.err_fd >= 0 ? POLLIN : 0;
	c->err_eof = res.err_fd < 0;
	{
		char *shown = command ? str_printable(command, 200) : NULL;
		log_full(LOG_INFO, &ss->lctx, "started %s%s (pid %d%s%s)",
			 sftp ? "sftp" : command ? "command: " : "login shell",
			 shown ? shown : "", (int)res.pid, *res.tty ? ", " : "", res.tty);
		free(shown);
	}
	return 0;
failed:
	/* Reported once the request's reply is out: see chan_housekeeping. */
	log_full(LOG_WARNING, &ss->lctx, "cannot start %s: %s", sftp ? "sftp" : command ? "command" : "shell", err);
	c->start_error = strdup(err);
	c->exited = c->out_eof = c->err_eof = true;
	c->status = 255 << 8;
	return 0;
}

static int on_shell(ssh_session s, ssh_channel ch, void *u)
{
	(void)s;
	(void)ch;
	return start(u, NULL, false);
}

static int on_exec(ssh_session s, ssh_channel ch, const char *command, void *u)
{
	(void)s;
	(void)ch;
	return start(u, command, false);
}

static int on_subsystem(ssh_session s, ssh_channel ch, const char *name, void *u)
{
	struct chan *c = u;
	char *shown;

	(void)s;
	(void)ch;
	if (strcmp(name, "sftp") == 0 && !c->forward)
		return start(c, NULL, true);
	shown = str_printable(name, 64);
	log_full(LOG_INFO, &c->ss->lctx, "refused subsystem request '%s': not supported", shown ? shown : "?");
	free(shown);
	return -1;
}

static const struct {
	const char *name;
	int sig;
} signals[] = {
	{ "ABRT", SIGABRT }, { "ALRM", SIGALRM }, { "FPE", SIGFPE },   { "HUP", SIGHUP },
	{ "ILL", SIGILL },   { "INT", SIGINT },   { "KILL", SIGKILL }, { "PIPE", SIGPIPE },
	{ "QUIT", SIGQUIT }, { "SEGV", SIGSEGV }, { "TERM", SIGTERM }, { "USR1", SIGUSR1 },
	{ "USR2", SIGUSR2 },
};

static void on_signal(ssh_session s, ssh_channel ch, const char *name, void *u)
{
	struct chan *c = u;

	(void)s;
	(void)ch;
	for (size_t i = 0; i < ARRAY_SIZE(signals); i++)
		if (strcmp(name, signals[i].name) == 0 && c->pid > 0 && !c->exited)
			kill(c->pid, signals[i].sig);
}

static void resume_output(struct chan *c)
{
	if (!c->paused || c->done || c->remote_closed || ssh_channel_window_size(c->ch) == 0)
		return;
	/* Held-back output goes first; until it is out, the fds stay unwatched
	 * (no busy loop while a key re-exchange runs). */
	if (!flush_pend(c, W_OUT) || !flush_pend(c, W_ERR))
		return;
	c->paused = false;
	for (int i = W_OUT; i < W_N; i++)
		if (c->w[i].fd >= 0 && !c->w[i].close_req)
			c->w[i].want = POLLIN;
}

static int on_wontblock(ssh_session s, ssh_channel ch, uint32_t bytes, void *u)
{
	(void)s;
	(void)ch;
	(void)bytes;
	resume_output(u);
	return 0;
}

static struct chan *chan_new(struct sess *ss)
{
	struct chan *c, **nv;

	if (ss->n_chans >= (size_t)ss->cfg->limits.max_sessions) {
		log_full(LOG_WARNING, &ss->lctx, "refused channel: limit of %d per connection reached",
			 ss->cfg->limits.max_sessions);
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	nv = c ? realloc(ss->chans, (ss->n_chans + 1) * sizeof(*nv)) : NULL;
	if (!nv) {
		free(c);
		return NULL;
	}
	ss->chans = nv;
	c->ss = ss;
	for (int i = 0; i < W_N; i++)
		c->w[i].fd = -1;
	c->cb = (struct ssh_channel_callbacks_struct){
		.userdata = c, .channel_data_function = on_data, .channel_eof_function = on_eof,
		.channel_close_function = on_close, .channel_signal_function = on_signal,
		.channel_pty_request_function = on_pty, .channel_shell_request_function = on_shell,
		.channel_pty_window_change_function = on_window_change,
		.channel_exec_request_function = on_exec, .channel_env_request_function = on_env,
		.channel_subsystem_request_function = on_subsystem,
		.channel_write_wontblock_function = on_wontblock,
	};
	ssh_callbacks_init(&c->cb);
	return c;
}

static void chan_attach(struct sess *ss, struct chan *c, ssh_channel ch)
{
	c->ch = ch;
	ssh_set_channel_callbacks(ch, &c->cb);
	ss->chans[ss->n_chans++] = c;
}

ssh_channel chan_open_session(ssh_session s, void *userdata)
{
	struct sess *ss = userdata;
	struct chan *c;
	ssh_channel ch;

	if (!ss->authenticated || !(c = chan_new(ss)))
		return NULL;
	ch = ssh_channel_new(s);
	if (!ch) {
		free(c);
		return NULL;
	}
	chan_attach(ss, c, ch);
	return ch;
}

void chan_open_forward(struct sess *ss, ssh_message msg)
{
	const char *host = ssh_message_channel_request_open_destination(msg);
	int port = ssh_message_channel_request_open_destination_port(msg), fd = -1;
	char err[ERRLEN], *shown = str_printable(host, 100);
	struct chan *c = NULL;
	ssh_channel ch;

	if (!ss->netns_entered) {
		if (spawn_enter_ns(ss->exec, "net", CLONE_NEWNET, err) < 0)
			goto refuse;
		ss->netns_entered = true;
	}
	if (!(c = chan_new(ss)))
		goto refused;
	/* Connect first, confirm after: the client learns of failure at once. */
	fd = forward_connect(host, port, FORWARD_CONNECT_MS, err);
	if (fd < 0)
		goto refuse;
	ch = ssh_message_channel_request_open_reply_accept(msg);
	if (!ch) {
		errf(err, -EIO, "cannot open the channel");
		goto refuse;
	}
	c->forward = c->started = c->exited = c->err_eof = true;
	c->w[W_IN].fd = fd;
	c->w[W_OUT].fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	c->w[W_OUT].want = POLLIN;
	chan_attach(ss, c, ch);
	log_full(LOG_INFO, &ss->lctx, "forwarding to %s port %d", shown ? shown : "?", port);
	free(shown);
	return;
refuse:
	log_full(LOG_INFO, &ss->lctx, "refused forward to %s port %d: %s", shown ? shown : "?", port, err);
refused:
	if (fd >= 0)
		close(fd);
	free(c);
	free(shown);
	ssh_message_reply_default(msg);
}

static void sync_watch(struct sess *ss, struct chan *c, struct watch *w, ssh_event_callback cb)
{
	if (w->fd < 0 || (w->have == w->want && !w->close_req))
		return;
	if (w->have)
		ssh_event_remove_fd(ss->ev, w->fd);
	w->have = 0;
	if (w->close_req) {
		close(w->fd);
		w->fd = -1;
		w->close_req = false;
		return;
	}
	if (w->want && ssh_event_add_fd(ss->ev, w->fd, w->want, cb, c) == SSH_OK)
		w->have = w->want;
}

static void chan_free(struct chan *c)
{
	for (int i = 0; i < W_N; i++)
		watch_close(&c->w[i]);
	for (int i = 0; i < W_N; i++)
		sync_watch(c->ss, c, &c->w[i], NULL);
	ssh_remove_channel_callbacks(c->ch, &c->cb);
	ssh_channel_free(c->ch);
	for (int i = 0; i < W_N; i++)
		free(c->w[i].pend);
	strv_free(c->env);
	free(c->start_error);
	free(c);
}

static void report_start_error(struct chan *c)
{
	char msg[ERRLEN + 32];
	int n = snprintf(msg, sizeof(msg), "peon-sshd: %s\r\n", c->start_error);

	ssh_channel_write_stderr(c->ch, msg, (uint32_t)(n < (int)sizeof(msg) ? n : (int)sizeof(msg) - 1));
	free(c->start_error);
	c->start_error = NULL;
	finish(c);
}

void chan_housekeeping(struct sess *ss)
{
	static const ssh_event_callback cbs[W_N] = { on_in_ready, on_out_ready, on_err_ready };
	size_t keep = 0;

	for (size_t i = 0; i < ss->n_chans; i++) {
		struct chan *c = ss->chans[i];

		if (c->start_error)
			report_start_error(c);
		if (c->remote_closed && !c->done) {
			c->done = true;
			ssh_channel_close(c->ch);
			c->dead = true;
		}
		resume_output(c);
		if (c->pty && c->exited && !c->out_eof && !c->paused && c->w[W_OUT].fd >= 0)
			pump_out(c, W_OUT);
		for (int k = 0; k < W_N; k++)
			sync_watch(ss, c, &c->w[k], cbs[k]);
		if (c->dead && !(c->pid > 0 && !c->exited && !c->remote_closed)) {
			chan_free(c);
			continue;
		}
		ss->chans[keep++] = c;
	}
	ss->n_chans = keep;
}

void chan_child_exited(struct sess *ss, pid_t pid, int status)
{
	for (size_t i = 0; i < ss->n_chans; i++) {
		struct chan *c = ss->chans[i];

		if (c->pid != pid || c->exited)
			continue;
		c->exited = true;
		c->status = status;
		log_full(LOG_DEBUG, &ss->lctx, "process %d ended with status 0x%x", (int)pid, status);
		/* A pty is drained (and closed) by housekeeping, outside callbacks. */
		maybe_finish(c);
		return;
	}
}

void chan_hangup_all(struct sess *ss)
{
	for (size_t i = 0; i < ss->n_chans; i++)
		hangup(ss->chans[i]);
}
