/* Pseudo-terminals opened inside the job, and passing fds between processes. */
#ifndef PEON_PTY_H
#define PEON_PTY_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/ioctl.h>

/* Open a pty from the /dev/ptmx visible to the caller (the job's, once the
 * caller has entered its mount namespace and root). */
int pty_open(int *master, int *slave, char *name, size_t namelen, char *err);
/* Send/receive one fd over a unix socket (SCM_RIGHTS). recv waits up to timeout_ms. */
int fd_send(int sock, int fd);
int fd_recv(int sock, int timeout_ms);
/* One message of at most len bytes, and the one fd it may carry (*fd, else
 * -1; received close-on-exec). Returns the bytes read, or -errno. */
ssize_t fd_recv_msg(int sock, void *buf, size_t len, int flags, int *fd);

#endif
