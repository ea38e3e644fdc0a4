#include "test_util.h"
#include "preauth.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/wait.h>

/* OpenSSH 9.8's defaults: MaxStartups 10:30:100, PerSourcePenalties
 * crash:90 authfail:5 noauth:1 grace-exceeded:10 max:600 min:15; dropbear's
 * 5 unauthenticated connections per address. */
static struct preauth_cfg defaults(void)
{
	return (struct preauth_cfg){
		.start = 10, .rate = 30, .full = 100, .per_source = 5, .prefix4 = 32, .prefix6 = 64,
		.penalties = true, .penalty_s = { [PENALTY_CRASH] = 90, [PENALTY_AUTHFAIL] = 5,
						  [PENALTY_NOAUTH] = 1, [PENALTY_GRACE] = 10 },
		.penalty_max_s = 600, .penalty_min_s = 15, .max_sources = 65536,
	};
}

static struct preauth_addr addr(const char *s)
{
	struct preauth_addr a = { 0 };

	if (inet_pton(AF_INET, s, a.a) == 1) {
		a.family = AF_INET;
	} else {
		assert_int_equal(inet_pton(AF_INET6, s, a.a), 1);
		a.family = AF_INET6;
	}
	return a;
}

#define S(x) 1000LL * (x)

/* ---- endings ---- */

static void test_endings(void **state)
{
	enum preauth_kind k;

	(void)state;
	assert_int_equal(preauth_ending_of(W_EXITCODE(SESSION_EXIT_OK, 0)), ENDING_NONE);
	assert_int_equal(preauth_ending_of(W_EXITCODE(SESSION_EXIT_INTERNAL, 0)), ENDING_NONE);
	assert_int_equal(preauth_ending_of(W_EXITCODE(SESSION_EXIT_NOAUTH, 0)), ENDING_NOAUTH);
	assert_int_equal(preauth_ending_of(W_EXITCODE(SESSION_EXIT_AUTHFAIL, 0)), ENDING_AUTHFAIL);
	assert_int_equal(preauth_ending_of(W_EXITCODE(SESSION_EXIT_PROTOCOL, 0)), ENDING_PROTOCOL);
	assert_int_equal(preauth_ending_of(W_EXITCODE(99, 0)), ENDING_NONE);
	assert_int_equal(preauth_ending_of(SIGALRM), ENDING_GRACE);
	assert_int_equal(preauth_ending_of(SIGSEGV), ENDING_CRASH);
	assert_int_equal(preauth_ending_of(SIGSEGV | 0x80), ENDING_CRASH);     /* with a core dump */
	assert_int_equal(preauth_ending_of(SIGABRT), ENDING_CRASH);
	assert_int_equal(preauth_ending_of(SIGBUS), ENDING_CRASH);
	assert_int_equal(preauth_ending_of(SIGSYS), ENDING_CRASH);
	assert_int_equal(preauth_ending_of(SIGILL), ENDING_CRASH);
	assert_int_equal(preauth_ending_of(SIGKILL), ENDING_KILLED);
	assert_int_equal(preauth_ending_of(SIGTERM), ENDING_KILLED);

	assert_false(preauth_ending_penalty(ENDING_NONE, &k));
	assert_false(preauth_ending_penalty(ENDING_KILLED, &k));
	assert_true(preauth_ending_penalty(ENDING_NOAUTH, &k));
	assert_int_equal(k, PENALTY_NOAUTH);
	assert_true(preauth_ending_penalty(ENDING_PROTOCOL, &k));
	assert_int_equal(k, PENALTY_NOAUTH);
	assert_true(preauth_ending_penalty(ENDING_AUTHFAIL, &k));
	assert_int_equal(k, PENALTY_AUTHFAIL);
	assert_true(preauth_ending_penalty(ENDING_GRACE, &k));
	assert_int_equal(k, PENALTY_GRACE);
	assert_true(preauth_ending_penalty(ENDING_CRASH, &k));
	assert_int_equal(k, PENALTY_CRASH);
	assert_string_equal(preauth_kind_name(PENALTY_GRACE), "grace-exceeded");
	assert_string_equal(preauth_ending_name(ENDING_GRACE), "timeout before authentication");
}

