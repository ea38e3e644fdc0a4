#include "preauth.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

struct preauth_entry {
	struct preauth_addr src;    /* cut to the prefix */
	int32_t next;               /* hash chain, or the free list */
	bool in_use;
	bool active;                /* the penalty reached min: refused until expiry */
	unsigned unauth;            /* unauthenticated connections counted */
	long long expiry;           /* mono ms the penalty runs out; 0 = none */
	enum preauth_kind last;     /* the latest penalty's kind, for log lines */
	struct ratelimit log;       /* this source's refusal lines */
};

/* ---- endings ---- */

static enum preauth_ending by_signal(int sig)
{
	switch (sig) {
	case SIGALRM:
		return ENDING_GRACE;
	case SIGSEGV: case SIGBUS: case SIGILL: case SIGFPE: case SIGABRT: case SIGSYS: case SIGTRAP:
		return ENDING_CRASH;
	default:
		return ENDING_KILLED;
	}
}

int preauth_signal_of(int st)
{
	if (WIFEXITED(st) && WEXITSTATUS(st) > SESSION_EXIT_SIGNALED && WEXITSTATUS(st) < SESSION_EXIT_SIGNALED + 65)
		return WEXITSTATUS(st) - SESSION_EXIT_SIGNALED;
	return WIFSIGNALED(st) ? WTERMSIG(st) : 0;
}

enum preauth_ending preauth_ending_of(int st)
{
	/* The monitor's own death by signal, or its child's as it reports it. */
	if (preauth_signal_of(st))
		return by_signal(preauth_signal_of(st));
	if (WIFEXITED(st)) {
		switch (WEXITSTATUS(st)) {
		case SESSION_EXIT_NOAUTH: return ENDING_NOAUTH;
		case SESSION_EXIT_AUTHFAIL: return ENDING_AUTHFAIL;
		case SESSION_EXIT_PROTOCOL: return ENDING_PROTOCOL;
		default: return ENDING_NONE;
		}
	}
	return ENDING_NONE;
}

const char *preauth_ending_name(enum preauth_ending e)
{
	static const char *const names[] = {
		[ENDING_NONE] = "none", [ENDING_NOAUTH] = "left without authenticating",
		[ENDING_AUTHFAIL] = "left after failed authentication", [ENDING_PROTOCOL] = "protocol error",
		[ENDING_GRACE] = "timeout before authentication", [ENDING_CRASH] = "crash",
		[ENDING_KILLED] = "killed",
	};
	return (size_t)e < ARRAY_SIZE(names) ? names[e] : "?";
}

bool preauth_ending_penalty(enum preauth_ending e, enum preauth_kind *kind)
{
	switch (e) {
	case ENDING_NOAUTH: case ENDING_PROTOCOL: *kind = PENALTY_NOAUTH; return true;
	case ENDING_AUTHFAIL: *kind = PENALTY_AUTHFAIL; return true;
	case ENDING_GRACE: *kind = PENALTY_GRACE; return true;
	case ENDING_CRASH: *kind = PENALTY_CRASH; return true;
	default: return false;
	}
}

const char *preauth_kind_name(enum preauth_kind k)
{
	static const char *const names[] = {
		[PENALTY_CRASH] = "crash", [PENALTY_AUTHFAIL] = "authfail", [PENALTY_NOAUTH] = "noauth",
		[PENALTY_GRACE] = "grace-exceeded",
	};
	return (size_t)k < ARRAY_SIZE(names) ? names[k] : "?";
}

/* ---- addresses ---- */

static int addr_bits(int family)
{
	return family == AF_INET ? 32 : 128;
}

static void addr_cut(struct preauth_addr *a, int prefix)
{
	int bytes = addr_bits(a->family) / 8;

	for (int i = 0; i < bytes; i++) {
		int keep = prefix - i * 8;
		if (keep <= 0)
			a->a[i] = 0;
		else if (keep < 8)
			a->a[i] &= (unsigned char)(0xff << (8 - keep));
	}
	memset(a->a + bytes, 0, sizeof(a->a) - (size_t)bytes);
}

