/* containerd's own state, read from its files: the running task of a
 * container (its init pid) and its bundle (the OCI spec it was started
 * from). No gRPC client is needed: containerd's runtime-v2 shims keep, per
 * task, STATE_DIR/NAMESPACE/ID/{init.pid,config.json} (Kubernetes pods use
 * namespace "k8s.io", Docker 20.10+ namespace "moby"). */
#ifndef PEON_CONTAINERD_H
#define PEON_CONTAINERD_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* containerd's identifier rule (namespaces and ids alike): at most 76
 * characters, runs of letters and digits joined by single '.', '_' or '-'. */
#define CONTAINERD_NAME_MAX 76
#define CONTAINERD_REF_MAX (2 * CONTAINERD_NAME_MAX + 1)

bool containerd_name_valid(const char *s, size_t n);
/* "NAMESPACE/ID", each a valid name. */
bool containerd_ref_valid(const char *ref);

/* The task directory of ns/id under state_dir into out. */
int containerd_task_dir(const char *state_dir, const char *ref, char *out, size_t len, char *err);
/* The task's init pid. -ENOENT (err: "not running") when ns/id has no
 * task: the container is stopped, was removed, or never ran here. */
int containerd_task_pid(const char *state_dir, const char *ref, pid_t *pid, char *err);

#endif