/* ---- addresses ---- */

static void test_sockaddr(void **state)
{
	struct sockaddr_in s4 = { .sin_family = AF_INET };
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
	struct sockaddr sx = { .sa_family = AF_UNIX };
	struct preauth_addr a;
	char buf[64];

	(void)state;
	inet_pton(AF_INET, "192.0.2.7", &s4.sin_addr);
	assert_int_equal(preauth_addr_from_sockaddr((struct sockaddr *)&s4, &a), 0);
	assert_int_equal(a.family, AF_INET);
	preauth_addr_format(&a, 32, buf, sizeof(buf));
	assert_string_equal(buf, "192.0.2.7");
	/* A dual-stack listener's view of an IPv4 client is IPv4. */
	inet_pton(AF_INET6, "::ffff:192.0.2.8", &s6.sin6_addr);
	assert_int_equal(preauth_addr_from_sockaddr((struct sockaddr *)&s6, &a), 0);
	assert_int_equal(a.family, AF_INET);
	preauth_addr_format(&a, 24, buf, sizeof(buf));
	assert_string_equal(buf, "192.0.2.0/24");
	inet_pton(AF_INET6, "2001:db8:1:2:3:4:5:6", &s6.sin6_addr);
	assert_int_equal(preauth_addr_from_sockaddr((struct sockaddr *)&s6, &a), 0);
	assert_int_equal(a.family, AF_INET6);
	preauth_addr_format(&a, 64, buf, sizeof(buf));
	assert_string_equal(buf, "2001:db8:1:2::/64");
	preauth_addr_format(&a, 128, buf, sizeof(buf));
	assert_string_equal(buf, "2001:db8:1:2:3:4:5:6");
	preauth_addr_format(&a, 60, buf, sizeof(buf));
	assert_string_equal(buf, "2001:db8:1::/60");
	assert_int_equal(preauth_addr_from_sockaddr(&sx, &a), -EAFNOSUPPORT);
}

static void net_ok(const char *s, int family, int prefix)
{
	struct preauth_net n;
	char err[ERRLEN] = "";

	if (preauth_net_parse(s, &n, err) != 0)
		fail_msg("\"%s\" refused: %s", s, err);
	assert_int_equal(n.addr.family, family);
	assert_int_equal(n.prefix, prefix);
}

static void net_bad(const char *s, const char *needle)
{
	struct preauth_net n;
	char err[ERRLEN] = "";

	assert_int_equal(preauth_net_parse(s, &n, err), -EINVAL);
	if (!strstr(err, needle))
		fail_msg("error \"%s\" for \"%s\" does not contain \"%s\"", err, s, needle);
}

static void test_net_parse(void **state)
{
	(void)state;
	net_ok("192.0.2.7", AF_INET, 32);
	net_ok("10.0.0.0/8", AF_INET, 8);
	net_ok("0.0.0.0/0", AF_INET, 0);
	net_ok("192.0.2.7/32", AF_INET, 32);
	net_ok("2001:db8::/32", AF_INET6, 32);
	net_ok("::1", AF_INET6, 128);
	net_ok("::/0", AF_INET6, 0);
	net_bad("", "is not an IPv4 or IPv6 address");
	net_bad("localhost", "\"localhost\" is not an IPv4 or IPv6 address");
	net_bad("10.0.0", "is not an IPv4 or IPv6 address");
	net_bad("/8", "is not an IPv4 or IPv6 address");
	net_bad("10.0.0.0/", "the prefix must be a number from 0 to 32");
	net_bad("10.0.0.0/33", "the prefix must be a number from 0 to 32");
	net_bad("10.0.0.0/+8", "the prefix must be a number from 0 to 32");
	net_bad("10.0.0.0/8 ", "the prefix must be a number from 0 to 32");
	net_bad("10.0.0.0/08x", "the prefix must be a number from 0 to 32");
	net_bad("2001:db8::/129", "the prefix must be a number from 0 to 128");
	net_bad(" 10.0.0.0/8", "is not an IPv4 or IPv6 address");
	net_bad("10.0.0.1/8", "\"10.0.0.1/8\" has bits set past the prefix (the network is 10.0.0.0/8)");
	net_bad("2001:db8::1/64", "has bits set past the prefix (the network is 2001:db8::/64)");
	net_bad("::ffff:10.0.0.1", "write IPv4 addresses as a.b.c.d");
	net_bad("10.0.0.0/8/8", "the prefix must be a number");
}

