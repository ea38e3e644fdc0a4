/* Job processes of a connection, on the "do it inside the job" primitive
 * (jobenter.h): the shell, a command or the SFTP server with a pty or
 * pipes. Run from the monitor; the shorter job-side tasks are jobtask.c's. */
#include "spawn.h"
#include "envbuild.h"
#include "jobenter.h"
#include "pty.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define SPAWN_TIMEOUT_MS 15000
#define PIPE_BYTES (1024 * 1024)

/* The SFTP server image (image.c), loaded by the daemon at start and
 * inherited by every monitor; -1 with the reason when unusable. */
static int sftp_image = -1;
static char sftp_image_error[ERRLEN] = "the SFTP server was not loaded";

void spawn_set_sftp_image(int fd, const char *why)
{
	sftp_image = fd;
	if (why)
		snprintf(sftp_image_error, sizeof(sftp_image_error), "%s", why);
}

static int toolbox_image = -1;
static char toolbox_image_error[ERRLEN] = "the busybox toolbox was not loaded";

void spawn_set_toolbox_image(int fd, const char *why)
{
	toolbox_image = fd;
	if (why)
		snprintf(toolbox_image_error, sizeof(toolbox_image_error), "%s", why);
}

/* ---- child side: everything below runs in the forked child ---- */

static gid_t tty_gid(gid_t fallback)
{
	FILE *f = fopen("/etc/group", "re");
	struct group *gr;
	gid_t g = fallback;

	while (f && (gr = fgetgrent(f)))
		if (strcmp(gr->gr_name, "tty") == 0) {
			g = gr->gr_gid;
			break;
		}
	if (f)
		fclose(f);
	return g;
}

static int setup_pty(const struct spawn_req *rq, int sock, const struct creds *c, char *tty,
		     char *err)
{
	int m, s, r = pty_open(&m, &s, tty, 64, err);

	if (r < 0)
		return r;
	ioctl(s, TIOCSWINSZ, &rq->ws);
	/* As sshd: the terminal belongs to the user, writable by group tty. */
	if (fchown(s, c->uid, tty_gid(c->gid)) < 0 || fchmod(s, 0620) < 0) {
		/* devpts mounted without a gid mapping: the owner is all that matters. */
		if (fchown(s, c->uid, (gid_t)-1) < 0)
			return errf(err, -errno, "cannot give %s to uid %u: %s", tty, (unsigned)c->uid,
				    strerror(errno));
	}
	r = fd_send(sock, m);
	close(m);
	if (r < 0)
		return errf(err, r, "cannot pass the pty to the session: %s", strerror(-r));
	if (setsid() < 0 || ioctl(s, TIOCSCTTY, 0) < 0)
		return errf(err, -errno, "cannot make %s the controlling terminal: %s", tty, strerror(errno));
	if (dup2(s, 0) < 0 || dup2(s, 1) < 0 || dup2(s, 2) < 0)
		return errf(err, -errno, "cannot attach the pty: %s", strerror(errno));
	if (s > 2)
		close(s);
	return 0;
}

static void enter_cwd(const struct spawn_req *rq, const struct job_view *jv, const struct user_info *u)
{
	/* The job's working directory is the point of a debug shell; fall back
	 * to home, then / when the user may not enter it. */
	if (rq->exec->target.type != TARGET_HOST && jv->cwdfd >= 0 && fchdir(jv->cwdfd) == 0)
		return;
	if (chdir(u->home) == 0)
		return;
	if (chdir("/") < 0)
		_exit(126);
}

struct child_fds {
	int in[2], out[2], err[2], sock[2], status[2];
};

static void __attribute__((noreturn)) child_fail(int status_fd, const char *msg)
{
	write_all(status_fd, msg, strlen(msg));
	_exit(126);
}

static char **build_env(const struct spawn_req *rq, const struct job_view *jv,
			const struct user_info *u, const char *tty)
{
	struct env_input in = {
		.base = jv->environ, .base_len = jv->environ_len, .user = u->name, .home = u->home,
		.shell = u->shell, .ssh_connection = rq->ssh_connection, .ssh_client = rq->ssh_client,
		.tty = rq->pty ? tty : NULL, .term = rq->pty ? rq->term : NULL,
		.client_env = rq->client_env, .server_env = rq->server_env,
	};

	return env_build(&in);
}

