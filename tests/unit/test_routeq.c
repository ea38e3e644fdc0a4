#include "test_util.h"
#include "fixtures.h"
#include "routeq.h"
#include "util.h"

#include <errno.h>
#include <sys/socket.h>

struct pair {
	int daemon, session;
};

static int setup(void **state)
{
	struct pair *p = calloc(1, sizeof(*p));
	int sp[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
	p->daemon = sp[0];
	p->session = sp[1];
	*state = p;
	return 0;
}

static int teardown(void **state)
{
	struct pair *p = *state;

	close(p->daemon);
	close(p->session);
	free(p);
	return 0;
}

static struct execution *two_keys(void)
{
	struct execution *e = execution_new();
	char err[ERRLEN];

	e->id = strdup("exec-a");
	e->port = 2222;
	e->target = (struct target){ .type = TARGET_PID, .pid = 42, .starttime = 99 };
	e->user = strdup("job");
	e->created_ms = 1700000000123LL;
	e->expires_ms = 1700000002123LL;
	e->keys = calloc(2, sizeof(*e->keys));
	assert_int_equal(authkey_parse(KEY_ED, &e->keys[e->n_keys++], err), 1);
	assert_int_equal(authkey_parse(KEY_EC, &e->keys[e->n_keys++], err), 1);
	return e;
}

/* The answer is queued before the question: routeq_ask sends, then reads it. */
static void test_claim_round_trip(void **state)
{
	struct pair *p = *state;
	struct execution *e = two_keys();
	struct routeq_question q;
	struct route_answer ans;
	char err[ERRLEN];

	assert_int_equal(routeq_send_answer(p->daemon, ROUTE_OK, e, FP_EC, NULL, NULL, err), 0);
	assert_int_equal(routeq_ask(p->session, ROUTEQ_CLAIM, "root", FP_EC, &ans, err), 0);
	assert_int_equal(ans.result, ROUTE_OK);
	assert_string_equal(ans.exec->id, "exec-a");
	assert_int_equal(ans.exec->port, 2222);
	assert_int_equal(ans.exec->target.pid, 42);
	assert_int_equal(ans.exec->target.starttime, 99);
	assert_string_equal(ans.exec->user, "job");
	assert_int_equal(ans.exec->expires_ms, 1700000002123LL);
	/* Only the offered key travels, with its comment. */
	assert_int_equal(ans.exec->n_keys, 1);
	assert_string_equal(ans.exec->keys[0].fingerprint, FP_EC);
	assert_string_equal(ans.exec->keys[0].comment, "ec");
	route_answer_clear(&ans);
	assert_int_equal(routeq_read_question(p->daemon, &q, err), 1);
	assert_int_equal(q.kind, ROUTEQ_CLAIM);
	assert_string_equal(q.user, "root");
	assert_string_equal(q.fingerprint, FP_EC);
	/* Nothing more waiting. */
	assert_int_equal(routeq_read_question(p->daemon, &q, err), 0);
	execution_free(e);
}

static void test_refusal_carries_message(void **state)
{
	struct pair *p = *state;
	struct route_answer ans;
	char err[ERRLEN];

	assert_int_equal(routeq_send_answer(p->daemon, ROUTE_REFUSED, NULL, FP_ED, "peon-sshd: no\n", "disk full",
					    err), 0);
	assert_int_equal(routeq_ask(p->session, ROUTEQ_CLAIM, "root", FP_ED, &ans, err), 0);
	assert_int_equal(ans.result, ROUTE_REFUSED);
	assert_null(ans.exec);
	assert_string_equal(ans.message, "peon-sshd: no\n");
	assert_string_equal(ans.reason, "disk full");
	route_answer_clear(&ans);
}

static void test_long_user_is_cut(void **state)
{
	struct pair *p = *state;
	struct routeq_question q;
	struct route_answer ans;
	char user[1000], err[ERRLEN];

	memset(user, 'u', sizeof(user) - 1);
	user[sizeof(user) - 1] = '\0';
	assert_int_equal(routeq_send_answer(p->daemon, ROUTE_NONE, NULL, FP_ED, NULL, NULL, err), 0);
	assert_int_equal(routeq_ask(p->session, ROUTEQ_PROBE, user, FP_ED, &ans, err), 0);
	assert_int_equal(ans.result, ROUTE_NONE);
	assert_int_equal(routeq_read_question(p->daemon, &q, err), 1);
	assert_int_equal(q.kind, ROUTEQ_PROBE);
	assert_int_equal(strlen(q.user), ROUTEQ_USER_MAX);
}

static void raw(int fd, const char *text)
{
	assert_int_equal(send(fd, text, strlen(text), 0), (ssize_t)strlen(text));
}

/* The daemon treats questions as untrusted: bounded, typed, exact fields. */
static void test_malformed_questions(void **state)
{
	struct pair *p = *state;
	struct routeq_question q;
	char big[ROUTEQ_MAX_QUESTION + 100], err[ERRLEN];

	raw(p->session, "not json");
	assert_int_equal(routeq_read_question(p->daemon, &q, err), -EPROTO);
	raw(p->session, "{\"kind\":\"claim\",\"user\":\"x\",\"fingerprint\":\"SHA256:a\",\"port\":2222}");
	assert_int_equal(routeq_read_question(p->daemon, &q, err), -EINVAL);
	assert_non_null(strstr(err, "unknown field 'port'"));
	raw(p->session, "{\"kind\":\"admin\",\"user\":\"x\",\"fingerprint\":\"SHA256:a\"}");
	assert_int_equal(routeq_read_question(p->daemon, &q, err), -EPROTO);
	raw(p->session, "{\"kind\":\"probe\",\"user\":5,\"fingerprint\":\"SHA256:a\"}");
	assert_int_equal(routeq_read_question(p->daemon, &q, err), -EPROTO);
	raw(p->session, "{\"kind\":\"probe\",\"user\":\"a\\u0000b\",\"fingerprint\":\"SHA256:a\"}");
	assert_int_equal(routeq_read_question(p->daemon, &q, err), -EPROTO);
	raw(p->session, "{\"kind\":\"probe\",\"user\":\"x\",\"fingerprint\":\"SHA256:a b\"}");
	assert_int_equal(routeq_read_question(p->daemon, &q, err), -EPROTO);
	memset(big, ' ', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	raw(p->session, big);
	assert_int_equal(routeq_read_question(p->daemon, &q, err), -EMSGSIZE);
	close(p->session);
	p->session = -1;
	assert_int_equal(routeq_read_question(p->daemon, &q, err), -EPIPE);
}

/* A monitor's totals: sent without waiting, read back exactly; counts
 * only, exact fields. */
static void test_tally(void **state)
{
	struct pair *p = *state;
	struct routeq_tally t = { .bytes_in = 1ULL << 40, .bytes_out = 7, .spawn_failures = 2 };
	struct routeq_question q;
	char err[ERRLEN];

	assert_int_equal(routeq_send_tally(p->session, &t, err), 0);
	assert_int_equal(routeq_read_question(p->daemon, &q, err), 1);
	assert_int_equal(q.kind, ROUTEQ_TALLY);
	assert_true(q.tally.bytes_in == 1ULL << 40 && q.tally.bytes_out == 7 && q.tally.spawn_failures == 2);
	raw(p->session, "{\"kind\":\"tally\",\"bytes_in\":-1,\"bytes_out\":0,\"spawn_failures\":0}");
	assert_int_equal(routeq_read_question(p->daemon, &q, err), -EPROTO);
	assert_non_null(strstr(err, "\"bytes_in\" must be a count"));
	raw(p->session, "{\"kind\":\"tally\",\"bytes_in\":1,\"bytes_out\":\"2\",\"spawn_failures\":0}");
	assert_int_equal(routeq_read_question(p->daemon, &q, err), -EPROTO);
	raw(p->session, "{\"kind\":\"tally\",\"bytes_in\":1,\"bytes_out\":2}");
	assert_int_equal(routeq_read_question(p->daemon, &q, err), -EPROTO);
	raw(p->session, "{\"kind\":\"tally\",\"bytes_in\":1,\"bytes_out\":2,\"spawn_failures\":0,\"user\":\"x\"}");
	assert_true(routeq_read_question(p->daemon, &q, err) < 0);
	assert_non_null(strstr(err, "unknown field 'user'"));
}

/* A malformed answer, or none: the session refuses, and the socket is shut
 * so a late answer can never be paired with a later question. */
static void test_bad_answers_refuse(void **state)
{
	struct pair *p = *state;
	struct execution *e = two_keys();
	struct route_answer ans;
	char err[ERRLEN];

	raw(p->daemon, "{\"result\":\"ok\"}");
	assert_int_equal(routeq_ask(p->session, ROUTEQ_CLAIM, "root", FP_ED, &ans, err), -EPROTO);
	assert_non_null(strstr(err, "without a valid execution"));
	assert_null(ans.exec);
	assert_int_equal(routeq_ask(p->session, ROUTEQ_PROBE, "root", FP_ED, &ans, err) < 0, 1);
	teardown(state);
	setup(state);
	p = *state;
	/* An answer about another key than the one offered. */
	assert_int_equal(routeq_send_answer(p->daemon, ROUTE_OK, e, FP_EC, NULL, NULL, err), 0);
	assert_int_equal(routeq_ask(p->session, ROUTEQ_CLAIM, "root", FP_ED, &ans, err), -EPROTO);
	teardown(state);
	setup(state);
	p = *state;
	close(p->daemon);
	p->daemon = -1;
	assert_int_equal(routeq_ask(p->session, ROUTEQ_PROBE, "root", FP_ED, &ans, err), -EPIPE);
	execution_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_claim_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusal_carries_message, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_user_is_cut, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_questions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tally, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_answers_refuse, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
