/* The monitor: one root process per connection, forked from the daemon. It
 * never parses network data. It starts the network child (a fresh image,
 * sandboxed, running all of libssh) and does every privileged act the child
 * asks for, after checking the request against what the connection may do:
 * routing and the claim (through the daemon), spawning into the job,
 * signals, job-side connects. */
#ifndef PEON_MONITOR_H
#define PEON_MONITOR_H

#include "config.h"
#include "hostkey.h"

#include <stdbool.h>
#include <sys/types.h>

struct monitor_args {
	const struct peon_config *cfg;
	int daemon_fd;              /* routeq socket to the daemon (routeq.h) */
	int net_image;              /* sealed memfd of peon-sshd-net */
	const struct hostkeys *hk;  /* sealed private key copies: opened here, read only by the child */
	uid_t uid;                  /* the child's uid and gid (privsep.uid_base + slot) */
	gid_t gid;
	const char *empty_dir;
	bool spare;                 /* no connection waits for it yet: start at a low priority */
};

/* Serve the connection to its end; returns the process exit code (enum
 * session_exit; 128 + N when the child died by signal N). */
int monitor_run(const struct monitor_args *a);

#endif
