/* A container's OCI spec over what its live process shows.
 *
 * For a --docker or --containerd execution whose bundle can be found
 * (target_bundle), the spec the container was started from decides the
 * sandbox of every process peon-sshd starts in it, as `runc exec` applies
 * it to what `docker exec` starts: the user and groups, capability sets,
 * no_new_privs, resource limits, oom_score_adj, the LSM label and the
 * seccomp filter. The live process decides the environment and the working
 * directory (what the job changed since it started is what the user wants
 * to see). Where the spec is silent (no capabilities member, no LSM label)
 * the live process's value stays: never more than the job has.
 * Without a bundle (a runtime whose state is elsewhere) the live process
 * decides everything, as for --pid. */
#ifndef PEON_JOBSPEC_H
#define PEON_JOBSPEC_H

#include "jobenter.h"

/* Overlay e's spec on jv (monitor side, after the live process is read).
 * 0 when applied or when there is no spec to apply; -errno with err when
 * a spec exists but cannot be read or used: the operation is refused. */
int job_spec_apply(const struct execution *e, struct job_view *jv, char *err);

#endif
