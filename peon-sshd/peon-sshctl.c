/* peon-sshctl: the job controller's tool to register and end executions. */
#include "config.h"
#include "ctlproto.h"
#include "duration.h"
#include "log.h"
#include "registry.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define KEYS_MAX_BYTES (1024 * 1024)
#define CTL_TIMEOUT_MS 60000

static const char *prog = "peon-sshctl";

static void usage(FILE *f);

/* `peon-sshctl CMD --help` (or -h) anywhere among CMD's arguments: its
 * usage, without asking the daemon. */
static bool wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	return false;
}

static int die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int die(int code, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

/* Each non-blank line becomes {"line", "source"} so the daemon's error can
 * name where a bad key came from. */
static void add_key_lines(json_object *keys, const char *text, const char *origin)
{
	char *copy = strdup(text), *line, *next;
	int no = 0;

	if (!copy)
		die(1, "out of memory");
	for (line = copy; line; line = next) {
		char src[1200];
		json_object *k;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		no++;
		line[strcspn(line, "\r")] = '\0';
		if (line[strspn(line, " \t")] == '\0' || line[strspn(line, " \t")] == '#')
			continue;
		snprintf(src, sizeof(src), "%s:%d", origin, no);
		k = json_object_new_object();
		json_object_object_add(k, "line", json_object_new_string(line));
		json_object_object_add(k, "source", json_object_new_string(src));
		json_object_array_add(keys, k);
	}
	free(copy);
}

/* ssh-keygen's private key files (OpenSSH, PEM, PKCS#8) start so: the
 * public half is what authorizes a login. */
static void refuse_private(const char *text, const char *opt, const char *path)
{
	if (!strstr(text, "-----BEGIN ") || !strstr(text, " PRIVATE KEY-----"))
		return;
	die(1, "%s %s is a private key: give its public half (the .pub file, or the output of ssh-keygen -y -f %s)",
	    opt, path, path);
}

static void key_file(json_object *keys, const char *path, const char *opt)
{
	char *text = NULL;
	int r = strcmp(path, "-") == 0 ? read_fd(0, KEYS_MAX_BYTES, &text, NULL) :
					 read_file(path, KEYS_MAX_BYTES, &text, NULL);

	if (r == -EFBIG)
		die(1, "%s %s: larger than %d bytes", opt, path, KEYS_MAX_BYTES);
	if (r < 0)
		die(1, "%s %s: %s", opt, path, strerror(-r));
	refuse_private(text, opt, path);
	add_key_lines(keys, text, path);
	free(text);
}

#define ONE_TARGET "give exactly one target: --docker, --containerd, --pid or --host"

static json_object *build_add(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pid", required_argument, NULL, 'p' },      { "host", no_argument, NULL, 'H' },
		{ "docker", required_argument, NULL, 'D' },   { "containerd", required_argument, NULL, 'C' },
		{ "key", required_argument, NULL, 'k' },      { "key-file", required_argument, NULL, 'K' },
		{ "key-url", required_argument, NULL, 'U' },  { "port", required_argument, NULL, 'P' },
		{ "user", required_argument, NULL, 'u' },     { "ttl", required_argument, NULL, 't' },
		{ "log-file", required_argument, NULL, 'l' }, { "log-url", required_argument, NULL, 'L' },
		/* What this execution's connections may not do (each like the
		 * authorized_keys option of the same name). */
		{ "no-port-forwarding", no_argument, NULL, 1 },   { "no-local-forwarding", no_argument, NULL, 2 },
		{ "no-remote-forwarding", no_argument, NULL, 3 }, { "no-agent-forwarding", no_argument, NULL, 4 },
		{ "no-x11-forwarding", no_argument, NULL, 5 },    { "no-X11-forwarding", no_argument, NULL, 5 },
		{ 0 },
	};
	bool no[ARRAY_SIZE(execution_no_forwarding_names)] = { false };
	json_object *req = json_object_new_object(), *keys = json_object_new_array();
	json_object *target = NULL, *urls = json_object_new_array();
	unsigned long v;
	long ttl;
	int c, port;

	json_object_object_add(req, "cmd", json_object_new_string("add"));
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (target || parse_ulong(optarg, 4194304, &v) < 0 || v < 1)
				die(1, target ? ONE_TARGET : "--pid %s: not a process id", optarg);
			target = json_object_new_object();
			json_object_object_add(target, "type", json_object_new_string("pid"));
			json_object_object_add(target, "pid", json_object_new_int((int)v));
			break;
		case 'H':
			if (target)
				die(1, ONE_TARGET);
			target = json_object_new_object();
			json_object_object_add(target, "type", json_object_new_string("host"));
			break;
		case 'D':
		case 'C':
			if (target)
				die(1, ONE_TARGET);
			/* Checked by the daemon, which asks the runtime. */
			target = json_object_new_object();
			json_object_object_add(target, "type", json_object_new_string(c == 'D' ? "docker" : "containerd"));
			json_object_object_add(target, "container", json_object_new_string(optarg));
			break;
		case 'k': add_key_lines(keys, optarg, "--key"); break;
		case 'K': key_file(keys, optarg, "--key-file"); break;
		/* The daemon fetches it, now and to keep it fresh (keyurls.h). */
		case 'U': json_object_array_add(urls, json_object_new_string(optarg)); break;
		case 'P':
			if (parse_port(optarg, &port) < 0)
				die(1, "--port %s: use a port between 1024 and 65535", optarg);
			json_object_object_add(req, "port", json_object_new_int(port));
			break;
		case 'u': json_object_object_add(req, "user", json_object_new_string(optarg)); break;
		case 't':
			if (duration_parse(optarg, &ttl) < 0)
				die(1, "--ttl %s: not a duration like 90s, 30m, 12h or 2d", optarg);
			json_object_object_add(req, "ttl", json_object_new_int64(ttl));
			break;
		case 'l': json_object_object_add(req, "log_file", json_object_new_string(optarg)); break;
		case 'L': json_object_object_add(req, "log_url", json_object_new_string(optarg)); break;
		case 1: no[0] = no[1] = true; break;
		case 2: no[0] = true; break;
		case 3: no[1] = true; break;
		case 4: no[2] = true; break;
		case 5: no[3] = true; break;
		default: usage(stderr); exit(2);
		}
	}
	if (no[0] || no[1] || no[2] || no[3]) {
		json_object *nf = json_object_new_array();

		for (size_t i = 0; i < ARRAY_SIZE(no); i++)
			if (no[i])
				json_object_array_add(nf, json_object_new_string(execution_no_forwarding_names[i]));
		json_object_object_add(req, "no_forwarding", nf);
	}
	if (optind != argc - 1)
		die(2, "add takes exactly one EXECUTION_ID (see --help)");
	if (!target)
		die(1, "a target is required: --docker CONTAINER, --containerd NAMESPACE/ID, --pid PID or --host");
	if (json_object_array_length(keys) == 0 && json_object_array_length(urls) == 0)
		die(1, "at least one key is required: --key, --key-file or --key-url");
	json_object_object_add(req, "id", json_object_new_string(argv[optind]));
	json_object_object_add(req, "target", target);
	json_object_object_add(req, "keys", keys);
	if (json_object_array_length(urls))
		json_object_object_add(req, "key_urls", urls);
	else
		json_object_put(urls);
	return req;
}

