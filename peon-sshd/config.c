#include "config.h"
#include "duration.h"
#include "log.h"
#include "peonconf.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <libconfig.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_PORT 2222
/* RFC 4253 section 9: new keys after a gigabyte or an hour. OpenSSH's data
 * default is 1G-4G by cipher; libssh's own is 1G for chacha20-poly1305 but
 * 64G for AES. One key exchange per GiB costs well under 1% at the
 * relay's speed, and a debug session can stay up for days. */
#define DEFAULT_REKEY_DATA (1ULL << 30)
#define DEFAULT_REKEY_TIME 3600
#define REKEY_DATA_MIN (16ULL << 10)
#define REKEY_DATA_MAX (64ULL << 30)
#define REKEY_TIME_MAX (30 * 86400)

/* Explicit lists: libssh's defaults end in a trailing comma and carry
 * algorithms that ssh-audit rates as failures (ssh-rsa, sha1 MACs).
 * MACs: EtM first; the plain SHA-2 HMACs follow, as in OpenSSH's default,
 * because libssh2 before 1.11 (curl's sftp:// and scp:// on Debian 12) has
 * no EtM and would find no common MAC. ssh-audit warns about them, no fail. */
static const struct algorithms default_algo = {
	.kex = "curve25519-sha256,curve25519-sha256@libssh.org,"
	       "diffie-hellman-group16-sha512,diffie-hellman-group18-sha512",
	.ciphers = "chacha20-poly1305@openssh.com,aes128-gcm@openssh.com,aes256-gcm@openssh.com,"
		   "aes128-ctr,aes192-ctr,aes256-ctr",
	.macs = "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-sha2-256,hmac-sha2-512",
	.host_keys = "ssh-ed25519,rsa-sha2-512,rsa-sha2-256",
	.pubkeys = "ssh-ed25519,sk-ssh-ed25519@openssh.com,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,"
		   "ecdsa-sha2-nistp521,sk-ecdsa-sha2-nistp256@openssh.com,rsa-sha2-512,rsa-sha2-256",
};

static const char *const default_accept_env[] = {
	"LANG", "LANGUAGE", "LC_*", "TERM", "COLORTERM", "TERM_PROGRAM", "TERM_PROGRAM_VERSION", "TZ",
};

static const char *const gateway_names[] = { "no", "yes", "clientspecified" };

struct int_setting {
	const char *name;
	size_t offset;
	int min, max;
};

#define LIM(n, lo, hi) { #n, offsetof(struct limits, n), lo, hi }
static const struct int_setting limit_settings[] = {
	LIM(login_grace_time, 1, 3600),
	LIM(max_auth_tries, 1, 100),
	LIM(per_source_max_startups, 0, 100000),
	LIM(per_source_prefix_ipv4, 1, 32),
	LIM(per_source_prefix_ipv6, 1, 128),
	LIM(max_sessions, 1, 1000),
	LIM(max_forwards, 1, 4096),
	LIM(max_connections, 1, 100000),
	LIM(max_executions, 1, 100000),
	LIM(max_keys, 1, 100000),
	LIM(client_alive_interval, 0, 86400),
	LIM(client_alive_count_max, 1, 1000),
};
#undef LIM
#define LIM(n, lo, hi) { #n, offsetof(struct forwarding, n), lo, hi }
static const struct int_setting forwarding_ints[] = {
	LIM(x11_display_offset, 0, 1000),
	LIM(max_listeners, 0, 256),
};
#undef LIM

struct str_setting {
	const char *name;
	size_t offset;
};
#define ALG(n) { #n, offsetof(struct algorithms, n) }
static const struct str_setting algo_settings[] = {
	ALG(kex), ALG(ciphers), ALG(macs), ALG(host_keys), ALG(pubkeys),
};
#undef ALG

static void set_defaults(struct peon_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->limits = (struct limits){
		.login_grace_time = 30, .max_auth_tries = 6,
		.max_startups_start = 10, .max_startups_rate = 30, .max_startups = 100,
		.per_source_max_startups = 5, .per_source_prefix_ipv4 = 32, .per_source_prefix_ipv6 = 64,
		.rekey_data = DEFAULT_REKEY_DATA, .rekey_time = DEFAULT_REKEY_TIME,
		.max_sessions = 16, .max_forwards = 64, .max_connections = 64, .max_executions = 1024,
		.max_keys = 256, .client_alive_interval = 0, .client_alive_count_max = 3,
	};
	/* OpenSSH's PerSourcePenalties defaults. */
	cfg->penalties = (struct penalties){
		.enabled = true, .crash = 90, .authfail = 5, .noauth = 1, .grace_exceeded = 10,
		.max = 600, .min = 15, .max_sources = 65536,
	};
	/* systemd's UIDS-GIDS.md leaves 0x7FFF0000-0x7FFFFFFE unused (the foreign
	 * range of containers is just below, container ranges far below). */
	cfg->privsep = (struct privsep){ .uid_base = PRIVSEP_UID_BASE, .uid_count = PRIVSEP_UID_COUNT };
	cfg->fwd = (struct forwarding){
		.local = true, .remote = true, .agent = true, .x11 = true, .gateway_ports = GATEWAY_NO,
		.x11_display_offset = 10, .max_listeners = 16,
	};
	cfg->control_socket_mode = 0600;
	cfg->report.metadata_timeout_ms = 1000;
	cfg->report.retry_for = 300;
	/* PrimeHub's: a full refresh every 15 minutes, and at most every 2
	 * minutes when someone offers a key nobody holds. */
	cfg->key_urls = (struct key_urls_cfg){ .refresh = 900, .min_age = 120 };
	/* node_exporter's own default scrape interval. */
	cfg->metrics.interval = 15;
}

