/* A container's OCI runtime spec (the bundle's config.json) as the source of
 * the sandbox of every process peon-sshd starts in a Docker/containerd
 * container.
 *
 * runc starts a container's process from its spec and applies the spec's
 * process settings again to every process `runc exec` (so `docker exec`)
 * adds. peon-sshd does the same for its shells: seccomp, capabilities,
 * resource limits, oomScoreAdj, noNewPrivileges, the LSM label and the user
 * come from here; the environment and the working directory come from the
 * live process instead (cwd is read, for callers that want it).
 *
 * Only what those settings need is read; every other member (mounts, hooks,
 * resources, ...) is ignored, present or not. What is read is checked
 * (types, ranges, names) and refused where runc could not have run a
 * process from it either, with a sentence in err naming the member
 * ("process.rlimits[1] ..."). Two differences: a spec without
 * process.user.uid or gid is refused (Go writes both always; runc would
 * take root); a capability name this build does not know is refused, where
 * runc drops it with a warning, as a shell is not to run with other
 * capabilities than its job without anyone being told. */
#ifndef PEON_OCISPEC_H
#define PEON_OCISPEC_H

#include "jobseccomp.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

/* Real specs are a few KiB to a few hundred (long environments, many
 * mounts); a larger file is not one. */
#define OCI_SPEC_MAX_BYTES (4U << 20)
/* Linux has 16 resource limits, and the spec allows one entry for each. */
#define OCI_MAX_RLIMITS 64
/* The kernel's own limit on supplementary groups (NGROUPS_MAX). */
#define OCI_MAX_GIDS 65536
/* An id the kernel can hold: (uid_t)-1 means "unchanged" to it. */
#define OCI_ID_MAX 4294967294U

/* Bounds on linux.seccomp, far above Docker's default profile (one entry of
 * some 350 names and a dozen more). */
#define OCI_SECCOMP_MAX_SYSCALLS 4096   /* entries of syscalls[] */
#define OCI_SECCOMP_MAX_NAMES 16384     /* names over all of them */
#define OCI_SECCOMP_MAX_ARGS 6          /* a syscall has at most 6 arguments */
#define OCI_SECCOMP_MAX_ARCHES 32
#define OCI_SECCOMP_MAX_FLAGS 16

struct oci_rlimit {
	int resource;                  /* RLIMIT_* */
	rlim_t soft, hard;
};

struct oci_spec {
	/* process.user: uid, gid, additionalGids (the gids in spec order). */
	bool has_user;
	uid_t uid;
	gid_t gid;
	gid_t *gids;
	size_t n_gids;
	/* process.capabilities: bit n is capability n (linux/capability.h);
	 * a set the spec does not name is empty. has_caps is false when the
	 * spec has no capabilities member at all. */
	bool has_caps;
	uint64_t bnd, eff, inh, prm, amb;
	/* process.rlimits, one per resource at most, soft <= hard. */
	struct oci_rlimit *rlimits;
	size_t n_rlimits;
	bool no_new_privs;             /* process.noNewPrivileges */
	bool has_oom_score_adj;        /* process.oomScoreAdj, -1000..1000 */
	int oom_score_adj;
	/* process.apparmorProfile, process.selinuxLabel: NULL when absent or
	 * empty (no label asked for). */
	char *apparmor;
	char *selinux;
	char *cwd;                     /* process.cwd, absolute; NULL when absent */
	/* linux.seccomp compiled with libseccomp into one filter, with runc's
	 * rules (see ociseccomp.c); NULL when the spec has none (no seccomp
	 * member, or one with neither a defaultAction nor syscalls, which
	 * runc takes as none). Not runc's: the stub runc puts in front that
	 * answers ENOSYS for syscalls newer than any the profile names (that
	 * would be BPF written by hand); those get the default action. */
	struct job_seccomp *seccomp;
	/* The SECCOMP_FILTER_FLAG_* the spec asks the filter be installed
	 * with: LOG and SPEC_ALLOW. With no flags member at all, SPEC_ALLOW,
	 * which is what runc then asks for. An installer passes them to
	 * seccomp(2) (job_seccomp_install does not). */
	unsigned seccomp_flags;
};

/* Parse len bytes of JSON (no NUL needed; at most OCI_SPEC_MAX_BYTES).
 * 0 and *out, or -errno with err filled and *out NULL. */
int ocispec_parse(const char *json, size_t len, struct oci_spec **out, char *err);
/* Read path (relative to dirfd, or AT_FDCWD) and parse it; a file larger
 * than OCI_SPEC_MAX_BYTES, or not a regular file, is refused. */
int ocispec_load(int dirfd, const char *path, struct oci_spec **out, char *err);
void ocispec_free(struct oci_spec *s);

#endif
