/* State of one monitor, shared by monitor.c (the process, the child, the
 * loop, authentication) and monjob.c (the requests that act inside the
 * job: spawn, signal, hang up, connect). */
#ifndef PEON_MONITOR_INT_H
#define PEON_MONITOR_INT_H

#include "config.h"
#include "jobenter.h"
#include "jobtask.h"
#include "log.h"
#include "monproto.h"
#include "registry.h"
#include "routeq.h"
#include "util.h"

#include <linux/inet_diag.h>
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

/* A job-side task (jobtask.h) run for the child: a direct-tcpip connect
 * or a listener, answered when its helper answers. */
struct mtask {
	uint32_t id;
	enum mon_type answer;           /* MON_CONNECTED or MON_LISTENING */
	uint32_t listen_kind, channel;  /* listens: enum mon_listen_kind, x11's session channel */
	pid_t pid;
	int sock;
	long long deadline;
	int slot;
};

/* A listener the child holds (remote forward, agent, X11), as the monitor
 * knows it: counted against forwarding.max_listeners, and what it left in
 * the job removed at the end. */
struct mlisten {
	uint32_t id, kind, channel;
	bool ready;                     /* the helper answered; the child has it */
	int display;                    /* x11 */
	char *path;                     /* agent socket or Xauthority file in the job */
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
	char *refused_fp;               /* the last key the daemon refused, for the child's line about it */
	struct job_identity runs_as;    /* who the shell runs as; name "" when unknown */
	struct endpoints ep;
	struct log_ctx lctx;
	bool pidns_entered;
	struct mproc *procs;
	size_t n_procs;
	struct mtask *tasks;
	size_t n_tasks;
	struct mlisten *listens;
	size_t n_listens;
	const struct authkey *key;      /* the key that logged in (in exec), with its options */
	char *denied[PERM_N];           /* why each of enum mon_perm is refused; NULL: allowed */
	long long log_window;           /* rate limit on the child's log lines */
	int log_count, log_dropped;
	int diag_family;                /* the connection for sock_diag (montally.c); 0: unknown */
	struct inet_diag_sockid diag_id;
	uint64_t spawn_failures;        /* job-side starts that failed */
	struct routeq_tally tallied;    /* the totals the daemon has */
	long long tally_at;             /* mono ms: totals due again */
};

/* montally.c: the connection's totals for the daemon's counters. */
/* Note the connection fd's addresses (the fd itself is the child's). */
void montally_start(struct mon *m, int fd);
/* ms until totals are due, and send them when due; _send: now (a channel
 * ended, the child ended), if they changed. */
int montally_timeout(const struct mon *m);
void montally_tick(struct mon *m);
void montally_send(struct mon *m);

/* End the connection: the child asked for something it may not. */
void mon_violation(struct mon *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Send a record to the child; a child that does not take it is killed. */
void mon_reply(struct mon *m, struct mon_buf *b, const int *fds, int nfds);

/* monfwd.c: what the connection may forward, and its listeners. */
void monfwd_decide(struct mon *m);
/* The decision, for the child: one string per permission, "" = allowed. */
void monfwd_put_perms(const struct mon *m, struct mon_buf *b);
/* direct-tcpip to host:port: NULL when allowed, else why not. */
const char *monfwd_connect_denied(const struct mon *m, const char *host, int port, char *buf, size_t len);
void monfwd_listen(struct mon *m, const struct mon_request *rq);
void monfwd_unlisten(struct mon *m, const struct mon_request *rq);
/* A listen task ended: r 0 with res, or an error. Answers the child. */
void monfwd_listened(struct mon *m, const struct mtask *t, int r, struct jobtask_result *res, const char *err);
/* What sshd sets for a spawn on channel id: SSH_AUTH_SOCK, DISPLAY,
 * XAUTHORITY, SSH_ORIGINAL_COMMAND. Heap vector (strv_free) or NULL. */
char **monfwd_spawn_env(const struct mon *m, uint32_t id, const char *original_command);
/* The key's command="...", or NULL. */
const char *monfwd_forced_command(const struct mon *m);
/* Remove what the listeners left in the job (agent socket, Xauthority). */
void monfwd_end(struct mon *m);

/* monjob.c */
/* Point m->exec at the job's process now (target.h): a container may have
 * restarted since the daemon saw it. Before every job-side operation. */
int monjob_refresh(struct mon *m, char *err);
void monjob_spawn(struct mon *m, const struct mon_request *rq);
void monjob_signal(struct mon *m, const struct mon_request *rq);
void monjob_hangup(struct mon *m, const struct mon_request *rq);
void monjob_release(struct mon *m, const struct mon_request *rq);
void monjob_connect(struct mon *m, const struct mon_request *rq);
/* SIGCHLD: a process of ours ended (not the network child). */
void monjob_reaped(struct mon *m, pid_t pid, int status);
/* Start a job-side task for the child; answered by monjob_run. 0 or -errno. */
int monjob_task(struct mon *m, const struct jobtask *jt, uint32_t id, enum mon_type answer, uint32_t listen_kind,
		uint32_t channel, char *err);
/* Pending tasks: their fds in the poll set, their answers, deadlines. */
size_t monjob_poll(struct mon *m, struct pollfd *p, size_t room);
void monjob_run(struct mon *m, const struct pollfd *p);
int monjob_timeout(const struct mon *m);
/* The connection ended: hang up every process still running, drop connects. */
void monjob_end(struct mon *m);

#endif
