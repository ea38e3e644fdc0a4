#include "jobenter.h"
#include "jobspec.h"
#include "cgroup.h"
#include "jobseccomp.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/openat2.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

static const struct {
	const char *name;
	int flag;
} namespaces[] = {
	{ "user", CLONE_NEWUSER }, { "cgroup", CLONE_NEWCGROUP }, { "ipc", CLONE_NEWIPC },
	{ "uts", CLONE_NEWUTS },   { "net", CLONE_NEWNET },       { "mnt", CLONE_NEWNS },
	{ "time", CLONE_NEWTIME },
};

static int pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static bool pidfd_alive(int pidfd)
{
	return syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) == 0;
}

/* procinfo_ns_differs, with err filled when the job's namespace cannot be
 * read: every caller refuses then. */
static int job_ns_differs(pid_t pid, const char *ns, char *err)
{
	int r = procinfo_ns_differs(pid, ns);

	return r < 0 ? errf(err, r, "cannot read the job's %s namespace: %s", ns, strerror(-r)) : r;
}

static int read_proc_text(pid_t pid, const char *what, char **out, size_t *len)
{
	char p[64];

	snprintf(p, sizeof(p), "/proc/%d/%s", (int)pid, what);
	return read_file(p, 1 << 20, out, len);
}

static int translate_ids(struct job_view *jv, char *err)
{
	unsigned long v;

	if (idmap_to_inside(&jv->uidmap, jv->st.uid, &v) < 0)
		return errf(err, -ERANGE, "the job's uid %u is not mapped in its user namespace",
			    (unsigned)jv->st.uid);
	jv->st.uid = (uid_t)v;
	if (idmap_to_inside(&jv->gidmap, jv->st.gid, &v) < 0)
		return errf(err, -ERANGE, "the job's gid %u is not mapped in its user namespace",
			    (unsigned)jv->st.gid);
	jv->st.gid = (gid_t)v;
	for (int i = 0; i < jv->st.n_groups; i++) {
		if (idmap_to_inside(&jv->gidmap, jv->st.groups[i], &v) < 0) {
			jv->st.groups[i--] = jv->st.groups[--jv->st.n_groups];
			continue;
		}
		jv->st.groups[i] = (gid_t)v;
	}
	return 0;
}

static int read_userns(struct job_view *jv, char *err)
{
	char *text = NULL;
	int r;

	if ((r = read_proc_text(jv->pid, "uid_map", &text, NULL)) < 0 ||
	    (r = idmap_parse(text, &jv->uidmap)) < 0)
		goto out;
	free(text);
	text = NULL;
	if ((r = read_proc_text(jv->pid, "gid_map", &text, NULL)) < 0 ||
	    (r = idmap_parse(text, &jv->gidmap)) < 0)
		goto out;
	free(text);
	text = NULL;
	jv->setgroups_ok = !(read_proc_text(jv->pid, "setgroups", &text, NULL) == 0 &&
			     strncmp(text, "deny", 4) == 0);
	r = translate_ids(jv, err);
	err = NULL;
out:
	free(text);
	if (r < 0 && err)
		errf(err, r, "cannot read the job's user namespace maps: %s", strerror(-r));
	return r;
}

/* The job's /etc/passwd, opened inside its root. */
static FILE *open_job_passwd(pid_t pid)
{
	char root[64];
	struct open_how how = { .flags = O_RDONLY | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT };
	int rfd, fd;
	FILE *f;

	snprintf(root, sizeof(root), "/proc/%d/root", (int)pid);
	rfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rfd < 0)
		return NULL;
	fd = (int)syscall(SYS_openat2, rfd, "etc/passwd", &how, sizeof(how));
	close(rfd);
	if (fd >= 0 && !(f = fdopen(fd, "r"))) {
		close(fd);
		return NULL;
	}
	return fd >= 0 ? f : NULL;
}

/* A user of the job's /etc/passwd, as the monitor and the daemon see it. */
struct job_pwent {
	struct job_identity id;
	char shell[PATH_MAX];
};

/* By name (name != NULL) or by uid. */
static bool job_passwd_find(pid_t pid, const char *name, unsigned long uid, struct job_pwent *ent)
{
	FILE *f = open_job_passwd(pid);
	struct passwd *pw;
	bool found = false;

	while (f && !found && (pw = fgetpwent(f)))
		if (name ? strcmp(pw->pw_name, name) == 0 : pw->pw_uid == uid) {
			snprintf(ent->id.name, sizeof(ent->id.name), "%s", pw->pw_name);
			snprintf(ent->shell, sizeof(ent->shell), "%s", pw->pw_shell ? pw->pw_shell : "");
			ent->id.uid = pw->pw_uid;
			found = true;
		}
	if (f)
		fclose(f);
	return found;
}

