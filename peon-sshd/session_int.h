/* State shared by session.c (connection, auth) and channel.c (channels). */
#ifndef PEON_SESSION_INT_H
#define PEON_SESSION_INT_H

#include "config.h"
#include "log.h"
#include "registry.h"

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/server.h>
#include <stdbool.h>

struct chan;

struct sess {
	const struct peon_config *cfg;
	ssh_session s;
	ssh_event ev;
	int fd, daemon_fd, sigfd;        /* daemon_fd: routeq.h */
	char remote_ip[64], local_ip[64];
	int remote_port, local_port;
	char remote[96];                 /* "ip:port" for logs */
	struct ssh_server_callbacks_struct scb;
	bool authenticated, quit;
	int auth_failures;
	struct execution *exec;          /* the daemon's copy, from the routeq CLAIM answer; owned */
	char *user, *fp, *key_comment;
	struct log_ctx lctx;
	bool pidns_entered, netns_entered;
	struct chan **chans;
	size_t n_chans;
};

/* channel.c */
ssh_channel chan_open_session(ssh_session s, void *userdata);
/* direct-tcpip open request: connect inside the job, then accept or refuse. */
void chan_open_forward(struct sess *ss, ssh_message msg);
/* After each poll round: apply fd watch changes, free finished channels. */
void chan_housekeeping(struct sess *ss);
/* A child process changed state. */
void chan_child_exited(struct sess *ss, pid_t pid, int status);
/* The connection is ending: hang up every job process. */
void chan_hangup_all(struct sess *ss);

#endif
