/* The network child's sandbox: what it gives up before it reads a byte from
 * the network. */
#ifndef PEON_SANDBOX_H
#define PEON_SANDBOX_H

#include <sys/types.h>

struct sandbox_spec {
	uid_t uid;
	gid_t gid;
	const char *root;      /* empty, root-owned directory: becomes / */
	pid_t parent;          /* the monitor: the child must still be its child */
	int max_fds;           /* RLIMIT_NOFILE */
};

/* chroot, no groups, no capabilities (bounding and ambient sets included),
 * the unprivileged uid/gid, parent-death signal, no_new_privs, not
 * dumpable, RLIMIT_NPROC/FSIZE/CORE 0, then the seccomp allowlist. Any
 * step that fails fails the whole: -errno with err saying which. */
int sandbox_enter(const struct sandbox_spec *s, char *err);

#endif