/* Is path an executable file inside pid's root (or ours: pid 0)? */
static bool job_has_program(pid_t pid, const char *path)
{
	struct open_how how = { .flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT };
	char root[64];
	struct stat st;
	int rfd, fd;

	snprintf(root, sizeof(root), pid ? "/proc/%d/root" : "/", (int)pid);
	if (*path != '/' || (rfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		return false;
	fd = (int)syscall(SYS_openat2, rfd, path + 1, &how, sizeof(how));
	close(rfd);
	if (fd < 0)
		return false;
	if (fstat(fd, &st) < 0)
		st.st_mode = 0;
	close(fd);
	return S_ISREG(st.st_mode) && (st.st_mode & 0111);
}

/* The user a shell of e runs as: --user (on the worker, or in the job's
 * /etc/passwd), else the job process's own uid, named by the job's
 * /etc/passwd when it names it (shell "" when not). */
static int job_user(const struct execution *e, struct job_pwent *ent, char *err)
{
	struct job_view jv = { .pid = e->target.pid };
	struct passwd *pw;
	int r;

	memset(ent, 0, sizeof(*ent));
	if (e->target.type == TARGET_HOST) {
		if (!e->user || !(pw = getpwnam(e->user)))
			return errf(err, -ENOENT, "user '%s' does not exist on this worker", e->user ? e->user : "");
		snprintf(ent->id.name, sizeof(ent->id.name), "%s", pw->pw_name);
		snprintf(ent->shell, sizeof(ent->shell), "%s", pw->pw_shell ? pw->pw_shell : "");
		ent->id.uid = pw->pw_uid;
		return 0;
	}
	if (e->user)
		return job_passwd_find(e->target.pid, e->user, 0, ent) ? 0 :
			errf(err, -ENOENT, "user '%s' does not exist in the job", e->user);
	if ((r = procinfo_read_status(jv.pid, &jv.st)) < 0)
		return errf(err, r, "cannot read the job's process %d: %s", (int)jv.pid, strerror(-r));
	if ((r = job_ns_differs(jv.pid, "user", err)) < 0 || (r && (r = read_userns(&jv, err)) < 0))
		return r;
	if (!job_passwd_find(jv.pid, NULL, jv.st.uid, ent)) {
		snprintf(ent->id.name, sizeof(ent->id.name), "%u", (unsigned)jv.st.uid);
		ent->id.uid = jv.st.uid;
	}
	return 0;
}

int job_identity(const struct execution *e, struct job_identity *id, char *err)
{
	struct job_pwent ent;
	int r = job_user(e, &ent, err);

	*id = ent.id;
	return r;
}

const char *job_connect_shell(const struct execution *e, char *buf, size_t len)
{
	pid_t pid = e->target.type != TARGET_HOST ? e->target.pid : 0;
	struct job_pwent ent;
	char err[ERRLEN];

	snprintf(buf, len, "%s", "/bin/bash");
	if (job_has_program(pid, buf))
		return buf;
	*buf = '\0';
	if (job_user(e, &ent, err) == 0 && job_has_program(pid, ent.shell))
		snprintf(buf, len, "%s", ent.shell);
	return buf;
}

bool job_has_user(pid_t pid, const char *user)
{
	struct job_pwent ent;

	return job_passwd_find(pid, user, 0, &ent);
}

void job_close(struct job_view *jv)
{
	if (jv->pidfd >= 0)
		close(jv->pidfd);
	if (jv->rootfd >= 0)
		close(jv->rootfd);
	if (jv->cwdfd >= 0)
		close(jv->cwdfd);
	free(jv->environ);
	cgroup_plan_free(&jv->cg);
	job_seccomp_free(jv->seccomp);
	jv->seccomp = NULL;
}

static int open_proc_dir(pid_t pid, const char *what)
{
	char p[64];

	snprintf(p, sizeof(p), "/proc/%d/%s", (int)pid, what);
	return open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

/* A --host session gets what a service started by PID 1 gets: never the
 * daemon's own limits (its unit raises NOFILE) or oom_score_adj. */
static int open_host(struct job_view *jv, char *err)
{
	int r = procinfo_read_limits(1, &jv->limits);

	if (r < 0)
		return errf(err, r, "cannot read the resource limits of PID 1: %s", strerror(-r));
	jv->umask = 022;
	jv->oom_score_adj = 0;
	return 0;
}

static int read_inherited(struct job_view *jv, char *err)
{
	int r = procinfo_read_limits(jv->pid, &jv->limits);

	if (r == 0)
		r = procinfo_read_oom_score_adj(jv->pid, &jv->oom_score_adj);
	if (r < 0)
		return errf(err, r, "cannot read the resource limits of the job's process %d: %s", (int)jv->pid,
			    strerror(-r));
	if (!jv->st.have_umask)
		return errf(err, -EINVAL, "the kernel does not show the umask of the job's process %d",
			    (int)jv->pid);
	jv->umask = jv->st.umask;
	return 0;
}

/* A process joining a frozen cgroup freezes too: the shell would hang
 * without a word. Say so at once instead. */
static int read_cgroups(struct job_view *jv, char *err)
{
	int r = cgroup_plan_read(jv->pid, &jv->cg, err);

	if (r < 0)
		return r;
	if (jv->cg.frozen)
		return errf(err, -EAGAIN, "the job is paused (its cgroup is frozen): resume it, then connect again");
	return 0;
}

/* Fail closed: a job under filters that were not copied (a record from
 * before they were, or a process that took filters since) gets no shell
 * without them. */
static int check_seccomp(const struct execution *e, const struct job_view *jv, char *err)
{
	if (jv->from_spec)
		return 0;
	if (jv->st.seccomp_mode == 2 && !e->seccomp)
		return errf(err, -EPERM, "the job runs under seccomp filters that were not copied when the execution "
					 "was added: add the execution again");
	if (jv->st.seccomp_mode != 0 && jv->st.seccomp_mode != 2)
		return errf(err, -EPERM, "the job runs in seccomp strict mode, under which no shell can run");
	return 0;
}

/* Everything read here comes from /proc/PID; the pidfd, opened first and
 * checked last, proves PID was the job's process throughout. */
int job_open(const struct execution *e, struct job_view *jv, char *err)
{
	int r;

	memset(jv, 0, sizeof(*jv));
	jv->pidfd = jv->rootfd = jv->cwdfd = -1;
	jv->setgroups_ok = true;
	if (e->target.type == TARGET_HOST)
		return open_host(jv, err);
	jv->pid = e->target.pid;
	jv->pidfd = pidfd_open(jv->pid);
	if (jv->pidfd < 0 || !procinfo_same_process(jv->pid, e->target.starttime)) {
		r = errf(err, -ESRCH, "the job's process %d has ended", (int)jv->pid);
		goto fail;
	}
	if ((r = procinfo_read_status(jv->pid, &jv->st)) < 0 ||
	    (r = read_proc_text(jv->pid, "environ", &jv->environ, &jv->environ_len)) < 0) {
		errf(err, r, "cannot read the job's process %d: %s", (int)jv->pid, strerror(-r));
		goto fail;
	}
	if ((r = read_inherited(jv, err)) < 0 || (r = read_cgroups(jv, err)) < 0 ||
	    (r = job_label_read(jv->pid, &jv->label, err)) < 0 || (r = job_spec_apply(e, jv, err)) < 0 ||
	    (r = check_seccomp(e, jv, err)) < 0)
		goto fail;
	for (size_t i = 0; i < ARRAY_SIZE(namespaces); i++) {
		if ((r = job_ns_differs(jv->pid, namespaces[i].name, err)) < 0)
			goto fail;
		if (r)
			jv->nsflags |= namespaces[i].flag;
	}
	jv->userns = jv->nsflags & CLONE_NEWUSER;
	if (jv->userns && (r = read_userns(jv, err)) < 0)
		goto fail;
	jv->rootfd = open_proc_dir(jv->pid, "root");
	jv->cwdfd = open_proc_dir(jv->pid, "cwd");
	if (jv->rootfd < 0) {
		r = errf(err, -errno, "cannot open the job's root directory: %s", strerror(errno));
		goto fail;
	}
	if (!pidfd_alive(jv->pidfd)) {
		r = errf(err, -ESRCH, "the job's process %d has ended", (int)jv->pid);
		goto fail;
	}
	return 0;
fail:
	job_close(jv);
	return r;
}

int job_enter_ns(const struct execution *e, const char *ns, int flag, char *err)
{
	int pidfd, r;

	if (e->target.type == TARGET_HOST)
		return 0;
	if ((r = job_ns_differs(e->target.pid, ns, err)) <= 0)
		return r;
	r = 0;
	pidfd = pidfd_open(e->target.pid);
	if (pidfd < 0 || !procinfo_same_process(e->target.pid, e->target.starttime))
		r = errf(err, -ESRCH, "the job's process %d has ended", (int)e->target.pid);
	else if (setns(pidfd, flag) < 0)
		r = errf(err, -errno, "cannot enter the job's %s namespace: %s", ns, strerror(errno));
	if (pidfd >= 0)
		close(pidfd);
	return r;
}

/* ---- in the forked child ---- */

static void copy_pw(const struct passwd *pw, struct user_info *u)
{
	snprintf(u->name, sizeof(u->name), "%s", pw->pw_name);
	snprintf(u->home, sizeof(u->home), "%s", pw->pw_dir && *pw->pw_dir ? pw->pw_dir : "/");
	snprintf(u->shell, sizeof(u->shell), "%s", pw->pw_shell ? pw->pw_shell : "");
	u->uid = pw->pw_uid;
	u->gid = pw->pw_gid;
	u->found = true;
}

/* The job's /etc/passwd, read as a file: never NSS modules from the job. */
static void lookup_in_job(const char *name, uid_t uid, struct user_info *u)
{
	FILE *f = fopen("/etc/passwd", "re");
	struct passwd *pw;

	if (!f)
		return;
	while ((pw = fgetpwent(f)))
		if (name ? strcmp(pw->pw_name, name) == 0 : pw->pw_uid == uid) {
			copy_pw(pw, u);
			break;
		}
	fclose(f);
}

void job_load_host_nss(void)
{
	gid_t groups[8];
	int n = 8;

	/* The answers do not matter: the lookups load what they go through. */
	(void)getpwuid(0);
	(void)getgrouplist("root", 0, groups, &n);
}

static void lookup_on_host(const char *name, uid_t uid, struct user_info *u)
{
	struct passwd *pw = name ? getpwnam(name) : getpwuid(uid);

	if (pw)
		copy_pw(pw, u);
}

static int resolve_user(const struct execution *e, const struct job_view *jv, struct user_info *u, char *err)
{
	bool host = e->target.type == TARGET_HOST;
	const char *name = e->user;

	memset(u, 0, sizeof(*u));
	if (host)
		lookup_on_host(name, 0, u);
	else
		lookup_in_job(name, jv->st.uid, u);
	if (!u->found && name)
		return errf(err, -ENOENT, "user '%s' does not exist in the %s", name, host ? "worker" : "job");
	if (!u->found) {
		/* The job runs as a uid its passwd does not name (common in images). */
		snprintf(u->name, sizeof(u->name), "%u", (unsigned)jv->st.uid);
		snprintf(u->home, sizeof(u->home), "/");
		u->uid = jv->st.uid;
		u->gid = jv->st.gid;
	}
	/* No usable shell at all (distroless, scratch): "" and the toolbox. */
	if (!*u->shell || access(u->shell, X_OK) != 0)
		snprintf(u->shell, sizeof(u->shell), "%s", access("/bin/sh", X_OK) == 0 ? "/bin/sh" : "");
	return 0;
}

static void groups_in_job(const char *user, gid_t primary, struct creds *c)
{
	FILE *f = fopen("/etc/group", "re");
	struct group *gr;

	c->groups[0] = primary;
	c->n_groups = 1;
	if (!f)
		return;
	while ((gr = fgetgrent(f)) && c->n_groups < PROC_MAX_GROUPS)
		for (char **m = gr->gr_mem; m && *m; m++)
			if (strcmp(*m, user) == 0 && gr->gr_gid != primary) {
				c->groups[c->n_groups++] = gr->gr_gid;
				break;
			}
	fclose(f);
}

static void build_creds(const struct execution *e, const struct job_view *jv, const struct user_info *u,
			struct creds *c)
{
	bool host = e->target.type == TARGET_HOST;
	bool same = !host && !e->user;
	struct proc_status self = { 0 };

	memset(c, 0, sizeof(*c));
	/* On the host the ceiling is our own sets: --user root keeps what the
	 * daemon has (systemd may have narrowed it), other users get none. */
	if (host)
		procinfo_read_status(getpid(), &self);
	caps_for(host ? &self : &jv->st, same, u->uid, c);
	c->uid = u->uid;
	c->gid = same ? jv->st.gid : u->gid;
	c->set_groups = jv->setgroups_ok;
	if (same) {
		memcpy(c->groups, jv->st.groups, sizeof(gid_t) * (size_t)jv->st.n_groups);
		c->n_groups = jv->st.n_groups;
	} else if (host) {
		int n = PROC_MAX_GROUPS;

		if (getgrouplist(u->name, u->gid, c->groups, &n) < 0)
			n = PROC_MAX_GROUPS;
		c->n_groups = n;
	} else {
		groups_in_job(u->name, u->gid, c);
	}
}

static int enter_job(const struct job_view *jv, char *err)
{
	int r = cgroup_plan_join(&jv->cg, err);

	if (r < 0)
		return r;
	if (jv->nsflags && setns(jv->pidfd, jv->nsflags) < 0)
		return errf(err, -errno, "cannot enter the job's namespaces: %s", strerror(errno));
	if (fchdir(jv->rootfd) < 0 || chroot(".") < 0)
		return errf(err, -errno, "cannot enter the job's root directory: %s", strerror(errno));
	return 0;
}

/* The job's limit; where it is above what we may raise ours to (no
 * CAP_SYS_RESOURCE, or NOFILE above fs.nr_open), ours: lower than the
 * job's is never more than the job may. */
static int take_limit(int resource, const struct rlimit *job)
{
	struct rlimit mine, rl = *job;

	if (setrlimit(resource, &rl) == 0)
		return 0;
	if (errno != EPERM || getrlimit(resource, &mine) < 0)
		return -errno;
	if (rl.rlim_max > mine.rlim_max)
		rl.rlim_max = mine.rlim_max;
	if (rl.rlim_cur > rl.rlim_max)
		rl.rlim_cur = rl.rlim_max;
	return setrlimit(resource, &rl) < 0 ? -errno : 0;
}

/* The job's oom_score_adj; where it is below what we may lower ours to,
 * ours: more likely to be killed than the job, never less. */
static int take_oom_score_adj(int value)
{
	char v[16];
	int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	snprintf(v, sizeof(v), "%d", value);
	if (write(fd, v, strlen(v)) != (ssize_t)strlen(v)) {
		int mine = 0;

		r = -errno;
		if ((r == -EACCES || r == -EPERM) && procinfo_read_oom_score_adj(getpid(), &mine) == 0 &&
		    mine > value)
			r = 0;
	}
	close(fd);
	return r;
}

/* While privileged and still in our own mount namespace (/proc). */
static int take_inherited(const struct job_view *jv, char *err)
{
	int r;

	for (int i = 0; i < RLIM_NLIMITS; i++)
		if ((r = take_limit(i, &jv->limits.lim[i])) < 0)
			return errf(err, r, "cannot take the job's resource limit %d: %s", i, strerror(-r));
	if ((r = take_oom_score_adj(jv->oom_score_adj)) < 0)
		return errf(err, r, "cannot take the job's oom_score_adj %d: %s", jv->oom_score_adj, strerror(-r));
	umask(jv->umask);
	return 0;
}

int job_enter(const struct execution *e, const struct job_view *jv, struct job_entry *je, char *err)
{
	int r;

	/* Still in our own mount namespace (/proc): the label is taken at the
	 * operation's execve (the shell, a command, the SFTP image). */
	if ((r = take_inherited(jv, err)) < 0 || (r = job_label_apply(&jv->label, err)) < 0)
		return r;
	if (e->target.type != TARGET_HOST && (r = enter_job(jv, err)) < 0)
		return r;
	if ((r = resolve_user(e, jv, &je->u, err)) < 0)
		return r;
	build_creds(e, jv, &je->u, &je->c);
	je->seccomp = jv->from_spec ? jv->seccomp : e->seccomp;
	return 0;
}

int job_seccomp(const struct execution *e, const struct job_entry *je, enum job_seccomp_when when, char *err)
{
	(void)e;
	if (!je->seccomp || (when == JOB_SECCOMP_LAST) != je->c.no_new_privs)
		return 0;
	return job_seccomp_install(je->seccomp, err);
}

int job_become(const struct job_entry *je, int pdeathsig, bool dumpable, char *err)
{
	int r = caps_apply(&je->c, err);

	if (r < 0)
		return r;
	/* Both are reset by the credential change; exec keeps them. */
	if (pdeathsig && prctl(PR_SET_PDEATHSIG, pdeathsig) < 0)
		return errf(err, -errno, "PR_SET_PDEATHSIG: %s", strerror(errno));
	if (!dumpable && prctl(PR_SET_DUMPABLE, 0) < 0)
		return errf(err, -errno, "PR_SET_DUMPABLE: %s", strerror(errno));
	return 0;
}
