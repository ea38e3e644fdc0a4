#include "test_util.h"
#include "fixtures.h"
#include "keyset.h"
#include "registry.h"
#include "util.h"

#include <errno.h>

static void test_text_lines_and_labels(void **state)
{
	const char *text = "# team\n" KEY_ED "\r\n\n   \n" KEY_ED2 "\n" KEY_ED "\n";
	struct keylist l = { 0 };
	char err[ERRLEN] = "";

	(void)state;
	assert_int_equal(keylist_from_text(text, strlen(text), "https://k/x", 10, &l, err), 0);
	/* The duplicate is folded; the CR is not part of the comment. */
	assert_int_equal(l.n, 2);
	assert_string_equal(l.v[0].fingerprint, FP_ED);
	assert_string_equal(l.v[0].comment, "alice@laptop");
	assert_string_equal(l.v[1].fingerprint, FP_ED2);
	keylist_free(&l);

	text = KEY_ED "\n# x\n" KEY_R1024 "\n";
	assert_int_equal(keylist_from_text(text, strlen(text), "https://k/x", 10, &l, err), -EINVAL);
	assert_non_null(strstr(err, "https://k/x:3: RSA key of 1024 bits"));
	keylist_free(&l);
}

static void test_text_limits(void **state)
{
	const char *text = KEY_ED "\n" KEY_ED2 "\n" KEY_EC "\n";
	char nul[] = KEY_ED "\n\0" KEY_ED2 "\n";
	struct keylist l = { 0 };
	char err[ERRLEN] = "";

	(void)state;
	/* Three key lines against a limit of two: refused whole, nothing parsed. */
	assert_int_equal(keylist_from_text(text, strlen(text), "u", 2, &l, err), -E2BIG);
	assert_string_equal(err, "u: holds 3 keys; at most 2 are accepted");
	assert_int_equal(l.n, 0);
	assert_int_equal(keylist_from_text(nul, sizeof(nul) - 1, "u", 10, &l, err), -EINVAL);
	assert_string_equal(err, "u: holds a NUL byte; it is not an authorized_keys file");
	assert_int_equal(l.n, 0);
	assert_int_equal(keylist_from_text("", 0, "u", 10, &l, err), 0);
	assert_int_equal(l.n, 0);
}

static void test_json_entries(void **state)
{
	json_object *a = json_tokener_parse("[\"" KEY_ED "\",{\"line\":\"" KEY_DSA "\",\"source\":\"--add:2\"}]");
	json_object *b = json_tokener_parse("[\"" KEY_ED "\",7]");
	struct keylist l = { 0 };
	char err[ERRLEN] = "";

	(void)state;
	assert_true(keylist_from_json(a, 1, &l, err) < 0);
	assert_non_null(strstr(err, "--add:2: DSA keys"));
	keylist_free(&l);
	assert_true(keylist_from_json(b, 1, &l, err) < 0);
	assert_string_equal(err, "key #2: not a key line");
	keylist_free(&l);
	json_object_put(a);
	json_object_put(b);
}

static void test_fingerprint_form(void **state)
{
	(void)state;
	assert_true(key_fingerprint_valid(FP_ED));
	assert_true(key_fingerprint_valid(FP_ED2));
	assert_false(key_fingerprint_valid("SHA256:short"));
	assert_false(key_fingerprint_valid("MD5:+7eLUkw82CJM5FWAOIm1RUM0ed7CXbw4e2bvvI8tkWY"));
	assert_false(key_fingerprint_valid(FP_ED "="));
	assert_false(key_fingerprint_valid("SHA256:+7eLUkw82CJM5FWAOIm1RUM0ed7CXbw4e2bvvI8tkW!"));
	assert_false(key_fingerprint_valid(NULL));
}

static void test_copy_is_deep(void **state)
{
	struct authkey k, c;
	char err[ERRLEN], *a, *b;

	(void)state;
	assert_int_equal(authkey_parse("restrict,pty,from=\"10.0.0.0/8\",permitopen=\"h:1\",permitlisten=\"2\","
				       "command=\"x\" " KEY_ED, &k, err), 1);
	assert_int_equal(authkey_copy(&c, &k), 0);
	a = authkey_format(&k);
	authkey_free(&k);
	b = authkey_format(&c);
	assert_string_equal(a, b);
	assert_true(c.opts.no_port_forwarding && !c.opts.no_pty);
	assert_true(authkey_permits_open(&c.opts, "h", 1));
	assert_false(authkey_permits_open(&c.opts, "h", 2));
	assert_true(authkey_from_allows(&c.opts, "10.1.2.3"));
	assert_false(authkey_from_allows(&c.opts, "192.0.2.1"));
	free(a);
	free(b);
	authkey_free(&c);
}