/* Fill any string left unset by the file with its default. */
static int fill_defaults(struct peon_config *cfg)
{
#define DUP_DEFAULT(field, val) \
	do { if (!(field) && !((field) = strdup(val))) return -ENOMEM; } while (0)
	DUP_DEFAULT(cfg->peon_config, "/etc/peon.config");
	DUP_DEFAULT(cfg->metrics.textfile, "");
	DUP_DEFAULT(cfg->host_key_dir, "/var/lib/peon-sshd");
	DUP_DEFAULT(cfg->runtime_dir, "/run/peon-sshd");
	DUP_DEFAULT(cfg->log_level, "info");
	DUP_DEFAULT(cfg->advertise_address, "");
	DUP_DEFAULT(cfg->report.aws_url, "http://169.254.169.254");
	DUP_DEFAULT(cfg->report.gcp_url, "http://metadata.google.internal");
	DUP_DEFAULT(cfg->report.azure_url, "http://169.254.169.254");
	DUP_DEFAULT(cfg->report.token_file, "");
	DUP_DEFAULT(cfg->rt.docker_socket, "/run/docker.sock");
	DUP_DEFAULT(cfg->rt.docker_state_dir, "");
	DUP_DEFAULT(cfg->rt.containerd_state_dir, "/run/containerd/io.containerd.runtime.v2.task");
	for (size_t i = 0; i < ARRAY_SIZE(algo_settings); i++) {
		char **f = (char **)((char *)&cfg->algo + algo_settings[i].offset);
		DUP_DEFAULT(*f, *(char *const *)((const char *)&default_algo + algo_settings[i].offset));
	}
#undef DUP_DEFAULT
	if (!cfg->control_socket &&
	    asprintf(&cfg->control_socket, "%s/control.sock", cfg->runtime_dir) < 0)
		return -ENOMEM;
	if (!cfg->listen_address) {
		if (strv_push(&cfg->listen_address, &cfg->n_listen, "0.0.0.0") < 0 ||
		    strv_push(&cfg->listen_address, &cfg->n_listen, "::") < 0)
			return -ENOMEM;
	}
	if (!cfg->accept_env) {
		for (size_t i = 0; i < ARRAY_SIZE(default_accept_env); i++)
			if (strv_push(&cfg->accept_env, &cfg->n_accept_env, default_accept_env[i]) < 0)
				return -ENOMEM;
	}
	return 0;
}

static int bad(char *err, const char *file, const config_setting_t *s, const char *fmt, const char *a)
{
	char what[ERRLEN];

	snprintf(what, sizeof(what), fmt, a);
	return errf(err, -EINVAL, "%s:%d: %s: %s", file, config_setting_source_line(s),
		    config_setting_name(s) ? config_setting_name(s) : "(element)", what);
}

static int get_string(const char *file, const config_setting_t *s, char **out, bool abs_path,
		      char *err)
{
	const char *v = config_setting_get_string(s);

	if (!v)
		return bad(err, file, s, "%s", "must be a string");
	if (abs_path && v[0] != '/')
		return bad(err, file, s, "\"%s\" must be an absolute path", v);
	free(*out);
	*out = strdup(v);
	return *out ? 0 : -ENOMEM;
}

/* An absolute path, or "" for none (what -T prints for an unset one). */
static int get_path_or_empty(const char *file, const config_setting_t *s, char **out, char *err)
{
	const char *v = config_setting_get_string(s);

	if (v && !*v) {
		free(*out);
		return (*out = strdup("")) ? 0 : -ENOMEM;
	}
	return get_string(file, s, out, true, err);
}

static bool address_valid(const char *a)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, a, buf) == 1 || inet_pton(AF_INET6, a, buf) == 1;
}

static int get_string_list(const char *file, const config_setting_t *s, char ***out, size_t *n,
			   bool addresses, char *err)
{
	int count;

	if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		count = 1;
	} else if (config_setting_is_aggregate(s)) {
		count = config_setting_length(s);
	} else {
		return bad(err, file, s, "%s", "must be a string or a list of strings");
	}
	strv_free(*out);
	*out = NULL;
	*n = 0;
	for (int i = 0; i < count; i++) {
		const config_setting_t *e = config_setting_type(s) == CONFIG_TYPE_STRING ?
						    s : config_setting_get_elem(s, (unsigned)i);
		const char *v = config_setting_get_string(e);

		if (!v)
			return bad(err, file, s, "%s", "every element must be a string");
		if (addresses && !address_valid(v))
			return bad(err, file, s, "\"%s\" is not an IPv4 or IPv6 address", v);
		if (strv_push(out, n, v) < 0)
			return -ENOMEM;
	}
	if (*n == 0)
		return bad(err, file, s, "%s", "must not be empty");
	return 0;
}

