#include "test_util.h"
#include "envbuild.h"
#include "envfilter.h"
#include "util.h"

static char *const patterns[] = { "LANG", "LC_*", "TERM", "*SECRET*", NULL };
static char *const everything[] = { "*", NULL };

static void test_filter_accepts(void **state)
{
	(void)state;
	assert_true(envfilter_accept("LANG", "en_US.UTF-8", patterns));
	assert_true(envfilter_accept("LC_ALL", "C", patterns));
	assert_true(envfilter_accept("TERM", "xterm-256color", patterns));
	assert_false(envfilter_accept("EDITOR", "vim", patterns));
}

static void test_filter_never(void **state)
{
	static const char *const never[] = {
		"LD_PRELOAD", "LD_LIBRARY_PATH", "PATH", "IFS", "BASH_ENV", "ENV", "PYTHONPATH",
		"NODE_OPTIONS", "HOME", "USER", "SHELL", "SSH_CONNECTION", "GLIBC_TUNABLES",
		"BASH_FUNC_x%%",
	};

	(void)state;
	/* Even a configuration that accepts everything cannot let these in. */
	for (size_t i = 0; i < ARRAY_SIZE(never); i++)
		if (envfilter_accept(never[i], "x", everything))
			fail_msg("%s accepted", never[i]);
}

static void test_filter_shape(void **state)
{
	char big[ENV_VALUE_MAX + 2];

	(void)state;
	assert_false(envfilter_accept("", "x", everything));
	assert_false(envfilter_accept("1LANG", "x", everything));
	assert_false(envfilter_accept("LA NG", "x", everything));
	assert_false(envfilter_accept("LANG", "a\nb", everything));
	assert_false(envfilter_accept("LANG", "a\x1b", everything));
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_false(envfilter_accept("LANG", big, everything));
	big[ENV_VALUE_MAX] = '\0';
	assert_true(envfilter_accept("LANG", big, everything));
}

static void test_build(void **state)
{
	static const char base[] = "FOO=bar\0PATH=/opt/bin\0USER=jobuser\0TERM=dumb\0SSH_TTY=/dev/stale\0BROKEN";
	char *const client[] = { "LANG=C.UTF-8", "FOO=client", NULL };
	struct env_input in = {
		.base = base, .base_len = sizeof(base) - 1, .user = "job", .home = "/home/job",
		.shell = "/bin/sh", .ssh_connection = "1.2.3.4 5 6.7.8.9 2222",
		.ssh_client = "1.2.3.4 5 2222", .tty = "/dev/pts/3", .term = "xterm", .client_env = client,
	};
	char **env = env_build(&in);

	(void)state;
	assert_non_null(env);
	assert_string_equal(env_get(env, "PATH"), "/opt/bin");
	assert_string_equal(env_get(env, "FOO"), "client");
	assert_string_equal(env_get(env, "LANG"), "C.UTF-8");
	assert_string_equal(env_get(env, "USER"), "job");
	assert_string_equal(env_get(env, "LOGNAME"), "job");
	assert_string_equal(env_get(env, "HOME"), "/home/job");
	assert_string_equal(env_get(env, "SSH_TTY"), "/dev/pts/3");
	assert_string_equal(env_get(env, "TERM"), "xterm");
	assert_string_equal(env_get(env, "SSH_CONNECTION"), "1.2.3.4 5 6.7.8.9 2222");
	/* The truncated last entry of the block is dropped, not half-read. */
	assert_null(env_get(env, "BROKEN"));
	strv_free(env);
}

static void test_build_defaults(void **state)
{
	struct env_input in = { .user = "root", .home = "/root", .shell = "/bin/sh" };
	char **env = env_build(&in);

	(void)state;
	assert_string_equal(env_get(env, "PATH"), ENV_DEFAULT_PATH);
	assert_null(env_get(env, "TERM"));
	assert_null(env_get(env, "SSH_TTY"));
	strv_free(env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filter_accepts), cmocka_unit_test(test_filter_never),
		cmocka_unit_test(test_filter_shape),   cmocka_unit_test(test_build),
		cmocka_unit_test(test_build_defaults),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
