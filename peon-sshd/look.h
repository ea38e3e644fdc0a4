/* Asking a container runtime about a target without waiting for it.
 *
 * The Docker engine may take up to DOCKER_TIMEOUT_MS to answer, and the
 * daemon's loop serves every connection and control client: a question to
 * the runtime is asked by a short-lived child, whose one answer the loop
 * reads when it is there (follow.c on a container's restart, addlook.c at
 * `add`). */
#ifndef PEON_LOOK_H
#define PEON_LOOK_H

#include "target.h"
#include "util.h"

#include <sys/types.h>

/* What a look sends back: one write, below PIPE_BUF, so read whole. */
struct look {
	int r;                         /* target_look's */
	char err[ERRLEN];
	struct target_live lv;
};

/* Start a look at t: the read end of its answer (close-on-exec); the
 * child is collected by the daemon's reaper like any other. -errno when
 * it cannot be started. */
int look_start(const struct target *t);

/* The answer on fd (consumed and closed); a child that ended without one
 * reads as an error look. */
void look_read(int fd, struct look *l);

#endif
