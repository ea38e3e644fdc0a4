/* What the execution's log receives: the connect lines on activation, a
 * line per session opened and closed, and one when access ends. Each line
 * goes to the execution's --log-file (appended), to journald, and, for a
 * --log-url, into a spool that the reporter process delivers. */
#ifndef PEON_REPORT_H
#define PEON_REPORT_H

#include "config.h"
#include "registry.h"

#include <stddef.h>

#define REPORT_LINE_MAX 2048

struct hostkey_info {
	char type[64];        /* "ssh-ed25519" */
	char fingerprint[128];
	char *b64;            /* public key blob, base64 */
};

/* The three activation lines of DESIGN.md, exactly. */
/* shell: the program the connect line runs ("/bin/bash" where the job has
 * it, else the job user's shell), or "" for the login shell alone. */
int report_activation_lines(const char *addr, int port, const char *shell, const struct hostkey_info *hk,
			    char lines[3][REPORT_LINE_MAX]);
/* "[addr]:port type base64": what a client's known_hosts needs for hk; -E2BIG
 * when it does not fit in len. */
int report_known_hosts_line(const char *addr, int port, const struct hostkey_info *hk, char *out, size_t len);
/* The connect command alone (also returned by `peon-sshctl add`). */
void report_connect_command(const char *addr, int port, const char *shell, char *out, size_t len);

/* Open an execution's log file for appending: created 0640, never through a
 * symlink, never truncated. An fd or -1 with errno. */
int report_open_log(const char *path);

/* Deliver one line for execution e; never blocks on the network. extra: more
 * journald fields or NULL. */
void report_line(const struct peon_config *cfg, const struct execution *e, const char *line,
		 const char *const *extra);

#endif
