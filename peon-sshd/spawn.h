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
	char *const *server_env;      /* what sshd sets: SSH_AUTH_SOCK, DISPLAY, ... (wins over client_env) */
	const char *ssh_connection, *ssh_client;
};

struct spawn_res {
	pid_t pid;                    /* host pid of the started process */
	int in_fd, out_fd, err_fd;    /* with a pty: in/out are the master, err -1 */
	char tty[64];
};

/* The daemon hands over the SFTP server image once (fd -1: unusable, why). */
void spawn_set_sftp_image(int fd, const char *why);
/* ... and busybox-static, the toolbox: the shell of jobs that have none,
 * and the `toolbox` subsystem. Exec'd from the sealed memfd, so no host
 * file is executed in the job and /proc/PID/exe names no host path. */
void spawn_set_toolbox_image(int fd, const char *why);
int spawn_start(const struct spawn_req *rq, struct spawn_res *res, char *err);

#endif