int preauth_addr_from_sockaddr(const struct sockaddr *sa, struct preauth_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;
		out->family = AF_INET;
		memcpy(out->a, &s4->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;
		/* A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d: cut
		 * at /64 they would all be one source. */
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			out->family = AF_INET;
			memcpy(out->a, s6->sin6_addr.s6_addr + 12, 4);
		} else {
			out->family = AF_INET6;
			memcpy(out->a, &s6->sin6_addr, 16);
		}
		return 0;
	}
	return -EAFNOSUPPORT;
}

int preauth_net_parse(const char *s, struct preauth_net *out, char *err)
{
	char host[INET6_ADDRSTRLEN + 1], shown[INET6_ADDRSTRLEN + 8];
	const char *slash = strchr(s, '/');
	size_t hlen = slash ? (size_t)(slash - s) : strlen(s);
	struct preauth_addr cut;
	unsigned long prefix;

	memset(out, 0, sizeof(*out));
	if (hlen == 0 || hlen >= sizeof(host))
		return errf(err, -EINVAL, "\"%s\" is not an IPv4 or IPv6 address", s);
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (inet_pton(AF_INET, host, out->addr.a) == 1) {
		out->addr.family = AF_INET;
	} else if (inet_pton(AF_INET6, host, out->addr.a) == 1) {
		out->addr.family = AF_INET6;
		if (IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)out->addr.a))
			return errf(err, -EINVAL, "\"%s\": write IPv4 addresses as a.b.c.d, not IPv4-mapped IPv6", s);
	} else {
		return errf(err, -EINVAL, "\"%s\" is not an IPv4 or IPv6 address", s);
	}
	out->prefix = addr_bits(out->addr.family);
	if (slash) {
		if (parse_ulong(slash + 1, (unsigned long)out->prefix, &prefix) < 0)
			return errf(err, -EINVAL, "\"%s\": the prefix must be a number from 0 to %d", s, out->prefix);
		out->prefix = (int)prefix;
	}
	cut = out->addr;
	addr_cut(&cut, out->prefix);
	if (memcmp(&cut, &out->addr, sizeof(cut)) != 0) {
		preauth_addr_format(&cut, out->prefix, shown, sizeof(shown));
		return errf(err, -EINVAL, "\"%s\" has bits set past the prefix (the network is %s)", s, shown);
	}
	return 0;
}

bool preauth_net_contains(const struct preauth_net *n, const struct preauth_addr *a)
{
	struct preauth_addr cut = *a;

	if (a->family != n->addr.family)
		return false;
	addr_cut(&cut, n->prefix);
	return memcmp(cut.a, n->addr.a, sizeof(cut.a)) == 0;
}

void preauth_addr_format(const struct preauth_addr *a, int prefix, char *out, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	struct preauth_addr cut = *a;

	addr_cut(&cut, prefix);
	inet_ntop(cut.family, cut.a, ip, sizeof(ip));
	if (prefix < addr_bits(a->family))
		snprintf(out, len, "%s/%d", ip, prefix);
	else
		snprintf(out, len, "%s", ip);
}

/* ---- rate limiting ---- */

bool ratelimit_take(struct ratelimit *rl, long long now, long long window, unsigned burst,
		    unsigned long *suppressed)
{
	if (now - rl->start >= window || now < rl->start) {
		rl->start = now;
		rl->used = 0;
	}
	if (rl->used >= burst) {
		rl->suppressed++;
		return false;
	}
	rl->used++;
	if (suppressed)
		*suppressed = rl->suppressed;
	rl->suppressed = 0;
	return true;
}

/* ---- the table: entries in one array, chained from a seeded hash ---- */

static int prefix_of(const struct preauth *p, int family)
{
	return family == AF_INET ? p->cfg.prefix4 : p->cfg.prefix6;
}

static int fam_index(int family)
{
	return family == AF_INET ? 0 : 1;
}

