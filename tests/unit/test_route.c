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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unique),
		cmocka_unit_test(test_wrong_port_or_key),
		cmocka_unit_test(test_ambiguous),
		cmocka_unit_test(test_username_pins),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
