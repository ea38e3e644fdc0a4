/* Routing questions from a connection's session process to the daemon, the
 * only authority on executions. Each connection gets a SOCK_SEQPACKET
 * socketpair at fork; the session asks, the daemon answers from memory.
 * Messages are one JSON object each, of bounded size:
 *   question: {"kind": "probe"|"claim", "user": "...", "fingerprint": "SHA256:..."}
 *   tally:    {"kind": "tally", "bytes_in": N, "bytes_out": N, "spawn_failures": N}
 *             (the monitor's running totals for its connection; never answered)
 *   answer:   {"result": "ok"|"none"|"ambiguous"|"refused", "message"?, "reason"?,
 *              "execution"? (a registry record carrying only the offered key)}
 * The session sends neither port nor address: the daemon knows both from
 * accept(). */
#ifndef PEON_ROUTEQ_H
#define PEON_ROUTEQ_H

#include "registry.h"
#include "route.h"

#include <stdint.h>

#define ROUTEQ_TIMEOUT_MS 5000      /* the session refuses when the daemon is slower */
#define ROUTEQ_USER_MAX 256         /* longer usernames are cut: no execution id is that long */
#define ROUTEQ_FP_MAX 128
#define ROUTEQ_MAX_QUESTION 4096
#define ROUTEQ_MAX_ANSWER (192 * 1024)  /* room for the job's seccomp filters (jobseccomp.h) */

enum routeq_kind { ROUTEQ_PROBE, ROUTEQ_CLAIM, ROUTEQ_TALLY };

/* What only a monitor knows of its connection, as totals since accept:
 * bytes on the wire from and to the client (the kernel's TCP_INFO), and
 * job-side starts that failed. Totals, so a lost message is made good by
 * the next one. */
struct routeq_tally {
	uint64_t bytes_in, bytes_out, spawn_failures;
};

struct route_answer {
	enum route_result result;  /* ROUTE_OK, ROUTE_NONE, ROUTE_AMBIGUOUS or ROUTE_REFUSED (a limit, or
				    * the session cannot be recorded) */
	struct execution *exec;    /* ROUTE_OK: a copy: id, port, target (pid, starttime), user, log_file,
				    * log_url, created/expires, and keys = only the offered key (with its comment) */
	char *message;             /* one line for the client (sent as a banner), or NULL */
	char *reason;              /* for the session's log line, or NULL */
};

/* Ask the daemon which execution the offered key reaches. PROBE: a key offered without signature. CLAIM: the
 * signature verified: the daemon re-routes, enforces max_connections, records the session (session file with the
 * connection process's pid) and from then on counts the connection as authenticated. Returns 0 with *ans filled,
 * or -errno with err filled (daemon gone, timeout of a few seconds, malformed answer): the caller then refuses.
 * After a failure the socket is shut down, so a late answer can never be taken for the next question's. */
int routeq_ask(int fd, enum routeq_kind kind, const char *user, const char *fingerprint, struct route_answer *ans,
	       char *err);
void route_answer_clear(struct route_answer *ans);
/* Send the connection's totals without waiting (the daemon answers none):
 * -errno with err when they cannot go out now. */
int routeq_send_tally(int fd, const struct routeq_tally *t, char *err);

/* ---- the daemon's side ---- */

struct routeq_question {
	enum routeq_kind kind;
	char user[ROUTEQ_USER_MAX + 1];          /* untrusted bytes, NUL-free */
	char fingerprint[ROUTEQ_FP_MAX + 1];
	struct routeq_tally tally;               /* ROUTEQ_TALLY */
};

/* Read one question without blocking: 1 with *q filled, 0 when none is waiting, -EPIPE when the session
 * process closed its end, another -errno with err for a malformed or oversized message. */
int routeq_read_question(int fd, struct routeq_question *q, char *err);
/* Send an answer without blocking. e (ROUTE_OK): the registry's execution, of which only the key with this
 * fingerprint goes out. -errno with err when the answer cannot go out whole now. */
int routeq_send_answer(int fd, enum route_result result, const struct execution *e, const char *fingerprint,
		       const char *message, const char *reason, char *err);

#endif