static void test_net_contains(void **state)
{
	struct preauth_net n;
	char err[ERRLEN];
	struct preauth_addr a = addr("10.1.2.3"), b = addr("11.0.0.1"), v6 = addr("2001:db8::1");

	(void)state;
	assert_int_equal(preauth_net_parse("10.0.0.0/8", &n, err), 0);
	assert_true(preauth_net_contains(&n, &a));
	assert_false(preauth_net_contains(&n, &b));
	assert_false(preauth_net_contains(&n, &v6));
	assert_int_equal(preauth_net_parse("2001:db8::/32", &n, err), 0);
	assert_true(preauth_net_contains(&n, &v6));
	assert_false(preauth_net_contains(&n, &a));
	assert_int_equal(preauth_net_parse("0.0.0.0/0", &n, err), 0);
	assert_true(preauth_net_contains(&n, &b));
	assert_int_equal(preauth_net_parse("10.1.2.3", &n, err), 0);
	assert_true(preauth_net_contains(&n, &a));
	b = addr("10.1.2.4");
	assert_false(preauth_net_contains(&n, &b));
}

static void test_ratelimit(void **state)
{
	struct ratelimit rl = { 0 };
	unsigned long sup = 99;

	(void)state;
	assert_true(ratelimit_take(&rl, S(100), S(10), 2, &sup));
	assert_int_equal(sup, 0);
	assert_true(ratelimit_take(&rl, S(101), S(10), 2, NULL));
	for (int i = 0; i < 50; i++)
		assert_false(ratelimit_take(&rl, S(102), S(10), 2, &sup));
	/* A new window: the first line says how many were held back. */
	assert_true(ratelimit_take(&rl, S(110), S(10), 2, &sup));
	assert_int_equal(sup, 50);
	assert_true(ratelimit_take(&rl, S(111), S(10), 2, &sup));
	assert_int_equal(sup, 0);
}

/* ---- per-source accounting ---- */