static json_object *call(const char *sock, json_object *req)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	json_object *reply = NULL;
	int fd, r;

	if (strlen(sock) >= sizeof(sa.sun_path))
		die(2, "control socket path %s is too long", sock);
	strcpy(sa.sun_path, sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die(2, "cannot create a socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		/* The socket is root's (mode 0600 by default): say what is missing. */
		if ((e == EACCES || e == EPERM) && geteuid() != 0)
			die(2, "needs root: the control socket %s is root's (%s)", sock, strerror(e));
		die(2, "cannot reach peon-sshd at %s: %s (is it running?)", sock, strerror(e));
	}
	/* The daemon may answer (a refusal) and close before reading our
	 * request: a failed send is reported only if no answer came either. */
	int sent = ctl_send(fd, req);
	r = ctl_recv(fd, CTL_TIMEOUT_MS, &reply);
	if (r < 0 && sent < 0)
		die(2, "cannot send to peon-sshd: %s", strerror(-sent));
	close(fd);
	if (r < 0)
		die(2, "no valid answer from peon-sshd: %s", strerror(-r));
	return reply;
}

static const char *str(json_object *o, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "";
}

static long long num(json_object *o, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : 0;
}

static void show_list(json_object *reply, int argc, char **argv)
{
	json_object *arr, *t, *keys;

	(void)argc, (void)argv;
	json_object_object_get_ex(reply, "executions", &arr);
	printf("%-24s %-6s %-20s %-10s %-5s %-8s %s\n", "EXECUTION", "PORT", "TARGET", "USER", "KEYS",
	       "SESSIONS", "EXPIRES");
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		json_object *e = json_object_array_get_idx(arr, i);
		char tgt[64], exp[32] = "never";
		time_t ex = (time_t)(num(e, "expires_ms") / 1000);

		json_object_object_get_ex(e, "target", &t);
		json_object_object_get_ex(e, "keys", &keys);
		if (strcmp(str(t, "type"), "pid") == 0)
			snprintf(tgt, sizeof(tgt), "pid %lld", num(t, "pid"));
		else if (*str(t, "container"))
			snprintf(tgt, sizeof(tgt), "%s %.40s", str(t, "type"), str(t, "container"));
		else
			snprintf(tgt, sizeof(tgt), "%s", str(t, "type"));
		if (ex)
			strftime(exp, sizeof(exp), "%Y-%m-%d %H:%M:%S", localtime(&ex));
		printf("%-24s %-6lld %-20s %-10s %-5zu %-8lld %s\n", str(e, "id"), num(e, "port"), tgt,
		       *str(e, "user") ? str(e, "user") : "(job's)", json_object_array_length(keys),
		       num(e, "sessions"), exp);
	}
}

