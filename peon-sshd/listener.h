/* TCP listening sockets: one set (all listen addresses) per port in use. */
#ifndef PEON_LISTENER_H
#define PEON_LISTENER_H

#include <stddef.h>

#define LISTENER_MAX_ADDRS 16

struct listener {
	int port;
	int fds[LISTENER_MAX_ADDRS];
	int nfds;
};

int listener_open(struct listener *l, int port, char *const *addrs, size_t n, char *err);
void listener_close(struct listener *l);

#endif
