/* One SSH channel of a connection and the fds it relays to. Shared by
 * channel.c (table, lifecycle), relay.c (bytes) and the channel kinds
 * (chan_session.c, chan_direct.c). */
#ifndef PEON_CHAN_H
#define PEON_CHAN_H

#include "session_int.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/types.h>

enum { W_IN, W_OUT, W_ERR, W_N };

/* One direction of bytes on one fd. buf holds what one side produced and
 * the other has not taken yet; while it is not empty nothing more is read. */
struct stream {
	int fd;
	int slot;          /* this round's pollset slot, or -1 */
	char *buf;
	size_t off, len;
	bool eof;          /* out/err: the job's side ended; in: closed toward the job */
	bool blocked;      /* in: the last write said EAGAIN: wait for POLLOUT */
};

struct chan {
	struct sess *ss;
	uint32_t id;               /* the monitor knows the channel's process by it */
	ssh_channel ch;
	enum chan_kind kind;
	struct ssh_channel_callbacks_struct cb;
	char *label;               /* forward: "host port N", for logs */
	enum chan_idle_kind idle_kind;
	long long last_io_ms;      /* bytes moved either way (limits.channel_timeout) */
	/* channels we open toward the client: the open is pending until then */
	int (*open_fn)(struct chan *c);
	int open_fd;               /* relayed once the client confirms */
	char *o_addr, *o_src;      /* forwarded-tcpip / x11: what the open names */
	int o_port, o_sport;
	/* session channels: what the requests set up */
	bool pty;
	char term[64];
	struct winsize ws;
	char **env;
	size_t n_env;
	bool started;
	char *start_error;         /* reported on the channel by housekeeping */
	bool spawned;              /* the monitor started a process for it (released at free) */
	bool hung_up;              /* the monitor was told the client closed */
	bool exited;
	int status;
	struct stream st[W_N];
	/* Set by the data callback: bytes libssh holds for this channel. They
	 * are taken with ssh_channel_read_nonblocking by the relay, which is
	 * also what reopens the client's window. */
	size_t in_avail;
	bool in_eof;               /* the client sent EOF */
	bool eof_sent;
	bool remote_closed;        /* the client closed, or the channel broke */
	bool draining_in;          /* forward: closed by the client with input not yet written to the socket */
	bool done;                 /* we sent close */
};

/* Mark a stream finished: its fd is closed by housekeeping. */
void stream_end(struct chan *c, int which);
/* A forward channel relays this socket from now on (in and out: dups). */
void chan_attach_socket(struct chan *c, int fd);
/* Exit status (session channels), EOF and close, once everything is out. */
void chan_maybe_finish(struct chan *c);

#endif