static void show_sessions(json_object *reply, int argc, char **argv)
{
	json_object *arr;

	(void)argc, (void)argv;
	json_object_object_get_ex(reply, "sessions", &arr);
	printf("%-8s %-24s %-22s %-12s %-18s %s\n", "PID", "EXECUTION", "FROM", "USER", "RUNS AS (UID)", "KEY");
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		json_object *s = json_object_array_get_idx(arr, i);
		char runs[300] = "?";

		/* USER is the name the client sent; RUNS AS is who the shell is in the job. */
		if (*str(s, "runs_as"))
			snprintf(runs, sizeof(runs), "%s (%lld)", str(s, "runs_as"), num(s, "runs_as_uid"));
		printf("%-8lld %-24s %-22s %-12s %-18s %s %s\n", num(s, "pid"), str(s, "execution"), str(s, "remote"),
		       str(s, "user"), runs, str(s, "key_fingerprint"), str(s, "key_comment"));
	}
}

static void show_removed(json_object *reply, int argc, char **argv)
{
	json_object *reg;

	(void)argc;
	/* An id the registry no longer knows, whose live sessions were ended. */
	if (json_object_object_get_ex(reply, "registered", &reg) && !json_object_get_boolean(reg))
		printf("%s\n", str(reply, "message"));
	else
		printf("execution %s removed\n", argv[1]);
	/* Access has ended; what did not go as planned is still said. */
	if (*str(reply, "warning"))
		fprintf(stderr, "%s: warning: %s\n", prog, str(reply, "warning"));
}

/* "3 d 4 h", "2 h 5 min", "4 min 10 s", "12 s": the two largest units. */
static void format_duration(long long s, char *out, size_t len)
{
	static const struct { long long secs; const char *unit; } u[] = {
		{ 86400, "d" }, { 3600, "h" }, { 60, "min" }, { 1, "s" },
	};
	size_t i = 0;

	if (s < 0)
		s = 0;
	while (i + 1 < ARRAY_SIZE(u) && s < u[i].secs)
		i++;
	if (i + 1 < ARRAY_SIZE(u) && s % u[i].secs >= u[i + 1].secs)
		snprintf(out, len, "%lld %s %lld %s", s / u[i].secs, u[i].unit, s % u[i].secs / u[i + 1].secs,
			 u[i + 1].unit);
	else
		snprintf(out, len, "%lld %s", s / u[i].secs, u[i].unit);
}

/* "1.5 MiB (1572864 bytes)": readable, and exact. */
static void format_bytes(long long n, char *out, size_t len)
{
	static const char *const unit[] = { "KiB", "MiB", "GiB", "TiB" };
	double v = (double)n;
	int i = -1;

	while (v >= 1024 && i + 1 < (int)ARRAY_SIZE(unit))
		v /= 1024, i++;
	if (i < 0)
		snprintf(out, len, "%lld bytes", n);
	else
		snprintf(out, len, "%.1f %s (%lld bytes)", v, unit[i], n);
}

