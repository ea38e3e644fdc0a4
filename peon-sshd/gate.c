/* The daemon's door for unauthenticated connections: who is let in at
 * accept (before fork, so a refusal costs an accept and a close), and what
 * each connection's ending before authentication costs its source. The
 * decisions are preauth.c's; this file feeds it the daemon's settings, its
 * clock and dice, and does the logging, rate-limited so a flood from one
 * address or from many cannot fill the journal. */
#include "daemon.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* One refusal line per source per minute (with how many were held back),
 * and at most REFUSALS_BURST lines per REFUSALS_WINDOW in all. */
#define SOURCE_LOG_WINDOW_MS 60000
#define REFUSALS_WINDOW_MS 10000
#define REFUSALS_BURST 20

static void cfg_of(const struct peon_config *c, struct preauth_cfg *pc)
{
	const struct penalties *p = &c->penalties;

	*pc = (struct preauth_cfg){
		.start = c->limits.max_startups_start, .rate = c->limits.max_startups_rate,
		.full = c->limits.max_startups, .per_source = c->limits.per_source_max_startups,
		.prefix4 = c->limits.per_source_prefix_ipv4, .prefix6 = c->limits.per_source_prefix_ipv6,
		.penalties = p->enabled,
		.penalty_s = { [PENALTY_CRASH] = p->crash, [PENALTY_AUTHFAIL] = p->authfail,
			       [PENALTY_NOAUTH] = p->noauth, [PENALTY_GRACE] = p->grace_exceeded },
		.penalty_max_s = p->max, .penalty_min_s = p->min, .max_sources = p->max_sources,
		.exempt = p->exempt, .n_exempt = p->n_exempt,
	};
}

