#include "util.h"
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int read_fd(int fd, size_t max, char **out, size_t *len)
{
	size_t cap = 4096, used = 0;
	char *buf = malloc(cap + 1);

	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (used == cap) {
			char *nb;

			if (cap > max) {
				free(buf);
				return -EFBIG;
			}
			cap *= 2;
			nb = realloc(buf, cap + 1);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
		}
		ssize_t r = read(fd, buf + used, cap - used);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = -errno;
			free(buf);
			return e;
		}
		if (r == 0)
			break;
		used += (size_t)r;
		if (used > max) {
			free(buf);
			return -EFBIG;
		}
	}
	buf[used] = '\0';
	*out = buf;
	if (len)
		*len = used;
	return 0;
}

int read_file(const char *path, size_t max, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	int r;

	if (fd < 0)
		return -errno;
	r = read_fd(fd, max, out, len);
	close(fd);
	return r;
}

size_t bounded_body_write(char *p, size_t sz, size_t n, void *u)
{
	struct bounded_body *b = u;
	size_t add = sz * n;
	char *nb;

	if (add > b->max - b->len) {
		b->too_big = true;
		return 0;
	}
	if (!(nb = realloc(b->buf, b->len + add + 1)))
		return 0;
	b->buf = nb;
	memcpy(b->buf + b->len, p, add);
	b->len += add;
	b->buf[b->len] = '\0';
	return add;
}

int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int write_file_atomic(const char *path, const char *data, size_t len, mode_t mode, enum durability dur)
{
	char tmp[PATH_MAX];
	int fd, r;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return -errno;
	r = write_all(fd, data, len);
	if (r == 0 && fchmod(fd, mode) < 0)
		r = -errno;
	if (r == 0 && dur == DURABLE && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

int parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
	unsigned long v;
	char *end;

	if (!s || !isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (*end != '\0')
		return -EINVAL;
	if (errno == ERANGE || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

bool port_allowed(long port)
{
	return port >= 1024 && port <= 65535;
}

int parse_port(const char *s, int *out)
{
	unsigned long v;
	int r = parse_ulong(s, ULONG_MAX, &v);

	if (r == -ERANGE)
		return -ERANGE;
	if (r < 0)
		return r;
	if (!port_allowed((long)(v > 65536 ? 65536 : v)))
		return -ERANGE;
	*out = (int)v;
	return 0;
}

size_t strv_len(char *const *v)
{
	size_t n = 0;

	while (v && v[n])
		n++;
	return n;
}

int strv_push(char ***v, size_t *n, const char *s)
{
	char **nv = realloc(*v, (*n + 2) * sizeof(char *));
	char *copy;

	if (!nv)
		return -ENOMEM;
	*v = nv;
	copy = strdup(s);
	if (!copy)
		return -ENOMEM;
	nv[(*n)++] = copy;
	nv[*n] = NULL;
	return 0;
}

void strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

int fd_set_nonblock(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -errno;
	fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
	return fcntl(fd, F_SETFL, fl) < 0 ? -errno : 0;
}

int fd_set_cloexec(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFD);

	if (fl < 0)
		return -errno;
	fl = on ? (fl | FD_CLOEXEC) : (fl & ~FD_CLOEXEC);
	return fcntl(fd, F_SETFD, fl) < 0 ? -errno : 0;
}

bool list_has(const char *list, const char *name, size_t len)
{
	for (const char *p = list; p && *p && *p != '\n'; p = strchr(p, ','), p = p ? p + 1 : NULL)
		if (strncmp(p, name, len) == 0 && (p[len] == ',' || p[len] == '\n' || p[len] == '\0'))
			return true;
	return false;
}

char *str_printable(const char *s, size_t max)
{
	char *c = strndup(s ? s : "", max);

	for (size_t i = 0; c && c[i]; i++)
		if ((unsigned char)c[i] < 0x20 || c[i] == 0x7f)
			c[i] = '?';
	return c;
}

bool execution_id_valid(const char *id)
{
	size_t n = 0;

	if (!id || !isalnum((unsigned char)id[0]))
		return false;
	for (; id[n]; n++) {
		unsigned char c = (unsigned char)id[n];
		if (n >= EXECUTION_ID_MAX || (!isalnum(c) && c != '-' && c != '_' && c != '.'))
			return false;
	}
	return true;
}

void sockaddr_split(const struct sockaddr_storage *sa, char *ip, size_t len, int *port)
{
	char buf[INET6_ADDRSTRLEN] = "?";
	const char *shown = buf;

	*port = 0;
	if (sa->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, buf, sizeof(buf));
		*port = ntohs(s6->sin6_port);
		/* IPv4-mapped addresses read better as IPv4. */
		if (strncmp(buf, "::ffff:", 7) == 0 && strchr(buf, '.'))
			shown = buf + 7;
	} else if (sa->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, buf, sizeof(buf));
		*port = ntohs(s4->sin_port);
	}
	snprintf(ip, len, "%s", shown);
}

void endpoints_read(int fd, struct endpoints *ep)
{
	struct sockaddr_storage sa;
	socklen_t l = sizeof(sa);

	memset(ep, 0, sizeof(*ep));
	if (getpeername(fd, (struct sockaddr *)&sa, &l) == 0) {
		sockaddr_split(&sa, ep->remote_ip, sizeof(ep->remote_ip), &ep->remote_port);
		sockaddr_format(&sa, ep->remote, sizeof(ep->remote));
	}
	l = sizeof(sa);
	if (getsockname(fd, (struct sockaddr *)&sa, &l) == 0)
		sockaddr_split(&sa, ep->local_ip, sizeof(ep->local_ip), &ep->local_port);
}

void sockaddr_format(const struct sockaddr_storage *sa, char *out, size_t len)
{
	char ip[INET6_ADDRSTRLEN];
	int port;

	sockaddr_split(sa, ip, sizeof(ip), &port);
	if (strchr(ip, ':'))
		snprintf(out, len, "[%s]:%d", ip, port);
	else
		snprintf(out, len, "%s:%d", ip, port);
}

long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int errf(char *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		va_start(ap, fmt);
		vsnprintf(err, ERRLEN, fmt, ap);
		va_end(ap);
	}
	return code;
}

void signals_reset(void)
{
	sigset_t all;

	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
}

/* Declared in config.h; here because the network child, which has no
 * config.c, names the kinds in its log lines too. */
const char *const chan_idle_names[IDLE_N] = {
	"session", "direct-tcpip", "forwarded-tcpip", "agent-connection", "x11-connection",
};
