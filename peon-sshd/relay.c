/* The byte relay: the one place that moves bytes between channels and the
 * job's fds, called once per loop round, never from a libssh callback.
 *
 * Why it is built this way: libssh 0.10 processes packets from inside
 * ssh_channel_write (it waits out a key re-exchange) and runs callbacks
 * there. A relay driven by callbacks can be re-entered in the middle of a
 * write and send a chunk twice, or past its end (issue 7). Here callbacks
 * only record facts, each stream keeps what one side produced and the other
 * has not taken yet, and nothing more is read from a stream until its
 * buffer is empty. Flow control falls out of that: job output is read only
 * while the client's window is open; client input is taken from libssh
 * (which reopens the client's window) only as fast as the job reads it. */
#include "chan.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RELAY_BUF (256 * 1024)
#define READS_PER_ROUND 4

/* This round's time: when a channel last moved bytes (channel timeouts). */
static long long round_ms;

static bool stream_alloc(struct chan *c, struct stream *s)
{
	if (!s->buf)
		s->buf = malloc(RELAY_BUF);
	if (!s->buf) {
		log_full(LOG_ERR, &c->ss->lctx, "out of memory relaying a channel");
		c->remote_closed = true;
	}
	return s->buf != NULL;
}

static bool channel_open(const struct chan *c)
{
	return !c->remote_closed && !c->done;
}

/* ---- job output -> client ---- */

/* Hand buffered output to the channel as far as the window allows. true
 * when the buffer is empty. */
static bool flush_out(struct chan *c, int which)
{
	struct stream *s = &c->st[which];
	uint32_t win = ssh_channel_window_size(c->ch);
	size_t n = s->len < win ? s->len : win;
	int wr;

	if (s->len == 0)
		return true;
	if (n == 0 || !channel_open(c))
		return false;
	wr = which == W_ERR ? ssh_channel_write_stderr(c->ch, s->buf + s->off, (uint32_t)n) :
			      ssh_channel_write(c->ch, s->buf + s->off, (uint32_t)n);
	if (wr == SSH_ERROR) {
		c->remote_closed = true;
		return false;
	}
	if (wr > 0) {
		/* libssh takes at most what was offered; never trust more. */
		size_t took = (size_t)wr < n ? (size_t)wr : n;
		s->off += took;
		s->len -= took;
	}
	if (s->len == 0)
		s->off = 0;
	return s->len == 0;
}

static void out_eof(struct chan *c, int which)
{
	stream_end(c, which);
	/* With a pty, in and out are one terminal: done reading, done writing. */
	if (c->pty && which == W_OUT)
		stream_end(c, W_IN);
}

static void move_out(struct chan *c, int which, bool readable)
{
	struct stream *s = &c->st[which];
	/* A pty whose shell ended may stay open in background processes:
	 * what is there is drained, then it counts as ended. */
	bool draining = c->pty && c->exited;

	for (int i = 0; i < READS_PER_ROUND; i++) {
		uint32_t win;
		size_t want;
		ssize_t n;

		if (!flush_out(c, which) || s->fd < 0 || !channel_open(c))
			return;
		if (!readable && !draining)
			return;
		win = ssh_channel_window_size(c->ch);
		if (win == 0 || !stream_alloc(c, s))
			return;
		want = win < RELAY_BUF ? win : RELAY_BUF;
		n = read(s->fd, s->buf, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			if (draining)
				out_eof(c, which);
			return;
		}
		if (n <= 0) {
			out_eof(c, which);
			return;
		}
		s->off = 0;
		s->len = (size_t)n;
		c->last_io_ms = round_ms;
		/* A short read means drained: skip the read that would only say
		 * EAGAIN (one syscall less per keystroke). */
		readable = (size_t)n == want;
	}
	flush_out(c, which);
}

/* ---- client input -> job ---- */

static void in_done(struct chan *c)
{
	struct stream *s = &c->st[W_IN];

	c->draining_in = false;
	if (s->eof)
		return;
	/* A forward carries TCP half-close: the socket's other half lives on
	 * as the output stream's fd. */
	if (c->kind == CHAN_FORWARD && s->fd >= 0)
		shutdown(s->fd, SHUT_WR);
	stream_end(c, W_IN);
}

/* Take what libssh holds for the channel into the stream's buffer. */
static bool refill_in(struct chan *c, struct stream *s)
{
	int k;

	if (c->in_avail == 0 || !stream_alloc(c, s))
		return false;
	k = ssh_channel_read_nonblocking(c->ch, s->buf,
					 (uint32_t)(c->in_avail < RELAY_BUF ? c->in_avail : RELAY_BUF), 0);
	if (k <= 0) {
		c->in_avail = 0;
		return false;
	}
	c->in_avail -= (size_t)k < c->in_avail ? (size_t)k : c->in_avail;
	s->off = 0;
	s->len = (size_t)k;
	return true;
}

static void move_in(struct chan *c, bool writable)
{
	struct stream *s = &c->st[W_IN];

	if (s->fd < 0 || s->eof) {
		c->draining_in = false;
		/* Nobody reads any more: what the client sends is dropped. */
		if (c->in_avail && channel_open(c) && stream_alloc(c, s) &&
		    ssh_channel_read_nonblocking(c->ch, s->buf, RELAY_BUF, 0) <= 0)
			c->in_avail = 0;
		s->len = 0;
		return;
	}
	if (s->blocked && !writable)
		return;
	s->blocked = false;
	while (s->len > 0 || refill_in(c, s)) {
		ssize_t n = write(s->fd, s->buf + s->off, s->len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			s->blocked = true;
			return;
		}
		if (n < 0) {
			/* The job closed its end. */
			in_done(c);
			return;
		}
		s->off += (size_t)n;
		s->len -= (size_t)n;
		c->last_io_ms = round_ms;
	}
	if ((c->in_eof || c->draining_in) && c->in_avail == 0 && !c->pty)
		in_done(c);
}

/* ---- one round ---- */

void relay_poll(struct sess *ss, struct pollset *ps)
{
	for (size_t i = 0; i < ss->n_chans; i++) {
		struct chan *c = ss->chans[i];
		bool open = channel_open(c) && c->started;
		bool win = open && ssh_channel_window_size(c->ch) > 0;

		for (int k = 0; k < W_N; k++) {
			struct stream *s = &c->st[k];
			short ev = 0;

			s->slot = -1;
			if (s->fd < 0 || !(open || (k == W_IN && c->draining_in)))
				continue;
			if (k == W_IN)
				ev = s->blocked ? POLLOUT : 0;
			else
				ev = s->len == 0 && win ? POLLIN : 0;
			if (ev)
				s->slot = pollset_add(ps, s->fd, ev);
		}
	}
}

static bool ready(const struct pollset *ps, const struct stream *s)
{
	return s->slot >= 0 && pollset_revents(ps, s->slot) != 0;
}

void relay_run(struct sess *ss, const struct pollset *ps)
{
	/* Nothing called from here adds or removes channels: libssh may
	 * process packets inside our writes, but requests only queue up. */
	round_ms = mono_ms();
	for (size_t i = 0; i < ss->n_chans; i++) {
		struct chan *c = ss->chans[i];

		if (c->draining_in) {
			move_in(c, ready(ps, &c->st[W_IN]));
			continue;
		}
		if (!c->started || !channel_open(c))
			continue;
		move_in(c, ready(ps, &c->st[W_IN]));
		move_out(c, W_OUT, ready(ps, &c->st[W_OUT]));
		move_out(c, W_ERR, ready(ps, &c->st[W_ERR]));
	}
}
