/* State shared by the modules that serve one connection inside the network
 * child: session.c (the loop), auth.c, dispatch.c (requests), channel.c
 * (channel table), relay.c (bytes), chan_session.c and chan_direct.c
 * (channel kinds). Everything privileged is asked of the monitor
 * (monclient.h).
 *
 * The rule that keeps this process correct: libssh runs its callbacks while
 * it processes packets, and it processes packets from inside many of its
 * own calls (ssh_channel_write during a key re-exchange, ssh_channel_close,
 * ...). So callbacks only record facts (data waiting, EOF, close), and
 * every reply, every channel write and every change to the channel table
 * happens in the main loop, one step after another. */
#ifndef PEON_SESSION_INT_H
#define PEON_SESSION_INT_H

#include "config.h"
#include "log.h"
#include "monproto.h"
#include "util.h"

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/server.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/ioctl.h>

struct chan;
struct pending_open;
struct lsn;

/* The poll set of one loop round; modules add fds and read revents back. */
#define POLL_MAX 1024
struct pollset {
	struct pollfd p[POLL_MAX];
	nfds_t n;
};
/* Add fd with events; returns its slot or -1 (full: the fd waits a round). */
int pollset_add(struct pollset *ps, int fd, short events);
short pollset_revents(const struct pollset *ps, int slot);

struct sess {
	const struct peon_config *cfg;
	ssh_session s;
	ssh_event ev;
	int fd;
	/* A second descriptor of the connection, from authentication to the
	 * end: libssh closes its own when the client leaves, and the monitor
	 * counts the connection's bytes from the socket's kernel state
	 * (montally.c), which must outlive that close (monc_ending). */
	int count_fd;
	int mon_fd;                      /* to the monitor (monproto.h) */
	struct endpoints ep;             /* ep.remote: "ip:port" for logs */
	bool authenticated, quit;
	/* Pre-auth accounting (auth.c): userauth requests counted toward
	 * max_auth_tries, refusals, and what ended the connection. */
	int auth_tries, auth_failures;
	bool none_asked;                 /* the first "none" is free */
	char *pk_ok_fp;                  /* the key the last probe was told "ok" for */
	bool tries_exhausted;            /* max_auth_tries reached: logged, exit AUTHFAIL */
	bool internal_error;             /* the monitor did not answer: exit INTERNAL */
	bool ended_by_us;                /* the monitor closed us: no pre-auth ending to report */
	char *exec_id;                   /* the execution the monitor let us into */
	char *user, *fp, *key_comment;
	struct log_ctx lctx;
	uint32_t next_chan_id;           /* names channels to the monitor */
	struct chan **chans;
	size_t n_chans;
	int n_session_chans, n_forward_chans;   /* open or being opened, per kind */
	struct pending_open **opens;     /* forward opens waiting for the job */
	size_t n_opens;
	char *denied[PERM_N];            /* the monitor's decision: why each is refused, NULL: allowed */
	struct lsn **lsns;               /* listeners in the job: remote forwards, agent, X11 */
	size_t n_lsns;
	bool agent_wanted;               /* a session channel asked for agent forwarding */
	bool agent_done;                 /* ... and it was set up or refused */
	long long unused_since;          /* no channel and no listener since then; 0: in use */
	/* ClientAliveInterval (clientalive.c): time of the last bytes from the
	 * client, the kernel's count of them then, and how many probes went
	 * unanswered since. */
	long long last_rx_ms;
	unsigned long long rx_bytes;
	int alive_probes;
};

/* clientalive.c: ClientAliveInterval/CountMax. The poll timeout until the
 * next probe is due (-1: off); sets ss->quit once count_max went unanswered. */
int client_alive(struct sess *ss, long long now);

/* auth.c */
void auth_handle(struct sess *ss, ssh_message msg);
/* The connection ended: log, report, drop the session record. */
void auth_session_closed(struct sess *ss);

/* session.c: once logged in, log the global requests libssh refuses itself. */
void session_watch_refused_requests(struct sess *ss);

/* dispatch.c: answer one request from the client (called from the loop). */
void dispatch_message(struct sess *ss, ssh_message msg);

/* channel.c: the channel table. */
enum chan_kind { CHAN_SESSION, CHAN_FORWARD };
/* Is there room for one more channel of this kind? Logs the refusal. */
bool chan_room(struct sess *ss, enum chan_kind kind);
/* Accept the open request in msg and register a channel; NULL on failure
 * (the request is then answered with a refusal). */
