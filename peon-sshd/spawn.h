/* Starting a command or shell inside the execution's job. */
#ifndef PEON_SPAWN_H
#define PEON_SPAWN_H

#include "registry.h"

#include <stdbool.h>
#include <sys/ioctl.h>
#include <sys/types.h>

struct spawn_req {
	const struct execution *exec;
	bool pty;
	const char *term;
	struct winsize ws;
	const char *command;          /* NULL: the user's login shell */
	bool sftp;                    /* serve SFTP in-process instead of exec */
	bool toolbox;                 /* busybox's shell from its memfd, even where the job has a shell */
	char *const *client_env;      /* accepted env requests */
	const char *ssh_connection, *ssh_client;
};

struct spawn_res {
	pid_t pid;                    /* host pid of the started process */
	int in_fd, out_fd, err_fd;    /* with a pty: in/out are the master, err -1 */
	char tty[64];
};

/* Connect to host:port from inside the job, as the job's user, in a
 * short-lived process (the name is resolved with the job's files). Returns
 * at once: *sock becomes readable when the answer is there. */
int spawn_connect(const struct execution *exec, const char *host, int port, int timeout_ms, pid_t *pid,
		  int *sock, char *err);
/* The answer: 0 with *fd connected (non-blocking), -EAGAIN not yet, or
 * -errno with err saying why. */
int spawn_connect_result(int sock, int *fd, char *err);

/* The daemon hands over the SFTP server image once (fd -1: unusable, why). */
void spawn_set_sftp_image(int fd, const char *why);
/* ... and busybox-static, the toolbox: the shell of jobs that have none,
 * and the `toolbox` subsystem. Exec'd from the sealed memfd, so no host
 * file is executed in the job and /proc/PID/exe names no host path. */
void spawn_set_toolbox_image(int fd, const char *why);
int spawn_start(const struct spawn_req *rq, struct spawn_res *res, char *err);

#endif
