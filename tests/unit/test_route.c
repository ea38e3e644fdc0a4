#include "test_util.h"
#include "fixtures.h"
#include "route.h"
#include "util.h"

static void add_exec(struct registry *r, const char *id, int port, const char *k1, const char *k2)
{
	struct execution *e = execution_new();
	char err[ERRLEN];

	e->id = strdup(id);
	e->port = port;
	e->keys = calloc(2, sizeof(*e->keys));
	assert_int_equal(authkey_parse(k1, &e->keys[e->n_keys++], err), 1);
	if (k2)
		assert_int_equal(authkey_parse(k2, &e->keys[e->n_keys++], err), 1);
	assert_int_equal(registry_add(r, e), 0);
}

/* a: ED on 2222; b: ED2 and EC on 2222; c: ED on 2222 too; d: ED2 on 3000 */
static int setup(void **state)
{
	struct registry *r = calloc(1, sizeof(*r));

	add_exec(r, "exec-a", 2222, KEY_ED, NULL);
	add_exec(r, "exec-b", 2222, KEY_ED2, KEY_EC);
	add_exec(r, "exec-c", 2222, KEY_ED, NULL);
	add_exec(r, "exec-d", 3000, KEY_ED2, NULL);
	*state = r;
	return 0;
}

static int teardown(void **state)
{
	registry_clear(*state);
	free(*state);
	return 0;
}

static void test_unique(void **state)
{
	const struct execution *e;

	assert_int_equal(route_pick(*state, 2222, "root", FP_EC, &e), ROUTE_OK);
	assert_string_equal(e->id, "exec-b");
	assert_int_equal(route_pick(*state, 3000, "someone", FP_ED2, &e), ROUTE_OK);
	assert_string_equal(e->id, "exec-d");
}

static void test_wrong_port_or_key(void **state)
{
	const struct execution *e;

	/* EC opens exec-b, but only on exec-b's port. */
	assert_int_equal(route_pick(*state, 3000, "root", FP_EC, &e), ROUTE_NONE);
	assert_null(e);
	assert_int_equal(route_pick(*state, 2222, "root", FP_R2048, &e), ROUTE_NONE);
	assert_int_equal(route_pick(*state, 4000, "root", FP_ED, &e), ROUTE_NONE);
}

static void test_ambiguous(void **state)
{
	const struct execution *e;
	char *msg;

	assert_int_equal(route_pick(*state, 2222, "root", FP_ED, &e), ROUTE_AMBIGUOUS);
	assert_null(e);
	msg = route_ambiguous_message(*state, 2222, FP_ED);
	assert_non_null(strstr(msg, "exec-a, exec-c"));
	assert_non_null(strstr(msg, "connect as <execution-id>@host"));
	assert_null(strstr(msg, "exec-b"));
	free(msg);
}

static void test_username_pins(void **state)
{
	const struct execution *e;

	assert_int_equal(route_pick(*state, 2222, "exec-c", FP_ED, &e), ROUTE_OK);
	assert_string_equal(e->id, "exec-c");
	/* Naming an execution whose keys lack this one: no fallback elsewhere. */
	assert_int_equal(route_pick(*state, 2222, "exec-b", FP_ED, &e), ROUTE_NONE);
	/* exec-d is on another port: the name does not pin, key routes as usual. */
	assert_int_equal(route_pick(*state, 2222, "exec-d", FP_ED2, &e), ROUTE_OK);
	assert_string_equal(e->id, "exec-b");
}

static void test_removed_execution_no_longer_routes(void **state)
{
	struct registry *r = *state;
	const struct execution *e;

	execution_free(registry_take(r, "exec-c"));
	assert_null(registry_find(r, "exec-c"));
	/* exec-a is now the only holder of ED on 2222. */
	assert_int_equal(route_pick(r, 2222, "root", FP_ED, &e), ROUTE_OK);
	assert_string_equal(e->id, "exec-a");
	assert_int_equal(route_pick(r, 2222, "exec-c", FP_ED, &e), ROUTE_OK);
	assert_string_equal(e->id, "exec-a");
	add_exec(r, "exec-c", 2222, KEY_ED, NULL);
	assert_int_equal(route_pick(r, 2222, "root", FP_ED, &e), ROUTE_AMBIGUOUS);
}

/* An execution whose keys have made-up fingerprints: the index only compares them. */
static struct execution *fake_exec(int i, int port, const int *fps, size_t n)
{
	struct execution *e = execution_new();
	char id[32], fp[32];

