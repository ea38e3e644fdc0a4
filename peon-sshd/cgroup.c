#include "cgroup.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct cg_mount {
	char root[1024], point[1024], fstype[32], opts[512];
};

/* mountinfo escapes blanks and backslashes as \ooo. */
static void unescape(char *s)
{
	char *w = s;

	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
}

static bool parse_mount_line(const char *line, struct cg_mount *m)
{
	const char *sep = strstr(line, " - ");

	if (!sep || sscanf(line, "%*s %*s %*s %1023s %1023s", m->root, m->point) != 2)
		return false;
	if (sscanf(sep + 3, "%31s %*s %511s", m->fstype, m->opts) != 2)
		return false;
	unescape(m->root);
	unescape(m->point);
	return strcmp(m->fstype, "cgroup") == 0 || strcmp(m->fstype, "cgroup2") == 0;
}

/* Does a v1 mount carry every controller of "cpu,cpuacct" (or name=x)? */
static bool v1_matches(const struct cg_mount *m, const char *ctrls, size_t len)
{
	const char *p = ctrls, *end = ctrls + len;

	if (strcmp(m->fstype, "cgroup") != 0 || len == 0)
		return false;
	while (p < end) {
		const char *c = memchr(p, ',', (size_t)(end - p));
		size_t l = c ? (size_t)(c - p) : (size_t)(end - p);

		if (!list_has(m->opts, p, l))
			return false;
		p += l + 1;
	}
	return true;
}

static bool find_mount(const char *mountinfo, const char *ctrls, size_t clen, struct cg_mount *out)
{
	const char *p = mountinfo;

	while (p && *p) {
		const char *nl = strchr(p, '\n');
		const char *sep = strstr(p, " - ");
		char line[4096];
		size_t l = nl ? (size_t)(nl - p) : strlen(p);

		/* Only cgroup mounts get parsed: a Docker host has a line for
		 * every container layer, and this runs for every hierarchy. */
		if (l < sizeof(line) && sep && (!nl || sep < nl) && strncmp(sep + 3, "cgroup", 6) == 0) {
			memcpy(line, p, l);
			line[l] = '\0';
			if (parse_mount_line(line, out)) {
				if (clen == 0 ? strcmp(out->fstype, "cgroup2") == 0 : v1_matches(out, ctrls, clen))
					return true;
			}
		}
		p = nl ? nl + 1 : NULL;
	}
	return false;
}

/* The job's path is relative to the hierarchy's root; the mount may show a
 * subtree of it (m->root). */
static int file_path(const struct cg_mount *m, const char *path, const char *file, char **out)
{
	size_t rl = strlen(m->root);

	if (strcmp(m->root, "/") == 0)
		rl = 0;
	else if (strncmp(path, m->root, rl) != 0 || (path[rl] != '/' && path[rl] != '\0'))
		return -ENOENT;
	return asprintf(out, "%s%s/%s", m->point, path + rl, file) < 0 ? -ENOMEM : 0;
}

/* Which file of a hierarchy: cgroup.procs in each, or only the files that
 * say whether the cgroup is frozen (v1 freezer, v2 unified). */
enum cg_want { CG_PROCS, CG_FREEZE };

static const char *wanted_file(const struct cg_mount *m, enum cg_want want)
{
	if (want == CG_PROCS)
		return "cgroup.procs";
	if (strcmp(m->fstype, "cgroup2") == 0)
		return "cgroup.events";
	return list_has(m->opts, "freezer", 7) ? "freezer.state" : NULL;
}

