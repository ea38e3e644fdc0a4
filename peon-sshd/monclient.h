/* The network child's requests to its monitor (monclient.c). */
#ifndef PEON_MONCLIENT_H
#define PEON_MONCLIENT_H

#include "monproto.h"

#include <libssh/libssh.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sess;
struct chan;
struct lsn_request;

struct monc_auth {
	int result;          /* enum mon_auth_result */
	char *banner;        /* for the client, or "" */
	char *exec_id;       /* claim ok: the execution */
	char *comment;       /* claim ok: the key's comment */
	char *reason;        /* a refusal's reason, for the log */
	char *denied[PERM_N];    /* claim ok: why each permission is refused, NULL: allowed */
};

void monc_init(int fd);
/* The log sink of the child (log.h): every line goes to the monitor. */
void monc_log(int prio, const char *msg);
/* Probe or claim the offered key: 0 with *ans filled, -errno when the
 * monitor did not answer (the caller refuses and the connection ends). */
int monc_auth(struct sess *ss, bool claim, const char *user, ssh_key key, struct monc_auth *ans);
void monc_auth_clear(struct monc_auth *a);
/* Start the channel's shell, command or SFTP server in the job: fds are
 * the pty master (1) or stdin, stdout, stderr (3). -errno with err. */
int monc_spawn(struct sess *ss, const struct chan *c, int kind, const char *command, int fds[3], int *nfds,
	       char *err);
void monc_signal(uint32_t id, int sig);
void monc_hangup(uint32_t id);
void monc_release(uint32_t id);
/* The connection closes next: let the monitor count its bytes first. */
void monc_ending(void);
/* Ask for a connection from inside the job; answered by a MON_CONNECTED
 * record, which monc_read_async hands to chan_direct_connected. */
int monc_connect(uint32_t id, const char *host, int port);
/* A listener in the job (remote forward, agent, X11): waits for the
 * answer. 0 with 1-2 fds, the port (x11: display) and the path made
 * (agent socket, Xauthority; heap, may be ""), or -errno with err. */
int monc_listen(struct sess *ss, uint32_t id, const struct lsn_request *rq, int fds[2], int *nfds, int *port,
		char **path, char *err);
void monc_unlisten(uint32_t id);
/* Take in whatever the monitor sent (process exits, connect answers). */
void monc_read_async(struct sess *ss);
#ifdef PEON_TEST_HOOKS
/* Test builds only: send raw bytes (and an fd) to break the protocol on purpose. */
int monc_raw(const void *p, size_t len, int fd);
#endif

#endif