int gate_init(struct daemon *d, char *err)
{
	struct preauth_cfg pc;
	uint64_t seed;

	/* The hash seed keeps an attacker from aiming addresses at one chain. */
	if (getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
		seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ (uint64_t)mono_ms();
	cfg_of(&d->cfg, &pc);
	if (preauth_init(&d->pre, &pc, seed) < 0)
		return errf(err, -ENOMEM, "out of memory");
	return 0;
}

void gate_reconfigure(struct daemon *d)
{
	struct preauth_cfg pc;
	long long now = mono_ms();
	int r;

	cfg_of(&d->cfg, &pc);
	r = preauth_reconfigure(&d->pre, &pc);
	if (r < 0) {
		log_err("cannot apply the new per-source limits: out of memory; keeping the old ones");
		return;
	}
	if (r == 0)
		return;
	/* Sources are cut anew: count the unauthenticated connections again. */
	for (size_t i = 0; i < d->n_conns; i++)
		if (d->conns[i].counted && preauth_count(&d->pre, &d->conns[i].addr, now) < 0)
			d->conns[i].counted = false;
	log_notice("per-source prefixes changed: penalties so far are forgotten");
}

void gate_free(struct daemon *d)
{
	preauth_free(&d->pre);
}

/* Rate limits: this source's own (if it has an entry), then all refusals. */
static bool may_log(struct daemon *d, const struct preauth_addr *a, long long now, char *more, size_t len)
{
	struct ratelimit *rl = preauth_source_ratelimit(&d->pre, a, now);
	unsigned long mine = 0, others = 0;
	char src[64];

	if (rl && !ratelimit_take(rl, now, SOURCE_LOG_WINDOW_MS, 1, &mine))
		return false;
	if (!ratelimit_take(&d->refusal_log, now, REFUSALS_WINDOW_MS, REFUSALS_BURST, &others))
		return false;
	preauth_source_format(&d->pre, a, src, sizeof(src));
	if (mine && others)
		snprintf(more, len, " [%lu more from %s and %lu others not logged]", mine, src, others);
	else if (mine)
		snprintf(more, len, " [%lu more from %s not logged]", mine, src);
	else if (others)
		snprintf(more, len, " [%lu other refusals not logged]", others);
	else
		more[0] = '\0';
	return true;
}

static void log_refusal(struct daemon *d, enum preauth_verdict v, const char *remote, const struct preauth_addr *a,
			long long now)
{
	const struct limits *l = &d->cfg.limits;
	struct log_ctx ctx = { .remote_addr = remote };
	enum preauth_kind kind = PENALTY_NOAUTH;
	long long left = 0;
	char more[160];

	if (!may_log(d, a, now, more, sizeof(more)))
		return;
	switch (v) {
	case PREAUTH_PENALISED:
		preauth_refused(&d->pre, a, now, &left, &kind);
		log_full(LOG_NOTICE, &ctx, "refused connection from %s: penalised (%s) for another %lld s%s", remote,
			 preauth_kind_name(kind), (left + 999) / 1000, more);
		break;
	case PREAUTH_PER_SOURCE:
		log_full(LOG_WARNING, &ctx, "dropped connection from %s (per-source limit of %d unauthenticated "
			 "connections; limits.per_source_max_startups)%s", remote, l->per_source_max_startups, more);
		break;
	case PREAUTH_FULL:
		log_full(LOG_WARNING, &ctx, "dropped connection from %s: %zu unauthenticated connections "
			 "(limits.max_startups)%s", remote, preauth_unauthenticated(&d->pre), more);
		break;
	case PREAUTH_EARLY_DROP:
		log_full(LOG_WARNING, &ctx, "dropped connection from %s: random early drop at %zu unauthenticated "
			 "connections (limits.max_startups %d:%d:%d)%s", remote, preauth_unauthenticated(&d->pre),
			 l->max_startups_start, l->max_startups_rate, l->max_startups, more);
		break;
	default:
		log_full(LOG_ERR, &ctx, "dropped connection from %s: out of memory%s", remote, more);
		break;
	}
}

static void count_drop(struct daemon *d, enum preauth_verdict v)
{
	d->dropped++;
	metrics_changed(d);
	if (v == PREAUTH_PENALISED)
		d->dropped_by[DROP_PENALISED]++;
	else if (v == PREAUTH_PER_SOURCE)
		d->dropped_by[DROP_PER_SOURCE]++;
	else
		d->dropped_by[DROP_MAX_STARTUPS]++;
}

/* The early-drop dice, thrown only where they can matter: glibc 2.36's
 * arc4random is a getrandom() call, not worth making per refusal. */
static unsigned dice(const struct daemon *d)
{
	return preauth_unauthenticated(&d->pre) >= (size_t)d->cfg.limits.max_startups_start ?
		       arc4random_uniform(100) : 0;
}

bool gate_admit(struct daemon *d, const struct sockaddr_storage *sa, const char *remote, struct preauth_addr *a)
{
	long long now = mono_ms();
	enum preauth_verdict v;

	if (preauth_addr_from_sockaddr((const struct sockaddr *)sa, a) < 0) {
		log_err("dropped connection from %s: not an IP address", remote);
		return false;
	}
	v = preauth_admit(&d->pre, a, now, dice(d));
	if (v == PREAUTH_OK)
		return true;
	count_drop(d, v);
	log_refusal(d, v, remote, a, now);
	return false;
}

void gate_uncount(struct daemon *d, struct conn *c)
{
	if (c->counted)
		preauth_done(&d->pre, &c->addr, mono_ms());
	c->counted = false;
}

void gate_recount(struct daemon *d, struct conn *c)
{
	if (!c->counted)
		c->counted = preauth_count(&d->pre, &c->addr, mono_ms()) == 0;
}

static void log_penalty(struct daemon *d, const struct conn *c, enum preauth_kind kind,
			const struct preauth_penalty *p)
{
	struct log_ctx ctx = { .remote_addr = c->remote };
	char src[64], more[160];

	preauth_source_format(&d->pre, &c->addr, src, sizeof(src));
	if (p->overflow) {
		if (may_log(d, &c->addr, mono_ms(), more, sizeof(more)))
			log_full(LOG_WARNING, &ctx, "not penalising %s (%s): %d sources are penalised already "
				 "(penalties.max_sources)%s", src, preauth_kind_name(kind), d->cfg.penalties.max_sources,
				 more);
		return;
	}
	if (!p->applied)
		return;
	if (p->newly_refused)
		log_full(LOG_NOTICE, &ctx, "penalised %s for %lld s (%s); refusing %s for %lld s", src,
			 p->added_ms / 1000, preauth_kind_name(kind), src, (p->remaining_ms + 999) / 1000);
	else if (p->refused)
		log_full(LOG_NOTICE, &ctx, "penalised %s for %lld s (%s); refused for another %lld s", src,
			 p->added_ms / 1000, preauth_kind_name(kind), (p->remaining_ms + 999) / 1000);
	else
		log_full(LOG_INFO, &ctx, "penalised %s for %lld s (%s); %lld s outstanding, refused from %d s", src,
			 p->added_ms / 1000, preauth_kind_name(kind), (p->remaining_ms + 999) / 1000,
			 d->cfg.penalties.min);
}

/* The session process of c has exited with wait status st. A connection
 * that authenticated (its CLAIM succeeded) ends nothing here; the others
 * have logged their own ending (session.c) except the two only we see. */
void gate_ended(struct daemon *d, struct conn *c, int st)
{
	enum preauth_ending e = preauth_ending_of(st);
	int sig = preauth_signal_of(st);
	struct log_ctx ctx = { .remote_addr = c->remote };
	struct preauth_penalty p;
	enum preauth_kind kind;

	gate_uncount(d, c);
	metrics_changed(d);
	if (c->claimed)
		return;
	if (e == ENDING_AUTHFAIL)
		d->met.auth_failures++;
	if (e == ENDING_GRACE)
		log_full(LOG_INFO, &ctx, "timeout before authentication from %s", c->remote);
	else if (e == ENDING_CRASH)
		log_full(LOG_WARNING, &ctx, "session process %d serving %s crashed (signal %d: %s)", (int)c->pid,
			 c->remote, sig, strsignal(sig));
	else if (e == ENDING_KILLED)
		log_full(LOG_INFO, &ctx, "session process %d serving %s was killed before authentication "
			 "(signal %d: %s)", (int)c->pid, c->remote, sig, strsignal(sig));
	if (!preauth_ending_penalty(e, &kind))
		return;
	if (preauth_penalise(&d->pre, &c->addr, kind, mono_ms(), &p) < 0) {
		log_full(LOG_ERR, &ctx, "cannot penalise %s: out of memory", c->remote);
		return;
	}
	log_penalty(d, c, kind, &p);
}

size_t daemon_penalised_sources(struct daemon *d)
{
	return preauth_penalised_sources(&d->pre, mono_ms());
}

size_t daemon_unauthenticated(const struct daemon *d)
{
	return preauth_unauthenticated(&d->pre);
}
