#include "test_util.h"
#include "authkeys.h"
#include "fixtures.h"
#include "util.h"

#include <errno.h>

static void ok(const char *line, const char *type, const char *fp, const char *comment)
{
	struct authkey k;
	char err[ERRLEN] = "";
	int r = authkey_parse(line, &k, err);

	if (r != 1)
		fail_msg("refused %.40s: %s", line, err);
	assert_string_equal(k.type, type);
	assert_string_equal(k.fingerprint, fp);
	assert_string_equal(k.comment, comment);
	authkey_free(&k);
}

static void refused(const char *line, const char *needle)
{
	struct authkey k;
	char err[ERRLEN] = "";

	assert_int_equal(authkey_parse(line, &k, err), -EINVAL);
	if (!strstr(err, needle))
		fail_msg("error \"%s\" does not contain \"%s\"", err, needle);
}

static void test_accepted(void **state)
{
	(void)state;
	ok(KEY_ED, "ssh-ed25519", FP_ED, "alice@laptop");
	ok(KEY_R2048, "ssh-rsa", FP_R2048, "rsa2048");
	ok(KEY_EC, "ecdsa-sha2-nistp256", FP_EC, "ec");
	ok("   " KEY_ED2 "   ", "ssh-ed25519", FP_ED2, "bob");
}

static void test_comment(void **state)
{
	struct authkey k;
	char line[1024], err[ERRLEN];
	const char *b64 = strchr(KEY_ED, ' ') + 1;

	(void)state;
	/* Comments reach logs: control bytes are neutralised. */
	snprintf(line, sizeof(line), "ssh-ed25519 %.68s evil\x1b[31m name", b64);
	assert_int_equal(authkey_parse(line, &k, err), 1);
	assert_string_equal(k.comment, "evil?[31m name");
	authkey_free(&k);
}

static void test_blank(void **state)
{
	struct authkey k;
	char err[ERRLEN];

	(void)state;
	assert_int_equal(authkey_parse("", &k, err), 0);
	assert_int_equal(authkey_parse("   # a comment", &k, err), 0);
}

static void test_refused(void **state)
{
	char line[2048];

	(void)state;
	refused(KEY_DSA, "DSA keys (ssh-dss) are not accepted");
	refused(KEY_R1024, "RSA key of 1024 bits is too short: at least 2048 bits are required");
	refused("from=\"10.0.0.1\" " KEY_ED, "authorized_keys options");
	refused("command=\"ls\" " KEY_ED, "authorized_keys options");
	refused("ssh-ed25519-cert-v01@openssh.com AAAA", "certificates");
	refused("ssh-foo AAAA", "unsupported key type 'ssh-foo'");
	refused("ssh-ed25519", "has no base64 key data");
	refused("ssh-ed25519 !!!notbase64!!!", "not a valid ssh-ed25519 key");
	/* An ed25519 blob labelled as RSA. */
	snprintf(line, sizeof(line), "ssh-rsa %s", strchr(KEY_ED, ' ') + 1);
	refused(line, "not a valid ssh-rsa key");
	memset(line, 'A', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	memcpy(line, "ssh-ed25519 ", 12);
	refused(line, "not a valid ssh-ed25519 key");
}

static void test_too_long(void **state)
{
	char *line = malloc(AUTHKEY_LINE_MAX + 10);

	(void)state;
	memset(line, 'A', AUTHKEY_LINE_MAX + 9);
	line[AUTHKEY_LINE_MAX + 9] = '\0';
	refused(line, "longer than");
	free(line);
}

static void test_format(void **state)
{
	struct authkey k;
	char err[ERRLEN], *s;

	(void)state;
	assert_int_equal(authkey_parse(KEY_ED, &k, err), 1);
	s = authkey_format(&k);
	assert_string_equal(s, KEY_ED);
	free(s);
	authkey_free(&k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepted), cmocka_unit_test(test_comment),
		cmocka_unit_test(test_blank),    cmocka_unit_test(test_refused),
		cmocka_unit_test(test_too_long), cmocka_unit_test(test_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
