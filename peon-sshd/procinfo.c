#include "procinfo.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *field(const char *text, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, name, n) == 0 && p[n] == ':')
			return p + n + 1;
	return NULL;
}

static int hex_field(const char *text, const char *name, uint64_t *out)
{
	const char *p = field(text, name);
	char *end;

	if (!p)
		return -ENOENT;
	errno = 0;
	*out = strtoull(p, &end, 16);
	return errno || end == p ? -EINVAL : 0;
}

/* "Uid:\treal\teffective\tsaved\tfs": we take the effective id. */
static int id_field(const char *text, const char *name, unsigned long *out)
{
	const char *p = field(text, name);
	char *end;

	if (!p)
		return -ENOENT;
	strtoul(p, &end, 10);
	if (end == p)
		return -EINVAL;
	*out = strtoul(end, &end, 10);
	return 0;
}

static int groups_field(const char *text, struct proc_status *st)
{
	const char *p = field(text, "Groups");
	char *end;

	st->n_groups = 0;
	if (!p)
		return -ENOENT;
	for (;;) {
		unsigned long g;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p < '0' || *p > '9')
			return 0;
		g = strtoul(p, &end, 10);
		if (st->n_groups >= PROC_MAX_GROUPS)
			return -E2BIG;
		st->groups[st->n_groups++] = (gid_t)g;
		p = end;
	}
}

int procinfo_parse_status(const char *text, struct proc_status *st)
{
	unsigned long uid, gid;
	uint64_t nnp = 0;
	int r;

	memset(st, 0, sizeof(*st));
	if ((r = id_field(text, "Uid", &uid)) < 0 || (r = id_field(text, "Gid", &gid)) < 0)
		return r;
	st->uid = (uid_t)uid;
	st->gid = (gid_t)gid;
	if ((r = groups_field(text, st)) < 0 && r != -ENOENT)
		return r;
	if ((r = hex_field(text, "CapInh", &st->cap_inh)) < 0 ||
	    (r = hex_field(text, "CapPrm", &st->cap_prm)) < 0 ||
	    (r = hex_field(text, "CapEff", &st->cap_eff)) < 0 ||
	    (r = hex_field(text, "CapBnd", &st->cap_bnd)) < 0)
		return r;
	/* Present since Linux 4.3 / 4.10; absent means "none". */
	hex_field(text, "CapAmb", &st->cap_amb);
	if (field(text, "NoNewPrivs"))
		nnp = strtoull(field(text, "NoNewPrivs"), NULL, 10);
	st->no_new_privs = nnp != 0;
	if (field(text, "Seccomp"))
		st->seccomp_mode = (int)strtol(field(text, "Seccomp"), NULL, 10);
	if (field(text, "TracerPid"))
		st->tracer = (pid_t)strtol(field(text, "TracerPid"), NULL, 10);
	if (field(text, "Umask")) {
		char *end;
		unsigned long m = strtoul(field(text, "Umask"), &end, 8);

		if (end == field(text, "Umask") || m > 0777)
			return -EINVAL;
		st->umask = (mode_t)m;
		st->have_umask = true;
	}
	return 0;
}

/* /proc/PID/limits names each limit in its first 26 columns. */
static const struct {
	const char *name;
	int resource;
} limit_names[] = {
	{ "Max cpu time", RLIMIT_CPU },           { "Max file size", RLIMIT_FSIZE },
	{ "Max data size", RLIMIT_DATA },         { "Max stack size", RLIMIT_STACK },
	{ "Max core file size", RLIMIT_CORE },    { "Max resident set", RLIMIT_RSS },
	{ "Max processes", RLIMIT_NPROC },        { "Max open files", RLIMIT_NOFILE },
	{ "Max locked memory", RLIMIT_MEMLOCK },  { "Max address space", RLIMIT_AS },
	{ "Max file locks", RLIMIT_LOCKS },       { "Max pending signals", RLIMIT_SIGPENDING },
	{ "Max msgqueue size", RLIMIT_MSGQUEUE }, { "Max nice priority", RLIMIT_NICE },
	{ "Max realtime priority", RLIMIT_RTPRIO }, { "Max realtime timeout", RLIMIT_RTTIME },
};

static int limit_value(const char *s, const char **end, rlim_t *out)
{
	char *e;
	unsigned long long v;

	while (*s == ' ')
		s++;
	if (strncmp(s, "unlimited", 9) == 0) {
		*out = RLIM_INFINITY;
		*end = s + 9;
		return 0;
	}
	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &e, 10);
	if (errno || (*e != ' ' && *e != '\n' && *e != '\0'))
		return -EINVAL;
	*out = (rlim_t)v;
	*end = e;
	return 0;
}

int procinfo_parse_limits(const char *text, struct proc_limits *out)
{
	unsigned int seen = 0;

	for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		for (size_t i = 0; i < ARRAY_SIZE(limit_names); i++) {
			size_t n = strlen(limit_names[i].name);
			const char *p = line + n;
			struct rlimit rl;

			if (strncmp(line, limit_names[i].name, n) != 0 || *p != ' ')
				continue;
			if (limit_value(p, &p, &rl.rlim_cur) < 0 || limit_value(p, &p, &rl.rlim_max) < 0 ||
			    rl.rlim_cur > rl.rlim_max)
				return -EINVAL;
			out->lim[limit_names[i].resource] = rl;
			seen |= 1U << limit_names[i].resource;
			break;
		}
	}
	return seen == (1U << RLIM_NLIMITS) - 1 ? 0 : -EINVAL;
}

