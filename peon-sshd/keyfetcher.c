#include "keyfetcher.h"
#include "log.h"
#include "privdrop.h"
#include "util.h"

#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* One fetch in progress; its body goes straight into a memfd. */
struct xfer {
	uint64_t seq;
	CURL *c;
	int memfd;
	size_t len;
	bool too_big, write_failed;
	char errbuf[CURL_ERROR_SIZE];
};

static unsigned in_flight;

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t add = sz * n;

	/* A Content-Length over the limit stops curl before the body
	 * (CURLOPT_MAXFILESIZE_LARGE); this stops one that does not say. */
	if (add > KEYURL_MAX_BYTES - x->len) {
		x->too_big = true;
		return 0;
	}
	if (write_all(x->memfd, p, add) < 0) {
		x->write_failed = true;
		return 0;
	}
	x->len += add;
	return add;
}

/* One record; with memfd >= 0, the fd travels with it. A daemon that went
 * away ends the fetcher. */
static void send_answer(int fd, const struct kf_answer *a, int memfd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = (void *)a, .iov_len = sizeof(*a) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (memfd >= 0) {
		struct cmsghdr *c;

		memset(&u, 0, sizeof(u));
		msg.msg_control = u.buf;
		msg.msg_controllen = sizeof(u.buf);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &memfd, sizeof(int));
	}
	while (sendmsg(fd, &msg, MSG_NOSIGNAL) < 0)
		if (errno != EINTR)
			_exit(0);
}

static void send_error(int fd, uint64_t seq, const char *what)
{
	struct kf_answer a = { .seq = seq };

	snprintf(a.error, sizeof(a.error), "%s", what);
	send_answer(fd, &a, -1);
}

/* What the daemon is told: the body, or one clause saying what went wrong. */
static void finish(CURLM *m, int fd, struct xfer *x, CURLcode rc)
{
	struct kf_answer a = { .seq = x->seq };
	long status = 0;

	curl_easy_getinfo(x->c, CURLINFO_RESPONSE_CODE, &status);
	if (x->too_big || rc == CURLE_FILESIZE_EXCEEDED)
		snprintf(a.error, sizeof(a.error), "the response is larger than %d bytes", KEYURL_MAX_BYTES);
	else if (x->write_failed)
		snprintf(a.error, sizeof(a.error), "cannot keep the response: %s", strerror(errno));
	else if (rc != CURLE_OK)
		snprintf(a.error, sizeof(a.error), "%s", *x->errbuf ? x->errbuf : curl_easy_strerror(rc));
	else if (status >= 300 && status < 400)
		snprintf(a.error, sizeof(a.error), "the server answered HTTP %ld (a redirect; redirects are not followed)",
			 status);
	else if (status < 200 || status > 299)
		snprintf(a.error, sizeof(a.error), "the server answered HTTP %ld", status);
	else
		a.ok = 1, a.body_len = (uint32_t)x->len;
	send_answer(fd, &a, a.ok ? x->memfd : -1);
	curl_multi_remove_handle(m, x->c);
	curl_easy_cleanup(x->c);
	close(x->memfd);
	free(x);
	in_flight--;
}

/* https only where the daemon said https; plain http (loopback, checked by
 * the daemon) never through a proxy, and no redirect anywhere. */