	snprintf(id, sizeof(id), "x%03d", i);
	e->id = strdup(id);
	e->port = port;
	e->keys = calloc(n, sizeof(*e->keys));
	for (size_t k = 0; k < n; k++) {
		snprintf(fp, sizeof(fp), "FP-%d", fps[k]);
		e->keys[e->n_keys++].fingerprint = strdup(fp);
	}
	return e;
}

/* The decision by a plain scan of every execution, as route.c once did. */
static enum route_result reference(const struct registry *r, int port, const char *user, const char *fp,
				   const char **id)
{
	const struct execution *named = registry_find(r, user);
	size_t hits = 0;

	*id = NULL;
	if (named && named->port == port) {
		*id = execution_has_key(named, fp) ? named->id : NULL;
		return *id ? ROUTE_OK : ROUTE_NONE;
	}
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i]->port == port && execution_has_key(r->v[i], fp) && hits++ == 0)
			*id = r->v[i]->id;
	if (hits != 1)
		*id = NULL;
	return hits == 0 ? ROUTE_NONE : hits == 1 ? ROUTE_OK : ROUTE_AMBIGUOUS;
}

static void test_index_agrees_with_a_scan(void **state)
{
	struct registry r = { 0 };
	unsigned seed = 7;

	(void)state;
	for (int round = 0; round < 2000; round++) {
		int i = (int)((seed = seed * 1103515245u + 12345u) >> 8) % 300;
		char id[32], fp[32], user[32];
		const struct execution *e;
		const char *want;

		snprintf(id, sizeof(id), "x%03d", i);
		if (registry_find(&r, id)) {
			execution_free(registry_take(&r, id));
		} else {
			int fps[3] = { i % 37, 37 + i % 53, 100 + i };
			assert_int_equal(registry_add(&r, fake_exec(i, 2222 + i % 2, fps, 3)), 0);
		}
		snprintf(fp, sizeof(fp), "FP-%d", (int)(seed >> 4) % 160);
		snprintf(user, sizeof(user), "x%03d", (int)(seed >> 12) % 400);
		for (int port = 2222; port <= 2223; port++) {
			enum route_result rr = route_pick(&r, port, user, fp, &e);
			assert_int_equal(rr, reference(&r, port, user, fp, &want));
			if (want)
				assert_string_equal(e->id, want);
			else
				assert_null(e);
		}
	}
	for (size_t k = 1; k < r.n_by_key; k++)
		assert_true(strcmp(r.by_key[k - 1].fingerprint, r.by_key[k].fingerprint) <= 0);
	registry_clear(&r);
}

/* Whether the monitor of a connection on a port primes the cgroup lock. */
static void test_port_has_job(void **state)
{
	struct registry *r = *state;

	for (size_t i = 0; i < r->n; i++)
		if (r->v[i]->port == 2222)
			r->v[i]->target.type = TARGET_HOST;
	assert_false(route_port_has_job(r, 2222));
	assert_true(route_port_has_job(r, 3000));         /* exec-d: a pid target */
	assert_false(route_port_has_job(r, 4000));
	registry_find(r, "exec-b")->target.type = TARGET_DOCKER;
	assert_true(route_port_has_job(r, 2222));
}

static void test_ambiguous_message_is_bounded(void **state)
{
	struct registry r = { 0 };
	int fp = 1;
	char *msg;

	(void)state;
	for (int i = 0; i < 40; i++)
		assert_int_equal(registry_add(&r, fake_exec(i, 2222, &fp, 1)), 0);
	msg = route_ambiguous_message(&r, 2222, "FP-1");
	assert_non_null(strstr(msg, "(x000, x001,"));
	assert_non_null(strstr(msg, "x015 and 24 more); connect as <execution-id>@host, for example: ssh x000@HOST"));
	assert_null(strstr(msg, "x016"));
	free(msg);
	registry_clear(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unique),
		cmocka_unit_test(test_wrong_port_or_key),
		cmocka_unit_test(test_ambiguous),
		cmocka_unit_test(test_username_pins),
		cmocka_unit_test_setup_teardown(test_removed_execution_no_longer_routes, setup, teardown),
		cmocka_unit_test(test_index_agrees_with_a_scan),
		cmocka_unit_test(test_ambiguous_message_is_bounded),
		cmocka_unit_test_setup_teardown(test_port_has_job, setup, teardown),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
