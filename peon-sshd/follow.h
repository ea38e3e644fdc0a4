/* The daemon follows a --docker or --containerd execution's container
 * across restarts.
 *
 * It watches the container's process through a pidfd, as it watches a
 * --pid job. When that process exits the container may be restarting
 * (`docker restart`, a restart policy), stopped or removed, and only the
 * runtime knows which. The daemon asks it from a short-lived child (an
 * HTTP request to a slow engine must never hold up the event loop) and
 * acts on the answer:
 *   running again:  the execution follows the new process (its pidfd, its
 *                   record, a line in the execution log);
 *   restarting:     ask again each second, for as long as it restarts;
 *   stopped:        ask again for FOLLOW_SETTLE_MS (`docker restart` is a
 *                   stop and then a start: between them the container
 *                   reads "exited"), then access ends, with the reason;
 *   removed:        access ends at once;
 *   no answer:      ask again each second; after FOLLOW_UNREACHABLE_MS
 *                   access ends (nothing can be entered meanwhile: every
 *                   login asks the runtime too, target.h).
 * Sessions of the old process ended with it: a container's processes die
 * with its pid namespace. */
#ifndef PEON_FOLLOW_H
#define PEON_FOLLOW_H

#include "daemon.h"

#define FOLLOW_SETTLE_MS 5000
#define FOLLOW_RETRY_MS 200
#define FOLLOW_RESTARTING_MS 1000
#define FOLLOW_UNREACHABLE_MS 60000

/* e's process has exited (its pidfd is readable): start following. */
void follow_begin(struct execution *e);
/* Start the looks that are due; the poll timeout until the next one (-1: none). */
int follow_run(struct daemon *d);
/* A look's answer is readable on fd. */
void follow_answer(struct daemon *d, int fd);

#endif
