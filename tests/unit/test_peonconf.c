#include "test_util.h"
#include "peonconf.h"
#include "util.h"

#include <errno.h>

static void parse(const char *line, int want, const char *key, const char *value)
{
	char err[ERRLEN] = "", *k = NULL, *v = NULL;
	int r = peonconf_parse_line(line, &k, &v, err);

	assert_int_equal(r, want);
	if (r == 1) {
		assert_string_equal(k, key);
		assert_string_equal(v, value);
	}
	free(k);
	free(v);
}

static void test_lines(void **state)
{
	(void)state;
	parse("", 0, NULL, NULL);
	parse("   # comment", 0, NULL, NULL);
	parse("DEBUG_PORT=2222", 1, "DEBUG_PORT", "2222");
	parse("  DEBUG_PORT = 2222  ", 1, "DEBUG_PORT", "2222");
	parse("export DEBUG_PORT=2222", 1, "DEBUG_PORT", "2222");
	parse("DEBUG_PORT=\"2222\"", 1, "DEBUG_PORT", "2222");
	parse("DEBUG_PORT='2222'  # the port", 1, "DEBUG_PORT", "2222");
	parse("DEBUG_PORT=2222 # the port", 1, "DEBUG_PORT", "2222");
	parse("URL=http://x/#frag", 1, "URL", "http://x/#frag");
	parse("MSG=\"a \\\"quoted\\\" word\"", 1, "MSG", "a \"quoted\" word");
	parse("EMPTY=", 1, "EMPTY", "");
	parse("CRLF=1\r", 1, "CRLF", "1");
	parse("not a line", -EINVAL, NULL, NULL);
	parse("1KEY=x", -EINVAL, NULL, NULL);
	parse("KEY=\"unterminated", -EINVAL, NULL, NULL);
	parse("KEY='x' trailing", -EINVAL, NULL, NULL);
}

static int load(const char *text, int *port, char *err)
{
	char *path = tmpfile_with(text);
	int line = 0, r = peonconf_load(path, port, &line, err);

	tmpfile_drop(path);
	return r;
}

static void test_load(void **state)
{
	char err[ERRLEN];
	int port = 0;

	(void)state;
	assert_int_equal(load("# worker\nOTHER=1\nDEBUG_PORT=2222\n", &port, err), 0);
	assert_int_equal(port, 2222);
	/* Shell semantics: the last assignment wins. */
	assert_int_equal(load("DEBUG_PORT=3000\nDEBUG_PORT=4000\n", &port, err), 0);
	assert_int_equal(port, 4000);
	/* Another program's malformed line is not ours to refuse. */
	assert_int_equal(load("garbage line here\nDEBUG_PORT=2223", &port, err), 0);
	assert_int_equal(port, 2223);
	assert_int_equal(load("OTHER=1\n", &port, err), -ENOENT);
}

static void test_load_errors(void **state)
{
	char err[ERRLEN];
	int port = 0;

	(void)state;
	assert_int_equal(load("A=1\n\nDEBUG_PORT=80\n", &port, err), -EINVAL);
	assert_non_null(strstr(err, ":3: DEBUG_PORT=\"80\" is not a port between 1024 and 65535"));
	assert_int_equal(load("DEBUG_PORT=65536\n", &port, err), -EINVAL);
	assert_int_equal(load("DEBUG_PORT=22x\n", &port, err), -EINVAL);
	assert_int_equal(load("DEBUG_PORT=\"2222\n", &port, err), -EINVAL);
	assert_non_null(strstr(err, ":1: DEBUG_PORT: unterminated double quote"));
	assert_int_equal(peonconf_load("/nonexistent/peon.config", &port, NULL, err), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_load_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