static int load_group(const char *file, const config_setting_t *grp, char *err,
		      int (*one)(const char *, const config_setting_t *, void *, char *), void *base)
{
	if (!config_setting_is_group(grp))
		return bad(err, file, grp, "%s", "must be a group { ... }");
	for (int i = 0; i < config_setting_length(grp); i++) {
		int r = one(file, config_setting_get_elem(grp, (unsigned)i), base, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* "start:rate:full" (OpenSSH's MaxStartups), or a number N: N:100:N. */
static int load_max_startups(const char *file, const config_setting_t *s, struct limits *l, char *err)
{
	unsigned long v[3];
	char what[160], part[3][16];
	const char *str;
	int n = 0;

	if (config_setting_type(s) == CONFIG_TYPE_INT) {
		int full = config_setting_get_int(s);
		if (full < 1 || full > 100000) {
			snprintf(what, sizeof(what), "%d is outside 1-100000", full);
			return bad(err, file, s, "%s", what);
		}
		l->max_startups_start = l->max_startups = full;
		l->max_startups_rate = 100;
		return 0;
	}
	str = config_setting_get_string(s);
	if (str && strlen(str) < 40)
		n = sscanf(str, "%15[0-9]:%15[0-9]:%15[0-9]%c", part[0], part[1], part[2], what);
	if (n != 3 || parse_ulong(part[0], 100000, &v[0]) < 0 || parse_ulong(part[1], 100, &v[1]) < 0 ||
	    parse_ulong(part[2], 100000, &v[2]) < 0)
		return bad(err, file, s, "%s",
			   "must be a number (a hard cap) or \"start:rate:full\" like \"10:30:100\" (rate 1-100, "
			   "start and full 1-100000)");
	if (v[0] < 1 || v[1] < 1 || v[2] < v[0]) {
		snprintf(what, sizeof(what), "\"%s\" needs 1 <= start <= full and a rate of 1-100", str);
		return bad(err, file, s, "%s", what);
	}
	l->max_startups_start = (int)v[0];
	l->max_startups_rate = (int)v[1];
	l->max_startups = (int)v[2];
	return 0;
}

/* Bytes: a number, or "<n>K", "<n>M", "<n>G" (binary, as OpenSSH's
 * RekeyLimit); "default": libssh's per-cipher limit. */
static int load_rekey_data(const char *file, const config_setting_t *s, struct limits *l, char *err)
{
	static const char range[] = "must be \"default\" or a size from 16K to 64G, like \"1G\" or \"512M\"";
	const char *str = config_setting_get_string(s);
	unsigned long long v, mul = 1;
	char digits[24];
	size_t n;

	if (config_setting_type(s) == CONFIG_TYPE_INT || config_setting_type(s) == CONFIG_TYPE_INT64) {
		long long iv = config_setting_get_int64(s);
		if (iv < (long long)REKEY_DATA_MIN || iv > (long long)REKEY_DATA_MAX)
			return bad(err, file, s, "%s", range);
		l->rekey_data = (uint64_t)iv;
		return 0;
	}
	if (str && strcmp(str, "default") == 0) {
		l->rekey_data = 0;
		return 0;
	}
	n = str ? strspn(str, "0123456789") : 0;
	if (!str || n == 0 || n >= sizeof(digits) || (str[n] && str[n + 1]))
		return bad(err, file, s, "%s", range);
	switch (str[n]) {
	case '\0': break;
	case 'K': mul = 1ULL << 10; break;
	case 'M': mul = 1ULL << 20; break;
	case 'G': mul = 1ULL << 30; break;
	default: return bad(err, file, s, "%s", range);
	}
	memcpy(digits, str, n);
	digits[n] = '\0';
	v = strtoull(digits, NULL, 10);
	if (v > REKEY_DATA_MAX / mul || v * mul < REKEY_DATA_MIN)
		return bad(err, file, s, "%s", range);
	l->rekey_data = v * mul;
	return 0;
}

/* An integer setting of table t (into base at its offset, within its
 * range): true when s is one of them, with *r the result. */
static bool load_int_setting(const char *file, const config_setting_t *s, const struct int_setting *t, size_t n,
			     void *base, char *err, int *r)
{
	for (size_t i = 0; i < n; i++) {
		char range[64];
		int v;

		if (strcmp(config_setting_name(s), t[i].name) != 0)
			continue;
		if (config_setting_type(s) != CONFIG_TYPE_INT) {
			*r = bad(err, file, s, "%s", "must be an integer");
			return true;
		}
		v = config_setting_get_int(s);
		if (v < t[i].min || v > t[i].max) {
			snprintf(range, sizeof(range), "%d is outside %d-%d", v, t[i].min, t[i].max);
			*r = bad(err, file, s, "%s", range);
			return true;
		}
		*(int *)((char *)base + t[i].offset) = v;
		*r = 0;
		return true;
	}
	return false;
}

/* Seconds: a number or a duration string ("90s", "15m", "1h"); 0 or "0"
 * turns the setting off where off is allowed (min 0). */
static int get_seconds(const char *file, const config_setting_t *s, int min, int max, int *out, char *err)
{
	const char *str = config_setting_get_string(s);
	char what[128];
	long v = -1;

	if (config_setting_type(s) == CONFIG_TYPE_INT)
		v = config_setting_get_int(s);
	else if (str && strcmp(str, "0") == 0)
		v = 0;
	else if (!str || duration_parse(str, &v) < 0)
		return bad(err, file, s, "%s", "must be seconds or a duration like \"90s\", \"10m\", \"1h\"");
	if (v < min || v > max) {
		snprintf(what, sizeof(what), "%ld s is outside %d-%d s", v, min, max);
		return bad(err, file, s, "%s", what);
	}
	*out = (int)v;
	return 0;
}

/* limits.channel_timeout = { session = "2h"; direct-tcpip = "10m"; ... }:
 * OpenSSH's ChannelTimeout, one entry per channel kind. */
static int load_channel_timeout(const char *file, const config_setting_t *s, void *base, char *err)
{
	int *t = base;

	for (size_t i = 0; i < IDLE_N; i++)
		if (strcmp(config_setting_name(s), chan_idle_names[i]) == 0)
			return get_seconds(file, s, 0, 30 * 86400, &t[i], err);
	return bad(err, file, s, "%s",
		   "unknown channel kind (session, direct-tcpip, forwarded-tcpip, agent-connection, x11-connection)");
}

static int load_limit(const char *file, const config_setting_t *s, void *base, char *err)
{
	const char *name = config_setting_name(s);
	int r;

	if (strcmp(name, "channel_timeout") == 0)
		return load_group(file, s, err, load_channel_timeout, ((struct limits *)base)->channel_timeout);
	if (strcmp(name, "unused_connection_timeout") == 0)
		return get_seconds(file, s, 0, 30 * 86400, &((struct limits *)base)->unused_connection_timeout, err);

	if (strcmp(name, "max_startups") == 0)
		return load_max_startups(file, s, base, err);
	if (strcmp(name, "rekey_data") == 0)
		return load_rekey_data(file, s, base, err);
	if (strcmp(name, "rekey_time") == 0) {
		const char *str = config_setting_get_string(s);
		if (str && strcmp(str, "none") == 0) {
			((struct limits *)base)->rekey_time = 0;
			return 0;
		}
		return get_seconds(file, s, 0, REKEY_TIME_MAX, &((struct limits *)base)->rekey_time, err);
	}
	if (load_int_setting(file, s, limit_settings, ARRAY_SIZE(limit_settings), base, err, &r))
		return r;
	return bad(err, file, s, "%s", "unknown setting in limits");
}

/* The penalties group as it loads: where min and max were set, for the
 * check across both. */
struct penalty_load {
	struct penalties *pc;
	int min_line, max_line;
};

static int load_exempt(const char *file, const config_setting_t *s, struct penalties *pc, char *err)
{
	int count = config_setting_is_array(s) || config_setting_is_list(s) ? config_setting_length(s) : -1;
	char nerr[ERRLEN];

	if (count < 0)
		return bad(err, file, s, "%s", "must be a list of addresses or networks, like [\"192.0.2.7\", \"10.0.0.0/8\"]");
	free(pc->exempt);
	pc->exempt = count ? calloc((size_t)count, sizeof(*pc->exempt)) : NULL;
	pc->n_exempt = 0;
	if (count && !pc->exempt)
		return -ENOMEM;
	for (int i = 0; i < count; i++) {
		const char *v = config_setting_get_string(config_setting_get_elem(s, (unsigned)i));

		if (!v)
			return bad(err, file, s, "%s", "every element must be a string");
		if (preauth_net_parse(v, &pc->exempt[i], nerr) < 0)
			return bad(err, file, s, "%s", nerr);
		pc->n_exempt++;
	}
	return 0;
}

static int load_penalty(const char *file, const config_setting_t *s, void *base, char *err)
{
	struct penalty_load *pl = base;
	struct penalties *pc = pl->pc;
	const char *n = config_setting_name(s);
	static const struct { const char *name; size_t off; } kinds[] = {
		{ "crash", offsetof(struct penalties, crash) },
		{ "authfail", offsetof(struct penalties, authfail) },
		{ "noauth", offsetof(struct penalties, noauth) },
		{ "grace_exceeded", offsetof(struct penalties, grace_exceeded) },
	};

	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
		if (strcmp(n, kinds[i].name) == 0)
			return get_seconds(file, s, 0, 86400, (int *)((char *)pc + kinds[i].off), err);
	if (strcmp(n, "enabled") == 0) {
		if (config_setting_type(s) != CONFIG_TYPE_BOOL)
			return bad(err, file, s, "%s", "must be true or false");
		pc->enabled = config_setting_get_bool(s);
		return 0;
	}
	if (strcmp(n, "max") == 0) {
		pl->max_line = config_setting_source_line(s);
		return get_seconds(file, s, 1, 7 * 86400, &pc->max, err);
	}
	if (strcmp(n, "min") == 0) {
		pl->min_line = config_setting_source_line(s);
		return get_seconds(file, s, 0, 7 * 86400, &pc->min, err);
	}
	if (strcmp(n, "max_sources") == 0) {
		int v = config_setting_get_int(s);
		char what[64];

		if (config_setting_type(s) != CONFIG_TYPE_INT)
			return bad(err, file, s, "%s", "must be an integer");
		if (v < 1 || v > 1000000) {
			snprintf(what, sizeof(what), "%d is outside 1-1000000", v);
			return bad(err, file, s, "%s", what);
		}
		pc->max_sources = v;
		return 0;
	}
	if (strcmp(n, "exempt") == 0)
		return load_exempt(file, s, pc, err);
	return bad(err, file, s, "%s", "unknown setting in penalties");
}

static int load_penalties(const char *file, const config_setting_t *s, struct penalties *pc, char *err)
{
	struct penalty_load pl = { .pc = pc };
	int r = load_group(file, s, err, load_penalty, &pl);

	if (r < 0)
		return r;
	/* A min above max would never refuse anyone: say so where it was set. */
	if (pc->min > pc->max)
		return errf(err, -EINVAL, "%s:%d: penalties: min (%d s) must not exceed max (%d s)", file,
			    pl.min_line > pl.max_line ? pl.min_line : pl.max_line, pc->min, pc->max);
	return 0;
}

static int load_privsep(const char *file, const config_setting_t *s, void *base, char *err)
{
	struct privsep *p = base;
	const char *n = config_setting_name(s);
	long long v;

	if (config_setting_type(s) != CONFIG_TYPE_INT && config_setting_type(s) != CONFIG_TYPE_INT64)
		return bad(err, file, s, "%s", "must be an integer");
	v = config_setting_get_int64(s);
	if (strcmp(n, "uid_base") == 0) {
		if (v < 1000 || v > PRIVSEP_UID_MAX)
			return bad(err, file, s, "%s", "must be between 1000 and 2147483646");
		p->uid_base = v;
		return 0;
	}
	if (strcmp(n, "uid_count") == 0) {
		if (v < 1 || v > 1048576)
			return bad(err, file, s, "%s", "must be between 1 and 1048576");
		p->uid_count = (int)v;
		return 0;
	}
	return bad(err, file, s, "%s", "unknown setting in privsep");
}

static int load_algo(const char *file, const config_setting_t *s, void *base, char *err)
{
	const char *name = config_setting_name(s);

	for (size_t i = 0; i < ARRAY_SIZE(algo_settings); i++) {
		char **f = (char **)((char *)base + algo_settings[i].offset);
		const char *v;

		if (strcmp(name, algo_settings[i].name) != 0)
			continue;
		v = config_setting_get_string(s);
		if (!v || !*v || v[strlen(v) - 1] == ',' || v[0] == ',' || strstr(v, ",,") ||
		    strpbrk(v, " \t"))
			return bad(err, file, s, "%s",
				   "must be a non-empty comma-separated list without blanks");
		/* DH-GEX reads /etc/ssh/moduli, which the network child's empty
		 * root does not have; GSSAPI key exchange is not offered either. */
		if (strcmp(name, "kex") == 0 && (strstr(v, "group-exchange") || strstr(v, "gss-")))
			return bad(err, file, s, "%s",
				   "diffie-hellman-group-exchange and gss key exchanges are not supported");
		free(*f);
		*f = strdup(v);
		return *f ? 0 : -ENOMEM;
	}
	return bad(err, file, s, "%s", "unknown setting in algorithms");
}

static int get_url(const char *file, const config_setting_t *s, char **out, char *err)
{
	int r = get_string(file, s, out, false, err);

	if (r == 0 && strncmp(*out, "http://", 7) != 0 && strncmp(*out, "https://", 8) != 0)
		return bad(err, file, s, "\"%s\" must be an http:// or https:// URL", *out);
	return r;
}

static int load_report(const char *file, const config_setting_t *s, void *base, char *err)
{
	struct report_cfg *rc = base;
	const char *n = config_setting_name(s);
	int r;

	if (strcmp(n, "providers") == 0) {
		if (config_setting_is_aggregate(s) && config_setting_length(s) == 0) {
			strv_free(rc->providers);
			rc->providers = NULL;
			rc->n_providers = 0;
			return 0;
		}
		r = get_string_list(file, s, &rc->providers, &rc->n_providers, false, err);
		for (size_t i = 0; r == 0 && i < rc->n_providers; i++)
			if (strcmp(rc->providers[i], "aws") && strcmp(rc->providers[i], "gcp") &&
			    strcmp(rc->providers[i], "azure"))
				return bad(err, file, s, "\"%s\" is not one of aws, gcp, azure", rc->providers[i]);
		return r;
	}
	if (strcmp(n, "aws_url") == 0)
		return get_url(file, s, &rc->aws_url, err);
	if (strcmp(n, "gcp_url") == 0)
		return get_url(file, s, &rc->gcp_url, err);
	if (strcmp(n, "azure_url") == 0)
		return get_url(file, s, &rc->azure_url, err);
	if (strcmp(n, "token_file") == 0)
		return get_path_or_empty(file, s, &rc->token_file, err);
	if (strcmp(n, "metadata_timeout_ms") == 0 || strcmp(n, "retry_for") == 0) {
		int v = config_setting_get_int(s), lo = 1, hi = strcmp(n, "retry_for") == 0 ? 86400 : 30000;
		char range[64];

		if (config_setting_type(s) != CONFIG_TYPE_INT)
			return bad(err, file, s, "%s", "must be an integer");
		if (v < lo || v > hi) {
			snprintf(range, sizeof(range), "%d is outside %d-%d", v, lo, hi);
			return bad(err, file, s, "%s", range);
		}
		*(strcmp(n, "retry_for") == 0 ? &rc->retry_for : &rc->metadata_timeout_ms) = v;
		return 0;
	}
	return bad(err, file, s, "%s", "unknown setting in report");
}

static int load_key_urls(const char *file, const config_setting_t *s, void *base, char *err)
{
	struct key_urls_cfg *k = base;
	const char *n = config_setting_name(s);

	if (strcmp(n, "refresh") == 0)
		return get_seconds(file, s, 0, 7 * 86400, &k->refresh, err);
	if (strcmp(n, "min_age") == 0)
		return get_seconds(file, s, 0, 86400, &k->min_age, err);
	return bad(err, file, s, "%s", "unknown setting in key_urls (refresh, min_age)");
}

/* metrics.textfile: node_exporter's textfile collector reads only *.prom
 * files, so any other name would be written and never scraped. */
static int load_metrics(const char *file, const config_setting_t *s, void *base, char *err)
{
	struct metrics_cfg *m = base;
	const char *n = config_setting_name(s);

	if (strcmp(n, "interval") == 0)
		return get_seconds(file, s, 1, 3600, &m->interval, err);
	if (strcmp(n, "textfile") == 0) {
		const char *v = config_setting_get_string(s);
		size_t len = v ? strlen(v) : 0;

		if (v && !*v) {
			free(m->textfile);
			return (m->textfile = strdup("")) ? 0 : -ENOMEM;
		}
		if (v && (len < 6 || strcmp(v + len - 5, ".prom") != 0 || v[len - 6] == '/'))
			return bad(err, file, s, "\"%s\" must name a file ending in .prom "
				   "(node_exporter's textfile collector reads no other), or be \"\" for none", v);
		return get_string(file, s, &m->textfile, true, err);
	}
	return bad(err, file, s, "%s", "unknown setting in metrics (textfile, interval)");
}

static int load_forwarding(const char *file, const config_setting_t *s, void *base, char *err)
{
	struct forwarding *f = base;
	const char *n = config_setting_name(s);
	int r;
	static const struct { const char *name; size_t off; } switches[] = {
		{ "local", offsetof(struct forwarding, local) },
		{ "remote", offsetof(struct forwarding, remote) },
		{ "agent", offsetof(struct forwarding, agent) },
		{ "x11", offsetof(struct forwarding, x11) },
	};

	for (size_t i = 0; i < ARRAY_SIZE(switches); i++) {
		if (strcmp(n, switches[i].name) != 0)
			continue;
		if (config_setting_type(s) != CONFIG_TYPE_BOOL)
			return bad(err, file, s, "%s", "must be true or false");
		*(bool *)((char *)f + switches[i].off) = config_setting_get_bool(s);
		return 0;
	}
	if (strcmp(n, "gateway_ports") == 0) {
		const char *v = config_setting_get_string(s);

		for (size_t i = 0; v && i < ARRAY_SIZE(gateway_names); i++)
			if (strcmp(v, gateway_names[i]) == 0) {
				f->gateway_ports = (int)i;
				return 0;
			}
		return bad(err, file, s, "%s", "must be \"no\", \"yes\" or \"clientspecified\"");
	}
	if (load_int_setting(file, s, forwarding_ints, ARRAY_SIZE(forwarding_ints), f, err, &r))
		return r;
	return bad(err, file, s, "%s", "unknown setting in forwarding");
}

static int load_docker(const char *file, const config_setting_t *s, void *base, char *err)
{
	struct runtimes *rt = base;
	const char *n = config_setting_name(s);

	if (strcmp(n, "socket") == 0)
		return get_string(file, s, &rt->docker_socket, true, err);
	/* "" keeps the search of the usual places. */
	if (strcmp(n, "state_dir") == 0)
		return get_path_or_empty(file, s, &rt->docker_state_dir, err);
	return bad(err, file, s, "%s", "unknown setting in docker");
}

static int load_containerd(const char *file, const config_setting_t *s, void *base, char *err)
{
	struct runtimes *rt = base;

	if (strcmp(config_setting_name(s), "state_dir") == 0)
		return get_string(file, s, &rt->containerd_state_dir, true, err);
	return bad(err, file, s, "%s", "unknown setting in containerd");
}

static int load_top(const char *file, const config_setting_t *s, struct peon_config *cfg, char *err)
{
	const char *n = config_setting_name(s);

	if (strcmp(n, "peon_config") == 0)
		return get_string(file, s, &cfg->peon_config, true, err);
	if (strcmp(n, "host_key_dir") == 0)
		return get_string(file, s, &cfg->host_key_dir, true, err);
	if (strcmp(n, "runtime_dir") == 0)
		return get_string(file, s, &cfg->runtime_dir, true, err);
	if (strcmp(n, "control_socket") == 0)
		return get_string(file, s, &cfg->control_socket, true, err);
	if (strcmp(n, "advertise_address") == 0)
		return get_string(file, s, &cfg->advertise_address, false, err);
	if (strcmp(n, "listen_address") == 0)
		return get_string_list(file, s, &cfg->listen_address, &cfg->n_listen, true, err);
	if (strcmp(n, "accept_env") == 0)
		return get_string_list(file, s, &cfg->accept_env, &cfg->n_accept_env, false, err);
	if (strcmp(n, "log_level") == 0) {
		int r = get_string(file, s, &cfg->log_level, false, err);
		if (r == 0 && log_level_from_name(cfg->log_level) < 0)
			return bad(err, file, s, "\"%s\" is not one of debug, info, notice, warning, err",
				   cfg->log_level);
		return r;
	}
	if (strcmp(n, "control_socket_mode") == 0) {
		/* A string: libconfig has no octal literals (0666 reads as 666). */
		const char *v = config_setting_get_string(s);
		char *end = NULL;
		long m = v ? strtol(v, &end, 8) : -1;

		if (!v || !*v || *end || m < 0 || m > 0777 || (m & 0111))
			return bad(err, file, s, "%s", "must be an octal mode string like \"0600\" without execute bits");
		cfg->control_socket_mode = (int)m;
		return 0;
	}
	if (strcmp(n, "key_urls") == 0)
		return load_group(file, s, err, load_key_urls, &cfg->key_urls);
	if (strcmp(n, "metrics") == 0)
		return load_group(file, s, err, load_metrics, &cfg->metrics);
	if (strcmp(n, "limits") == 0)
		return load_group(file, s, err, load_limit, &cfg->limits);
	if (strcmp(n, "forwarding") == 0)
		return load_group(file, s, err, load_forwarding, &cfg->fwd);
	if (strcmp(n, "penalties") == 0)
		return load_penalties(file, s, &cfg->penalties, err);
	if (strcmp(n, "algorithms") == 0)
		return load_group(file, s, err, load_algo, &cfg->algo);
	if (strcmp(n, "privsep") == 0) {
		int r = load_group(file, s, err, load_privsep, &cfg->privsep);
		if (r == 0 && cfg->privsep.uid_base + cfg->privsep.uid_count - 1 > PRIVSEP_UID_MAX)
			return bad(err, file, s, "%s", "uid_base + uid_count - 1 must not exceed 2147483646");
		return r;
	}
	if (strcmp(n, "report") == 0)
		return load_group(file, s, err, load_report, &cfg->report);
	if (strcmp(n, "docker") == 0)
		return load_group(file, s, err, load_docker, &cfg->rt);
	if (strcmp(n, "containerd") == 0)
		return load_group(file, s, err, load_containerd, &cfg->rt);
	return bad(err, file, s, "%s", "unknown setting");
}

static int load_file(const char *path, struct peon_config *cfg, char *err)
{
	config_t lc;
	config_setting_t *root;
	int r = 0;

	config_init(&lc);
	if (config_read_file(&lc, path) != CONFIG_TRUE) {
		if (config_error_type(&lc) == CONFIG_ERR_FILE_IO)
			r = errf(err, -EIO, "%s: cannot read: %s", path, strerror(errno));
		else
			r = errf(err, -EINVAL, "%s:%d: %s", config_error_file(&lc) ? config_error_file(&lc) : path,
				 config_error_line(&lc), config_error_text(&lc));
		goto out;
	}
	root = config_root_setting(&lc);
	for (int i = 0; i < config_setting_length(root) && r == 0; i++)
		r = load_top(path, config_setting_get_elem(root, (unsigned)i), cfg, err);
out:
	config_destroy(&lc);
	return r;
}

static int load_debug_port(struct peon_config *cfg, char *err)
{
	int line = 0, r;

	cfg->debug_port = DEFAULT_PORT;
	r = peonconf_load(cfg->peon_config, &cfg->debug_port, &line, err);
	if (r == -ENOENT)
		return asprintf(&cfg->debug_port_source, "built-in default (%s has no DEBUG_PORT)",
				cfg->peon_config) < 0 ? -ENOMEM : 0;
	if (r < 0)
		return r;
	return asprintf(&cfg->debug_port_source, "%s:%d", cfg->peon_config, line) < 0 ? -ENOMEM : 0;
}

int config_load(const char *path, bool path_explicit, struct peon_config *cfg, char *err)
{
	int r;

	set_defaults(cfg);
	if (path && (path_explicit || access(path, F_OK) == 0)) {
		cfg->path = strdup(path);
		if (!cfg->path)
			return -ENOMEM;
		r = load_file(path, cfg, err);
		if (r < 0)
			goto fail;
	}
	r = fill_defaults(cfg);
	if (r < 0)
		goto fail;
	r = load_debug_port(cfg, err);
	if (r < 0)
		goto fail;
	return 0;
fail:
	if (r == -ENOMEM)
		errf(err, r, "out of memory while reading the configuration");
	config_free(cfg);
	return r;
}

void config_free(struct peon_config *cfg)
{
	free(cfg->path);
	free(cfg->peon_config);
	free(cfg->debug_port_source);
	strv_free(cfg->listen_address);
	free(cfg->host_key_dir);
	free(cfg->runtime_dir);
	free(cfg->control_socket);
	free(cfg->advertise_address);
	free(cfg->log_level);
	strv_free(cfg->accept_env);
	free(cfg->penalties.exempt);
	strv_free(cfg->report.providers);
	free(cfg->report.aws_url);
	free(cfg->report.gcp_url);
	free(cfg->report.azure_url);
	free(cfg->report.token_file);
	free(cfg->rt.docker_socket);
	free(cfg->rt.docker_state_dir);
	free(cfg->rt.containerd_state_dir);
	free(cfg->metrics.textfile);
	for (size_t i = 0; i < ARRAY_SIZE(algo_settings); i++)
		free(*(char **)((char *)&cfg->algo + algo_settings[i].offset));
	memset(cfg, 0, sizeof(*cfg));
}

static void print_list(FILE *out, const char *name, char **v)
{
	fprintf(out, "%s = [", name);
	for (size_t i = 0; v && v[i]; i++)
		fprintf(out, "%s\"%s\"", i ? ", " : "", v[i]);
	fprintf(out, "];\n");
}

static void print_startups_and_rekey(const struct limits *l, FILE *out)
{
	uint64_t d = l->rekey_data;

	if (l->max_startups_start == l->max_startups)
		fprintf(out, "  max_startups = %d;\n", l->max_startups);
	else
		fprintf(out, "  max_startups = \"%d:%d:%d\";\n", l->max_startups_start, l->max_startups_rate,
			l->max_startups);
	if (d == 0)
		fprintf(out, "  rekey_data = \"default\";\n");
	else if (d % (1ULL << 30) == 0)
		fprintf(out, "  rekey_data = \"%" PRIu64 "G\";\n", d >> 30);
	else if (d % (1ULL << 20) == 0)
		fprintf(out, "  rekey_data = \"%" PRIu64 "M\";\n", d >> 20);
	else if (d % (1ULL << 10) == 0)
		fprintf(out, "  rekey_data = \"%" PRIu64 "K\";\n", d >> 10);
	else
		fprintf(out, "  rekey_data = \"%" PRIu64 "\";\n", d);
	fprintf(out, "  rekey_time = %d;\n", l->rekey_time);
}

static void print_penalties(const struct penalties *p, FILE *out)
{
	char net[INET6_ADDRSTRLEN + 8];

	fprintf(out, "penalties = {\n  enabled = %s;\n", p->enabled ? "true" : "false");
	fprintf(out, "  crash = %d;\n  authfail = %d;\n  noauth = %d;\n  grace_exceeded = %d;\n", p->crash,
		p->authfail, p->noauth, p->grace_exceeded);
	fprintf(out, "  max = %d;\n  min = %d;\n  max_sources = %d;\n  exempt = [", p->max, p->min, p->max_sources);
	for (size_t i = 0; i < p->n_exempt; i++) {
		preauth_addr_format(&p->exempt[i].addr, p->exempt[i].prefix, net, sizeof(net));
		fprintf(out, "%s\"%s\"", i ? ", " : "", net);
	}
	fprintf(out, "];\n};\n");
}

static void print_key_urls(const struct key_urls_cfg *k, FILE *out)
{
	fprintf(out, "key_urls = {\n  refresh = %d;\n  min_age = %d;\n};\n", k->refresh, k->min_age);
}

void config_print(const struct peon_config *cfg, FILE *out)
{
	fprintf(out, "# configuration file: %s\n", cfg->path ? cfg->path : "(none, built-in defaults)");
	fprintf(out, "# debug_port = %d;  # from %s\n", cfg->debug_port, cfg->debug_port_source);
	fprintf(out, "peon_config = \"%s\";\n", cfg->peon_config);
	print_list(out, "listen_address", cfg->listen_address);
	fprintf(out, "host_key_dir = \"%s\";\n", cfg->host_key_dir);
	fprintf(out, "runtime_dir = \"%s\";\n", cfg->runtime_dir);
	fprintf(out, "control_socket = \"%s\";\n", cfg->control_socket);
	fprintf(out, "control_socket_mode = \"0%o\";\n", (unsigned)cfg->control_socket_mode);
	fprintf(out, "advertise_address = \"%s\";\n", cfg->advertise_address);
	fprintf(out, "log_level = \"%s\";\n", cfg->log_level);
	print_list(out, "accept_env", cfg->accept_env);
	fprintf(out, "limits = {\n");
	for (size_t i = 0; i < ARRAY_SIZE(limit_settings); i++)
		fprintf(out, "  %s = %d;\n", limit_settings[i].name,
			*(const int *)((const char *)&cfg->limits + limit_settings[i].offset));
	print_startups_and_rekey(&cfg->limits, out);
	fprintf(out, "  unused_connection_timeout = %d;\n  channel_timeout = {\n",
		cfg->limits.unused_connection_timeout);
	for (size_t i = 0; i < IDLE_N; i++)
		fprintf(out, "    %s = %d;\n", chan_idle_names[i], cfg->limits.channel_timeout[i]);
	fprintf(out, "  };\n};\n");
	fprintf(out, "forwarding = {\n  local = %s;\n  remote = %s;\n  agent = %s;\n  x11 = %s;\n",
		cfg->fwd.local ? "true" : "false", cfg->fwd.remote ? "true" : "false",
		cfg->fwd.agent ? "true" : "false", cfg->fwd.x11 ? "true" : "false");
	fprintf(out, "  gateway_ports = \"%s\";\n  x11_display_offset = %d;\n  max_listeners = %d;\n};\n",
		gateway_names[cfg->fwd.gateway_ports], cfg->fwd.x11_display_offset, cfg->fwd.max_listeners);
	print_penalties(&cfg->penalties, out);
	fprintf(out, "privsep = {\n  uid_base = %lld;\n  uid_count = %d;\n};\n", cfg->privsep.uid_base,
		cfg->privsep.uid_count);
	fprintf(out, "algorithms = {\n");
	for (size_t i = 0; i < ARRAY_SIZE(algo_settings); i++)
		fprintf(out, "  %s = \"%s\";\n", algo_settings[i].name,
			*(char *const *)((const char *)&cfg->algo + algo_settings[i].offset));
	fprintf(out, "};\nreport = {\n");
	print_list(out, "  providers", cfg->report.providers);
	fprintf(out, "  aws_url = \"%s\";\n  gcp_url = \"%s\";\n  azure_url = \"%s\";\n", cfg->report.aws_url,
		cfg->report.gcp_url, cfg->report.azure_url);
	fprintf(out, "  metadata_timeout_ms = %d;\n  token_file = \"%s\";\n  retry_for = %d;\n};\n",
		cfg->report.metadata_timeout_ms, cfg->report.token_file, cfg->report.retry_for);
	fprintf(out, "docker = {\n  socket = \"%s\";\n  state_dir = \"%s\";\n};\n", cfg->rt.docker_socket,
		cfg->rt.docker_state_dir);
	fprintf(out, "containerd = {\n  state_dir = \"%s\";\n};\n", cfg->rt.containerd_state_dir);
	print_key_urls(&cfg->key_urls, out);
	fprintf(out, "metrics = {\n  textfile = \"%s\";\n  interval = %d;\n};\n", cfg->metrics.textfile,
		cfg->metrics.interval);
}
