/* The job's LSM label on every process started in it, as runc gives `docker
 * exec`: the job's AppArmor profile or SELinux context, taken at the
 * shell's execve.
 *
 * Done by writing /proc/self/attr/exec ("exec PROFILE" for AppArmor, the
 * context for SELinux): that one write is all aa_change_onexec() and
 * setexeccon() do, and libapparmor/libselinux are not among the project's
 * dependencies. */
#ifndef PEON_JOBLSM_H
#define PEON_JOBLSM_H

#include <stddef.h>
#include <sys/types.h>

enum lsm_kind { LSM_NONE, LSM_APPARMOR, LSM_SELINUX };

#define JOB_LABEL_MAX 4096

struct job_label {
	enum lsm_kind kind;
	char exec[JOB_LABEL_MAX];      /* what to write to attr/exec; "" when nothing is to change */
};

/* The LSM the kernel enforces, from /sys/kernel/security/lsm ("lockdown,
 * capability,apparmor"); NULL or empty: none. AppArmor first when both. */
enum lsm_kind lsm_from_list(const char *list);

/* The decision, from the job's attr/current (len bytes, not NUL-terminated):
 * AppArmor "PROFILE (MODE)" gives "exec PROFILE", "unconfined" nothing;
 * SELinux gives the context itself. -EINVAL (err says why) for text that
 * names no label: the caller refuses the spawn. */
int lsm_exec_label(enum lsm_kind kind, const char *current, size_t len, struct job_label *out, char *err);

/* Monitor side: the running kernel's LSM and pid's label. */
int job_label_read(pid_t pid, struct job_label *out, char *err);
/* Child side, before execve: ask for the label at exec. */
int job_label_apply(const struct job_label *l, char *err);

#endif