static struct preauth_addr source_of(const struct preauth *p, const struct preauth_addr *a)
{
	struct preauth_addr s = *a;

	addr_cut(&s, prefix_of(p, a->family));
	return s;
}

/* Not cryptographic: a secret seed and a full-avalanche mix keep chains
 * even for addresses an attacker picks; chain length is bounded by the
 * table's own bounds anyway. */
static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static size_t hash(const struct preauth *p, const struct preauth_addr *s)
{
	uint64_t w[2], h = p->seed ^ (uint64_t)s->family;

	memcpy(w, s->a, sizeof(w));
	h = mix(h ^ w[0]);
	h = mix(h ^ w[1]);
	return (size_t)h & (p->nbucket - 1);
}

static bool same(const struct preauth_addr *x, const struct preauth_addr *y)
{
	return x->family == y->family && memcmp(x->a, y->a, sizeof(x->a)) == 0;
}

static int32_t lookup(const struct preauth *p, const struct preauth_addr *s)
{
	if (!p->nbucket)
		return -1;
	for (int32_t i = p->bucket[hash(p, s)]; i >= 0; i = p->v[i].next)
		if (same(&p->v[i].src, s))
			return i;
	return -1;
}

static void unlink_entry(struct preauth *p, int32_t idx)
{
	int32_t *link = &p->bucket[hash(p, &p->v[idx].src)];

	while (*link != idx)
		link = &p->v[*link].next;
	*link = p->v[idx].next;
	p->v[idx] = (struct preauth_entry){ .next = p->free_head };
	p->free_head = idx;
	p->live--;
}

static int rehash(struct preauth *p, size_t nbucket)
{
	int32_t *b = malloc(nbucket * sizeof(*b));

	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < nbucket; i++)
		b[i] = -1;
	free(p->bucket);
	p->bucket = b;
	p->nbucket = nbucket;
	for (size_t i = 0; i < p->used; i++) {
		size_t h;
		if (!p->v[i].in_use)
			continue;
		h = hash(p, &p->v[i].src);
		p->v[i].next = p->bucket[h];
		p->bucket[h] = (int32_t)i;
	}
	return 0;
}

static int32_t insert(struct preauth *p, const struct preauth_addr *s)
{
	int32_t idx;
	size_t h;

	if (p->live + 1 > p->nbucket && rehash(p, p->nbucket ? p->nbucket * 2 : 64) < 0)
		return -1;
	if (p->free_head >= 0) {
		idx = p->free_head;
		p->free_head = p->v[idx].next;
	} else {
		if (p->used == p->cap) {
			size_t cap = p->cap ? p->cap * 2 : 64;
			struct preauth_entry *nv = cap < INT32_MAX ? realloc(p->v, cap * sizeof(*nv)) : NULL;
			if (!nv)
				return -1;
			p->v = nv;
			p->cap = cap;
		}
		idx = (int32_t)p->used++;
	}
	h = hash(p, s);
	p->v[idx] = (struct preauth_entry){ .src = *s, .in_use = true, .next = p->bucket[h] };
	p->bucket[h] = idx;
	p->live++;
	return idx;
}

/* A penalty that ran out is forgotten; an entry with nothing left goes.
 * Returns idx, or -1 when the entry was freed. */
static int32_t tidy(struct preauth *p, int32_t idx, long long now)
{
	struct preauth_entry *e = &p->v[idx];

	if (e->expiry && e->expiry <= now) {
		e->expiry = 0;
		e->active = false;
		p->penalised[fam_index(e->src.family)]--;
	}
	if (e->unauth == 0 && e->expiry == 0) {
		unlink_entry(p, idx);
		return -1;
	}
	return idx;
}

static int32_t find(struct preauth *p, const struct preauth_addr *a, long long now)
{
	struct preauth_addr s = source_of(p, a);
	int32_t idx = lookup(p, &s);

	return idx >= 0 ? tidy(p, idx, now) : -1;
}

static void sweep(struct preauth *p, long long now)
{
	for (size_t i = 0; i < p->used; i++)
		if (p->v[i].in_use)
			tidy(p, (int32_t)i, now);
}