static void print_host_keys(json_object *reply)
{
	json_object *keys = json_object_object_get(reply, "host_keys");
	size_t n = keys ? json_object_array_length(keys) : 0;

	for (size_t i = 0; i < n; i++) {
		json_object *k = json_object_array_get_idx(keys, i);

		printf("%-22s %s %s%s\n%-22s   %s\n", i ? "" : "host keys:", str(k, "type"), str(k, "fingerprint"),
		       json_object_get_boolean(json_object_object_get(k, "announced")) ? " (announced)" : "", "",
		       str(k, "path"));
	}
}

/* Values as a person reads them: strings unquoted and unescaped, durations
 * and sizes with units. The JSON (--json) is the machine's form. */
static void show_status(json_object *reply, int argc, char **argv)
{
	json_object *ports = json_object_object_get(reply, "ports");
	char up[64], in[64], out[64];

	(void)argc, (void)argv;
	format_duration(num(reply, "uptime_seconds"), up, sizeof(up));
	format_bytes(num(reply, "bytes_from_clients"), in, sizeof(in));
	format_bytes(num(reply, "bytes_to_clients"), out, sizeof(out));
	printf("%-22s %s (pid %lld), up %s\n", "peon-sshd:", str(reply, "daemon_version"), num(reply, "pid"), up);
	printf("%-22s %s\n", "configuration:", str(reply, "config"));
	printf("%-22s %lld (%s)\n", "default port:", num(reply, "default_port"), str(reply, "default_port_source"));
	printf("%-22s %s (%s)\n", "address:", str(reply, "address"), str(reply, "address_source"));
	printf("%-22s", "listening ports:");
	for (size_t i = 0; ports && i < json_object_array_length(ports); i++)
		printf(" %d", json_object_get_int(json_object_array_get_idx(ports, i)));
	printf("%s\n", ports && json_object_array_length(ports) ? "" : " none");
	print_host_keys(reply);
	printf("%-22s %lld\n", "executions:", num(reply, "executions"));
	printf("%-22s %lld\n", "sessions:", num(reply, "sessions"));
	printf("%-22s %lld\n", "unauthenticated:", num(reply, "unauthenticated"));
	printf("%-22s %lld\n", "penalised sources:", num(reply, "penalised_sources"));
	printf("%-22s %lld\n", "connections accepted:", num(reply, "connections_accepted"));
	printf("%-22s %lld (penalised %lld, per-source limit %lld, max_startups %lld)\n", "connections refused:",
	       num(reply, "connections_dropped"), num(reply, "dropped_penalised"), num(reply, "dropped_per_source"),
	       num(reply, "dropped_max_startups"));
	printf("%-22s %lld\n", "auth failures:", num(reply, "auth_failures"));
	printf("%-22s %lld\n", "spawn failures:", num(reply, "spawn_failures"));
	printf("%-22s %s\n%-22s %s\n", "bytes from clients:", in, "bytes to clients:", out);
	printf("%-22s %s%s%s\n", "metrics file:", *str(reply, "metrics_textfile") ? str(reply, "metrics_textfile") : "off",
	       *str(reply, "metrics_textfile_error") ? "; last write failed: " : "", str(reply, "metrics_textfile_error"));
}

static bool take_json_flag(int *argc, char **argv)
{
	for (int i = 1; i < *argc; i++)
		if (strcmp(argv[i], "--json") == 0) {
			memmove(&argv[i], &argv[i + 1], (size_t)(*argc - i) * sizeof(char *));
			(*argc)--;
			return true;
		}
	return false;
}

static json_object *simple(const char *cmd, int argc, char **argv, bool id_required)
{
	json_object *req = json_object_new_object();

	if (argc > 2 || (id_required && argc != 2))
		die(2, "usage: peon-sshctl %s %s", cmd, id_required ? "EXECUTION_ID" : "[EXECUTION_ID]");
	json_object_object_add(req, "cmd", json_object_new_string(cmd));
	if (argc == 2)
		json_object_object_add(req, "id", json_object_new_string(argv[1]));
	return req;
}

static json_object *build_kill(int argc, char **argv)
{
	json_object *req = json_object_new_object();
	unsigned long pid;

	if (argc != 2)
		die(2, "usage: peon-sshctl kill SESSION_PID (see peon-sshctl sessions)");
	if (parse_ulong(argv[1], 4194304, &pid) < 0 || pid < 1)
		die(1, "kill %s: not a process id", argv[1]);
	json_object_object_add(req, "cmd", json_object_new_string("kill"));
	json_object_object_add(req, "pid", json_object_new_int((int)pid));
	return req;
}

