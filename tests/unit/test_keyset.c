#include "test_util.h"
#include "fixtures.h"
#include "keyset.h"
#include "keyurl.h"
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

static void test_url_policy(void **state)
{
	static const char *const ok[] = {
		"https://keys.example/u.keys", "HTTPS://Keys.Example/u", "http://127.0.0.1:8080/k", "http://127.9.9.9/k",
		"http://[::1]/k", "http://localhost/k", "http://LOCALHOST:1/k", "http://127.1/k", "https://u:p@h/k?t=1",
	};
	static const char *const refused[] = {
		"http://192.0.2.1/keys", "http://10.0.0.1/k", "http://[::ffff:127.0.0.1]/k", "http://127.0.0.1.example/k",
		"ftp://127.0.0.1/k", "gopher://localhost/k", "http://localhost.example/k",
	};
	char err[ERRLEN];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(ok); i++)
		if (keyurl_check(ok[i], err) != 0)
			fail_msg("%s refused: %s", ok[i], err);
	for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
		assert_int_equal(keyurl_check(refused[i], err), -EINVAL);
		assert_non_null(strstr(err, "only https URLs (or http on this machine's loopback) are accepted"));
	}
	assert_int_equal(keyurl_check("keys.example/k", err), -EINVAL);
	assert_string_equal(err, "--key-url keys.example/k: not a valid URL");
	assert_int_equal(keyurl_check("https://", err), -EINVAL);
	/* No host at all. */
	assert_int_equal(keyurl_check("file:///etc/passwd", err), -EINVAL);
	assert_string_equal(err, "--key-url file:///etc/passwd: not a valid URL");
}

static void test_url_redacted(void **state)
{
	char out[256];

	(void)state;
	keyurl_redact("https://user:secret@keys.example/u.keys?token=abc#frag", out, sizeof(out));
	assert_string_equal(out, "https://keys.example/u.keys");
	keyurl_redact("http://127.0.0.1:8080/keys", out, sizeof(out));
	assert_string_equal(out, "http://127.0.0.1:8080/keys");
	keyurl_redact("not a url", out, sizeof(out));
	assert_string_equal(out, "(an invalid URL)");
}

/* A record keeps each URL's last good keys apart from the static ones, and
 * a session's record carries only its key and no URL. */
static void test_record_with_key_urls(void **state)
{
	struct execution *e = NULL, *again = NULL, *one = NULL;
	json_object *o = json_tokener_parse("{\"id\":\"u\",\"port\":2222,\"target\":{\"type\":\"host\"},"
					    "\"keys\":[\"" KEY_ED "\"],\"key_urls\":[{\"url\":\"https://k/a\","
					    "\"fetched_ms\":5,\"keys\":[\"" KEY_ED "\",\"" KEY_EC "\"]},{\"url\":"
					    "\"https://k/b\",\"keys\":[]}]}"), *rec, *v;
	char err[ERRLEN];

	(void)state;
	assert_int_equal(execution_from_record(o, &e, err), 0);
	assert_int_equal(e->n_static, 1);
	assert_int_equal(e->n_keys, 2);       /* KEY_ED once: the static line wins */
	assert_int_equal(e->n_urls, 2);
	assert_int_equal(e->urls[0].n_keys, 2);
	assert_int_equal(e->urls[0].fetched_ms, 5);
	rec = execution_to_record(e);
	assert_true(json_object_object_get_ex(rec, "keys", &v));
	assert_int_equal(json_object_array_length(v), 1);
	assert_int_equal(execution_from_record(rec, &again, err), 0);
	assert_int_equal(again->n_keys, 2);
	assert_int_equal(again->n_urls, 2);
	assert_string_equal(again->urls[1].url, "https://k/b");
	json_object_put(rec);
	rec = execution_record_one_key(e, FP_EC);
	assert_false(json_object_object_get_ex(rec, "key_urls", &v));
	assert_int_equal(execution_from_record(rec, &one, err), 0);
	assert_int_equal(one->n_keys, 1);
	assert_string_equal(one->keys[0].fingerprint, FP_EC);
	json_object_put(rec);
	execution_free(one);
	execution_free(again);
	execution_free(e);
	json_object_put(o);
}

static void test_request_key_urls(void **state)
{
	struct execution *e = NULL;
	json_object *o = json_tokener_parse("{\"id\":\"u\",\"target\":{\"type\":\"host\"},\"key_urls\":"
					    "[\"https://k/a\",\"https://k/a\"]}");
	long long ttl;
	char err[ERRLEN];

	(void)state;
	/* URLs alone are enough for a request; the same URL twice is one. */
	assert_int_equal(execution_from_request(o, &e, &ttl, err), 0);
	assert_int_equal(e->n_keys, 0);
	assert_int_equal(e->n_urls, 1);
	execution_free(e);
	json_object_put(o);
	o = json_tokener_parse("{\"id\":\"u\",\"target\":{\"type\":\"host\"},\"key_urls\":[\"http://192.0.2.1/k\"]}");
	e = NULL;
	assert_true(execution_from_request(o, &e, &ttl, err) < 0);
	assert_null(e);
	assert_non_null(strstr(err, "only https URLs"));
	json_object_put(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_lines_and_labels), cmocka_unit_test(test_text_limits),
		cmocka_unit_test(test_json_entries),          cmocka_unit_test(test_fingerprint_form),
		cmocka_unit_test(test_copy_is_deep),          cmocka_unit_test(test_registry_replace_keys),
		cmocka_unit_test(test_record_without_keys),   cmocka_unit_test(test_url_policy),
		cmocka_unit_test(test_url_redacted),          cmocka_unit_test(test_record_with_key_urls),
		cmocka_unit_test(test_request_key_urls),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