struct chan *chan_accept(struct sess *ss, ssh_message msg, enum chan_kind kind);
/* A channel we open toward the client for a connection accepted on a
 * listener (forwarded-tcpip, x11, auth-agent@openssh.com), relaying fd once
 * the client confirms. open_fn sends the open and is called again each
 * round until libssh knows the outcome (SSH_OK, SSH_AGAIN, SSH_ERROR).
 * Takes fd; NULL when it could not (fd closed, logged). */
struct chan *chan_open_out(struct sess *ss, enum chan_idle_kind idle, int fd, char *label,
			   int (*open_fn)(struct chan *c));
/* Opens toward the client that the client has answered: relay or drop. */
void chan_open_out_run(struct sess *ss);
/* Idle timeouts (limits.channel_timeout, unused_connection_timeout): close
 * what has been idle too long; ms until the next check, or -1. */
int chan_idle_run(struct sess *ss, long long now);
struct chan *chan_find(struct sess *ss, ssh_channel ch);
/* After each round: finish channels whose work is done, free closed ones. */
void chan_housekeeping(struct sess *ss);
/* The monitor says the process of channel id ended. */
void chan_child_exited(struct sess *ss, uint32_t id, int status);
void chan_hangup_all(struct sess *ss);
void chan_free_all(struct sess *ss);

/* chan_session.c: requests on session channels (pty, env, shell, exec,
 * subsystem, window-change). Replies to msg. */
void chan_session_request(struct sess *ss, struct chan *c, ssh_message msg);

/* chan_direct.c: direct-tcpip opens, connected from inside the job. */
void chan_direct_open(struct sess *ss, ssh_message msg);
/* The monitor's answer to open id: a connected fd, or -1 and why. */
void chan_direct_connected(struct sess *ss, uint32_t id, int fd, const char *err);
void chan_direct_run(struct sess *ss);
int chan_direct_timeout(struct sess *ss);
void chan_direct_cancel_all(struct sess *ss);

/* listeners.c: the connection's listeners in the job (remote forwards, the
 * agent socket, X11 displays); a connection accepted on one is handed to
 * its kind's file, which opens a channel toward the client for it. */
struct lsn {
	uint32_t id;                     /* names it to the monitor */
	enum mon_listen_kind kind;
	int fds[2], slot[2];
	int nfds;
	char *addr;                      /* tcp: the bind address as the client sent it */
	int port;                        /* tcp: the port as the client asked (0: any) */
	int bound;                       /* tcp: the port bound; x11: the display */
	uint32_t channel;                /* x11: the session channel it belongs to */
	bool single;                     /* x11: single-connection */
};
struct lsn_request {
	enum mon_listen_kind kind;
	uint32_t channel;
	const char *addr;
	int port;
	const char *x11_proto, *x11_cookie;
	int screen;
};
/* Ask the monitor for a listener in the job; 0 with *out, or -errno with err. */
int lsn_open(struct sess *ss, const struct lsn_request *rq, struct lsn **out, char *err);
void lsn_close(struct sess *ss, struct lsn *l);
struct lsn *lsn_find_tcp(struct sess *ss, const char *addr, int port);
void lsn_poll(struct sess *ss, struct pollset *ps);
void lsn_run(struct sess *ss, const struct pollset *ps);
void lsn_close_all(struct sess *ss);

/* chan_forwarded.c: tcpip-forward / cancel-tcpip-forward (ssh -R) and the
 * forwarded-tcpip channels for connections to those listeners. */
void chan_forwarded_request(struct sess *ss, ssh_message msg);
void chan_forwarded_accepted(struct sess *ss, struct lsn *l, int fd, const char *peer_ip, int peer_port);

/* chan_agent.c: auth-agent-req@openssh.com (ssh -A): the socket in the job,
 * set up before the next process starts, and the agent channels. */
void chan_agent_requested(struct chan *c);
void chan_agent_setup(struct sess *ss);
void chan_agent_accepted(struct sess *ss, struct lsn *l, int fd, const char *peer_ip, int peer_port);

/* chan_x11.c: x11-req (ssh -X) and the x11 channels. Replies to msg. */
void chan_x11_request(struct sess *ss, struct chan *c, ssh_message msg);
void chan_x11_accepted(struct sess *ss, struct lsn *l, int fd, const char *peer_ip, int peer_port);

/* relay.c: move bytes between channels and the job's fds. */
void relay_poll(struct sess *ss, struct pollset *ps);
void relay_run(struct sess *ss, const struct pollset *ps);

#endif
