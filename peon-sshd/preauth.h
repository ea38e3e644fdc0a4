/* Who may start an unauthenticated connection, and who is refused for a
 * while: per-source accounting, MaxStartups random early drop and
 * PerSourcePenalties, with OpenSSH 9.8's semantics (sshd_config(5)).
 *
 * Pure: no I/O, no clock and no randomness of its own. The caller passes
 * the time (monotonic ms) and the early-drop dice, so every decision can be
 * unit-tested with time passing.
 *
 * A source is the peer's address cut to a prefix (IPv4 /32 and IPv6 /64 by
 * default). IPv4-mapped IPv6 addresses (a dual-stack "::" listener) are
 * IPv4. The table keeps an entry per source that has unauthenticated
 * connections or a penalty running; penalties are bounded per address
 * family (max_sources), unauthenticated counts by the connections alive. */
#ifndef PEON_PREAUTH_H
#define PEON_PREAUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* ---- how a session process ended (its exit status is the contract) ---- */

/* Exit codes of a connection's session process. Death by SIGALRM (the
 * login grace alarm's default action) means the grace time ran out; by
 * SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGSYS or SIGTRAP a crash. */
enum session_exit {
	SESSION_EXIT_OK = 0,        /* authenticated, or ended by us (signal, shutdown) */
	SESSION_EXIT_INTERNAL = 1,  /* our own failure (setup, daemon unreachable): not the client's */
	SESSION_EXIT_NOAUTH = 10,   /* the client left without a failed authentication attempt */
	SESSION_EXIT_AUTHFAIL = 11, /* the client left after failed attempts, or max_auth_tries ran out */
	SESSION_EXIT_PROTOCOL = 12, /* a protocol or key exchange error, or the network child broke the
				     * monitor's protocol */
	SESSION_EXIT_SIGNALED = 128, /* + N: the network child died by signal N (the monitor reports it) */
};

enum preauth_ending {
	ENDING_NONE,      /* nothing to hold against the client */
	ENDING_NOAUTH,
	ENDING_AUTHFAIL,
	ENDING_PROTOCOL,
	ENDING_GRACE,     /* SIGALRM: login_grace_time exceeded */
	ENDING_CRASH,
	ENDING_KILLED,    /* another signal (SIGKILL by the OOM killer or an admin): no penalty */
};

/* The ending of an unauthenticated connection from its waitpid() status. */
enum preauth_ending preauth_ending_of(int wait_status);
/* The signal that ended it (the monitor's, or its network child's as the
 * monitor reports it in its exit code), or 0. */
int preauth_signal_of(int wait_status);
const char *preauth_ending_name(enum preauth_ending e);

/* ---- penalties ---- */

enum preauth_kind { PENALTY_CRASH, PENALTY_AUTHFAIL, PENALTY_NOAUTH, PENALTY_GRACE, PENALTY_KINDS };

/* The penalty an ending earns: false for none. A protocol error earns the
 * noauth penalty, as an sshd-session that exits on a fatal error does. */
bool preauth_ending_penalty(enum preauth_ending e, enum preauth_kind *kind);
/* "crash", "authfail", "noauth", "grace-exceeded" (OpenSSH's keywords). */
const char *preauth_kind_name(enum preauth_kind k);

/* ---- addresses ---- */

struct preauth_addr {
	int family;               /* AF_INET or AF_INET6 */
	unsigned char a[16];      /* AF_INET: the first 4 bytes */
};

/* An address/prefix entry of the exempt list: "192.0.2.7", "10.0.0.0/8",
 * "2001:db8::/32". */
struct preauth_net {
	struct preauth_addr addr;
	int prefix;
};

/* The peer address of an accepted socket. -EAFNOSUPPORT for other families. */
int preauth_addr_from_sockaddr(const struct sockaddr *sa, struct preauth_addr *out);
/* Strict: a literal address, optionally "/prefix" in decimal (0-32 or
 * 0-128), no bits set past the prefix, no IPv4-mapped IPv6. -EINVAL with
 * one sentence in err. */
int preauth_net_parse(const char *s, struct preauth_net *out, char *err);
bool preauth_net_contains(const struct preauth_net *n, const struct preauth_addr *a);
/* "192.0.2.7", "192.0.2.0/24", "2001:db8:1:2::/64": an address cut to prefix. */
void preauth_addr_format(const struct preauth_addr *a, int prefix, char *out, size_t len);

/* ---- log rate limiting ---- */

/* At most burst events per window; the rest are counted. */
struct ratelimit {
	long long start;
	unsigned used;
	unsigned long suppressed;
};
/* True when this event may be logged; *suppressed (if not NULL) then gets
 * how many were held back since the last one logged, and is reset. */
