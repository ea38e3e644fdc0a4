/* The daemon: one process, one poll loop, no threads. It owns the registry,
 * the listeners and the control socket, and forks a process per connection. */
#ifndef PEON_DAEMON_H
#define PEON_DAEMON_H

#include "address.h"
#include "config.h"
#include "hostkey.h"
#include "uidpool.h"

struct keyfetch;
struct keyurls;
struct addlooks;
struct look;
#include "listener.h"
#include "preauth.h"
#include "registry.h"
#include "report.h"
#include "routeq.h"
#include "util.h"

#include <json-c/json.h>
#include <libssh/server.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

/* Control clients (peon-sshctl) at once. When all slots are taken a new
 * client evicts the longest-idle one (control.c): idle clients never lock
 * others out. */
#define CTL_MAX_CLIENTS 16
/* A client must send its whole request (one line) within this... */
#define CTL_REQUEST_TIMEOUT_MS 5000
/* ...and take its whole reply within this; then it is closed. */
#define CTL_REPLY_TIMEOUT_MS 10000
/* A request answered later (an add waiting for its key URLs) is answered
 * within this, or its client is closed; key fetches end well before. */
#define CTL_ANSWER_TIMEOUT_MS 45000

/* A control client as a later answer finds it: its slot, and the serial
 * number of the connection in that slot (a slot is reused). */
struct ctl_ref {
	int slot;
	unsigned long long serial;
};

/* One control connection: reads one request, then writes one reply without
 * ever blocking the daemon (the reply is queued, at most CTL_MAX_MSG). */
struct ctl_client {
	int fd;
	uid_t uid;
	char *in;                /* the request so far */
	size_t in_len;
	char *out;               /* the queued reply; NULL while reading */
	size_t out_len, out_off;
	bool waiting;            /* request taken, answer later (control_answer) */
	unsigned long long serial;
	long long since;         /* mono ms: accepted */
	long long deadline;      /* mono ms: for the request, then for the reply */
};

/* One connection's session process, from accept until it is reaped. */
struct conn {
	pid_t pid;
	int fd;             /* our end of its routeq socket (routeq.h); -1 once closed */
	int port;           /* of the listener that accepted it: routing uses this, never the session's word */
	char remote[96];    /* "ip:port" from accept() */
	char remote_ip[64]; /* the address alone: keys' from= options match it */
	struct preauth_addr addr;   /* the same, for per-source accounting */
	bool claimed;       /* let in (routeq CLAIM): no longer counts against max_startups */
	char execution[EXECUTION_ID_MAX + 1];  /* claimed: the execution it reached */
	bool counted;       /* counted as unauthenticated in the daemon's preauth table */
	int uid_slot;       /* its network child's uid: privsep.uid_base + this */
	struct routeq_tally tally;  /* its monitor's last totals (metrics.c) */
};

/* Why connections were refused at accept, for status. */
enum drop_reason { DROP_PENALISED, DROP_PER_SOURCE, DROP_MAX_STARTUPS, DROP_REASONS };

/* Counters beyond accept and refusal (metrics.c), and the text file's state. */
struct metrics {
	unsigned long long auth_failures;   /* connections ended after failed authentication */
	unsigned long long bytes_in, bytes_out, spawn_failures;  /* monitors' tallies */
	bool dirty;                 /* something changed since the last write */
	long long written_ms;       /* mono ms of the last write; 0: write now */
	char error[ERRLEN];         /* the last write's failure, "" when it worked */
};

struct daemon {
	const char *config_path;
	bool config_explicit;
	struct peon_config cfg;
	struct hostkeys hk;         /* public halves and the private files' paths */
	int net_image;              /* sealed memfd of peon-sshd-net */
	char empty_dir[4096];       /* the network children's root */
	struct uidpool uids;
	struct registry reg;
	struct listener *ls;
	size_t n_ls;
	int ctl_fd, sig_fd;
	struct ctl_client clients[CTL_MAX_CLIENTS];
	struct conn *conns;
	size_t n_conns;
	struct spare *spares;       /* monitors waiting for a connection (spares.h) */
	size_t n_spares;
	long long spares_due;       /* when to replace spares taken (mono_ms), 0: not due */
	time_t started;
	bool stopping;
	bool earlier_sessions;      /* records of a daemon before a restart may still be live */
	struct address addr;        /* discovered at start and on reload */
	struct hostkey_info hki;    /* the offered host key the connect lines name */
	pid_t reporter;
	pid_t primer;               /* the cgroup primer (primer.h), 0 when none */
	int primer_fd;              /* our end of its pipe, -1 when none */
	long long primer_retry_at;  /* mono_ms before which it is not started again */
	unsigned long long accepted, dropped;
	unsigned long long dropped_by[DROP_REASONS];
	struct preauth pre;         /* per-source limits and penalties */
	unsigned long long ctl_serial;  /* of the last control connection accepted */
	struct ctl_ref ctl_serving;     /* the client whose request is being handled */
	struct keyfetch *kf;        /* key fetcher (keyfetch.c) */
	struct keyurls *ku;         /* waiting adds and refreshes, refresh times (keyurls.c) */
	struct addlooks *al;        /* adds waiting for their container's runtime (addlook.c) */
	struct ratelimit refusal_log;   /* refusal lines in all, whatever their source */
	struct metrics met;
};