static int cgroup_paths(const char *proc_cgroup, const char *mountinfo, enum cg_want want, char ***out,
			size_t *n)
{
	const char *p = proc_cgroup;

	*out = NULL;
	*n = 0;
	while (p && *p) {
		const char *c1 = strchr(p, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		const char *nl = strchr(p, '\n');
		struct cg_mount m;
		char path[4096], *file = NULL;
		size_t pl;

		if (!c1 || !c2 || (nl && c2 > nl))
			return -EINVAL;
		pl = nl ? (size_t)(nl - c2 - 1) : strlen(c2 + 1);
		if (pl >= sizeof(path))
			return -ENAMETOOLONG;
		memcpy(path, c2 + 1, pl);
		path[pl] = '\0';
		if (find_mount(mountinfo, c1 + 1, (size_t)(c2 - c1 - 1), &m) && wanted_file(&m, want) &&
		    file_path(&m, path, wanted_file(&m, want), &file) == 0) {
			bool dup = false;
			for (size_t i = 0; i < *n; i++)
				dup |= strcmp((*out)[i], file) == 0;
			if (!dup && strv_push(out, n, file) < 0) {
				free(file);
				return -ENOMEM;
			}
		}
		free(file);
		p = nl ? nl + 1 : NULL;
	}
	return 0;
}

int cgroup_procs_paths(const char *proc_cgroup, const char *mountinfo, char ***out, size_t *n)
{
	return cgroup_paths(proc_cgroup, mountinfo, CG_PROCS, out, n);
}

int cgroup_freeze_paths(const char *proc_cgroup, const char *mountinfo, char ***out, size_t *n)
{
	return cgroup_paths(proc_cgroup, mountinfo, CG_FREEZE, out, n);
}

bool cgroup_state_frozen(const char *path, const char *text)
{
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;

	if (strcmp(base, "freezer.state") == 0)
		return strncmp(text, "FROZEN", 6) == 0 || strncmp(text, "FREEZING", 8) == 0;
	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (strncmp(l, "frozen 1", 8) == 0 && (l[8] == '\n' || l[8] == '\0'))
			return true;
	return false;
}

/* /proc/PID/cgroup and our mountinfo, the two inputs of every lookup. */
static int read_cgroup_inputs(pid_t pid, char **pcg, char **mi)
{
	char src[64];
	int r;

	snprintf(src, sizeof(src), "/proc/%d/cgroup", (int)pid);
	r = read_file(src, 1 << 20, pcg, NULL);
	return r < 0 ? r : read_file("/proc/self/mountinfo", 16 << 20, mi, NULL);
}

int cgroup_paths_to_join(const char *job_cg, const char *self_cg, const char *mountinfo, char ***out,
			 size_t *n)
{
	char **mine = NULL;
	size_t n_mine = 0, keep = 0;
	int r = cgroup_procs_paths(job_cg, mountinfo, out, n);

	if (r == 0)
		r = cgroup_procs_paths(self_cg, mountinfo, &mine, &n_mine);
	for (size_t i = 0; r == 0 && i < *n; i++) {
		bool member = false;

		for (size_t j = 0; j < n_mine && !member; j++)
			member = strcmp((*out)[i], mine[j]) == 0;
		if (member)
			free((*out)[i]);
		else
			(*out)[keep++] = (*out)[i];
	}
	if (r == 0 && *out) {
		*n = keep;
		(*out)[keep] = NULL;
	}
	strv_free(mine);
	return r;
}

static bool any_frozen(char **paths, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char *text = NULL;
		bool frozen = false;

		/* A state file we cannot read says nothing either way. */
		if (read_file(paths[i], 4096, &text, NULL) == 0)
			frozen = cgroup_state_frozen(paths[i], text);
		free(text);
		if (frozen)
			return true;
	}
	return false;
}

int cgroup_plan_read(pid_t pid, struct cgroup_plan *p, char *err)
{
	char *pcg = NULL, *self = NULL, *mi = NULL, **freeze = NULL;
	size_t n_freeze = 0;
	int r = read_cgroup_inputs(pid, &pcg, &mi);

	memset(p, 0, sizeof(*p));
	if (r == 0)
		r = read_file("/proc/self/cgroup", 1 << 20, &self, NULL);
	if (r < 0) {
		errf(err, r, "cannot read the job's cgroups: %s", strerror(-r));
		goto out;
	}
	r = cgroup_freeze_paths(pcg, mi, &freeze, &n_freeze);
	if (r == 0)
		r = cgroup_paths_to_join(pcg, self, mi, &p->join, &p->n_join);
	if (r < 0) {
		errf(err, r, "cannot parse /proc/%d/cgroup or /proc/self/cgroup: %s", (int)pid, strerror(-r));
		cgroup_plan_free(p);
		goto out;
	}
	p->frozen = any_frozen(freeze, n_freeze);
out:
	strv_free(freeze);
	free(pcg);
	free(self);
	free(mi);
	return r;
}

int cgroup_plan_join(const struct cgroup_plan *p, char *err)
{
	for (size_t i = 0; i < p->n_join; i++) {
		int r = cgroup_procs_write(p->join[i]);

		if (r < 0)
			return errf(err, r, "cannot join the job's cgroup %s: %s", p->join[i], strerror(-r));
	}
	return 0;
}

void cgroup_plan_free(struct cgroup_plan *p)
{
	strv_free(p->join);
	p->join = NULL;
	p->n_join = 0;
}

int cgroup_prime_path(char **out)
{
	char *self = NULL, *mi = NULL, **paths = NULL;
	size_t n = 0;
	int r = read_cgroup_inputs(getpid(), &self, &mi);

	*out = NULL;
	if (r == 0)
		r = cgroup_procs_paths(self, mi, &paths, &n);
	if (r == 0 && n == 0)
		r = -ENOENT;
	if (r == 0 && !(*out = strdup(paths[0])))
		r = -ENOMEM;
	strv_free(paths);
	free(self);
	free(mi);
	return r;
}

/* "0" means the writing process, whatever pid namespace it is in. */
int cgroup_procs_write(const char *path)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, "0", 1) != 1)
		r = -errno;
	close(fd);
	return r;
}
