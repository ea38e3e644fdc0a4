#include "test_util.h"
#include "config.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <sys/socket.h>

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
	/* Not set in the file: OpenSSH's MaxStartups default 10:30:100 (it was a hard 64). */
	assert_int_equal(cfg.limits.max_startups_start, 10);
	assert_int_equal(cfg.limits.max_startups_rate, 30);
	assert_int_equal(cfg.limits.max_startups, 100);
	assert_int_equal(cfg.limits.max_forwards, 4096);
	assert_int_equal(cfg.limits.max_sessions, 16);    /* separate from max_forwards */
	assert_string_equal(cfg.algo.ciphers, "aes128-ctr");
	assert_int_equal(cfg.n_accept_env, 1);
	config_free(&cfg);
}

static void test_preauth_defaults(void **state)
{
	struct peon_config cfg;
	char err[ERRLEN];

	(void)state;
	assert_int_equal(load_text("", &cfg, err), 0);
	assert_int_equal(cfg.limits.per_source_max_startups, 5);
	assert_int_equal(cfg.limits.per_source_prefix_ipv4, 32);
	assert_int_equal(cfg.limits.per_source_prefix_ipv6, 64);
	assert_int_equal(cfg.limits.rekey_data, 1ULL << 30);
	assert_int_equal(cfg.limits.rekey_time, 3600);
	assert_true(cfg.penalties.enabled);
	assert_int_equal(cfg.penalties.crash, 90);
	assert_int_equal(cfg.penalties.authfail, 5);
	assert_int_equal(cfg.penalties.noauth, 1);
	assert_int_equal(cfg.penalties.grace_exceeded, 10);
	assert_int_equal(cfg.penalties.max, 600);
	assert_int_equal(cfg.penalties.min, 15);
	assert_int_equal(cfg.penalties.max_sources, 65536);
	assert_int_equal(cfg.penalties.n_exempt, 0);
	config_free(&cfg);
}