int daemon_run(struct daemon *d);
/* -t: algorithm lists accepted by libssh, host keys (if present) safe. */
int daemon_check_config(const struct peon_config *cfg, char *err);

/* Used by control.c. */
int daemon_ensure_port(struct daemon *d, int port, char *err);
void daemon_release_port(struct daemon *d, int port);
/* <runtime_dir>/executions: one record per execution (regstore.h). */
const char *daemon_records_dir(const struct daemon *d, char *buf, size_t len);
/* End access to id: dropped from memory first (no login can succeed from
 * then on, whatever the disk does), its sessions signalled, its record
 * deleted. -errno with err when the record could not be deleted: access has
 * ended all the same, but a restart would restore it. */
int daemon_end_execution(struct daemon *d, const char *id, const char *reason, char *err);
void daemon_notify_status(struct daemon *d);
/* Connections not yet let in (limits.max_startups). */
size_t daemon_unauthenticated(const struct daemon *d);
/* Sources refused now by a penalty. */
size_t daemon_penalised_sources(struct daemon *d);
/* Write the activation lines of a newly registered execution. */
/* shell: what the connect line runs (job_connect_shell). */
void daemon_report_activation(struct daemon *d, const struct execution *e, const char *shell);
json_object *control_handle(struct daemon *d, json_object *req);

/* The door for unauthenticated connections (gate.c). */
int gate_init(struct daemon *d, char *err);
void gate_reconfigure(struct daemon *d);
void gate_free(struct daemon *d);
/* At accept, before fork: false when the connection is to be closed (the
 * refusal is logged, rate-limited); true when admitted and counted. */
bool gate_admit(struct daemon *d, const struct sockaddr_storage *sa, const char *remote, struct preauth_addr *a);
/* c stops (uncount: it authenticated or ended) or starts again (recount)
 * counting as unauthenticated. */
void gate_uncount(struct daemon *d, struct conn *c);
void gate_recount(struct daemon *d, struct conn *c);
/* c's session process exited with wait status st: log what only the
 * daemon sees (grace time, crash) and penalise its source. */
void gate_ended(struct daemon *d, struct conn *c, int st);

/* Counters and the Prometheus text file (metrics.c). */
void metrics_changed(struct daemon *d);
/* A monitor's totals for connection c (routeq.h): what grew is counted. */
void metrics_tally(struct daemon *d, struct conn *c, const struct routeq_tally *t);
/* The counters into a status reply. */
void metrics_status(struct daemon *d, json_object *o);
/* ms until the text file is due (-1: none configured); write it when due. */
int metrics_timeout(struct daemon *d);
void metrics_tick(struct daemon *d);
/* After a reload: write at once, remove the file at a path no longer used. */
void metrics_reconfigure(struct daemon *d, const char *old_path);

/* The control socket (control.c). */
int control_listen(struct daemon *d, char *err);
void control_accept(struct daemon *d);
short control_client_events(const struct ctl_client *c);
void control_client_io(struct daemon *d, struct ctl_client *c, short revents);
void control_client_close(struct ctl_client *c);
/* Close clients past their deadline; ms until the next deadline, or -1. */
int control_timeouts(struct daemon *d);
/* A handler that returns NULL answers later: control_current() names the
 * client, control_answer() sends the answer (taking reply) if it is still
 * waiting, and says whether it was. */
struct ctl_ref control_current(const struct daemon *d);
bool control_answer(struct daemon *d, struct ctl_ref ref, json_object *reply);
bool control_waiting(struct daemon *d, struct ctl_ref ref);
/* The end of an add: e (checked, its port listening) recorded, registered,
 * announced; the reply. Takes e; on failure frees it and, with port_new,
 * releases its port when unused. */
json_object *control_register(struct daemon *d, struct execution *e, bool port_new);
/* An add's container as its runtime described it (addlook.c): the rest
 * of the add, as do_add would have gone on. NULL when answered later. */
json_object *control_add_looked(struct daemon *d, struct execution *e, long long ttl_ms, const struct look *l);
/* In a forked child: close every descriptor of the daemon's. */
void daemon_close_inherited(void *d);

#endif
