/* Job-side tasks (jobtask.h): one process per task, forked from the
 * monitor, that acts inside the job as the job's user and answers with one
 * record (monproto's framing: ok, text, port, and up to two fds). */
#include "jobtask.h"
#include "forward.h"
#include "jobenter.h"
#include "monproto.h"

#include <X11/Xauth.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- in the helper ---- */

static void answer(int sock, bool ok, const char *text, int port, const int *fds, int nfds)
{
	struct mon_buf b;

	mon_buf_init(&b, MON_TASK_RESULT);
	mon_put_u32(&b, ok);
	mon_put_str(&b, text);
	mon_put_u32(&b, (uint32_t)port);
	_exit(mon_send(sock, &b, fds, nfds) < 0 ? 1 : 0);
}

/* A private directory in the job's /tmp (mkdtemp: 0700, the job user's),
 * as sshd makes for the agent socket. */
static int private_dir(char *dir, size_t len, char *err)
{
	snprintf(dir, len, "/tmp/ssh-XXXXXXXXXX");
	if (!mkdtemp(dir))
		return errf(err, -errno, "cannot make a directory in the job's /tmp: %s", strerror(errno));
	return 0;
}

static void task_agent(const struct jobtask *t, int sock)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[64], err[ERRLEN];
	int fd;

	if (private_dir(dir, sizeof(dir), err) < 0)
		answer(sock, false, err, 0, NULL, 0);
	if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", dir, t->agent_name) >= sizeof(sa.sun_path))
		answer(sock, false, "the agent socket's path is too long", 0, NULL, 0);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0) {
		snprintf(err, sizeof(err), "cannot make the agent socket %s in the job: %s", sa.sun_path,
			 strerror(errno));
		rmdir(dir);
		answer(sock, false, err, 0, NULL, 0);
	}
	answer(sock, true, sa.sun_path, 0, &fd, 1);
}

static int unhex(const char *hex, unsigned char *out, size_t max)
{
	size_t n = strlen(hex) / 2;

	if (n > max)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (unsigned char)v;
	}
	return (int)n;
}

/* The client's cookie for display N, as an Xauthority entry that matches
 * any host (FamilyWild): the job's hostname and resolver do not matter.
 * libXau writes the file; the image needs no xauth. */
static int write_xauth(const char *path, const struct jobtask *t, int display, char *err)
{
	unsigned char cookie[256];
	char number[16];
	int n = unhex(t->x11_cookie, cookie, sizeof(cookie)), fd;
	Xauth a = { .family = FamilyWild };
	FILE *f;

	if (n <= 0)
		return errf(err, -EINVAL, "a bad X11 cookie");
	snprintf(number, sizeof(number), "%d", display);
	a.number = number;
	a.number_length = (unsigned short)strlen(number);
	a.name = (char *)t->x11_proto;
	a.name_length = (unsigned short)strlen(t->x11_proto);
	a.data = (char *)cookie;
	a.data_length = (unsigned short)n;
	a.address = (char *)"";
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		if (fd >= 0)
			close(fd);
		return errf(err, -errno, "cannot write %s in the job: %s", path, strerror(errno));
	}
	if (XauWriteAuth(f, &a) != 1 || fclose(f) != 0) {
		unlink(path);
		return errf(err, -EIO, "cannot write %s in the job", path);
	}
	return 0;
}

static void task_x11(const struct jobtask *t, int sock)
{
	char dir[64], path[96], err[ERRLEN];
	int fd, display;

	if (forward_listen_x11(t->display_offset, &fd, &display, err) < 0)
		answer(sock, false, err, 0, NULL, 0);
	if (private_dir(dir, sizeof(dir), err) < 0)
		answer(sock, false, err, 0, NULL, 0);
	snprintf(path, sizeof(path), "%s/Xauthority", dir);
	if (write_xauth(path, t, display, err) < 0) {
		rmdir(dir);
		answer(sock, false, err, 0, NULL, 0);
	}
	answer(sock, true, path, display, &fd, 1);
}

/* Files first, then the directories that held them: as the job's user, so
 * a path the job swapped for something else is removed only if the job
 * could have removed it itself. */
static void task_cleanup(const struct jobtask *t, int sock)
{
	for (size_t i = 0; t->paths && t->paths[i]; i++) {
		char *dir = strdup(t->paths[i]), *slash = dir ? strrchr(dir, '/') : NULL;

		unlink(t->paths[i]);
		if (slash && slash != dir) {
			*slash = '\0';
			rmdir(dir);
		}
		free(dir);
	}
	answer(sock, true, "", 0, NULL, 0);
}

static void task_main(const struct jobtask *t, int sock)
{
	char err[ERRLEN];
	int fds[2], nfds = 0, port = 0, fd;

	switch (t->kind) {
	case JT_CONNECT:
		fd = forward_connect(t->host, t->port, t->timeout_ms, err);
		if (fd < 0)
			answer(sock, false, err, 0, NULL, 0);
		answer(sock, true, "", t->port, &fd, 1);
		break;
	case JT_LISTEN_TCP:
		if (forward_listen(t->host, t->port, t->gateway_ports, fds, &nfds, &port, err) < 0)
			answer(sock, false, err, 0, NULL, 0);
		answer(sock, true, "", port, fds, nfds);
		break;
	case JT_LISTEN_AGENT:
		task_agent(t, sock);
		break;
	case JT_LISTEN_X11:
		task_x11(t, sock);
		break;
	case JT_CLEANUP:
		task_cleanup(t, sock);
		break;
	}
	answer(sock, false, "an unknown job-side task", 0, NULL, 0);
}