static int copy_cfg(struct preauth *p, const struct preauth_cfg *cfg)
{
	struct preauth_net *ex = NULL;

	if (cfg->n_exempt) {
		ex = malloc(cfg->n_exempt * sizeof(*ex));
		if (!ex)
			return -ENOMEM;
		memcpy(ex, cfg->exempt, cfg->n_exempt * sizeof(*ex));
	}
	free(p->exempt);
	p->exempt = ex;
	p->cfg = *cfg;
	p->cfg.exempt = ex;
	return 0;
}

int preauth_init(struct preauth *p, const struct preauth_cfg *cfg, uint64_t seed)
{
	memset(p, 0, sizeof(*p));
	p->free_head = -1;
	p->seed = seed;
	return copy_cfg(p, cfg);
}

void preauth_free(struct preauth *p)
{
	free(p->exempt);
	free(p->v);
	free(p->bucket);
	memset(p, 0, sizeof(*p));
	p->free_head = -1;
}

int preauth_reconfigure(struct preauth *p, const struct preauth_cfg *cfg)
{
	bool recut = cfg->prefix4 != p->cfg.prefix4 || cfg->prefix6 != p->cfg.prefix6;
	struct preauth fresh;

	if (!recut)
		return copy_cfg(p, cfg);
	/* Entries are keyed by the old cut: start over, and let the caller
	 * count its connections again under the new one. */
	if (preauth_init(&fresh, cfg, p->seed) < 0)
		return -ENOMEM;
	preauth_free(p);
	*p = fresh;
	return 1;
}

/* ---- decisions ---- */

bool preauth_exempt(const struct preauth *p, const struct preauth_addr *a)
{
	for (size_t i = 0; i < p->cfg.n_exempt; i++)
		if (preauth_net_contains(&p->cfg.exempt[i], a))
			return true;
	return false;
}

/* OpenSSH's MaxStartups: drop with probability rate% at start, rising
 * linearly to 100% at full. */
static bool early_drop(const struct preauth_cfg *c, size_t n, unsigned rnd)
{
	long long pct;

	if (n < (size_t)c->start)
		return false;
	if (c->full <= c->start)
		return true;
	pct = c->rate + (100LL - c->rate) * (long long)(n - (size_t)c->start) / (c->full - c->start);
	return (long long)rnd < pct;
}

static bool refusing(const struct preauth_entry *e, long long now)
{
	return e->active && e->expiry > now;
}

int preauth_count(struct preauth *p, const struct preauth_addr *a, long long now)
{
	int32_t idx = find(p, a, now);

	if (idx < 0) {
		struct preauth_addr s = source_of(p, a);
		if ((idx = insert(p, &s)) < 0)
			return -ENOMEM;
	}
	p->v[idx].unauth++;
	p->unauth++;
	return 0;
}

enum preauth_verdict preauth_admit(struct preauth *p, const struct preauth_addr *a, long long now, unsigned rnd)
{
	int32_t idx = find(p, a, now);

	if (idx >= 0 && refusing(&p->v[idx], now) && !preauth_exempt(p, a))
		return PREAUTH_PENALISED;
	if (p->cfg.per_source > 0 && idx >= 0 && p->v[idx].unauth >= (unsigned)p->cfg.per_source)
		return PREAUTH_PER_SOURCE;
	if (p->unauth >= (size_t)p->cfg.full)
		return PREAUTH_FULL;
	if (early_drop(&p->cfg, p->unauth, rnd))
		return PREAUTH_EARLY_DROP;
	return preauth_count(p, a, now) < 0 ? PREAUTH_NOMEM : PREAUTH_OK;
}

void preauth_done(struct preauth *p, const struct preauth_addr *a, long long now)
{
	int32_t idx = find(p, a, now);

	if (idx < 0 || p->v[idx].unauth == 0)
		return;
	p->v[idx].unauth--;
	p->unauth--;
	tidy(p, idx, now);
}