static void test_preauth_settings(void **state)
{
	struct peon_config cfg;
	char err[ERRLEN];

	(void)state;
	/* The single number of earlier configurations still works: a hard cap. */
	assert_int_equal(load_text("limits = { max_startups = 64; };\n", &cfg, err), 0);
	assert_int_equal(cfg.limits.max_startups_start, 64);
	assert_int_equal(cfg.limits.max_startups_rate, 100);
	assert_int_equal(cfg.limits.max_startups, 64);
	config_free(&cfg);
	assert_int_equal(load_text("limits = { max_startups = \"5:50:20\"; per_source_max_startups = 0;\n"
				   "  per_source_prefix_ipv4 = 24; per_source_prefix_ipv6 = 48;\n"
				   "  rekey_data = \"32K\"; rekey_time = \"2m\"; };\n"
				   "penalties = { enabled = false; crash = \"2m\"; authfail = 0; noauth = \"0\";\n"
				   "  grace_exceeded = 20; max = \"1h\"; min = 30; max_sources = 100;\n"
				   "  exempt = [\"192.0.2.7\", \"10.0.0.0/8\", \"2001:db8::/32\"]; };\n",
				   &cfg, err), 0);
	assert_int_equal(cfg.limits.max_startups_start, 5);
	assert_int_equal(cfg.limits.max_startups_rate, 50);
	assert_int_equal(cfg.limits.max_startups, 20);
	assert_int_equal(cfg.limits.per_source_max_startups, 0);
	assert_int_equal(cfg.limits.per_source_prefix_ipv4, 24);
	assert_int_equal(cfg.limits.per_source_prefix_ipv6, 48);
	assert_int_equal(cfg.limits.rekey_data, 32 << 10);
	assert_int_equal(cfg.limits.rekey_time, 120);
	assert_false(cfg.penalties.enabled);
	assert_int_equal(cfg.penalties.crash, 120);
	assert_int_equal(cfg.penalties.authfail, 0);
	assert_int_equal(cfg.penalties.noauth, 0);
	assert_int_equal(cfg.penalties.grace_exceeded, 20);
	assert_int_equal(cfg.penalties.max, 3600);
	assert_int_equal(cfg.penalties.min, 30);
	assert_int_equal(cfg.penalties.max_sources, 100);
	assert_int_equal(cfg.penalties.n_exempt, 3);
	assert_int_equal(cfg.penalties.exempt[1].prefix, 8);
	assert_int_equal(cfg.penalties.exempt[2].addr.family, AF_INET6);
	config_free(&cfg);
	assert_int_equal(load_text("limits = { rekey_data = \"default\"; rekey_time = \"none\"; };\n"
				   "penalties = { exempt = []; };\n", &cfg, err), 0);
	assert_int_equal(cfg.limits.rekey_data, 0);
	assert_int_equal(cfg.limits.rekey_time, 0);
	assert_int_equal(cfg.penalties.n_exempt, 0);
	config_free(&cfg);
	assert_int_equal(load_text("limits = { rekey_data = 1048576; rekey_time = 0; };\n", &cfg, err), 0);
	assert_int_equal(cfg.limits.rekey_data, 1 << 20);
	assert_int_equal(cfg.limits.rekey_time, 0);
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

/* privsep (the network children's uids) and the key exchanges the sandbox
 * cannot serve: loaded with bounds, refused with file:line. */
static void test_privsep_settings(void **state)
{
	struct peon_config cfg;
	char err[ERRLEN];

	(void)state;
	assert_int_equal(load_text("", &cfg, err), 0);
	assert_int_equal(cfg.privsep.uid_base, 2147418112LL);
	assert_int_equal(cfg.privsep.uid_count, 32768);
	config_free(&cfg);
	assert_int_equal(load_text("privsep = { uid_base = 3000000; uid_count = 8; };\n", &cfg, err), 0);
	assert_int_equal(cfg.privsep.uid_base, 3000000);
	assert_int_equal(cfg.privsep.uid_count, 8);
	config_free(&cfg);
	expect_error("privsep = { uid_base = 999; };\n", ":2: uid_base: must be between 1000 and 2147483646");
	expect_error("privsep = { uid_base = \"3000000\"; };\n", ":2: uid_base: must be an integer");
	expect_error("privsep = { uid_count = 0; };\n", ":2: uid_count: must be between 1 and 1048576");
	expect_error("privsep = { uid_base = 2147483600; uid_count = 100; };\n",
		     ":2: privsep: uid_base + uid_count - 1 must not exceed 2147483646");
	expect_error("privsep = { uid = 5; };\n", ":2: uid: unknown setting in privsep");
	expect_error("algorithms = { kex = \"curve25519-sha256,diffie-hellman-group-exchange-sha256\"; };\n",
		     ":2: kex: diffie-hellman-group-exchange and gss key exchanges are not supported");
	expect_error("algorithms = { kex = \"gss-curve25519-sha256-\"; };\n", "are not supported");
}

static void test_forwarding_settings(void **state)
{
	struct peon_config cfg;
	char err[ERRLEN];

	(void)state;
	assert_int_equal(load_text("", &cfg, err), 0);
	assert_true(cfg.fwd.local && cfg.fwd.remote && cfg.fwd.agent && cfg.fwd.x11);
	assert_int_equal(cfg.fwd.gateway_ports, GATEWAY_NO);
	assert_int_equal(cfg.fwd.x11_display_offset, 10);
	assert_int_equal(cfg.fwd.max_listeners, 16);
	for (int i = 0; i < IDLE_N; i++)
		assert_int_equal(cfg.limits.channel_timeout[i], 0);
	assert_int_equal(cfg.limits.unused_connection_timeout, 0);
	config_free(&cfg);
	assert_int_equal(load_text("forwarding = { agent = false; x11 = false; gateway_ports = \"clientspecified\"; "
				   "x11_display_offset = 20; max_listeners = 0; };\n"
				   "limits = { channel_timeout = { session = \"2h\"; direct-tcpip = \"10m\"; "
				   "x11-connection = 30; }; unused_connection_timeout = \"15m\"; };\n", &cfg, err), 0);
	assert_true(cfg.fwd.local && cfg.fwd.remote && !cfg.fwd.agent && !cfg.fwd.x11);
	assert_int_equal(cfg.fwd.gateway_ports, GATEWAY_CLIENTSPECIFIED);
	assert_int_equal(cfg.fwd.x11_display_offset, 20);
	assert_int_equal(cfg.fwd.max_listeners, 0);
	assert_int_equal(cfg.limits.channel_timeout[IDLE_SESSION], 7200);
	assert_int_equal(cfg.limits.channel_timeout[IDLE_DIRECT_TCPIP], 600);
	assert_int_equal(cfg.limits.channel_timeout[IDLE_X11], 30);
	assert_int_equal(cfg.limits.channel_timeout[IDLE_AGENT], 0);
	assert_int_equal(cfg.limits.unused_connection_timeout, 900);
	config_free(&cfg);
	expect_error("forwarding = { agent = 1; };\n", ":2: agent: must be true or false");
	expect_error("forwarding = { gateway_ports = \"sometimes\"; };\n",
		     ":2: gateway_ports: must be \"no\", \"yes\" or \"clientspecified\"");
	expect_error("forwarding = { max_listeners = 300; };\n", ":2: max_listeners: 300 is outside 0-256");
	expect_error("forwarding = { streamlocal = true; };\n", ":2: streamlocal: unknown setting in forwarding");
	expect_error("limits = { channel_timeout = { tun-connection = 5; }; };\n",
		     ":2: tun-connection: unknown channel kind");
	expect_error("limits = { channel_timeout = { session = \"soon\"; }; };\n",
		     ":2: session: must be seconds or a duration");
}

/* Where the container runtimes are reached (docker, containerd groups). */
static void test_runtime_settings(void **state)
{
	struct peon_config cfg;
	char err[ERRLEN];

	(void)state;
	assert_int_equal(load_text("", &cfg, err), 0);
	assert_string_equal(cfg.rt.docker_socket, "/run/docker.sock");
	assert_string_equal(cfg.rt.docker_state_dir, "");
	assert_string_equal(cfg.rt.containerd_state_dir, "/run/containerd/io.containerd.runtime.v2.task");
	config_free(&cfg);
	assert_int_equal(load_text("docker = { socket = \"/run/podman/podman.sock\"; state_dir = \"/x/moby\"; };\n"
				   "containerd = { state_dir = \"/y\"; };\n", &cfg, err), 0);
	assert_string_equal(cfg.rt.docker_socket, "/run/podman/podman.sock");
	assert_string_equal(cfg.rt.docker_state_dir, "/x/moby");
	assert_string_equal(cfg.rt.containerd_state_dir, "/y");
	config_free(&cfg);
	expect_error("docker = { socket = \"docker.sock\"; };\n", ":2: socket: \"docker.sock\" must be an absolute path");
	expect_error("docker = { state_dir = \"rel\"; };\n", ":2: state_dir: \"rel\" must be an absolute path");
	expect_error("docker = { host = \"tcp://x\"; };\n", ":2: host: unknown setting in docker");
	expect_error("containerd = { socket = \"/x\"; };\n", ":2: socket: unknown setting in containerd");
	expect_error("containerd = { state_dir = 3; };\n", ":2: state_dir: must be a string");
	expect_error("docker = \"/run/docker.sock\";\n", ":2: docker: must be a group { ... }");
}

static void test_key_urls_settings(void **state)
{
	struct peon_config cfg;
	char err[ERRLEN];

	(void)state;
	assert_int_equal(load_text("", &cfg, err), 0);
	assert_int_equal(cfg.key_urls.refresh, 900);
	assert_int_equal(cfg.key_urls.min_age, 120);
	config_free(&cfg);
	assert_int_equal(load_text("key_urls = { refresh = \"1h\"; min_age = 0; };\n", &cfg, err), 0);
	assert_int_equal(cfg.key_urls.refresh, 3600);
	assert_int_equal(cfg.key_urls.min_age, 0);
	config_free(&cfg);
	assert_int_equal(load_text("key_urls = { refresh = 0; min_age = \"30s\"; };\n", &cfg, err), 0);
	assert_int_equal(cfg.key_urls.refresh, 0);
	assert_int_equal(cfg.key_urls.min_age, 30);
	config_free(&cfg);
	expect_error("key_urls = { refresh = \"soon\"; };\n", ":2: refresh: must be seconds or a duration like");
	expect_error("key_urls = {\n  min_age = \"2d\";\n};\n", ":3: min_age: 172800 s is outside 0-86400 s");
	expect_error("key_urls = { refresh = \"8d\"; };\n", ":2: refresh: 691200 s is outside 0-604800 s");
	expect_error("key_urls = { interval = 5; };\n", ":2: interval: unknown setting in key_urls (refresh, min_age)");
	expect_error("key_urls = 5;\n", ":2: key_urls: must be a group");
}

static void test_metrics_settings(void **state)
{
	struct peon_config cfg;
	char err[ERRLEN], *buf = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	/* Off unless asked for: nothing is written by default. */
	assert_int_equal(load_text("", &cfg, err), 0);
	assert_string_equal(cfg.metrics.textfile, "");
	assert_int_equal(cfg.metrics.interval, 15);
	config_free(&cfg);
	assert_int_equal(load_text("metrics = { textfile = \"/var/lib/prometheus/node-exporter/peon-sshd.prom\";\n"
				   "  interval = \"1m\"; };\n", &cfg, err), 0);
	assert_string_equal(cfg.metrics.textfile, "/var/lib/prometheus/node-exporter/peon-sshd.prom");
	assert_int_equal(cfg.metrics.interval, 60);
	assert_non_null(f = open_memstream(&buf, &len));
	config_print(&cfg, f);
	fclose(f);
	assert_non_null(strstr(buf, "metrics = {\n  textfile = \"/var/lib/prometheus/node-exporter/peon-sshd.prom\";\n"
				    "  interval = 60;\n};\n"));
	free(buf);
	config_free(&cfg);
	assert_int_equal(load_text("metrics = { textfile = \"\"; interval = 1; };\n", &cfg, err), 0);
	assert_string_equal(cfg.metrics.textfile, "");
	config_free(&cfg);
	expect_error("metrics = { textfile = \"peon.prom\"; };\n", ":2: textfile: \"peon.prom\" must be an absolute path");
	expect_error("metrics = {\n  textfile = \"/tmp/peon.txt\";\n};\n",
		     ":3: textfile: \"/tmp/peon.txt\" must name a file ending in .prom (node_exporter's textfile "
		     "collector reads no other), or be \"\" for none");
	expect_error("metrics = { textfile = \"/tmp/.prom\"; };\n", ":2: textfile: \"/tmp/.prom\" must name a file");
	expect_error("metrics = { textfile = 5; };\n", ":2: textfile: must be a string");
	expect_error("metrics = { interval = 0; };\n", ":2: interval: 0 s is outside 1-3600 s");
	expect_error("metrics = { interval = \"2h\"; };\n", ":2: interval: 7200 s is outside 1-3600 s");
	expect_error("metrics = { path = \"/x.prom\"; };\n", ":2: path: unknown setting in metrics (textfile, interval)");
	expect_error("metrics = 1;\n", ":2: metrics: must be a group");
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
	/* Pre-auth limits and penalties: one sentence naming file:line each. */
	expect_error("limits = { max_startups = 0; };\n", ":2: max_startups: 0 is outside 1-100000");
	expect_error("limits = { max_startups = \"10:30\"; };\n",
		     ":2: max_startups: must be a number (a hard cap) or \"start:rate:full\"");
	expect_error("limits = { max_startups = \"10:30:100:5\"; };\n", ":2: max_startups: must be a number");
	expect_error("limits = { max_startups = \"10:101:100\"; };\n", ":2: max_startups: must be a number");
	expect_error("limits = { max_startups = \" 10:30:100\"; };\n", ":2: max_startups: must be a number");
	expect_error("limits = { max_startups = \"10:-1:100\"; };\n", ":2: max_startups: must be a number");
	expect_error("limits = { max_startups = \"50:30:10\"; };\n",
		     ":2: max_startups: \"50:30:10\" needs 1 <= start <= full and a rate of 1-100");
	expect_error("limits = { max_startups = \"10:0:100\"; };\n", "needs 1 <= start <= full and a rate of 1-100");
	expect_error("limits = { max_startups = 1.5; };\n", ":2: max_startups: must be a number");
	expect_error("limits = { per_source_max_startups = -1; };\n", ":2: per_source_max_startups: -1 is outside 0-100000");
	expect_error("limits = { per_source_prefix_ipv4 = 33; };\n", ":2: per_source_prefix_ipv4: 33 is outside 1-32");
	expect_error("limits = { per_source_prefix_ipv6 = 0; };\n", ":2: per_source_prefix_ipv6: 0 is outside 1-128");
	expect_error("limits = { rekey_data = \"1T\"; };\n", ":2: rekey_data: must be \"default\" or a size from 16K to 64G");
	expect_error("limits = { rekey_data = \"1k\"; };\n", ":2: rekey_data: must be");
	expect_error("limits = { rekey_data = \"1K\"; };\n", ":2: rekey_data: must be");
	expect_error("limits = { rekey_data = \"65G\"; };\n", ":2: rekey_data: must be");
	expect_error("limits = { rekey_data = \"1GG\"; };\n", ":2: rekey_data: must be");
	expect_error("limits = { rekey_data = \"G\"; };\n", ":2: rekey_data: must be");
	expect_error("limits = { rekey_data = 100; };\n", ":2: rekey_data: must be");
	expect_error("limits = { rekey_data = \"99999999999999999999999G\"; };\n", ":2: rekey_data: must be");
	expect_error("limits = { rekey_time = \"soon\"; };\n",
		     ":2: rekey_time: must be seconds or a duration like \"90s\", \"10m\", \"1h\"");
	expect_error("limits = { rekey_time = \"31d\"; };\n", ":2: rekey_time: 2678400 s is outside 0-2592000 s");
	expect_error("limits = { rekey_time = -1; };\n", ":2: rekey_time: -1 s is outside 0-2592000 s");
	expect_error("penalties = 1;\n", ":2: penalties: must be a group");
	expect_error("penalties = { enabled = 1; };\n", ":2: enabled: must be true or false");
	expect_error("penalties = { crash = \"forever\"; };\n", ":2: crash: must be seconds or a duration");
	expect_error("penalties = { authfail = 86401; };\n", ":2: authfail: 86401 s is outside 0-86400 s");
	expect_error("penalties = { max = 0; };\n", ":2: max: 0 s is outside 1-604800 s");
	expect_error("penalties = { max_sources = 0; };\n", ":2: max_sources: 0 is outside 1-1000000");
	expect_error("penalties = { bogus = 1; };\n", ":2: bogus: unknown setting in penalties");
	expect_error("penalties = { exempt = \"10.0.0.0/8\"; };\n", ":2: exempt: must be a list of addresses or networks");
	expect_error("penalties = {\n  exempt = [\"10.0.0.1/8\"];\n};\n",
		     ":3: exempt: \"10.0.0.1/8\" has bits set past the prefix (the network is 10.0.0.0/8)");
	expect_error("penalties = { exempt = [\"localhost\"]; };\n", ":2: exempt: \"localhost\" is not an IPv4 or IPv6 address");
	expect_error("penalties = { exempt = [\"10.0.0.0/40\"]; };\n", "the prefix must be a number from 0 to 32");
	expect_error("penalties = { exempt = [1]; };\n", ":2: exempt: every element must be a string");
	expect_error("penalties = {\n  min = 60;\n  max = 30;\n};\n", ":4: penalties: min (60 s) must not exceed max (30 s)");
	expect_error("penalties = {\n  max = 10;\n};\n", ":3: penalties: min (15 s) must not exceed max (10 s)");
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
	assert_non_null(strstr(buf, "  max_startups = \"10:30:100\";\n"));
	assert_non_null(strstr(buf, "  per_source_max_startups = 5;\n"));
	assert_non_null(strstr(buf, "  per_source_prefix_ipv6 = 64;\n"));
	assert_non_null(strstr(buf, "  rekey_data = \"1G\";\n  rekey_time = 3600;\n"));
	assert_non_null(strstr(buf, "penalties = {\n  enabled = true;\n  crash = 90;\n  authfail = 5;\n  noauth = 1;\n"
				    "  grace_exceeded = 10;\n  max = 600;\n  min = 15;\n  max_sources = 65536;\n"
				    "  exempt = [];\n};\n"));
	free(buf);
	config_free(&cfg);
}

/* What -T prints for limits and penalties reads back as the same settings. */
static void test_print_round_trip(void **state)
{
	struct peon_config cfg, again;
	char err[ERRLEN], *buf = NULL, *buf2 = NULL, *groups;
	size_t len = 0, len2 = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	assert_int_equal(load_text("limits = { max_startups = 7; rekey_data = \"1536K\"; rekey_time = 0; };\n"
				   "penalties = { exempt = [\"10.0.0.0/8\", \"2001:db8::/32\"]; crash = \"1m\"; };\n",
				   &cfg, err), 0);
	config_print(&cfg, f);
	fclose(f);
	groups = strndup(strstr(buf, "limits = {"), (size_t)(strstr(buf, "algorithms = {") - strstr(buf, "limits = {")));
	if (load_text(groups, &again, err) != 0)
		fail_msg("-T output does not load: %s\n%s", err, groups);
	f = open_memstream(&buf2, &len2);
	config_print(&again, f);
	fclose(f);
	/* Only the first line (the file read) differs. */
	assert_string_equal(strchr(buf, '\n'), strchr(buf2, '\n'));
	free(groups);
	assert_non_null(strstr(buf, "  max_startups = 7;\n"));
	assert_non_null(strstr(buf, "  rekey_data = \"1536K\";\n  rekey_time = 0;\n"));
	assert_non_null(strstr(buf, "  exempt = [\"10.0.0.0/8\", \"2001:db8::/32\"];\n"));
	assert_int_equal(again.penalties.crash, 60);
	free(buf);
	free(buf2);
	config_free(&cfg);
	config_free(&again);
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
		cmocka_unit_test(test_forwarding_settings),
		cmocka_unit_test(test_key_urls_settings),
		cmocka_unit_test(test_metrics_settings),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_privsep_settings),
		cmocka_unit_test(test_bad_debug_port),
		cmocka_unit_test(test_runtime_settings),
		cmocka_unit_test(test_print),
		cmocka_unit_test(test_print_round_trip),
		cmocka_unit_test(test_preauth_defaults),
		cmocka_unit_test(test_preauth_settings),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
