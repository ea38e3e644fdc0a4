#include "test_util.h"
#include "config.h"
#include "log.h"
#include "util.h"

#include <errno.h>

static char *peon_cfg;

static int load_text(const char *body, struct peon_config *cfg, char *err)
{
	char *text, *path;
	int r;

	assert_true(asprintf(&text, "peon_config = \"%s\";\n%s", peon_cfg, body) > 0);
	path = tmpfile_with(text);
	r = config_load(path, true, cfg, err);
	tmpfile_drop(path);
	free(text);
	return r;
}

static void test_defaults(void **state)
{
	struct peon_config cfg;
	char err[ERRLEN];

	(void)state;
	assert_int_equal(config_load("/nonexistent/peon-sshd.conf", false, &cfg, err), 0);
	assert_null(cfg.path);
	assert_string_equal(cfg.runtime_dir, "/run/peon-sshd");
	assert_string_equal(cfg.control_socket, "/run/peon-sshd/control.sock");
	assert_int_equal(cfg.limits.login_grace_time, 30);
	assert_int_equal(cfg.limits.max_auth_tries, 6);
	assert_int_equal(cfg.limits.max_sessions, 16);
	assert_int_equal(cfg.limits.max_forwards, 64);
	assert_int_equal(cfg.n_listen, 2);
	assert_null(strstr(cfg.algo.ciphers, ",,"));
	assert_true(cfg.algo.kex[strlen(cfg.algo.kex) - 1] != ',');
	/* EtM preferred; plain SHA-2 HMACs after it for clients without EtM. */
	assert_string_equal(cfg.algo.macs, "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,"
					   "hmac-sha2-256,hmac-sha2-512");
	config_free(&cfg);
	/* An explicit -f that does not exist is an error. */
	assert_int_equal(config_load("/nonexistent/peon-sshd.conf", true, &cfg, err), -EIO);
	assert_non_null(strstr(err, "/nonexistent/peon-sshd.conf: cannot read"));
}

static void test_full_file(void **state)
{
	struct peon_config cfg;
	char err[ERRLEN];

	(void)state;
	assert_int_equal(load_text("listen_address = [\"127.0.0.1\", \"::1\"];\n"
				   "runtime_dir = \"/tmp/r\";\n"
				   "limits = { login_grace_time = 5; max_auth_tries = 3; max_forwards = 4096; };\n"
				   "algorithms = { ciphers = \"aes128-ctr\"; };\n"
				   "accept_env = \"LANG\";\n",
				   &cfg, err), 0);
	assert_int_equal(cfg.debug_port, 2345);
	assert_int_equal(cfg.n_listen, 2);
	assert_string_equal(cfg.listen_address[1], "::1");
	assert_string_equal(cfg.control_socket, "/tmp/r/control.sock");
	assert_int_equal(cfg.limits.login_grace_time, 5);
	assert_int_equal(cfg.limits.max_auth_tries, 3);
	assert_int_equal(cfg.limits.max_startups, 64);
	assert_int_equal(cfg.limits.max_forwards, 4096);
	assert_int_equal(cfg.limits.max_sessions, 16);    /* separate from max_forwards */
	assert_string_equal(cfg.algo.ciphers, "aes128-ctr");
	assert_int_equal(cfg.n_accept_env, 1);
	config_free(&cfg);
}

static void expect_error(const char *body, const char *needle)
{
	struct peon_config cfg;
	char err[ERRLEN] = "";

	assert_true(load_text(body, &cfg, err) < 0);
	if (!strstr(err, needle))
		fail_msg("error \"%s\" does not contain \"%s\"", err, needle);
}

static void test_errors(void **state)
{
	(void)state;
	/* Line numbers count the peon_config line the helper prepends. */
	expect_error("\nlisten_adress = \"1.2.3.4\";\n", ":3: listen_adress: unknown setting");
	expect_error("listen_address = [\"localhost\"];\n", ":2: listen_address: \"localhost\" is not an IPv4 or IPv6 address");
	expect_error("limits = { max_auth_tries = 0; };\n", ":2: max_auth_tries: 0 is outside 1-100");
	expect_error("limits = { max_auth_tries = \"6\"; };\n", "max_auth_tries: must be an integer");
	expect_error("limits = { bogus = 1; };\n", "bogus: unknown setting in limits");
	expect_error("limits = { max_forwards = 0; };\n", ":2: max_forwards: 0 is outside 1-4096");
	expect_error("\nlimits = {\n  max_forwards = 4097;\n};\n", ":4: max_forwards: 4097 is outside 1-4096");
	expect_error("limits = { max_forwards = \"64\"; };\n", ":2: max_forwards: must be an integer");
	expect_error("algorithms = { kex = \"curve25519-sha256,\"; };\n", "kex: must be a non-empty comma-separated list");
	expect_error("runtime_dir = \"relative\";\n", "runtime_dir: \"relative\" must be an absolute path");
	expect_error("log_level = \"loud\";\n", "log_level: \"loud\" is not one of");
	expect_error("control_socket_mode = \"0755\";\n", "control_socket_mode: must be an octal mode");
	expect_error("control_socket_mode = 384;\n", "control_socket_mode: must be an octal mode");
	expect_error("listen_address = ;\n", ":2: syntax error");
}

static void test_bad_debug_port(void **state)
{
	struct peon_config cfg;
	char err[ERRLEN], *bad = tmpfile_with("DEBUG_PORT=80\n"), *saved = peon_cfg;

	(void)state;
	peon_cfg = bad;
	assert_true(load_text("", &cfg, err) < 0);
	assert_non_null(strstr(err, ":1: DEBUG_PORT=\"80\" is not a port between 1024 and 65535"));
	peon_cfg = saved;
	tmpfile_drop(bad);
}

static void test_print(void **state)
{
	struct peon_config cfg;
	char err[ERRLEN], *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	assert_int_equal(load_text("", &cfg, err), 0);
	config_print(&cfg, f);
	fclose(f);
	assert_non_null(strstr(buf, "debug_port = 2345;"));
	assert_non_null(strstr(buf, "login_grace_time = 30;"));
	assert_non_null(strstr(buf, "  max_forwards = 64;\n"));
	assert_non_null(strstr(buf, "control_socket_mode = \"0600\";"));
	free(buf);
	config_free(&cfg);
}

static int setup(void **state)
{
	(void)state;
	log_init("test", true, LOG_ERR);
	peon_cfg = tmpfile_with("DEBUG_PORT=2345\n");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tmpfile_drop(peon_cfg);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_full_file),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_bad_debug_port),
		cmocka_unit_test(test_print),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