/* keys ID [--add KEY]... [--add-file FILE]... [--remove FP]...: no option lists the keys. */
static json_object *build_keys(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "add", required_argument, NULL, 'a' },
		{ "add-file", required_argument, NULL, 'A' },
		{ "remove", required_argument, NULL, 'r' },
		{ 0 },
	};
	json_object *req = json_object_new_object(), *add = NULL, *rm = NULL;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == '?')
			die(2, "usage: peon-sshctl keys EXECUTION_ID [--add KEY]... [--add-file FILE]... [--remove FINGERPRINT]...");
		if ((c == 'a' || c == 'A') && !add)
			add = json_object_new_array();
		if (c == 'a')
			add_key_lines(add, optarg, "--add");
		else if (c == 'A')
			key_file(add, optarg, "--add-file");
		else
			json_object_array_add(rm ? rm : (rm = json_object_new_array()), json_object_new_string(optarg));
	}
	if (optind != argc - 1)
		die(2, "keys takes exactly one EXECUTION_ID (see --help)");
	if (add && json_object_array_length(add) == 0)
		die(1, "no public key was given to --add (only blank or comment lines)");
	json_object_object_add(req, "cmd", json_object_new_string("keys"));
	json_object_object_add(req, "id", json_object_new_string(argv[optind]));
	if (add)
		json_object_object_add(req, "add", add);
	if (rm)
		json_object_object_add(req, "remove", rm);
	return req;
}

/* ttl ID DURATION|none: from now, or no expiry. */
static json_object *build_ttl(int argc, char **argv)
{
	json_object *req = json_object_new_object();
	long ttl;

	if (argc != 3)
		die(2, "usage: peon-sshctl ttl EXECUTION_ID DURATION|none");
	json_object_object_add(req, "cmd", json_object_new_string("ttl"));
	json_object_object_add(req, "id", json_object_new_string(argv[1]));
	if (strcmp(argv[2], "none") == 0)
		json_object_object_add(req, "ttl", json_object_new_string("none"));
	else if (duration_parse(argv[2], &ttl) == 0)
		json_object_object_add(req, "ttl", json_object_new_int64(ttl));
	else
		die(1, "ttl %s: not a duration like 90s, 30m, 12h or 2d, or none", argv[2]);
	return req;
}

static void show_keys(json_object *reply, int argc, char **argv)
{
	json_object *arr;

	(void)argc, (void)argv;
	if (*str(reply, "message")) {
		printf("execution %s: %s\n", str(reply, "execution"), str(reply, "message"));
		return;
	}
	json_object_object_get_ex(reply, "keys", &arr);
	printf("%-51s %-20s %-24s %s\n", "FINGERPRINT", "TYPE", "COMMENT", "FROM");
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		json_object *k = json_object_array_get_idx(arr, i);

		printf("%-51s %-20s %-24s %s\n", str(k, "fingerprint"), str(k, "type"), str(k, "comment"),
		       *str(k, "url") ? str(k, "url") : "add");
	}
}

static const char *default_socket(const char *config, bool explicit)
{
	static struct peon_config cfg;
	char err[ERRLEN];

	if (config_load(config, explicit, &cfg, err) < 0) {
		if (explicit)
			die(2, "%s", err);
		return "/run/peon-sshd/control.sock";
	}
	return cfg.control_socket;
}

/* Requests of the commands that take at most an execution id. */
static json_object *build_remove(int argc, char **argv)
{
	return simple("remove", argc, argv, true);
}

static json_object *build_refresh(int argc, char **argv)
{
	return simple("refresh", argc, argv, true);
}

static json_object *build_sessions(int argc, char **argv)
{
	return simple("sessions", argc, argv, false);
}

static json_object *build_bare(const char *cmd, int argc, char **argv)
{
	if (argc != 1)
		die(2, "%s takes no arguments", cmd);
	return simple(cmd, argc, argv, false);
}

static json_object *build_list(int argc, char **argv)
{
	return build_bare("list", argc, argv);
}

static json_object *build_status(int argc, char **argv)
{
	return build_bare("status", argc, argv);
}

/* How a successful reply reads without --json; argv as the builder left
 * it (getopt moves the operands of add to the end). */
static void show_added(json_object *reply, int argc, char **argv)
{
	printf("execution %s is live on port %lld\nConnect with: %s\n", argv[argc - 1],
	       num(json_object_object_get(reply, "execution"), "port"), str(reply, "connect"));
}