/* Field n (3 = state, 9 = flags, ...) of /proc/PID/stat, counted past
 * comm: comm may hold spaces and parens, so from its last ')'. */
static const char *stat_field(const char *text, int n)
{
	const char *p = strrchr(text, ')');

	if (!p)
		return NULL;
	p++;
	for (int i = 3; i <= n; i++) {
		while (*p == ' ')
			p++;
		if (!*p)
			return NULL;
		if (i == n)
			break;
		while (*p && *p != ' ')
			p++;
	}
	return p;
}

int procinfo_parse_starttime(const char *text, unsigned long long *out)
{
	const char *p = stat_field(text, 22);

	if (!p || sscanf(p, "%llu", out) != 1)
		return -EINVAL;
	return 0;
}

int procinfo_parse_stat(const char *text, struct proc_stat *out)
{
	const char *open = strchr(text, '('), *close = strrchr(text, ')');
	const char *state = stat_field(text, 3), *flags = stat_field(text, 9);
	size_t len;

	if (!open || !close || close < open || !state || !flags || sscanf(flags, "%lu", &out->flags) != 1)
		return -EINVAL;
	len = (size_t)(close - open - 1);
	if (len >= sizeof(out->comm))
		len = sizeof(out->comm) - 1;
	memcpy(out->comm, open + 1, len);
	out->comm[len] = '\0';
	out->state = *state;
	return 0;
}

int idmap_parse(const char *text, struct idmap *m)
{
	const char *p = text;

	m->n = 0;
	while (p && *p) {
		unsigned long in, out, cnt;
		int used = 0;

		if (sscanf(p, " %lu %lu %lu%n", &in, &out, &cnt, &used) == 3) {
			if (m->n >= IDMAP_MAX)
				return -E2BIG;
			m->e[m->n].inside = in;
			m->e[m->n].outside = out;
			m->e[m->n].count = cnt;
			m->n++;
		} else if (strspn(p, " \t\n") != strlen(p)) {
			return -EINVAL;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return 0;
}

int idmap_to_inside(const struct idmap *m, unsigned long host, unsigned long *inside)
{
	for (int i = 0; i < m->n; i++) {
		if (host >= m->e[i].outside && host - m->e[i].outside < m->e[i].count) {
			*inside = m->e[i].inside + (host - m->e[i].outside);
			return 0;
		}
	}
	return -ERANGE;
}

static int read_proc(pid_t pid, const char *what, char **text)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
	return read_file(path, 1 << 20, text, NULL);
}

int procinfo_read_status(pid_t pid, struct proc_status *st)
{
	char *text = NULL;
	int r = read_proc(pid, "status", &text);

	if (r == 0)
		r = procinfo_parse_status(text, st);
	free(text);
	return r;
}

int procinfo_read_limits(pid_t pid, struct proc_limits *out)
{
	char *text = NULL;
	int r = read_proc(pid, "limits", &text);

	if (r == 0)
		r = procinfo_parse_limits(text, out);
	free(text);
	return r;
}

int procinfo_read_oom_score_adj(pid_t pid, int *out)
{
	char *text = NULL, *end;
	long v;
	int r = read_proc(pid, "oom_score_adj", &text);

	if (r < 0)
		return r;
	errno = 0;
	v = strtol(text, &end, 10);
	r = (errno || end == text || (*end != '\n' && *end != '\0') || v < -1000 || v > 1000) ? -EINVAL : 0;
	if (r == 0)
		*out = (int)v;
	free(text);
	return r;
}

int procinfo_read_starttime(pid_t pid, unsigned long long *out)
{
	char *text = NULL;
	int r = read_proc(pid, "stat", &text);

	if (r == 0)
		r = procinfo_parse_starttime(text, out);
	free(text);
	return r;
}

int procinfo_read_stat(pid_t pid, struct proc_stat *out)
{
	char *text = NULL;
	int r = read_proc(pid, "stat", &text);

	if (r == 0)
		r = procinfo_parse_stat(text, out);
	free(text);
	return r;
}

bool procinfo_same_process(pid_t pid, unsigned long long starttime)
{
	unsigned long long now;

	return procinfo_read_starttime(pid, &now) == 0 && now == starttime;
}

int procinfo_ns_differs(pid_t pid, const char *ns)
{
	char a[64], b[64];
	struct stat sa, sb;

	snprintf(a, sizeof(a), "/proc/self/ns/%s", ns);
	snprintf(b, sizeof(b), "/proc/%d/ns/%s", (int)pid, ns);
	if (stat(a, &sa) < 0)
		return errno == ENOENT ? 0 : -errno;   /* ENOENT: a type this kernel lacks */
	if (stat(b, &sb) < 0)
		return -errno;
	return sa.st_ino != sb.st_ino || sa.st_dev != sb.st_dev;
}
