/* peon-sshd's own settings (libconfig) plus DEBUG_PORT from peon.config. */
#ifndef PEON_CONFIG_H
#define PEON_CONFIG_H

#include "preauth.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define DEFAULT_CONFIG "/etc/peon-sshd/peon-sshd.conf"
#define PRIVSEP_UID_BASE 2147418112LL   /* 0x7FFF0000 */
#define PRIVSEP_UID_COUNT 32768
#define PRIVSEP_UID_MAX 2147483646LL

/* Channel kinds that may be closed when idle (OpenSSH's ChannelTimeout
 * names them so). */
enum chan_idle_kind { IDLE_SESSION, IDLE_DIRECT_TCPIP, IDLE_FORWARDED_TCPIP, IDLE_AGENT, IDLE_X11, IDLE_N };
extern const char *const chan_idle_names[IDLE_N];

struct limits {
	int login_grace_time;       /* seconds from accept to authenticated */
	int max_auth_tries;         /* failed userauth requests per connection */
	/* MaxStartups start:rate:full: from start unauthenticated connections
	 * on, rate% of new ones are dropped, rising linearly to all at full.
	 * A plain number N (earlier configurations) is N:100:N, a hard cap. */
	int max_startups_start, max_startups_rate;
	int max_startups;           /* full */
	int per_source_max_startups;    /* unauthenticated connections per source; 0 = no limit */
	int per_source_prefix_ipv4;     /* address bits that make a source (limits and penalties) */
	int per_source_prefix_ipv6;
	uint64_t rekey_data;        /* bytes per key, 0 = libssh's per-cipher default (RFC 4344) */
	int rekey_time;             /* seconds per key, 0 = no time limit */
	int max_sessions;           /* session channels per connection (OpenSSH's MaxSessions) */
	int max_forwards;           /* forward channels (direct-tcpip, ...) open at once per connection */
	int max_connections;        /* authenticated connections per execution */
	int max_executions;
	int max_keys;               /* keys per execution */
	int client_alive_interval;  /* seconds; 0 = off */
	int client_alive_count_max;
	int channel_timeout[IDLE_N];    /* seconds without traffic before a channel is closed; 0 = never */
	int unused_connection_timeout;  /* seconds without channels or listeners before closing; 0 = never */
};

/* What forwarding the server offers at all (sshd_config's AllowTcpForwarding,
 * AllowAgentForwarding, X11Forwarding, GatewayPorts, X11DisplayOffset).
 * Executions and key options can only take more away. */
enum gateway_ports { GATEWAY_NO, GATEWAY_YES, GATEWAY_CLIENTSPECIFIED };
struct forwarding {
	bool local, remote, agent, x11;
	int gateway_ports;
	int x11_display_offset;
	int max_listeners;          /* remote forwards, agent and X11 listeners per connection */
};

/* PerSourcePenalties and PerSourcePenaltyExemptList (seconds). */
struct penalties {
	bool enabled;
	int crash, authfail, noauth, grace_exceeded;
	int max, min;
	int max_sources;            /* penalised sources tracked per address family */
	struct preauth_net *exempt;
	size_t n_exempt;
};

/* The network children's uids and gids: uid_base + slot, one slot per live
 * connection, so children cannot signal or trace each other. */
struct privsep {
	long long uid_base;
	int uid_count;
};

struct algorithms {
	char *kex, *ciphers, *macs, *host_keys, *pubkeys;
};

/* Where the connect lines go and how the address is found (issue: report). */
struct report_cfg {
	char **providers;           /* metadata services to ask, in order: aws, gcp, azure */
	size_t n_providers;
	char *aws_url, *gcp_url, *azure_url;
	int metadata_timeout_ms;
	char *token_file;           /* bearer token for log URLs, "" = none */
	int retry_for;              /* seconds a log URL line is retried */
};

/* Where the container runtimes are reached (docker.h, containerd.h). */
struct runtimes {
	char *docker_socket;        /* the Docker Engine API's unix socket */
	char *docker_state_dir;     /* Docker's containerd task bundles ("moby" namespace); "" = the usual places */
	char *containerd_state_dir; /* containerd's runtime-v2 task state, one directory per namespace */
};

/* When key URLs are fetched again (keyurls.h), in seconds. */
struct key_urls_cfg {
	int refresh;                /* every execution's URLs, this often; 0 = never */
	int min_age;                /* an unknown key refreshes URLs not fetched for this long */
};

/* The Prometheus text file for node_exporter's textfile collector. */
struct metrics_cfg {
	char *textfile;             /* absolute path ending in .prom; "" = not written (the default) */
	int interval;               /* seconds between rewrites while counters move */
};

struct peon_config {
	char *path;                 /* the libconfig file read, or NULL */
	char *peon_config;          /* env-style worker file */
	int debug_port;             /* default port for executions */
	char *debug_port_source;    /* "file:line" or "built-in default" */
	char **listen_address;
	size_t n_listen;
	char *host_key_dir;
	char *runtime_dir;
	char *control_socket;       /* default <runtime_dir>/control.sock */
	int control_socket_mode;
	char *advertise_address;
	char *log_level;
	char **accept_env;          /* fnmatch patterns for env requests */
	size_t n_accept_env;
	struct limits limits;
	struct forwarding fwd;
	struct penalties penalties;
	struct privsep privsep;
	struct algorithms algo;
	struct report_cfg report;
	struct runtimes rt;
	struct key_urls_cfg key_urls;
	struct metrics_cfg metrics;
};

/* Load path (NULL or missing default file = built-in defaults) and the
 * peon.config it names. On error returns <0 with err naming file:line. */
int config_load(const char *path, bool path_explicit, struct peon_config *cfg, char *err);
void config_free(struct peon_config *cfg);
void config_print(const struct peon_config *cfg, FILE *out);

#endif
