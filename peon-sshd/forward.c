#include "forward.h"
#include "util.h"

#include <errno.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int connect_one(const struct addrinfo *ai, int timeout_ms)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	int one = 1, soerr = 0;
	socklen_t l = sizeof(soerr);
	struct pollfd p;

	if (fd < 0)
		return -errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
		int e = errno;
		close(fd);
		return -e;
	}
	p = (struct pollfd){ .fd = fd, .events = POLLOUT };
	if (poll(&p, 1, timeout_ms) != 1) {
		close(fd);
		return -ETIMEDOUT;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &l) < 0 || soerr) {
		close(fd);
		return soerr ? -soerr : -EIO;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

int forward_connect(const char *host, int port, int timeout_ms, char *err)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV }, *res = NULL;
	char service[16];
	int r, fd = -ENOENT;

	if (port < 1 || port > 65535)
		return errf(err, -EINVAL, "port %d is not a TCP port", port);
	snprintf(service, sizeof(service), "%d", port);
	r = getaddrinfo(host, service, &hints, &res);
	if (r != 0)
		return errf(err, -ENOENT, "cannot resolve %.100s: %s", host, gai_strerror(r));
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = connect_one(ai, timeout_ms);
		if (fd >= 0)
			break;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return errf(err, fd, "cannot connect to %.100s port %d: %s", host, port, strerror(-fd));
	return fd;
}

/* ---- listening (remote forwarding, X11), run in the job-side helper ---- */

static int listen_on(const char *ip, int port, int *bound, char *err)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_PASSIVE };
	struct addrinfo *res = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char serv[8];
	int fd = -1, one = 1, r;

	snprintf(serv, sizeof(serv), "%d", port);
	r = getaddrinfo(ip, serv, &hints, &res);
	if (r != 0)
		return errf(err, -EINVAL, "\"%s\" is not an address: %s", ip, gai_strerror(r));
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = errf(err, -errno, "cannot listen on %s: %s", ip, strerror(errno));
		goto out;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* Both families on one port: the IPv6 socket takes IPv6 only. */
	if (res->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 128) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		r = errf(err, -errno, "cannot listen on %s port %d: %s", ip, port, strerror(errno));
		close(fd);
		goto out;
	}
	*bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port :
						  ((struct sockaddr_in *)&ss)->sin_port);
	r = fd;
out:
	freeaddrinfo(res);
	return r;
}

/* The addresses to bind, as OpenSSH's GatewayPorts decides them: loopback
 * unless the server allows more; with "clientspecified", "" and "*" mean
 * every address, "localhost" loopback, anything else that address. */
static int bind_addresses(const char *addr, int gateway, const char *out[2], char *err)
{
	bool wild = gateway == FORWARD_GATEWAY_YES ||
		    (gateway == FORWARD_GATEWAY_CLIENT && (!*addr || strcmp(addr, "*") == 0));
	bool loop = gateway == FORWARD_GATEWAY_NO || strcmp(addr, "localhost") == 0;
	unsigned char buf[sizeof(struct in6_addr)];

	if (wild || loop) {
		out[0] = wild ? "0.0.0.0" : "127.0.0.1";
		out[1] = wild ? "::" : "::1";
		return 2;
	}
	if (inet_pton(AF_INET, addr, buf) != 1 && inet_pton(AF_INET6, addr, buf) != 1)
		return errf(err, -EINVAL, "the bind address \"%s\" is not an IP address", addr);
	out[0] = addr;
	return 1;
}

int forward_listen(const char *addr, int port, int gateway, int fds[2], int *nfds, int *bound, char *err)
{
	const char *ips[2] = { NULL, NULL };
	int n = bind_addresses(addr, gateway, ips, err), fd;
	char err2[ERRLEN];

	*nfds = 0;
	if (n < 0)
		return n;
	fd = listen_on(ips[0], port, bound, err);
	if (fd < 0 && n == 2) {
		/* A job without IPv4 loopback is odd, but one family is enough. */
		fd = listen_on(ips[1], port, bound, err);
		n = 1;
	}
	if (fd < 0)
		return fd;
	fds[(*nfds)++] = fd;
	/* The second family takes the port the first got; a job without IPv6
	 * (or with that port taken there) keeps the first alone. */
	if (n == 2 && (fd = listen_on(ips[1], *bound, &(int){ 0 }, err2)) >= 0)
		fds[(*nfds)++] = fd;
	return 0;
}

int forward_listen_x11(int offset, int fds[1], int *display, char *err)
{
	for (int n = offset; n < offset + 1000 && 6000 + n <= 65535; n++) {
		int bound, fd = listen_on("127.0.0.1", 6000 + n, &bound, err);

		if (fd >= 0) {
			fds[0] = fd;
			*display = n;
			return 0;
		}
		if (fd != -EADDRINUSE)
			return fd;
	}
	return errf(err, -EADDRINUSE, "no free X11 display from %d on", offset);
}
