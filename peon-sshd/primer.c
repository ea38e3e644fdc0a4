#include "primer.h"
#include "cgroup.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The primer logs nothing (the daemon's log connection is not its own):
 * how it ended says why. */
enum { PRIMER_EXIT_NO_PATH = 2, PRIMER_EXIT_WRITE = 3 };

/* The primer itself: a read of the pipe takes every poke made since the
 * last one, one write takes the lock for all of them. */
static _Noreturn void primer_main(int fd)
{
	struct timespec gap = { .tv_sec = 0, .tv_nsec = PRIMER_GAP_MS * 1000000L };
	char *path = NULL, buf[256];
	sigset_t none;

	prctl(PR_SET_NAME, "peon-sshd-prime");
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	if (cgroup_prime_path(&path) < 0)
		_exit(PRIMER_EXIT_NO_PATH);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n == 0)
			_exit(0);       /* the daemon closed its end */
		if (n < 0 && errno != EINTR)
			_exit(1);
		if (n > 0 && cgroup_procs_write(path) < 0)
			_exit(PRIMER_EXIT_WRITE);
		nanosleep(&gap, NULL);
	}
}

static int primer_start(struct daemon *d)
{
	pid_t parent = getpid(), pid;
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		int r = -errno;

		close(p[0]);
		close(p[1]);
		return r;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(0);
		/* Nothing of the daemon's but stdio and the pipe. */
		if (dup2(p[0], 3) < 0 || close_range(4, ~0U, 0) < 0)
			_exit(1);
		primer_main(3);
	}
	close(p[0]);
	/* A poke never waits: a full pipe already holds one. */
	fcntl(p[1], F_SETFL, O_NONBLOCK);
	d->primer = pid;
	d->primer_fd = p[1];
	return 0;
}

void primer_poke(struct daemon *d)
{
	ssize_t w;
	int r;

	if (d->primer_fd < 0) {
		if (mono_ms() < d->primer_retry_at)
			return;
		if ((r = primer_start(d)) < 0) {
			d->primer_retry_at = mono_ms() + PRIMER_RESTART_MS;
			log_warn("cannot start the cgroup primer: %s; a shell into a job may wait up to 20 ms "
				 "longer", strerror(-r));
			return;
		}
	}
	w = write(d->primer_fd, "p", 1);
	/* Failing is fine: a full pipe holds pokes already, and a primer that
	 * ended is reaped (primer_reaped), which closes the pipe. */
	(void)w;
}

static const char *why_ended(int status)
{
	if (WIFEXITED(status) && WEXITSTATUS(status) == PRIMER_EXIT_NO_PATH)
		return "it found no cgroup.procs file of its own in /proc/self/cgroup and mountinfo";
	if (WIFEXITED(status) && WEXITSTATUS(status) == PRIMER_EXIT_WRITE)
		return "it could not write its own cgroup.procs file";
	return WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "it exited";
}

bool primer_reaped(struct daemon *d, pid_t pid, int status)
{
	if (pid != d->primer || pid <= 0)
		return false;
	d->primer = 0;
	primer_close_inherited(d);
	if (!d->stopping) {
		d->primer_retry_at = mono_ms() + PRIMER_RESTART_MS;
		log_warn("the cgroup primer ended (%s); a shell into a job may wait up to 20 ms longer until it "
			 "is started again, at most every %d s", why_ended(status), PRIMER_RESTART_MS / 1000);
	}
	return true;
}

void primer_close_inherited(struct daemon *d)
{
	if (d->primer_fd >= 0)
		close(d->primer_fd);
	d->primer_fd = -1;
}

void primer_stop(struct daemon *d)
{
	primer_close_inherited(d);
	if (d->primer > 0) {
		kill(d->primer, SIGKILL);
		while (waitpid(d->primer, NULL, 0) < 0 && errno == EINTR)
			;
		d->primer = 0;
	}
}
