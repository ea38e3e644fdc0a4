/* One SSH connection, served inside the network child (netchild.c). */
#ifndef PEON_SESSION_H
#define PEON_SESSION_H

#include "config.h"
#include "preauth.h"

#include <libssh/server.h>

struct session_args {
	const struct peon_config *cfg;
	ssh_bind bind;
	ssh_session s;   /* new, options set; freed by the caller */
	int fd;          /* the accepted connection */
	int mon_fd;      /* the monitor (monproto.h): every privileged act is asked of it */
};

/* Runs the connection to its end; returns the process exit code, which
 * tells the monitor (and through it the daemon) how a connection that
 * never authenticated ended (enum session_exit in preauth.h). */
int session_run(const struct session_args *a);

#endif
