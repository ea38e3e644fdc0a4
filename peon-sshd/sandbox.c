/* The network child gives up everything before it reads from the network.
 * It runs libssh (key exchange, authentication, channels, relay) on bytes
 * anyone on the internet sends, so a bug there must leave an attacker with
 * a process that can do nothing but talk to its monitor and relay the fds
 * the monitor hands it: no files (an empty root; open and stat fail with
 * EACCES), no capabilities, a uid of its own, no new processes or
 * sockets, no ptrace, and any other system call kills it. */
#include "sandbox.h"
#include "privdrop.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

/* Refuse a root the child could write to or that holds anything. */
static int check_root(const char *root, char *err)
{
	struct stat st;
	struct dirent *de;
	DIR *d;
	int extra = 0;

	if (stat(root, &st) < 0)
		return errf(err, -errno, "sandbox root %s: %s", root, strerror(errno));
	if (!S_ISDIR(st.st_mode) || st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)))
		return errf(err, -EPERM, "sandbox root %s must be a directory owned by root and writable only by root",
			    root);
	d = opendir(root);
	if (!d)
		return errf(err, -errno, "sandbox root %s: %s", root, strerror(errno));
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			extra++;
	closedir(d);
	return extra ? errf(err, -ENOTEMPTY, "sandbox root %s is not empty", root) : 0;
}

static int set_limit(int which, rlim_t v, const char *name, char *err)
{
	struct rlimit rl = { .rlim_cur = v, .rlim_max = v };

	return setrlimit(which, &rl) < 0 ? errf(err, -errno, "setrlimit %s: %s", name, strerror(errno)) : 0;
}

/* ---- seccomp ---- */

/* What libssh, libgcrypt, glibc's allocator and the relay use once the
 * connection is up. Everything else kills the process. */
static const char *const allowed[] = {
	"read", "write", "readv", "writev", "recvfrom", "recvmsg", "sendto", "sendmsg",
	"poll", "ppoll", "close", "fcntl", "shutdown", "getsockname", "getpeername",
	/* Connections to the listeners the monitor made in the job (ssh -R,
	 * -A, -X): accepting needs no privilege and binds nothing new. */
	"accept", "accept4",
	"setsockopt", "getsockopt", "fstat",
	"getpid", "gettid", "getppid", "getuid", "geteuid", "getgid", "getegid",
	"brk", "munmap", "mremap", "madvise", "futex",
	"clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time",
	"getrandom", "rt_sigprocmask", "rt_sigreturn", "rt_sigaction", "sigaltstack",
	"sched_yield", "restart_syscall", "exit", "exit_group",
#if defined(__SANITIZE_ADDRESS__)
	/* AddressSanitizer's runtime (SAN=1 test builds only). */
	"prlimit64", "getrlimit", "sched_getaffinity",
#endif
};

/* Path lookups fail as a file that is not there to us would: EACCES. */
static const char *const refused[] = {
	"open", "openat", "openat2", "creat", "stat", "lstat", "newfstatat", "statx", "access",
	"faccessat", "faccessat2", "readlink", "readlinkat",
};

static int add_rule(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned n,
		    const struct scmp_arg_cmp *cmp, char *err)
{
	int nr = seccomp_syscall_resolve_name(name), r;

	if (nr == __NR_SCMP_ERROR || nr < 0)
		return 0;            /* not a system call on this architecture */
	r = seccomp_rule_add_array(ctx, action, nr, n, cmp);
	return r < 0 ? errf(err, r, "seccomp: cannot add a rule for %s: %s", name, strerror(-r)) : 0;
}

static int build_filter(scmp_filter_ctx ctx, char *err)
{
	pid_t self = getpid();
	struct scmp_arg_cmp noexec = SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0);
	struct scmp_arg_cmp me = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)self, 0);
	struct scmp_arg_cmp winsz = SCMP_A1(SCMP_CMP_EQ, TIOCSWINSZ, 0);
	int r = 0;

	for (size_t i = 0; i < ARRAY_SIZE(allowed) && r == 0; i++)
		r = add_rule(ctx, SCMP_ACT_ALLOW, allowed[i], 0, NULL, err);
	for (size_t i = 0; i < ARRAY_SIZE(refused) && r == 0; i++)
		r = add_rule(ctx, SCMP_ACT_ERRNO(EACCES), refused[i], 0, NULL, err);
	/* Memory, never executable: no code can be brought in. */
	if (r == 0)
		r = add_rule(ctx, SCMP_ACT_ALLOW, "mmap", 1, &noexec, err);
	if (r == 0)
		r = add_rule(ctx, SCMP_ACT_ALLOW, "mprotect", 1, &noexec, err);
	/* Signals only to itself (abort()). */
	if (r == 0)
		r = add_rule(ctx, SCMP_ACT_ALLOW, "kill", 1, &me, err);
	if (r == 0)
		r = add_rule(ctx, SCMP_ACT_ALLOW, "tgkill", 1, &me, err);
	/* The terminal's size, on the pty master the monitor handed over. */
	if (r == 0)
		r = add_rule(ctx, SCMP_ACT_ALLOW, "ioctl", 1, &winsz, err);
	return r;
}

static int install_seccomp(char *err)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	int r;

	if (!ctx)
		return errf(err, -ENOMEM, "seccomp: cannot create a filter");
	r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (r < 0)
		errf(err, r, "seccomp: %s", strerror(-r));
	else
		r = build_filter(ctx, err);
	if (r == 0 && (r = seccomp_load(ctx)) < 0)
		errf(err, r, "seccomp: cannot load the filter: %s", strerror(-r));
	seccomp_release(ctx);
	return r;
}

int sandbox_enter(const struct sandbox_spec *s, char *err)
{
	int r;

	if ((r = check_root(s->root, err)) < 0)
		return r;
	if (chroot(s->root) < 0 || chdir("/") < 0)
		return errf(err, -errno, "cannot chroot to %s: %s", s->root, strerror(errno));
	if ((r = privdrop(s->uid, s->gid, "the network child", err)) < 0)
		return r;
	/* Cleared by the uid change: set now, then make sure the monitor did
	 * not die in between (we would have been reparented). */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		return errf(err, -errno, "PR_SET_PDEATHSIG: %s", strerror(errno));
	if (getppid() != s->parent)
		return errf(err, -ESRCH, "the monitor is gone");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return errf(err, -errno, "prctl: %s", strerror(errno));
	if ((r = set_limit(RLIMIT_NPROC, 0, "NPROC", err)) < 0 || (r = set_limit(RLIMIT_FSIZE, 0, "FSIZE", err)) < 0 ||
	    (r = set_limit(RLIMIT_CORE, 0, "CORE", err)) < 0 ||
	    (r = set_limit(RLIMIT_NOFILE, (rlim_t)s->max_fds, "NOFILE", err)) < 0)
		return r;
	return install_seccomp(err);
}
