/* A container's OCI spec over what its live process shows (jobspec.h). */
#include "jobspec.h"
#include "ocispec.h"
#include "target.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

static int apply_user(const struct oci_spec *s, struct proc_status *st, char *err)
{
	if (!s->has_user)
		return 0;
	if (s->n_gids > PROC_MAX_GROUPS)
		return errf(err, -E2BIG, "the container's spec names %zu additional groups; peon-sshd takes at most %d",
			    s->n_gids, PROC_MAX_GROUPS);
	st->uid = s->uid;
	st->gid = s->gid;
	memcpy(st->groups, s->gids, s->n_gids * sizeof(gid_t));
	st->n_groups = (int)s->n_gids;
	return 0;
}

static void apply_label(const struct oci_spec *s, struct job_label *l)
{
	/* Only the LSM the kernel enforces (job_label_read found it). */
	if (l->kind == LSM_APPARMOR && s->apparmor)
		snprintf(l->exec, sizeof(l->exec), "exec %s", s->apparmor);
	else if (l->kind == LSM_SELINUX && s->selinux)
		snprintf(l->exec, sizeof(l->exec), "%s", s->selinux);
}

static void apply(const struct oci_spec *s, struct job_view *jv)
{
	if (s->has_caps) {
		jv->st.cap_bnd = s->bnd;
		jv->st.cap_eff = s->eff;
		jv->st.cap_inh = s->inh;
		jv->st.cap_prm = s->prm;
		jv->st.cap_amb = s->amb;
	}
	jv->st.no_new_privs = s->no_new_privs;
	for (size_t i = 0; i < s->n_rlimits; i++)
		if (s->rlimits[i].resource >= 0 && s->rlimits[i].resource < RLIM_NLIMITS)
			jv->limits.lim[s->rlimits[i].resource] =
				(struct rlimit){ .rlim_cur = s->rlimits[i].soft, .rlim_max = s->rlimits[i].hard };
	if (s->has_oom_score_adj)
		jv->oom_score_adj = s->oom_score_adj;
	apply_label(s, &jv->label);
}

int job_spec_apply(const struct execution *e, struct job_view *jv, char *err)
{
	char bundle[PATH_MAX], path[PATH_MAX + 16], why[ERRLEN];
	struct oci_spec *s = NULL;
	int r;

	if (!target_is_container(&e->target))
		return 0;
	if (target_bundle(&e->target, bundle, sizeof(bundle), why) == -ENOENT)
		return 0;
	snprintf(path, sizeof(path), "%s/config.json", bundle);
	if ((r = ocispec_load(AT_FDCWD, path, &s, why)) < 0)
		return errf(err, r, "cannot use the container's spec %s: %s", path, why);
	if ((r = apply_user(s, &jv->st, err)) < 0)
		goto out;
	apply(s, jv);
	/* The spec's filter, not the one copied at add: it follows restarts. */
	jv->seccomp = s->seccomp;
	s->seccomp = NULL;
	jv->from_spec = true;
out:
	ocispec_free(s);
	return r;
}
