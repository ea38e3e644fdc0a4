/* A runtime's answer from a child (look.h). */
#include "look.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

_Static_assert(sizeof(struct look) <= 4096, "a look's answer must fit one pipe write");

int look_start(const struct target *t)
{
	pid_t pid;
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid == 0) {
		struct look l = { 0 };

		close(p[0]);
		l.r = target_look(t, &l.lv, l.err);
		_exit(write(p[1], &l, sizeof(l)) == (ssize_t)sizeof(l) ? 0 : 1);
	}
	close(p[1]);
	if (pid < 0) {
		int e = errno;

		close(p[0]);
		return -e;
	}
	return p[0];
}

void look_read(int fd, struct look *l)
{
	ssize_t n = read(fd, l, sizeof(*l));

	close(fd);
	if (n != (ssize_t)sizeof(*l)) {
		l->r = -EIO;
		snprintf(l->err, sizeof(l->err), "the look at the container ended without an answer");
	}
}
