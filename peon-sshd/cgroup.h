/* Joining the job's cgroups (v1 hierarchies and the v2 unified tree), so the
 * debug shell is accounted and limited with the job. */
#ifndef PEON_CGROUP_H
#define PEON_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* From /proc/PID/cgroup and our /proc/self/mountinfo, the cgroup.procs files
 * to write. Hierarchies we do not have mounted are skipped. Heap strv. */
int cgroup_procs_paths(const char *proc_cgroup, const char *mountinfo, char ***out, size_t *n);
/* Of job_cg's cgroup.procs files, those self_cg is not already in: a
 * write that changes nothing still takes the kernel's global lock on
 * cgroup migration (an RCU grace period, 10-20 ms on a cgroup v1 host)
 * for every shell started. Heap strv; < 0 when either cannot be parsed. */
int cgroup_paths_to_join(const char *job_cg, const char *self_cg, const char *mountinfo, char ***out,
			 size_t *n);
/* The files that say whether the job is paused: freezer.state (v1) and
 * cgroup.events (v2), as cgroup_procs_paths finds cgroup.procs. */
int cgroup_freeze_paths(const char *proc_cgroup, const char *mountinfo, char ***out, size_t *n);
/* Does one of those files (named by path) say frozen or freezing? */
bool cgroup_state_frozen(const char *path, const char *text);
/* What an operation needs of the job's cgroups, read once before the fork
 * that runs it: the fork inherits our cgroups, so what we compute for
 * ourselves holds for it, and it does not read /proc and mountinfo again
 * on the way into the job. */
struct cgroup_plan {
	char **join;            /* cgroup.procs files to write, NULL-terminated */
	size_t n_join;
	bool frozen;            /* in a frozen cgroup (docker pause, a frozen pod) */
};
int cgroup_plan_read(pid_t pid, struct cgroup_plan *p, char *err);
/* Move the calling process into the planned cgroups. err names the failure. */
int cgroup_plan_join(const struct cgroup_plan *p, char *err);
void cgroup_plan_free(struct cgroup_plan *p);
/* Write "0" into a cgroup.procs file: the writer moves into that cgroup.
 * Every write takes the kernel's migration lock (cgroup_threadgroup_rwsem),
 * whose writer first waits for an RCU grace period unless a writer held it
 * within about the last one; a write into the writer's own cgroup takes
 * the lock and moves nothing (primer.h). 0 or -errno. */
int cgroup_procs_write(const char *path);
/* The cgroup.procs file of our own first hierarchy, for that primer's
 * write. Heap string. */
int cgroup_prime_path(char **out);

#endif
