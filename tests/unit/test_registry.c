#include "test_util.h"
#include "duration.h"
#include "fixtures.h"
#include "registry.h"
#include "util.h"

#include <errno.h>

static long long last_ttl_ms;

static int from(const char *json, struct execution **e, char *err)
{
	json_object *o = json_tokener_parse(json);
	int r;

	assert_non_null(o);
	r = execution_from_request(o, e, &last_ttl_ms, err);
	json_object_put(o);
	return r;
}

static int from_record(const char *json, struct execution **e, char *err)
{
	json_object *o = json_tokener_parse(json);
	int r;

	assert_non_null(o);
	r = execution_from_record(o, e, err);
	json_object_put(o);
	return r;
}

static void refused(const char *json, const char *needle)
{
	struct execution *e = NULL;
	char err[ERRLEN] = "";

	assert_true(from(json, &e, err) < 0);
	assert_null(e);
	if (!strstr(err, needle))
		fail_msg("error \"%s\" does not contain \"%s\"", err, needle);
}

static void test_parse(void **state)
{
	struct execution *e = NULL;
	char err[ERRLEN];

	(void)state;
	assert_int_equal(from("{\"id\":\"job-1.a_b\",\"port\":2222,\"target\":{\"type\":\"pid\",\"pid\":42},"
			      "\"keys\":[\"" KEY_ED "\",{\"line\":\"" KEY_EC "\",\"source\":\"f:2\"},\"" KEY_ED "\"]}",
			      &e, err), 0);
	assert_string_equal(e->id, "job-1.a_b");
	assert_int_equal(e->target.pid, 42);
	/* The duplicate key is folded. */
	assert_int_equal(e->n_keys, 2);
	assert_true(execution_has_key(e, FP_EC));
	assert_false(execution_has_key(e, FP_ED2));
	execution_free(e);
}

static void test_refused(void **state)
{
	(void)state;
	refused("{\"id\":\"-x\",\"target\":{\"type\":\"host\"},\"keys\":[\"" KEY_ED "\"]}", "execution id '-x' is invalid");
	refused("{\"id\":\"a/b\",\"target\":{\"type\":\"host\"},\"keys\":[\"" KEY_ED "\"]}", "is invalid");
	refused("{\"id\":\"a\",\"port\":80,\"target\":{\"type\":\"host\"},\"keys\":[\"" KEY_ED "\"]}",
		"port 80 is not allowed: use a port between 1024 and 65535");
	refused("{\"id\":\"a\",\"port\":65536,\"target\":{\"type\":\"host\"},\"keys\":[\"" KEY_ED "\"]}", "port 65536");
	refused("{\"id\":\"a\",\"keys\":[\"" KEY_ED "\"]}", "a target is required");
	refused("{\"id\":\"a\",\"target\":{\"type\":\"pid\",\"pid\":0},\"keys\":[\"" KEY_ED "\"]}", "target pid must be");
	refused("{\"id\":\"a\",\"target\":{\"type\":\"vm\"},\"keys\":[\"" KEY_ED "\"]}", "unknown target type 'vm'");
	refused("{\"id\":\"a\",\"target\":{\"type\":\"host\"}}", "at least one key is required");
	refused("{\"id\":\"a\",\"target\":{\"type\":\"host\"},\"keys\":[\"# only a comment\"]}", "no public key was given");
	refused("{\"id\":\"a\",\"target\":{\"type\":\"host\"},\"keys\":[{\"line\":\"" KEY_DSA "\",\"source\":\"keys.pub:3\"}]}",
		"keys.pub:3: DSA keys");
	refused("{\"id\":\"a\",\"target\":{\"type\":\"host\"},\"keys\":[\"" KEY_ED "\",\"" KEY_R1024 "\"]}",
		"key #2: RSA key of 1024 bits");
	/* A bad URL after a repeated one (fuzz_registry found the repeat's freed
	 * slot reused and freed again). */
	refused("{\"id\":\"a\",\"target\":{\"type\":\"host\"},\"key_urls\":[\"https://k.example/a\","
		"\"https://k.example/a\",\"http://k.example/b\"]}", "http://k.example/b");
}

#define HOST_ED "\"target\":{\"type\":\"host\"},\"keys\":[\"" KEY_ED "\"]"

