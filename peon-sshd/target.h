/* Which process is the job now.
 *
 * A --pid execution is one process for its whole life. A --docker or
 * --containerd execution follows its container: each restart gives the
 * container a new process, and every job-side operation (a shell, SFTP, a
 * forward) enters the process the runtime names at that moment, asked
 * again each time (the daemon's copy of the pid is only a hint). The
 * runtime's word also says why there is none: paused, restarting,
 * stopped, removed. */
#ifndef PEON_TARGET_H
#define PEON_TARGET_H

#include "config.h"
#include "registry.h"
#include "util.h"

#include <stdbool.h>
#include <sys/types.h>

enum target_state {
	TARGET_RUNNING,
	TARGET_PAUSED,        /* frozen: a process entering it would hang */
	TARGET_RESTARTING,    /* the runtime will start it again */
	TARGET_STOPPED,       /* exited, or (containerd) no task */
	TARGET_REMOVED,       /* the runtime knows no such container any more */
};

struct target_live {
	enum target_state state;
	pid_t pid;                          /* TARGET_RUNNING/PAUSED */
	unsigned long long starttime;
	char id[TARGET_ID_MAX + 1];         /* --docker: the container's full id */
	char user[256];                     /* --docker: Config.User ("" = the image's) */
	char why[ERRLEN];                   /* not running: one sentence ("the container stopped (exit code 0)") */
};

/* The runtimes' sockets and state directories, from the configuration:
 * set by the daemon at start and reload; monitors inherit them. */
int target_configure(const struct runtimes *rt, char *err);

/* Ask the runtime about t. <0 (err) only when it cannot be asked; a
 * container that is not running is an answer (lv->state, lv->why). */
int target_look(const struct target *t, struct target_live *lv, char *err);

/* Point t at the job's process now. -EAGAIN with lv's sentence in err
 * when the job has none that can be entered (paused, restarting, gone). */
int target_refresh(struct target *t, char *err);

/* The directory holding the OCI bundle (config.json) the container's
 * process was started from. -ENOENT for targets without one (--pid,
 * --host) or when the runtime's state has none. */
int target_bundle(const struct target *t, char *out, size_t len, char *err);

#endif