/* busybox decides the applet by argv[0]: "-sh" is a login shell. Its
 * applets run without files in the job (it re-execs /proc/self/exe, the
 * memfd); the job's own programs still run by path. */
static void __attribute__((noreturn)) exec_toolbox(const struct spawn_req *rq, const struct job_entry *je,
						   char **env, int status_fd)
{
	char *login[] = { "-sh", NULL }, *cmd[] = { "sh", "-c", (char *)rq->command, NULL }, err[ERRLEN];

	if (toolbox_image < 0)
		child_fail(status_fd, toolbox_image_error);
	if (job_seccomp(rq->exec, je, JOB_SECCOMP_LAST, err) < 0)
		child_fail(status_fd, err);
	syscall(SYS_execveat, toolbox_image, "", rq->command ? cmd : login, env, AT_EMPTY_PATH);
	snprintf(err, sizeof(err), "cannot start the busybox toolbox in the job: %s", strerror(errno));
	child_fail(status_fd, err);
}

static void __attribute__((noreturn))
child_main(const struct spawn_req *rq, const struct job_view *jv, struct child_fds *f)
{
	char err[ERRLEN], tty[64] = "", argv0[PATH_MAX + 1];
	struct job_entry je;
	struct user_info *u = &je.u;
	char **env;
	const char *base;

	signals_reset();
	if (job_enter(rq->exec, jv, &je, err) < 0)
		child_fail(f->status[1], err);
	if (rq->pty) {
		if (setup_pty(rq, f->sock[1], &je.c, tty, err) < 0)
			child_fail(f->status[1], err);
	} else {
		if (setsid() < 0 || dup2(f->in[0], 0) < 0 || dup2(f->out[1], 1) < 0 || dup2(f->err[1], 2) < 0)
			child_fail(f->status[1], "cannot attach stdin/stdout/stderr");
	}
	/* Nothing of the monitor may leak into the job. */
	syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
	fd_set_cloexec(f->status[1], true);
	/* The connection's processes end with it, even when the monitor is
	 * killed outright: a hangup, as a terminal's would be. */
	if (job_seccomp(rq->exec, &je, JOB_SECCOMP_PRIVILEGED, err) < 0 || job_become(&je, SIGHUP, true, err) < 0)
		child_fail(f->status[1], err);
	enter_cwd(rq, jv, u);
	if (rq->sftp) {
		/* A fresh image from the sealed memfd: nothing of this process
		 * (its memory, host keys included) stays, and no host file is
		 * executed inside the job. Only HOME is passed: SFTP starts there. */
		char home[PATH_MAX + 8], *argv[] = { "peon-sftp", NULL }, *envp[] = { home, NULL };

		if (sftp_image < 0)
			child_fail(f->status[1], sftp_image_error);
		snprintf(home, sizeof(home), "HOME=%s", u->home);
		if (job_seccomp(rq->exec, &je, JOB_SECCOMP_LAST, err) < 0)
			child_fail(f->status[1], err);
		syscall(SYS_execveat, sftp_image, "", argv, envp, AT_EMPTY_PATH);
		snprintf(err, sizeof(err), "cannot start the SFTP server in the job: %s", strerror(errno));
		child_fail(f->status[1], err);
	}
	env = build_env(rq, jv, u, tty);
	if (!env)
		child_fail(f->status[1], "out of memory building the environment");
	/* The toolbox on request, and for a job with no shell at all
	 * (distroless, scratch, one static binary). */
	if (rq->toolbox || !*u->shell)
		exec_toolbox(rq, &je, env, f->status[1]);
	base = strrchr(u->shell, '/') ? strrchr(u->shell, '/') + 1 : u->shell;
	if (job_seccomp(rq->exec, &je, JOB_SECCOMP_LAST, err) < 0)
		child_fail(f->status[1], err);
	if (rq->command) {
		char *argv[] = { u->shell, "-c", (char *)rq->command, NULL };
		execve(u->shell, argv, env);
	} else {
		char *argv[] = { argv0, NULL };
		snprintf(argv0, sizeof(argv0), "-%s", base);
		execve(u->shell, argv, env);
	}
	snprintf(err, sizeof(err), "cannot run %.256s in the job: %s", u->shell, strerror(errno));
	child_fail(f->status[1], err);
}