/* A source without a penalty starts holding one: bounded per family. */
static int32_t penalty_holder(struct preauth *p, const struct preauth_addr *a, long long now, bool *overflow)
{
	int32_t idx = find(p, a, now);
	int fam = fam_index(a->family);

	if (idx >= 0 && p->v[idx].expiry)
		return idx;
	if (p->penalised[fam] >= (size_t)p->cfg.max_sources) {
		sweep(p, now);
		idx = find(p, a, now);
	}
	/* Full: OpenSSH's "permissive" overflow. New sources go unpenalised
	 * rather than everyone being refused (deny-all would let anyone with
	 * an IPv6 /48 lock every user out). */
	if (p->penalised[fam] >= (size_t)p->cfg.max_sources) {
		*overflow = true;
		return -1;
	}
	if (idx < 0) {
		struct preauth_addr s = source_of(p, a);
		if ((idx = insert(p, &s)) < 0)
			return -1;
	}
	p->v[idx].expiry = now;
	p->penalised[fam]++;
	return idx;
}

int preauth_penalise(struct preauth *p, const struct preauth_addr *a, enum preauth_kind kind, long long now,
		     struct preauth_penalty *out)
{
	long long base, expiry, cap;
	struct preauth_entry *e;
	int32_t idx;

	memset(out, 0, sizeof(*out));
	if (!p->cfg.penalties || kind >= PENALTY_KINDS || p->cfg.penalty_s[kind] <= 0)
		return 0;
	if (preauth_exempt(p, a)) {
		out->exempt = true;
		return 0;
	}
	idx = penalty_holder(p, a, now, &out->overflow);
	if (idx < 0)
		return out->overflow ? 0 : -ENOMEM;
	e = &p->v[idx];
	/* Penalties add up from what remains, never past max from now. */
	base = e->expiry > now ? e->expiry : now;
	expiry = base + p->cfg.penalty_s[kind] * 1000LL;
	cap = now + p->cfg.penalty_max_s * 1000LL;
	if (expiry > cap)
		expiry = cap;
	out->added_ms = expiry > base ? expiry - base : 0;
	e->expiry = expiry;     /* below base only when a reload lowered max */
	e->last = kind;
	out->applied = true;
	out->remaining_ms = e->expiry - now;
	/* As OpenSSH: refused once min has accrued, then until it runs out. */
	if (!e->active && out->remaining_ms >= p->cfg.penalty_min_s * 1000LL) {
		e->active = true;
		out->newly_refused = true;
	}
	out->refused = refusing(e, now);
	return 0;
}

size_t preauth_penalised_sources(struct preauth *p, long long now)
{
	size_t n = 0;

	sweep(p, now);
	for (size_t i = 0; i < p->used; i++)
		n += p->v[i].in_use && refusing(&p->v[i], now);
	return n;
}

bool preauth_refused(struct preauth *p, const struct preauth_addr *a, long long now, long long *remaining_ms,
		     enum preauth_kind *last)
{
	int32_t idx = find(p, a, now);

	if (idx < 0 || !refusing(&p->v[idx], now) || preauth_exempt(p, a))
		return false;
	if (remaining_ms)
		*remaining_ms = p->v[idx].expiry - now;
	if (last)
		*last = p->v[idx].last;
	return true;
}

size_t preauth_unauthenticated(const struct preauth *p)
{
	return p->unauth;
}

unsigned preauth_source_unauthenticated(struct preauth *p, const struct preauth_addr *a, long long now)
{
	int32_t idx = find(p, a, now);

	return idx >= 0 ? p->v[idx].unauth : 0;
}

struct ratelimit *preauth_source_ratelimit(struct preauth *p, const struct preauth_addr *a, long long now)
{
	int32_t idx = find(p, a, now);

	return idx >= 0 ? &p->v[idx].log : NULL;
}

void preauth_source_format(const struct preauth *p, const struct preauth_addr *a, char *out, size_t len)
{
	preauth_addr_format(a, prefix_of(p, a->family), out, len);
}
