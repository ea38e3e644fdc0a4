/* The "do it inside the job" primitive. Every job-side operation (a shell
 * or command, the SFTP server, a direct-tcpip connect; later listeners and
 * unix sockets) is a process the monitor forks that, in this order:
 *   job_open()  (monitor, before fork)  reads the job from /proc/PID behind
 *               a pidfd: namespaces that differ, user-namespace maps, ids,
 *               root and cwd directories, environment, resource limits,
 *               umask and oom_score_adj;
 *   job_enter() (child, privileged)     takes the job's limits, umask and
 *               oom_score_adj, joins the job's cgroups and, in one
 *               setns(pidfd), its namespaces, chroots to its root, resolves
 *               the user from the job's own /etc/passwd and works out the
 *               credentials (uid, gid, groups, capability sets no wider than
 *               the job's);
 *   ...         the operation's own privileged step (a pty from the job's
 *               devpts, given to the user);
 *   job_become() (child)                takes those credentials and sets the
 *               parent-death signal (which the credential change would
 *               clear) and, for helpers, not-dumpable;
 *   ...         the operation itself, handing fds back over SCM_RIGHTS.
 * spawn.c (shell, exec, SFTP) and the connect helper are built on it. */
#ifndef PEON_JOBENTER_H
#define PEON_JOBENTER_H

#include "caps.h"
#include "cgroup.h"
#include "joblsm.h"
#include "procinfo.h"
#include "registry.h"

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

/* What the monitor learns about the job before forking. */
struct job_view {
	pid_t pid;
	int pidfd, rootfd, cwdfd;
	int nsflags;                  /* namespaces that differ from ours */
	struct proc_status st;        /* ids already translated into the job's user ns */
	bool userns, setgroups_ok;
	struct idmap uidmap, gidmap;
	char *environ;
	size_t environ_len;
	/* What the shell inherits from the job, not from the daemon: the
	 * job's resource limits, umask and oom_score_adj (for --host: PID 1's
	 * limits, umask 0022 and oom_score_adj 0, as a service would get). */
	struct proc_limits limits;
	mode_t umask;
	int oom_score_adj;
	struct job_label label;       /* its AppArmor profile / SELinux context, taken at exec */
	struct cgroup_plan cg;        /* the cgroups to join, and whether they are frozen */
	/* A container's spec decided the sandbox (jobspec.h); its seccomp
	 * filter, installed instead of the execution's copied one. */
	bool from_spec;
	struct job_seccomp *seccomp;
};

struct user_info {
	char name[256], home[PATH_MAX], shell[PATH_MAX];
	uid_t uid;
	gid_t gid;
	bool found;
};

/* What job_enter() worked out, for the operation and job_become(). */
struct job_entry {
	struct user_info u;
	struct creds c;
	const struct job_seccomp *seccomp;   /* the filters to install: the spec's or the copied ones */
};

/* Read the job (monitor side); for a --host execution only the limits,
 * umask and oom_score_adj. -errno with err. */
int job_open(const struct execution *e, struct job_view *jv, char *err);
void job_close(struct job_view *jv);
/* The caller itself joins one namespace of the job: "pid" (CLONE_NEWPID)
 * makes its future children members of the job's pid namespace. */
int job_enter_ns(const struct execution *e, const char *ns, int flag, char *err);

/* In the forked child: see the top of this file. */
int job_enter(const struct execution *e, const struct job_view *jv, struct job_entry *je, char *err);
int job_become(const struct job_entry *je, int pdeathsig, bool dumpable, char *err);

/* Who a shell of e runs as: the user name and uid inside the job (--user,
 * else the job process's own user, named from the job's /etc/passwd, or
 * the number when it names none). For session lines and `sessions`. */
struct job_identity {
	char name[256];
	unsigned long uid;
};
int job_identity(const struct execution *e, struct job_identity *id, char *err);
/* Does the job's /etc/passwd name user? Read inside the job's root
 * (RESOLVE_IN_ROOT): symlinks in the image cannot reach the host. */
bool job_has_user(pid_t pid, const char *user);
/* Load the worker's NSS modules for users and groups into the calling
 * process (the daemon, at start): a --host shell's helper resolves its
 * user with getpwnam and getgrouplist, and in a process that has never
 * used them that maps and relocates the modules (nss-systemd and libm on
 * Debian) in every helper, about a millisecond of each host login on a
 * 2-core worker. Forked monitors and their helpers inherit them loaded. */
void job_load_host_nss(void);
/* The program the connect line names: "/bin/bash" when the job has it,
 * else its user's shell when that exists, else "" (the login shell, the
 * busybox toolbox in a job with none). Into buf; returns buf. */
const char *job_connect_shell(const struct execution *e, char *buf, size_t len);

/* The job's seccomp filters (jobseccomp.h), at the latest point the job
 * allows. A job with no_new_privs gets them right before the operation
 * (JOB_SECCOMP_LAST, after job_become). Without no_new_privs installing
 * needs CAP_SYS_ADMIN, so they go in before job_become
 * (JOB_SECCOMP_PRIVILEGED) and the credential change that follows must be
 * allowed by them: runc's order. Each call installs at most once. */
enum job_seccomp_when { JOB_SECCOMP_PRIVILEGED, JOB_SECCOMP_LAST };
int job_seccomp(const struct execution *e, const struct job_entry *je, enum job_seccomp_when when, char *err);

#endif