/* Issue 7 item 4: every numeric field is checked on its type and full value
 * before any narrowing; fields a request may not set are refused by name. */
static void test_request_fields_checked(void **state)
{
	struct execution *e = NULL;
	char err[ERRLEN];

	(void)state;
	refused("{\"id\":\"a\",\"port\":4294968318," HOST_ED "}",
		"port 4294968318 is not allowed: use a port between 1024 and 65535");
	refused("{\"id\":\"a\",\"port\":4294969518," HOST_ED "}", "port 4294969518 is not allowed");
	refused("{\"id\":\"a\",\"port\":18446744073709551615," HOST_ED "}",
		"port 18446744073709551615 is not allowed");
	refused("{\"id\":\"a\",\"port\":-1," HOST_ED "}", "port -1 is not allowed");
	refused("{\"id\":\"a\",\"port\":\"2222\"," HOST_ED "}", "port must be an integer");
	refused("{\"id\":\"a\",\"port\":2222.0," HOST_ED "}", "port must be an integer");
	refused("{\"id\":\"a\",\"expires\":1," HOST_ED "}", "unknown field 'expires' in add request");
	refused("{\"id\":\"a\",\"created_ms\":1," HOST_ED "}", "unknown field 'created_ms' in add request");
	refused("{\"id\":\"a\",\"ttl\":0," HOST_ED "}", "ttl must be a whole number of seconds between 1 and");
	refused("{\"id\":\"a\",\"ttl\":316224001," HOST_ED "}", "ttl must be");
	refused("{\"id\":\"a\",\"ttl\":\"5\"," HOST_ED "}", "ttl must be");
	refused("{\"id\":\"a\",\"target\":{\"type\":\"pid\",\"pid\":4294967297},\"keys\":[\"" KEY_ED "\"]}",
		"target pid must be a process id between 1 and 4194304");
	refused("{\"id\":\"a\",\"target\":{\"type\":\"pid\",\"pid\":7,\"starttime\":1},\"keys\":[\"" KEY_ED "\"]}",
		"unknown field 'starttime' in add request's target");
	refused("{\"id\":\"a\",\"target\":{\"type\":\"host\"},\"keys\":[{\"line\":\"" KEY_ED "\",\"opts\":1}]}",
		"unknown field 'opts' in key #1");
	refused("{\"id\":5," HOST_ED "}", "execution id must be a string");
	/* Found by fuzz_registry: a request that is not an object at all. */
	refused("\"just a string\"", "add request must be a JSON object");
	refused("[1,2]", "add request must be a JSON object");
	refused("{\"id\":\"a\",\"user\":7," HOST_ED "}", "user must be a string");
	assert_int_equal(from("{\"cmd\":\"add\",\"id\":\"a\",\"port\":65535,\"ttl\":2," HOST_ED "}", &e, err), 0);
	assert_int_equal(e->port, 65535);
	assert_int_equal(last_ttl_ms, 2000);
	/* The daemon sets the times, never the request. */
	assert_int_equal(e->created_ms, 0);
	assert_int_equal(e->expires_ms, 0);
	execution_free(e);
}

static void test_record(void **state)
{
	struct execution *e = NULL;
	char err[ERRLEN];
	json_object *o;

	(void)state;
	/* Version 1 (executions.json): seconds. */
	assert_int_equal(from_record("{\"id\":\"x\",\"port\":2222,\"target\":{\"type\":\"pid\",\"pid\":7,\"starttime\":99},"
				     "\"created\":1700000000,\"expires\":1700000002,\"keys\":[\"" KEY_ED "\"]}", &e, err), 0);
	assert_int_equal(e->created_ms, 1700000000000LL);
	assert_int_equal(e->expires_ms, 1700000002000LL);
	assert_int_equal(e->target.starttime, 99);
	/* Round trip through the current record form keeps milliseconds. */
	e->expires_ms += 345;
	o = execution_to_record(e);
	execution_free(e);
	e = NULL;
	assert_int_equal(execution_from_record(o, &e, err), 0);
	json_object_put(o);
	assert_int_equal(e->expires_ms, 1700000002345LL);
	assert_true(execution_has_key(e, FP_ED));
	/* What people read keeps whole seconds, plus the precise value. */
	o = execution_to_json(e);
	assert_int_equal(json_object_get_int64(json_object_object_get(o, "expires")), 1700000002);
	assert_int_equal(json_object_get_int64(json_object_object_get(o, "expires_ms")), 1700000002345LL);
	json_object_put(o);
	execution_free(e);
	/* A record is validated all the same. */
	e = NULL;
	assert_true(from_record("{\"id\":\"x\",\"port\":80," HOST_ED "}", &e, err) < 0);
	assert_non_null(strstr(err, "port 80 is not allowed"));
	assert_true(from_record("{\"id\":\"x\"," HOST_ED "}", &e, err) < 0);
	assert_non_null(strstr(err, "the record has no port"));
	assert_null(e);
}