static void show_message(json_object *reply, int argc, char **argv)
{
	(void)argc, (void)argv;
	printf("%s\n", str(reply, "message"));
}

/* Every command, once: its usage (`peon-sshctl CMD --help` prints its
 * own, `--help` all of them), its request and how its answer is shown. */
static const struct command {
	const char *name;
	const char *usage;
	json_object *(*build)(int argc, char **argv);
	void (*show)(json_object *reply, int argc, char **argv);
} commands[] = {
	{ "add",
	  "add ID (--docker CONTAINER | --containerd NAMESPACE/ID | --pid PID | --host) KEYS\n"
	  "         [--port N] [--user USER] [--ttl DURATION] [--json]\n"
	  "         [--log-file FILE] [--log-url URL] [--no-port-forwarding] [--no-local-forwarding]\n"
	  "         [--no-remote-forwarding] [--no-agent-forwarding] [--no-x11-forwarding]\n"
	  "      KEYS: one or more of --key 'ssh-ed25519 AAAA... comment', --key-file FILE (public keys),\n"
	  "      --key-url URL (https, or http on loopback; peon-sshd fetches it and keeps it fresh)\n"
	  "      --json: the result as JSON (docs/json.md): address, port, connect line, host keys\n",
	  build_add, show_added },
	{ "remove",
	  "remove ID\n",
	  build_remove, show_removed },
	{ "keys",
	  "keys ID [--add KEY]... [--add-file FILE]... [--remove FINGERPRINT]... [--json]\n"
	  "      without options: list the keys; FINGERPRINT as list --json shows it (SHA256:...)\n",
	  build_keys, show_keys },
	{ "ttl",
	  "ttl ID DURATION|none [--json]\n",
	  build_ttl, show_message },
	{ "refresh",
	  "refresh ID [--json]         fetch the execution's --key-url keys now\n",
	  build_refresh, show_keys },
	{ "kill",
	  "kill SESSION_PID\n",
	  build_kill, show_message },
	{ "list",
	  "list [--json]\n",
	  build_list, show_list },
	{ "sessions",
	  "sessions [ID] [--json]\n",
	  build_sessions, show_sessions },
	{ "status",
	  "status [--json]\n",
	  build_status, show_status },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: peon-sshctl [-S SOCKET] [-f CONFIG] COMMAND ...\n"
		   "       peon-sshctl COMMAND --help\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(f, "  %s", commands[i].usage);
}

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static int unknown_command(const char *cmd)
{
	fprintf(stderr, "%s: unknown command %s; the commands are:", prog, cmd);
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(stderr, "%s %s", i ? "," : "", commands[i].name);
	fprintf(stderr, " (see peon-sshctl --help)\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *sock = NULL, *config = DEFAULT_CONFIG;
	const struct command *cmd;
	bool explicit = false, as_json;
	json_object *req, *reply;
	int i = 1;

	log_set_journal(log_journal);
	log_init("peon-sshctl", true, LOG_WARNING);
	signal(SIGPIPE, SIG_IGN);
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-S") == 0 && i + 1 < argc)
			sock = argv[++i];
		else if (strcmp(argv[i], "-f") == 0 && i + 1 < argc)
			config = argv[++i], explicit = true;
		else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			return usage(stdout), 0;
		else if (strcmp(argv[i], "--version") == 0)
			return printf("peon-sshctl %s\n", PEON_VERSION), 0;
		else
			return usage(stderr), 2;
	}
	if (i >= argc)
		return usage(stderr), 2;
	if (!(cmd = find_command(argv[i])))
		return unknown_command(argv[i]);
	argc -= i;
	argv += i;
	if (wants_help(argc, argv))
		return printf("usage: peon-sshctl %s", cmd->usage), 0;
	as_json = take_json_flag(&argc, argv);
	req = cmd->build(argc, argv);
	if (!sock)
		sock = default_socket(config, explicit);
	reply = call(sock, req);
	if (!json_object_get_boolean(json_object_object_get(reply, "ok")))
		die(1, "%s", str(reply, "error"));
	/* Live, but something to know (a key URL that holds no key yet). */
	if (cmd->build == build_add && *str(reply, "warning"))
		fprintf(stderr, "%s: warning: %s\n", prog, str(reply, "warning"));
	if (as_json)
		printf("%s\n", json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PRETTY));
	else
		cmd->show(reply, argc, argv);
	json_object_put(req);
	json_object_put(reply);
	return 0;
}