static void set_options(struct xfer *x, const char *url)
{
	bool https = strncasecmp(url, "https:", 6) == 0;

	curl_easy_setopt(x->c, CURLOPT_URL, url);
	curl_easy_setopt(x->c, CURLOPT_PROTOCOLS_STR, https ? "https" : "http");
	curl_easy_setopt(x->c, CURLOPT_FOLLOWLOCATION, 0L);
	if (!https)
		curl_easy_setopt(x->c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(x->c, CURLOPT_CONNECTTIMEOUT_MS, (long)KF_CONNECT_TIMEOUT_MS);
	curl_easy_setopt(x->c, CURLOPT_TIMEOUT_MS, (long)KF_TOTAL_TIMEOUT_MS);
	curl_easy_setopt(x->c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)KEYURL_MAX_BYTES);
	curl_easy_setopt(x->c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(x->c, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->c, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(x->c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->c, CURLOPT_PRIVATE, x);
	curl_easy_setopt(x->c, CURLOPT_USERAGENT, "peon-sshd/" PEON_VERSION);
}

/* A request record: seq, then the URL. */
static void start(CURLM *m, int fd, const char *buf, size_t n)
{
	char url[KEYURL_MAX_LEN + 1];
	struct xfer *x;
	uint64_t seq;

	if (n <= sizeof(seq) || n > KF_REQUEST_MAX)
		_exit(2);      /* not the daemon's: nothing to answer to */
	memcpy(&seq, buf, sizeof(seq));
	memcpy(url, buf + sizeof(seq), n - sizeof(seq));
	url[n - sizeof(seq)] = '\0';
	if (in_flight >= KF_MAX_IN_FLIGHT) {
		send_error(fd, seq, "the key fetcher has too many fetches in flight");
		return;
	}
	if (!(x = calloc(1, sizeof(*x)))) {
		send_error(fd, seq, "the key fetcher is out of memory");
		return;
	}
	x->seq = seq;
	x->memfd = memfd_create("peon-sshd-keys", MFD_CLOEXEC);
	x->c = x->memfd >= 0 ? curl_easy_init() : NULL;
	if (!x->c) {
		send_error(fd, seq, "the key fetcher cannot start a fetch");
		if (x->memfd >= 0)
			close(x->memfd);
		free(x);
		return;
	}
	set_options(x, url);
	curl_multi_add_handle(m, x->c);
	in_flight++;
}

/* Every request waiting; the daemon closing its end ends the fetcher. */
static void take_requests(CURLM *m, int fd)
{
	char buf[KF_REQUEST_MAX + 1];

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0)
			_exit(0);
		start(m, fd, buf, (size_t)n);
	}
}

static void __attribute__((noreturn)) run(int fd)
{
	CURLM *m;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(m = curl_multi_init())) {
		log_err("key fetcher: cannot initialise libcurl");
		_exit(1);
	}
	for (;;) {
		struct curl_waitfd w = { .fd = fd, .events = CURL_WAIT_POLLIN };
		CURLMsg *msg;
		int running, left;

		curl_multi_poll(m, &w, 1, 1000, NULL);
		if (w.revents)
			take_requests(m, fd);
		curl_multi_perform(m, &running);
		while ((msg = curl_multi_info_read(m, &left)))
			if (msg->msg == CURLMSG_DONE) {
				struct xfer *x = NULL;

				curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
				finish(m, fd, x, msg->data.result);
			}
	}
}

/* Before anything from the network: root given up for a uid of its own,
 * no capabilities, no new privileges, not traceable by that uid, no core
 * files, gone with the daemon. */
static int confine(uid_t uid, gid_t gid, pid_t parent, char *err)
{
	struct rlimit none = { 0, 0 };
	int r;

	if (chdir("/") < 0)
		return errf(err, -errno, "chdir /: %s", strerror(errno));
	if ((r = privdrop(uid, gid, "the key fetcher", err)) < 0)
		return r;
	/* Cleared by the uid change: set now, then make sure the daemon did
	 * not die in between. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 || setrlimit(RLIMIT_CORE, &none) < 0)
		return errf(err, -errno, "prctl: %s", strerror(errno));
	if (getppid() != parent)
		return errf(err, -ESRCH, "the daemon is gone");
	prctl(PR_SET_NAME, "peon-keyfetch", 0, 0, 0);
	return 0;
}

pid_t keyfetcher_start(uid_t uid, gid_t gid, void (*close_fds)(void *), void *arg, int *fd)
{
	pid_t parent = getpid(), pid;
	char err[ERRLEN];
	int sp[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		close(sp[0]);
		if (close_fds)
			close_fds(arg);
		signals_reset();
		if (confine(uid, gid, parent, err) < 0) {
			log_err("key fetcher: %s", err);
			_exit(1);
		}
		run(sp[1]);
	}
	close(sp[1]);
	if (pid < 0) {
		close(sp[0]);
		return -1;
	}
	fd_set_nonblock(sp[0], true);
	*fd = sp[0];
	return pid;
}