static void test_per_source_cap(void **state)
{
	struct preauth_cfg c = defaults();
	struct preauth p;
	struct preauth_addr a = addr("192.0.2.1"), b = addr("192.0.2.2");

	(void)state;
	c.start = c.full = 64;    /* no early drop in this test */
	assert_int_equal(preauth_init(&p, &c, 1), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(preauth_admit(&p, &a, 0, 0), PREAUTH_OK);
	/* The sixth from the same address is dropped; others are not affected. */
	assert_int_equal(preauth_admit(&p, &a, 0, 0), PREAUTH_PER_SOURCE);
	assert_int_equal(preauth_admit(&p, &b, 0, 0), PREAUTH_OK);
	assert_int_equal(preauth_unauthenticated(&p), 6);
	assert_int_equal(preauth_source_unauthenticated(&p, &a, 0), 5);
	/* One ends (or authenticates): room for one more. */
	preauth_done(&p, &a, 0);
	assert_int_equal(preauth_admit(&p, &a, 0, 0), PREAUTH_OK);
	assert_int_equal(preauth_admit(&p, &a, 0, 0), PREAUTH_PER_SOURCE);
	for (int i = 0; i < 5; i++)
		preauth_done(&p, &a, 0);
	preauth_done(&p, &b, 0);
	preauth_done(&p, &b, 0);     /* not counted: ignored */
	assert_int_equal(preauth_unauthenticated(&p), 0);
	assert_int_equal(p.live, 0);
	/* 0 = no per-source limit */
	c.per_source = 0;
	assert_int_equal(preauth_reconfigure(&p, &c), 0);
	for (int i = 0; i < 64; i++)
		assert_int_equal(preauth_admit(&p, &a, 0, 0), PREAUTH_OK);
	assert_int_equal(preauth_admit(&p, &a, 0, 0), PREAUTH_FULL);
	preauth_free(&p);
}

static void test_prefixes(void **state)
{
	struct preauth_cfg c = defaults();
	struct preauth p;
	struct preauth_addr x = addr("2001:db8:1:2::1"), y = addr("2001:db8:1:2:ffff:ffff:ffff:ffff"),
			    z = addr("2001:db8:1:3::1"), v4a = addr("198.51.100.1"), v4b = addr("198.51.100.200");
	char buf[64];

	(void)state;
	c.per_source = 2;
	assert_int_equal(preauth_init(&p, &c, 7), 0);
	/* IPv6 /64: one subscriber's whole network is one source. */
	assert_int_equal(preauth_admit(&p, &x, 0, 0), PREAUTH_OK);
	assert_int_equal(preauth_admit(&p, &y, 0, 0), PREAUTH_OK);
	assert_int_equal(preauth_admit(&p, &x, 0, 0), PREAUTH_PER_SOURCE);
	assert_int_equal(preauth_admit(&p, &z, 0, 0), PREAUTH_OK);
	preauth_source_format(&p, &y, buf, sizeof(buf));
	assert_string_equal(buf, "2001:db8:1:2::/64");
	/* IPv4 /32: two addresses are two sources. */
	assert_int_equal(preauth_admit(&p, &v4a, 0, 0), PREAUTH_OK);
	assert_int_equal(preauth_admit(&p, &v4a, 0, 0), PREAUTH_OK);
	assert_int_equal(preauth_admit(&p, &v4b, 0, 0), PREAUTH_OK);
	preauth_source_format(&p, &v4b, buf, sizeof(buf));
	assert_string_equal(buf, "198.51.100.200");
	/* A new cut empties the table: the caller counts its connections again. */
	c.prefix4 = 24;
	assert_int_equal(preauth_reconfigure(&p, &c), 1);
	assert_int_equal(preauth_unauthenticated(&p), 0);
	assert_int_equal(preauth_count(&p, &v4a, 0), 0);
	assert_int_equal(preauth_admit(&p, &v4b, 0, 0), PREAUTH_OK);
	assert_int_equal(preauth_admit(&p, &v4b, 0, 0), PREAUTH_PER_SOURCE);
	preauth_source_format(&p, &v4b, buf, sizeof(buf));
	assert_string_equal(buf, "198.51.100.0/24");
	preauth_free(&p);
}

static void test_max_startups(void **state)
{
	struct preauth_cfg c = defaults();
	struct preauth p;
	struct preauth_addr a[100];
	char s[32];

	(void)state;
	c.per_source = 0;
	assert_int_equal(preauth_init(&p, &c, 3), 0);
	for (int i = 0; i < 100; i++) {
		snprintf(s, sizeof(s), "203.0.113.%d", i);
		a[i] = addr(s);
	}
	/* Below start nothing is dropped, whatever the dice say. */
	for (int i = 0; i < 10; i++)
		assert_int_equal(preauth_admit(&p, &a[i], 0, 0), PREAUTH_OK);
	/* At start, rate% (30) are dropped: dice 0-29 drop, 30-99 pass. */
	assert_int_equal(preauth_admit(&p, &a[10], 0, 29), PREAUTH_EARLY_DROP);
	assert_int_equal(preauth_unauthenticated(&p), 10);
	assert_int_equal(preauth_admit(&p, &a[10], 0, 30), PREAUTH_OK);
	/* Linear from rate% at start to 100% at full: at 55, 30 + 70 * 45/90 = 65%. */
	for (int i = 11; i < 55; i++)
		assert_int_equal(preauth_admit(&p, &a[i], 0, 99), PREAUTH_OK);
	assert_int_equal(preauth_admit(&p, &a[55], 0, 64), PREAUTH_EARLY_DROP);
	assert_int_equal(preauth_admit(&p, &a[55], 0, 65), PREAUTH_OK);
	for (int i = 56; i < 99; i++)
		assert_int_equal(preauth_admit(&p, &a[i], 0, 99), PREAUTH_OK);
	/* At 99: 30 + 70 * 89/90 = 99%. */
	assert_int_equal(preauth_admit(&p, &a[99], 0, 98), PREAUTH_EARLY_DROP);
	assert_int_equal(preauth_admit(&p, &a[99], 0, 99), PREAUTH_OK);
	/* At full everything is dropped. */
	assert_int_equal(preauth_admit(&p, &a[0], 0, 99), PREAUTH_FULL);
	preauth_free(&p);

	/* The single number N of earlier configurations: a hard cap. */
	c.start = c.full = 3;
	c.rate = 100;
	assert_int_equal(preauth_init(&p, &c, 3), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(preauth_admit(&p, &a[i], 0, 0), PREAUTH_OK);
	assert_int_equal(preauth_admit(&p, &a[3], 0, 99), PREAUTH_FULL);
	preauth_free(&p);
}

/* ---- penalties, with time passing ---- */

static void test_penalty_accrues_and_expires(void **state)
{
	struct preauth_cfg c = defaults();
	struct preauth p;
	struct preauth_penalty pen;
	struct preauth_addr a = addr("192.0.2.9"), other = addr("192.0.2.10");
	long long left;
	enum preauth_kind last;

	(void)state;
	assert_int_equal(preauth_init(&p, &c, 5), 0);
	/* Two failed logins: 10 s outstanding, below min (15): still admitted. */
	assert_int_equal(preauth_penalise(&p, &a, PENALTY_AUTHFAIL, S(1000), &pen), 0);
	assert_true(pen.applied);
	assert_int_equal(pen.added_ms, S(5));
	assert_false(pen.refused);
	assert_int_equal(preauth_penalise(&p, &a, PENALTY_AUTHFAIL, S(1000), &pen), 0);
	assert_int_equal(pen.remaining_ms, S(10));
	assert_false(pen.refused);
	assert_int_equal(preauth_admit(&p, &a, S(1000), 99), PREAUTH_OK);
	preauth_done(&p, &a, S(1000));
	/* Penalties run down in real time: 3 s later 7 s remain, a third
	 * failure makes 12: still below min. */
	assert_int_equal(preauth_penalise(&p, &a, PENALTY_AUTHFAIL, S(1003), &pen), 0);
	assert_int_equal(pen.remaining_ms, S(12));
	assert_false(pen.refused);
	/* The fourth: 17 s, past min: refused from now... */
	assert_int_equal(preauth_penalise(&p, &a, PENALTY_AUTHFAIL, S(1003), &pen), 0);
	assert_true(pen.refused && pen.newly_refused);
	assert_int_equal(pen.remaining_ms, S(17));
	assert_int_equal(preauth_admit(&p, &a, S(1003), 99), PREAUTH_PENALISED);
	assert_int_equal(preauth_admit(&p, &other, S(1003), 99), PREAUTH_OK);
	assert_int_equal(preauth_penalised_sources(&p, S(1003)), 1);
	assert_true(preauth_refused(&p, &a, S(1005), &left, &last));
	assert_int_equal(left, S(15));
	assert_int_equal(last, PENALTY_AUTHFAIL);
	/* ...until it runs out, even below min (as OpenSSH). */
	assert_int_equal(preauth_admit(&p, &a, S(1019), 99), PREAUTH_PENALISED);
	assert_int_equal(preauth_admit(&p, &a, S(1020), 99), PREAUTH_OK);
	assert_int_equal(preauth_penalised_sources(&p, S(1020)), 0);
	/* A later penalty starts from nothing again. */
	assert_int_equal(preauth_penalise(&p, &a, PENALTY_AUTHFAIL, S(1020), &pen), 0);
	assert_int_equal(pen.remaining_ms, S(5));
	assert_false(pen.refused || pen.newly_refused);
	preauth_done(&p, &a, S(1020));
	preauth_done(&p, &other, S(1020));
	/* Nothing outstanding after it ran out: the entry is gone. */
	assert_int_equal(preauth_penalised_sources(&p, S(1026)), 0);
	assert_int_equal(p.live, 0);
	assert_int_equal(p.penalised[0], 0);
	preauth_free(&p);
}

static void test_penalty_kinds_and_cap(void **state)
{
	struct preauth_cfg c = defaults();
	struct preauth p;
	struct preauth_penalty pen;
	struct preauth_addr a = addr("192.0.2.20"), b = addr("192.0.2.21"), g = addr("192.0.2.22");

	(void)state;
	assert_int_equal(preauth_init(&p, &c, 5), 0);
	/* A crash (90 s) is refused at once. */
	assert_int_equal(preauth_penalise(&p, &a, PENALTY_CRASH, 0, &pen), 0);
	assert_true(pen.newly_refused);
	assert_int_equal(pen.remaining_ms, S(90));
	/* Penalties add up to max (600 s) and no further. */
	for (int i = 0; i < 10; i++)
		assert_int_equal(preauth_penalise(&p, &a, PENALTY_CRASH, 0, &pen), 0);
	assert_int_equal(pen.remaining_ms, S(600));
	assert_int_equal(pen.added_ms, 0);
	assert_false(pen.newly_refused);
	assert_int_equal(preauth_admit(&p, &a, S(599), 99), PREAUTH_PENALISED);
	assert_int_equal(preauth_admit(&p, &a, S(600), 99), PREAUTH_OK);
	/* noauth: 1 s each; the 15th in a row reaches min. */
	for (int i = 0; i < 14; i++) {
		assert_int_equal(preauth_penalise(&p, &b, PENALTY_NOAUTH, 0, &pen), 0);
		assert_false(pen.refused);
	}
	assert_int_equal(preauth_penalise(&p, &b, PENALTY_NOAUTH, 0, &pen), 0);
	assert_true(pen.newly_refused);
	/* grace-exceeded: 10 s; two reach min. */
	assert_int_equal(preauth_penalise(&p, &g, PENALTY_GRACE, 0, &pen), 0);
	assert_false(pen.refused);
	assert_int_equal(preauth_penalise(&p, &g, PENALTY_GRACE, S(1), &pen), 0);
	assert_true(pen.refused);
	assert_int_equal(pen.remaining_ms, S(19));
	preauth_free(&p);

	/* A kind set to 0 is off; penalties off is off. */
	c.penalty_s[PENALTY_NOAUTH] = 0;
	assert_int_equal(preauth_init(&p, &c, 5), 0);
	assert_int_equal(preauth_penalise(&p, &a, PENALTY_NOAUTH, 0, &pen), 0);
	assert_false(pen.applied);
	c.penalties = false;
	assert_int_equal(preauth_reconfigure(&p, &c), 0);
	assert_int_equal(preauth_penalise(&p, &a, PENALTY_CRASH, 0, &pen), 0);
	assert_false(pen.applied);
	assert_int_equal(p.live, 0);
	preauth_free(&p);
}

static void test_exempt(void **state)
{
	struct preauth_cfg c = defaults();
	struct preauth_net ex[2];
	struct preauth p;
	struct preauth_penalty pen;
	struct preauth_addr ok = addr("10.0.0.5"), neighbour = addr("10.0.0.6"), v6 = addr("2001:db8::5");
	char err[ERRLEN];

	(void)state;
	assert_int_equal(preauth_net_parse("10.0.0.5", &ex[0], err), 0);
	assert_int_equal(preauth_net_parse("2001:db8::/32", &ex[1], err), 0);
	c.exempt = ex;
	c.n_exempt = 2;
	c.prefix4 = 24;
	assert_int_equal(preauth_init(&p, &c, 9), 0);
	memset(ex, 0, sizeof(ex));     /* the table keeps its own copy */
	assert_int_equal(preauth_penalise(&p, &ok, PENALTY_CRASH, 0, &pen), 0);
	assert_true(pen.exempt);
	assert_false(pen.applied);
	assert_int_equal(preauth_penalise(&p, &v6, PENALTY_CRASH, 0, &pen), 0);
	assert_true(pen.exempt);
	/* Its /24 is penalised through a neighbour: the exempt address still gets in. */
	assert_int_equal(preauth_penalise(&p, &neighbour, PENALTY_CRASH, 0, &pen), 0);
	assert_true(pen.refused);
	assert_int_equal(preauth_admit(&p, &neighbour, 0, 0), PREAUTH_PENALISED);
	assert_int_equal(preauth_admit(&p, &ok, 0, 0), PREAUTH_OK);
	assert_false(preauth_refused(&p, &ok, 0, NULL, NULL));
	/* Exempt from penalties only: the per-source cap still applies. */
	for (int i = 0; i < 4; i++)
		assert_int_equal(preauth_admit(&p, &ok, 0, 0), PREAUTH_OK);
	assert_int_equal(preauth_admit(&p, &ok, 0, 0), PREAUTH_PER_SOURCE);
	preauth_free(&p);
}

static void test_overflow_is_permissive(void **state)
{
	struct preauth_cfg c = defaults();
	struct preauth p;
	struct preauth_penalty pen;
	struct preauth_addr a = addr("192.0.2.1"), b = addr("192.0.2.2"), c3 = addr("192.0.2.3"),
			    v6 = addr("2001:db8::1");

	(void)state;
	c.max_sources = 2;
	assert_int_equal(preauth_init(&p, &c, 11), 0);
	assert_int_equal(preauth_penalise(&p, &a, PENALTY_CRASH, 0, &pen), 0);
	assert_int_equal(preauth_penalise(&p, &b, PENALTY_AUTHFAIL, 0, &pen), 0);
	/* Full: a new source is not penalised (and not refused)... */
	assert_int_equal(preauth_penalise(&p, &c3, PENALTY_CRASH, 0, &pen), 0);
	assert_true(pen.overflow);
	assert_false(pen.applied);
	assert_int_equal(preauth_admit(&p, &c3, 0, 0), PREAUTH_OK);
	/* ...but one already held keeps accruing, */
	assert_int_equal(preauth_penalise(&p, &b, PENALTY_CRASH, 0, &pen), 0);
	assert_true(pen.applied && pen.refused);
	/* IPv6 has a budget of its own, */
	assert_int_equal(preauth_penalise(&p, &v6, PENALTY_CRASH, 0, &pen), 0);
	assert_true(pen.applied);
	/* and room comes back as penalties run out. */
	assert_int_equal(preauth_penalise(&p, &c3, PENALTY_CRASH, S(601), &pen), 0);
	assert_true(pen.applied && pen.refused);
	preauth_free(&p);
}

static void test_many_sources(void **state)
{
	struct preauth_cfg c = defaults();
	struct preauth p;
	struct preauth_penalty pen;
	struct preauth_addr a;
	char s[64];

	(void)state;
	c.full = c.start = 100000;
	assert_int_equal(preauth_init(&p, &c, 13), 0);
	for (int i = 0; i < 5000; i++) {
		snprintf(s, sizeof(s), "2001:db8:%x:%x::1", i / 256, i % 256);
		a = addr(s);
		assert_int_equal(preauth_admit(&p, &a, 0, 0), PREAUTH_OK);
		if (i % 3 == 0)
			assert_int_equal(preauth_penalise(&p, &a, PENALTY_NOAUTH, 0, &pen), 0);
	}
	assert_int_equal(preauth_unauthenticated(&p), 5000);
	assert_int_equal(p.live, 5000);
	for (int i = 0; i < 5000; i++) {
		snprintf(s, sizeof(s), "2001:db8:%x:%x::2", i / 256, i % 256);   /* same /64 */
		a = addr(s);
		assert_int_equal(preauth_source_unauthenticated(&p, &a, 0), 1);
		preauth_done(&p, &a, 0);
	}
	assert_int_equal(preauth_unauthenticated(&p), 0);
	assert_int_equal(p.live, 1667);      /* those with a penalty running */
	assert_int_equal(preauth_penalised_sources(&p, 0), 0);   /* 1 s each: below min */
	assert_int_equal(preauth_penalised_sources(&p, S(1)), 0);
	assert_int_equal(p.live, 0);
	preauth_free(&p);
}

/* A reload that keeps the prefixes keeps counts and penalties, and new
 * limits apply to them at once. */
static void test_reconfigure_keeps_state(void **state)
{
	struct preauth_cfg c = defaults();
	struct preauth_net ex;
	struct preauth p;
	struct preauth_penalty pen;
	struct preauth_addr a = addr("192.0.2.30"), b = addr("192.0.2.31");
	char err[ERRLEN];

	(void)state;
	assert_int_equal(preauth_init(&p, &c, 17), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(preauth_admit(&p, &a, 0, 0), PREAUTH_OK);
	assert_int_equal(preauth_penalise(&p, &b, PENALTY_CRASH, 0, &pen), 0);
	c.per_source = 3;
	c.penalty_max_s = 30;
	assert_int_equal(preauth_net_parse("192.0.2.31", &ex, err), 0);
	c.exempt = &ex;
	c.n_exempt = 1;
	assert_int_equal(preauth_reconfigure(&p, &c), 0);
	assert_int_equal(preauth_unauthenticated(&p), 3);
	assert_int_equal(preauth_admit(&p, &a, 0, 0), PREAUTH_PER_SOURCE);
	/* b is exempt now: its running penalty no longer refuses it (it is
	 * still counted until it runs out: exemption is by address, the
	 * penalty by source). */
	assert_int_equal(preauth_penalised_sources(&p, 0), 1);
	assert_false(preauth_refused(&p, &b, 0, NULL, NULL));
	assert_int_equal(preauth_admit(&p, &b, 0, 0), PREAUTH_OK);
	/* A lower max caps what is outstanding at the next penalty. */
	c.n_exempt = 0;
	assert_int_equal(preauth_reconfigure(&p, &c), 0);
	assert_int_equal(preauth_penalise(&p, &b, PENALTY_AUTHFAIL, 0, &pen), 0);
	assert_int_equal(pen.remaining_ms, S(30));
	assert_int_equal(preauth_admit(&p, &b, S(29), 0), PREAUTH_PENALISED);
	assert_int_equal(preauth_admit(&p, &b, S(30), 0), PREAUTH_OK);
	preauth_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_endings),
		cmocka_unit_test(test_sockaddr),
		cmocka_unit_test(test_net_parse),
		cmocka_unit_test(test_net_contains),
		cmocka_unit_test(test_ratelimit),
		cmocka_unit_test(test_per_source_cap),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_max_startups),
		cmocka_unit_test(test_penalty_accrues_and_expires),
		cmocka_unit_test(test_penalty_kinds_and_cap),
		cmocka_unit_test(test_exempt),
		cmocka_unit_test(test_overflow_is_permissive),
		cmocka_unit_test(test_many_sources),
		cmocka_unit_test(test_reconfigure_keeps_state),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
