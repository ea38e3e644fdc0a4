/* Giving up root for good, for the processes that face untrusted input:
 * the network children (sandbox.c) and the key fetcher (keyfetcher.c). */
#include "privdrop.h"
#include "util.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Bounding and ambient sets, while we still may (CAP_SETPCAP). */
static int drop_capability_bounds(char *err)
{
	for (int c = 0; c < 64 && prctl(PR_CAPBSET_READ, c, 0, 0, 0) >= 0; c++)
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0)
			return errf(err, -errno, "cannot drop capability %d from the bounding set: %s", c,
				    strerror(errno));
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return errf(err, -errno, "cannot clear the ambient capabilities: %s", strerror(errno));
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		return errf(err, -errno, "PR_SET_KEEPCAPS: %s", strerror(errno));
	return 0;
}

/* After the uid change, which empties permitted and effective but leaves
 * inheritable: every set empty, and checked. */
static int drop_capabilities(char *err)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = { { 0 } };

	if (syscall(SYS_capset, &h, d) < 0 || syscall(SYS_capget, &h, d) < 0)
		return errf(err, -errno, "cannot drop capabilities: %s", strerror(errno));
	for (int i = 0; i < 2; i++)
		if (d[i].effective || d[i].permitted || d[i].inheritable)
			return errf(err, -EPERM, "capabilities are left after the drop");
	return 0;
}

static int switch_ids(uid_t uid, gid_t gid, const char *who, char *err)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (uid == 0 || gid == 0)
		return errf(err, -EINVAL, "refusing to run %s as uid or gid 0", who);
	if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
		return errf(err, -errno, "cannot switch to uid %u gid %u: %s", (unsigned)uid, (unsigned)gid,
			    strerror(errno));
	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0 || ru != uid || eu != uid || su != uid ||
	    rg != gid || eg != gid || sg != gid || getgroups(0, NULL) != 0)
		return errf(err, -EPERM, "the uid/gid switch did not take");
	return 0;
}

int privdrop(uid_t uid, gid_t gid, const char *who, char *err)
{
	int r;

	if ((r = drop_capability_bounds(err)) < 0 || (r = switch_ids(uid, gid, who, err)) < 0 ||
	    (r = drop_capabilities(err)) < 0)
		return r;
	return 0;
}