bool ratelimit_take(struct ratelimit *rl, long long now, long long window, unsigned burst,
		    unsigned long *suppressed);

/* ---- the table ---- */

struct preauth_cfg {
	int start, rate, full;          /* MaxStartups start:rate:full; start == full: a hard cap */
	int per_source;                 /* unauthenticated connections per source; 0 = no limit */
	int prefix4, prefix6;           /* bits of an address that make its source */
	bool penalties;                 /* PerSourcePenalties on */
	int penalty_s[PENALTY_KINDS];   /* seconds each kind adds; 0 = that kind is off */
	int penalty_max_s;              /* at most this much is outstanding against a source */
	int penalty_min_s;              /* a source is refused once this much has accrued */
	int max_sources;                /* penalised sources tracked per address family */
	const struct preauth_net *exempt;   /* never penalised; copied */
	size_t n_exempt;
};

enum preauth_verdict {
	PREAUTH_OK,          /* admitted and counted */
	PREAUTH_PENALISED,   /* the source is serving a penalty */
	PREAUTH_PER_SOURCE,  /* the source has per_source unauthenticated connections */
	PREAUTH_FULL,        /* full unauthenticated connections in all */
	PREAUTH_EARLY_DROP,  /* between start and full, the dice said drop */
	PREAUTH_NOMEM,
};

struct preauth_entry;

struct preauth {
	struct preauth_cfg cfg;
	struct preauth_net *exempt;     /* owned copy of cfg.exempt */
	struct preauth_entry *v;        /* entries; a freed one is on the free list */
	size_t cap, used;               /* allocated, ever used (high water) */
	int32_t free_head;
	int32_t *bucket;                /* hash chains of entry indexes, -1 terminated */
	size_t nbucket;                 /* a power of two */
	size_t live;                    /* entries in use */
	size_t penalised[2];            /* entries holding a penalty, IPv4 and IPv6 */
	size_t unauth;                  /* unauthenticated connections counted, all sources */
	uint64_t seed;                  /* hash key: chains an attacker cannot aim at */
};

/* seed: a random number (the daemon's from getrandom). */
int preauth_init(struct preauth *p, const struct preauth_cfg *cfg, uint64_t seed);
/* New settings (reload). Counts and penalties are kept; sources are
 * re-cut if a prefix changed. -ENOMEM leaves p as it was. */
int preauth_reconfigure(struct preauth *p, const struct preauth_cfg *cfg);
void preauth_free(struct preauth *p);

/* May a connection from a start? rnd: uniform in 0-99, the early-drop dice.
 * PREAUTH_OK counts it as unauthenticated from its source. The order is
 * OpenSSH's: a penalty, the per-source cap, then MaxStartups. */
enum preauth_verdict preauth_admit(struct preauth *p, const struct preauth_addr *a, long long now, unsigned rnd);
/* Count a connection that skipped preauth_admit (one let in, then not) whatever the limits say. */
int preauth_count(struct preauth *p, const struct preauth_addr *a, long long now);
/* A counted connection authenticated or ended. */
void preauth_done(struct preauth *p, const struct preauth_addr *a, long long now);

struct preauth_penalty {
	bool applied;            /* false: penalties off, kind off, exempt, or the table full */
	bool exempt, overflow;
	long long added_ms;      /* what this penalty added (after the max cap) */
	long long remaining_ms;  /* outstanding now */
	bool refused;            /* the source is refused from now on */
	bool newly_refused;      /* ... and was not before this penalty */
};
/* Hold an ending against a's source. -ENOMEM, else 0 with *out filled. */
int preauth_penalise(struct preauth *p, const struct preauth_addr *a, enum preauth_kind kind, long long now,
		     struct preauth_penalty *out);

/* Sources refused now, and what they are serving (for refusals' log lines). */
size_t preauth_penalised_sources(struct preauth *p, long long now);
bool preauth_refused(struct preauth *p, const struct preauth_addr *a, long long now, long long *remaining_ms,
		     enum preauth_kind *last);
size_t preauth_unauthenticated(const struct preauth *p);
/* a's unauthenticated connections counted. */
unsigned preauth_source_unauthenticated(struct preauth *p, const struct preauth_addr *a, long long now);
bool preauth_exempt(const struct preauth *p, const struct preauth_addr *a);
/* The rate limiter of a's refusal log lines (one per source), or NULL if
 * the source has no entry. */
struct ratelimit *preauth_source_ratelimit(struct preauth *p, const struct preauth_addr *a, long long now);
/* a's source as text: "192.0.2.7", "2001:db8:1:2::/64". */
void preauth_source_format(const struct preauth *p, const struct preauth_addr *a, char *out, size_t len);

#endif