/* The same entry as a shell, then the task. Non-dumpable: job processes of
 * the same uid must not reach into it. */
static void __attribute__((noreturn))
helper_main(const struct execution *e, const struct job_view *jv, const struct jobtask *t, int sock)
{
	struct job_entry je;
	char err[ERRLEN];

	signals_reset();
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	prctl(PR_SET_DUMPABLE, 0);
	if (job_enter(e, jv, &je, err) < 0 || job_seccomp(e, &je, JOB_SECCOMP_PRIVILEGED, err) < 0 ||
	    job_become(&je, SIGKILL, false, err) < 0 || job_seccomp(e, &je, JOB_SECCOMP_LAST, err) < 0)
		answer(sock, false, err, 0, NULL, 0);
	/* Nothing of the monitor (its sockets, the job view) stays. */
	if (dup2(sock, 3) < 0)
		_exit(126);
	syscall(SYS_close_range, 4U, ~0U, 0U);
	task_main(t, 3);
	_exit(1);
}

/* ---- in the monitor ---- */

int jobtask_start(const struct execution *e, const struct jobtask *t, pid_t *pid, int *sock, char *err)
{
	struct job_view jv = { .pidfd = -1, .rootfd = -1, .cwdfd = -1, .setgroups_ok = true };
	int sp[2] = { -1, -1 }, r;

	if ((r = job_open(e, &jv, err)) < 0)
		return r;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) {
		r = errf(err, -errno, "cannot create a socket pair: %s", strerror(errno));
		goto out;
	}
	*pid = fork();
	if (*pid < 0) {
		r = errf(err, -errno, "cannot start a process in the job: %s", strerror(errno));
		goto out;
	}
	if (*pid == 0)
		helper_main(e, &jv, t, sp[1]);
	*sock = sp[0];
	sp[0] = -1;
	fd_set_nonblock(*sock, true);
out:
	if (sp[0] >= 0)
		close(sp[0]);
	if (sp[1] >= 0)
		close(sp[1]);
	job_close(&jv);
	return r;
}

int jobtask_result(int sock, struct jobtask_result *res, char *err)
{
	static unsigned char buf[MON_MSG_MAX];
	struct mon_reader r;
	ssize_t n = mon_recv(sock, buf, res->fds, 2, &res->nfds, MSG_DONTWAIT);
	uint32_t ok, port;
	char *text;

	if (n == -EAGAIN)
		return -EAGAIN;
	if (n < 0)
		return errf(err, (int)n, "the job-side helper failed: %s", strerror((int)-n));
	if (n == 0 || res->nfds < 0 || buf[0] != MON_TASK_RESULT) {
		for (int i = 0; i < res->nfds; i++)
			close(res->fds[i]);
		res->nfds = 0;
		return errf(err, -EPROTO, "the job-side helper ended without an answer");
	}
	mon_reader_init(&r, buf + 1, (size_t)n - 1);
	ok = mon_get_u32(&r);
	text = mon_get_str(&r, sizeof(res->text) - 1);
	port = mon_get_u32(&r);
	if (!mon_reader_done(&r) || !ok || port > 65535) {
		int code = ok || !text ? -EPROTO : -ECONNREFUSED;

		for (int i = 0; i < res->nfds; i++)
			close(res->fds[i]);
		res->nfds = 0;
		errf(err, code, "%s", code == -ECONNREFUSED ? text : "a malformed answer from the job-side helper");
		free(text);
		for (char *p = err; *p; p++)
			if ((unsigned char)*p < 0x20)
				*p = '?';
		return code;
	}
	snprintf(res->text, sizeof(res->text), "%s", text);
	free(text);
	res->port = (int)port;
	for (int i = 0; i < res->nfds; i++)
		fd_set_nonblock(res->fds[i], true);
	return 0;
}

int jobtask_run(const struct execution *e, const struct jobtask *t, int timeout_ms, struct jobtask_result *res,
		char *err)
{
	long long end = mono_ms() + timeout_ms;
	pid_t pid;
	int sock, r;

	memset(res, 0, sizeof(*res));
	if ((r = jobtask_start(e, t, &pid, &sock, err)) < 0)
		return r;
	for (;;) {
		struct pollfd p = { .fd = sock, .events = POLLIN };
		long long left = end - mono_ms();

		if (left <= 0) {
			r = errf(err, -ETIMEDOUT, "the job-side helper did not answer");
			break;
		}
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR) {
			r = errf(err, -errno, "poll: %s", strerror(errno));
			break;
		}
		if ((r = jobtask_result(sock, res, err)) != -EAGAIN)
			break;
	}
	close(sock);
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	return r;
}