/* ---- parent side ---- */

static void close_pair(int p[2])
{
	for (int i = 0; i < 2; i++)
		if (p[i] >= 0) {
			close(p[i]);
			p[i] = -1;
		}
}

static int make_fds(bool pty, struct child_fds *f)
{
	memset(f, -1, sizeof(*f));
	if (pipe2(f->status, O_CLOEXEC) < 0)
		return -errno;
	if (pty)
		return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, f->sock) < 0 ? -errno : 0;
	if (pipe2(f->in, O_CLOEXEC) < 0 || pipe2(f->out, O_CLOEXEC) < 0 || pipe2(f->err, O_CLOEXEC) < 0)
		return -errno;
	/* Bulk transfers: fewer wake-ups per byte with bigger pipes (best effort,
	 * bounded by /proc/sys/fs/pipe-max-size). */
	fcntl(f->in[1], F_SETPIPE_SZ, PIPE_BYTES);
	fcntl(f->out[1], F_SETPIPE_SZ, PIPE_BYTES);
	return 0;
}

static void close_all(struct child_fds *f)
{
	close_pair(f->in);
	close_pair(f->out);
	close_pair(f->err);
	close_pair(f->sock);
	close_pair(f->status);
}

/* The child's status pipe: empty at EOF means execve succeeded. */
static int read_status(int fd, char *err)
{
	char msg[ERRLEN];
	size_t used = 0;
	struct pollfd p = { .fd = fd, .events = POLLIN };

	for (;;) {
		ssize_t n;

		if (poll(&p, 1, SPAWN_TIMEOUT_MS) <= 0)
			return errf(err, -ETIMEDOUT, "timed out starting the shell in the job");
		n = read(fd, msg + used, sizeof(msg) - 1 - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		used += (size_t)n;
		if (used == sizeof(msg) - 1)
			break;
	}
	msg[used] = '\0';
	return used ? errf(err, -EPERM, "%s", msg) : 0;
}

static void take_parent_ends(bool pty, struct child_fds *f, struct spawn_res *res, int master)
{
	if (pty) {
		res->out_fd = master;
		res->in_fd = dup(master);
		res->err_fd = -1;
		fd_set_cloexec(res->in_fd, true);
	} else {
		res->in_fd = f->in[1];
		res->out_fd = f->out[0];
		res->err_fd = f->err[0];
		f->in[1] = f->out[0] = f->err[0] = -1;
	}
	fd_set_nonblock(res->in_fd, true);
	fd_set_nonblock(res->out_fd, true);
	if (res->err_fd >= 0)
		fd_set_nonblock(res->err_fd, true);
}

int spawn_start(const struct spawn_req *rq, struct spawn_res *res, char *err)
{
	struct job_view jv = { .pidfd = -1, .rootfd = -1, .cwdfd = -1, .setgroups_ok = true };
	struct child_fds f;
	int r, master = -1;
	pid_t pid;

	memset(res, 0, sizeof(*res));
	res->in_fd = res->out_fd = res->err_fd = -1;
	if ((r = job_open(rq->exec, &jv, err)) < 0)
		return r;
	r = make_fds(rq->pty, &f);
	if (r < 0) {
		errf(err, r, "cannot create pipes: %s", strerror(-r));
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		r = errf(err, -errno, "cannot start a process in the job: %s", strerror(errno));
		goto out;
	}
	if (pid == 0)
		child_main(rq, &jv, &f);
	close(f.status[1]);
	f.status[1] = -1;
	close(f.sock[1]);
	f.sock[1] = -1;
	if (rq->pty)
		master = fd_recv(f.sock[0], SPAWN_TIMEOUT_MS);
	r = read_status(f.status[0], err);
	if (r == 0 && rq->pty && master < 0)
		r = errf(err, -EPROTO, "the job did not hand back a pty");
	if (r < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		if (master >= 0)
			close(master);
		goto out;
	}
	res->pid = pid;
	take_parent_ends(rq->pty, &f, res, master);
	if (rq->pty) {
		int n = 0;

		if (ioctl(master, TIOCGPTN, &n) == 0)
			snprintf(res->tty, sizeof(res->tty), "/dev/pts/%d", n);
	}
out:
	close_all(&f);
	job_close(&jv);
	return r;
}
