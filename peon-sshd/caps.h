/* Dropping to the job's credentials: uid/gid/groups, capability sets no wider
 * than the job's, and no_new_privs when the job has it. */
#ifndef PEON_CAPS_H
#define PEON_CAPS_H

#include "procinfo.h"

#include <stdbool.h>
#include <sys/types.h>

struct creds {
	uid_t uid;
	gid_t gid;
	gid_t groups[PROC_MAX_GROUPS];
	int n_groups;
	bool set_groups;           /* false where setgroups is denied (user ns) */
	uint64_t bnd, prm, eff, inh, amb;
	bool no_new_privs;
};

/* The capability sets for a shell as uid, given the job's status. A user
 * other than the job's gets none, unless it is root, which gets the job's. */
void caps_for(const struct proc_status *job, bool same_user, uid_t uid, struct creds *c);
/* Apply c to the calling process. Must run with full capabilities in its
 * user namespace. */
int caps_apply(const struct creds *c, char *err);

#endif
