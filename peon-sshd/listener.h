/* TCP listening sockets: one set (all listen addresses) per port in use. */
#ifndef PEON_LISTENER_H
#define PEON_LISTENER_H

#include <stddef.h>

#define LISTENER_MAX_ADDRS 16
/* The kernel caps it at net.core.somaxconn (4096 by default). Under a
 * connection flood the daemon refuses at accept; with OpenSSH's 128 the
 * flood's own connections fill the queue first and a real user's SYN is
 * dropped, costing them a 1 s retransmit. */
#define LISTEN_BACKLOG 4096

struct listener {
	int port;
	int fds[LISTENER_MAX_ADDRS];
	int nfds;
};

int listener_open(struct listener *l, int port, char *const *addrs, size_t n, char *err);
void listener_close(struct listener *l);

#endif
