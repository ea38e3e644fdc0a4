#include "caps.h"
#include "util.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

void caps_for(const struct proc_status *job, bool same_user, uid_t uid, struct creds *c)
{
	c->bnd = job->cap_bnd;
	c->no_new_privs = job->no_new_privs;
	if (same_user || uid == 0) {
		c->prm = job->cap_prm;
		c->eff = job->cap_eff;
		c->inh = job->cap_inh;
		c->amb = same_user ? job->cap_amb : 0;
	} else {
		c->prm = c->eff = c->inh = c->amb = 0;
	}
	/* execve as root refills the permitted set from the bounding set: cap
	 * the bounding set at the job's permitted set so root gains nothing. */
	if (uid == 0)
		c->bnd &= job->cap_prm;
	c->prm &= c->bnd;
	c->eff &= c->prm;
	c->inh &= c->bnd;
	c->amb &= c->prm & c->inh;
}

static int set_caps(uint64_t eff, uint64_t prm, uint64_t inh)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct d[2] = {
		{ (uint32_t)eff, (uint32_t)prm, (uint32_t)inh },
		{ (uint32_t)(eff >> 32), (uint32_t)(prm >> 32), (uint32_t)(inh >> 32) },
	};

	return syscall(SYS_capset, &h, d) < 0 ? -errno : 0;
}

static int drop_bounding(uint64_t keep)
{
	for (int cap = 0; cap < 64; cap++) {
		int r = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);

		if (r < 0)
			break;  /* past the kernel's last capability */
		if (r == 1 && !(keep & (1ULL << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
			return -errno;
	}
	return 0;
}

int caps_apply(const struct creds *c, char *err)
{
	int r;

	if ((r = drop_bounding(c->bnd)) < 0)
		return errf(err, r, "cannot limit the capability bounding set: %s", strerror(-r));
	if (c->set_groups && setgroups((size_t)c->n_groups, c->groups) < 0)
		return errf(err, -errno, "cannot set supplementary groups: %s", strerror(errno));
	if (setresgid(c->gid, c->gid, c->gid) < 0)
		return errf(err, -errno, "cannot set gid %u: %s", (unsigned)c->gid, strerror(errno));
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 || setresuid(c->uid, c->uid, c->uid) < 0)
		return errf(err, -errno, "cannot set uid %u: %s", (unsigned)c->uid, strerror(errno));
	prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	if ((r = set_caps(c->eff, c->prm, c->inh)) < 0)
		return errf(err, r, "cannot set capabilities: %s", strerror(-r));
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	for (int cap = 0; cap < 64; cap++)
		if ((c->amb & (1ULL << cap)) &&
		    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
			return errf(err, -errno, "cannot raise ambient capability %d: %s", cap, strerror(errno));
	if (c->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return errf(err, -errno, "cannot set no_new_privs: %s", strerror(errno));
	return 0;
}
