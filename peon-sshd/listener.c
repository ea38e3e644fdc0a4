#include "listener.h"
#include "log.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int bind_one(const char *addr, int port, char *err)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	int fd, one = 1, fam;

	if (strchr(addr, ':')) {
		struct sockaddr_in6 *s6 = (void *)&ss;
		fam = s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		inet_pton(AF_INET6, addr, &s6->sin6_addr);
		len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (void *)&ss;
		fam = s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		inet_pton(AF_INET, addr, &s4->sin_addr);
		len = sizeof(*s4);
	}
	fd = socket(fam, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return errno == EAFNOSUPPORT ? -EAFNOSUPPORT :
					       errf(err, -errno, "cannot create a socket for %s: %s", addr, strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* "::" must not swallow IPv4: "0.0.0.0" has its own socket. */
	if (fam == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
		int e = errno;
		close(fd);
		if (e == EADDRINUSE)
			return errf(err, -e, "port %d on %s is already in use by another program", port, addr);
		if (fam == AF_INET6 && (e == EADDRNOTAVAIL || e == EAFNOSUPPORT))
			return -EAFNOSUPPORT;
		return errf(err, -e, "cannot listen on %s port %d: %s", addr, port, strerror(e));
	}
	return fd;
}

int listener_open(struct listener *l, int port, char *const *addrs, size_t n, char *err)
{
	memset(l, 0, sizeof(*l));
	l->port = port;
	for (size_t i = 0; i < n && l->nfds < LISTENER_MAX_ADDRS; i++) {
		int fd = bind_one(addrs[i], port, err);

		if (fd == -EAFNOSUPPORT) {
			log_info("skipping %s: IPv6 is not available on this host", addrs[i]);
			continue;
		}
		if (fd < 0) {
			listener_close(l);
			return fd;
		}
		l->fds[l->nfds++] = fd;
	}
	if (l->nfds == 0)
		return errf(err, -EADDRNOTAVAIL, "no listen address could be used for port %d", port);
	return 0;
}

void listener_close(struct listener *l)
{
	for (int i = 0; i < l->nfds; i++)
		close(l->fds[i]);
	l->nfds = 0;
}