static struct execution *exec_with(const char *id, const char *keys)
{
	struct execution *e = NULL;
	char json[4096], err[ERRLEN];
	json_object *o;

	snprintf(json, sizeof(json), "{\"id\":\"%s\",\"port\":2222,\"target\":{\"type\":\"host\"},\"keys\":[%s]}", id, keys);
	o = json_tokener_parse(json);
	assert_non_null(o);
	assert_int_equal(execution_from_record(o, &e, err), 0);
	json_object_put(o);
	return e;
}

/* The index after a replacement is what adding the executions anew gives. */
static void assert_index_sorted(const struct registry *r)
{
	for (size_t i = 1; i < r->n_by_key; i++) {
		int c = strcmp(r->by_key[i - 1].fingerprint, r->by_key[i].fingerprint);

		assert_true(c < 0 || (c == 0 && strcmp(r->by_key[i - 1].e->id, r->by_key[i].e->id) < 0));
	}
}

static void test_registry_replace_keys(void **state)
{
	struct registry r = { 0 };
	struct execution *a = exec_with("a", "\"" KEY_ED "\""), *b = exec_with("b", "\"" KEY_ED "\",\"" KEY_EC "\""),
			 *c = exec_with("c", "\"" KEY_ED2 "\"");
	struct keylist next = { 0 };
	const struct keyref *k;
	struct keyindex ki;
	char err[ERRLEN];

	(void)state;
	assert_int_equal(registry_add(&r, a), 0);
	assert_int_equal(registry_add(&r, b), 0);
	assert_int_equal(registry_add(&r, c), 0);
	/* b: KEY_ED and KEY_EC become KEY_ED2 and KEY_R2048. */
	assert_int_equal(keylist_from_text(KEY_ED2 "\n" KEY_R2048 "\n", strlen(KEY_ED2 KEY_R2048) + 2, "t", 10, &next,
					   err), 0);
	assert_int_equal(registry_keys_prepare(&r, b, next.n, &ki), 0);
	registry_keys_commit(&r, b, next.v, &ki);
	assert_int_equal(b->n_keys, 2);
	assert_int_equal(r.n_by_key, 4);
	assert_index_sorted(&r);
	assert_int_equal(registry_with_key(&r, FP_ED, &k), 1);
	assert_ptr_equal(k[0].e, a);
	assert_int_equal(registry_with_key(&r, FP_EC, &k), 0);
	assert_int_equal(registry_with_key(&r, FP_ED2, &k), 2);
	assert_ptr_equal(k[0].e, b);
	assert_ptr_equal(k[1].e, c);
	assert_int_equal(registry_with_key(&r, FP_R2048, &k), 1);
	/* No keys at all: b holds none and is in no index entry. */
	assert_int_equal(registry_keys_prepare(&r, b, 0, &ki), 0);
	registry_keys_commit(&r, b, NULL, &ki);
	assert_int_equal(b->n_keys, 0);
	assert_int_equal(r.n_by_key, 2);
	assert_int_equal(registry_with_key(&r, FP_R2048, &k), 0);
	assert_index_sorted(&r);
	/* An unused preparation changes nothing. */
	assert_int_equal(registry_keys_prepare(&r, a, 5, &ki), 0);
	registry_keys_abort(&ki);
	assert_int_equal(r.n_by_key, 2);
	registry_clear(&r);
}

/* A record may hold no key (all removed); a request may not. */
static void test_record_without_keys(void **state)
{
	struct execution *e = exec_with("z", "");
	json_object *rec, *keys;

	(void)state;
	assert_int_equal(e->n_keys, 0);
	rec = execution_to_record(e);
	assert_true(json_object_object_get_ex(rec, "keys", &keys));
	assert_int_equal(json_object_array_length(keys), 0);
	json_object_put(rec);
	execution_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_lines_and_labels), cmocka_unit_test(test_text_limits),
		cmocka_unit_test(test_json_entries),          cmocka_unit_test(test_fingerprint_form),
		cmocka_unit_test(test_copy_is_deep),          cmocka_unit_test(test_registry_replace_keys),
		cmocka_unit_test(test_record_without_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
