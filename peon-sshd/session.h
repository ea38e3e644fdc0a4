/* One SSH connection, served by its own forked process. */
#ifndef PEON_SESSION_H
#define PEON_SESSION_H

#include "config.h"
#include "preauth.h"

#include <libssh/server.h>

struct session_args {
	const struct peon_config *cfg;
	ssh_bind bind;
	int fd;          /* the accepted connection */
	int daemon_fd;   /* routeq socket to the daemon: which execution a key reaches (routeq.h) */
};

/* Runs the connection to its end; returns the process exit code, which
 * tells the daemon how a connection that never authenticated ended
 * (enum session_exit in preauth.h). */
int session_run(const struct session_args *a);

#endif
