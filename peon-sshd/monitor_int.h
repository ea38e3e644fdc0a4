/* State of one monitor, shared by monitor.c (the process, the child, the
 * loop, authentication) and monjob.c (the requests that act inside the
 * job: spawn, signal, hang up, connect). */
#ifndef PEON_MONITOR_INT_H
#define PEON_MONITOR_INT_H

#include "config.h"
#include "jobenter.h"
#include "log.h"
#include "monproto.h"
#include "registry.h"
#include "util.h"

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* A process started for a channel: the child names it by its channel id. */
struct mproc {
	uint32_t id;
	pid_t pid;
	bool exited;        /* reaped */
	bool released;      /* the child freed the channel: the id is free again */
};

/* A direct-tcpip connect being made by a job-side helper. */
struct mconnect {
	uint32_t id;
	pid_t pid;
	int sock;
	long long deadline;
	int slot;
};

struct mon {
	const struct peon_config *cfg;
	int sock;                       /* to the network child */
	int daemon_fd;
	int sigfd;
	pid_t child;
	int n_hostkeys;                 /* private key files given to the child */
	int child_status;
	bool child_done;
	bool violation;                 /* the child broke the protocol: killed */
	bool sock_eof;                  /* the child closed its end */
	bool terminating;               /* SIGTERM/SIGHUP: the child was asked to close */
	long long kill_at;              /* then SIGKILL if it has not ended */
	bool internal_error;            /* our failure (the daemon did not answer) */
	bool authed;
	int auth_asks;
	struct execution *exec;         /* after the claim: the daemon's copy */
	char *user, *fp, *key_comment;
	struct job_identity runs_as;    /* who the shell runs as; name "" when unknown */
	struct endpoints ep;
	struct log_ctx lctx;
	bool pidns_entered;
	struct mproc *procs;
	size_t n_procs;
	struct mconnect *conns;
	size_t n_conns;
	long long log_window;           /* rate limit on the child's log lines */
	int log_count, log_dropped;
};

/* End the connection: the child asked for something it may not. */
void mon_violation(struct mon *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Send a record to the child; a child that does not take it is killed. */
void mon_reply(struct mon *m, struct mon_buf *b, const int *fds, int nfds);

/* monjob.c */
void monjob_spawn(struct mon *m, const struct mon_request *rq);
void monjob_signal(struct mon *m, const struct mon_request *rq);
void monjob_hangup(struct mon *m, const struct mon_request *rq);
void monjob_release(struct mon *m, const struct mon_request *rq);
void monjob_connect(struct mon *m, const struct mon_request *rq);
/* SIGCHLD: a process of ours ended (not the network child). */
void monjob_reaped(struct mon *m, pid_t pid, int status);
/* Pending connects: their fds in the poll set, their answers, deadlines. */
size_t monjob_poll(struct mon *m, struct pollfd *p, size_t room);
void monjob_run(struct mon *m, const struct pollfd *p);
int monjob_timeout(const struct mon *m);
/* The connection ended: hang up every process still running, drop connects. */
void monjob_end(struct mon *m);

#endif