static void test_add_find_take(void **state)
{
	struct registry r = { 0 };
	struct execution *e = NULL, *e2 = NULL;
	char err[ERRLEN];

	(void)state;
	assert_int_equal(from_record("{\"id\":\"x\",\"port\":2222,\"user\":\"job\",\"target\":{\"type\":\"pid\",\"pid\":7,"
				     "\"starttime\":99},\"expires_ms\":1234,\"keys\":[\"" KEY_ED "\"]}", &e, err), 0);
	assert_int_equal(from_record("{\"id\":\"a\",\"port\":2222,\"target\":{\"type\":\"host\"},\"keys\":[\"" KEY_ED "\"]}",
				     &e2, err), 0);
	assert_int_equal(registry_add(&r, e), 0);
	assert_int_equal(registry_add(&r, e), -EEXIST);
	assert_int_equal(registry_add(&r, e2), 0);
	/* Kept in id order. */
	assert_string_equal(r.v[0]->id, "a");
	assert_ptr_equal(registry_find(&r, "x"), e);
	assert_null(registry_find(&r, "y"));
	assert_int_equal(registry_count_port(&r, 2222), 2);
	assert_ptr_equal(registry_take(&r, "x"), e);
	assert_null(registry_take(&r, "x"));
	assert_int_equal(registry_count_port(&r, 2222), 1);
	execution_free(e);
	registry_clear(&r);
	assert_int_equal(r.n, 0);
}

static void test_duration(void **state)
{
	long s;

	(void)state;
	assert_int_equal(duration_parse("90", &s), 0);
	assert_int_equal(s, 90);
	assert_int_equal(duration_parse("15m", &s), 0);
	assert_int_equal(s, 900);
	assert_int_equal(duration_parse("1h30m", &s), 0);
	assert_int_equal(s, 5400);
	assert_int_equal(duration_parse("2d", &s), 0);
	assert_int_equal(s, 172800);
	assert_int_equal(duration_parse("", &s), -EINVAL);
	assert_int_equal(duration_parse("0", &s), -EINVAL);
	assert_int_equal(duration_parse("5x", &s), -EINVAL);
	assert_int_equal(duration_parse("-5", &s), -EINVAL);
	assert_int_equal(duration_parse("99999999999d", &s), -ERANGE);
}

static void test_ids(void **state)
{
	char longid[200];

	(void)state;
	assert_true(execution_id_valid("exec-123"));
	assert_true(execution_id_valid("A.b_c-9"));
	assert_false(execution_id_valid(""));
	assert_false(execution_id_valid(".hidden"));
	assert_false(execution_id_valid("a b"));
	assert_false(execution_id_valid("../etc"));
	memset(longid, 'a', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	assert_false(execution_id_valid(longid));
	longid[128] = '\0';
	assert_true(execution_id_valid(longid));
}

static void test_printable(void **state)
{
	char *s = str_printable("root\nFAKE: accepted\x1b[0m", 64);

	(void)state;
	assert_string_equal(s, "root?FAKE: accepted?[0m");
	free(s);
	s = str_printable("abcdef", 3);
	assert_string_equal(s, "abc");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),    cmocka_unit_test(test_refused),
		cmocka_unit_test(test_request_fields_checked), cmocka_unit_test(test_record),
		cmocka_unit_test(test_add_find_take), cmocka_unit_test(test_duration),
		cmocka_unit_test(test_ids),     cmocka_unit_test(test_printable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
