/* The "do it inside the job" primitive. Every job-side operation (a shell
 * or command, the SFTP server, a direct-tcpip connect; later listeners and
 * unix sockets) is a process the monitor forks that, in this order:
 *   job_open()  (monitor, before fork)  reads the job from /proc/PID behind
 *               a pidfd: namespaces that differ, user-namespace maps, ids,
 *               root and cwd directories, environment;
 *   job_enter() (child, privileged)     joins the job's cgroups and, in one
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
};

/* TARGET_PID only: read the job (monitor side). -errno with err. */
int job_open(const struct execution *e, struct job_view *jv, char *err);
void job_close(struct job_view *jv);
/* The caller itself joins one namespace of the job: "pid" (CLONE_NEWPID)
 * makes its future children members of the job's pid namespace. */
int job_enter_ns(const struct execution *e, const char *ns, int flag, char *err);

/* In the forked child: see the top of this file. */
int job_enter(const struct execution *e, const struct job_view *jv, struct job_entry *je, char *err);
int job_become(const struct job_entry *je, int pdeathsig, bool dumpable, char *err);

#endif
