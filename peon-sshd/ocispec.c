#include "ocispec.h"
#include "ocispec_int.h"
#include "joblsm.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- members of the parsed JSON, shared with ociseccomp.c ---- */

static const char *type_name(json_type t)
{
	switch (t) {
	case json_type_boolean:
		return "true or false";
	case json_type_int:
		return "a whole number";
	case json_type_double:
		return "a fractional number";
	case json_type_string:
		return "a string";
	case json_type_array:
		return "an array";
	case json_type_object:
		return "an object";
	default:
		return "null";
	}
}

int oci_member(json_object *o, const char *path, const char *key, json_type want, json_object **out, char *err)
{
	json_object *v = NULL;

	*out = NULL;
	if (!json_object_object_get_ex(o, key, &v) || !v)
		return 0;
	if (!json_object_is_type(v, want))
		return errf(err, -EINVAL, "%s%s%s must be %s, not %s", path, *path ? "." : "", key, type_name(want),
			    type_name(json_object_get_type(v)));
	*out = v;
	return 1;
}

int oci_required(json_object *o, const char *path, const char *key, json_type want, json_object **out, char *err)
{
	int r = oci_member(o, path, key, want, out, err);

	if (r == 0)
		return errf(err, -EINVAL, "%s has no %s", *path ? path : "the spec", key);
	return r;
}

int oci_elem(json_object *a, const char *path, size_t i, json_type want, json_object **out, char *where, char *err)
{
	json_object *v = json_object_array_get_idx(a, i);

	oci_place(where, "%s[%zu]", path, i);
	*out = NULL;
	/* In an array, null is not "absent": it is a value of the wrong type. */
	if (!json_object_is_type(v, want))
		return errf(err, -EINVAL, "%s must be %s, not %s", where, type_name(want),
			    type_name(json_object_get_type(v)));
	*out = v;
	return 0;
}

int oci_u64(json_object *v, const char *where, uint64_t max, uint64_t *out, char *err)
{
	int64_t s;
	uint64_t u;

	if (!json_object_is_type(v, json_type_int))
		return errf(err, -EINVAL, "%s must be a whole number, not %s", where, type_name(json_object_get_type(v)));
	/* json-c keeps a number above INT64_MAX as unsigned: get_int64 then
	 * answers INT64_MAX, never a negative. */
	s = json_object_get_int64(v);
	u = json_object_get_uint64(v);
	if (s < 0 || u > max)
		return errf(err, -ERANGE, "%s is %s%llu: it must be 0..%llu", where, s < 0 ? "-" : "",
			    s < 0 ? 0ULL - (unsigned long long)s : (unsigned long long)u, (unsigned long long)max);
	*out = u;
	return 0;
}

int oci_s64(json_object *v, const char *where, int64_t min, int64_t max, int64_t *out, char *err)
{
	int64_t s;

	if (!json_object_is_type(v, json_type_int))
		return errf(err, -EINVAL, "%s must be a whole number, not %s", where, type_name(json_object_get_type(v)));
	s = json_object_get_int64(v);
	if (s < min || s > max)
		return errf(err, -ERANGE, "%s is %lld: it must be %lld..%lld", where, (long long)s, (long long)min,
			    (long long)max);
	*out = s;
	return 0;
}

int oci_str(json_object *v, const char *where, const char **out, char *err)
{
	const char *s;

	if (!json_object_is_type(v, json_type_string))
		return errf(err, -EINVAL, "%s must be a string, not %s", where, type_name(json_object_get_type(v)));
	s = json_object_get_string(v);
	if (memchr(s, '\0', (size_t)json_object_get_string_len(v)))
		return errf(err, -EINVAL, "%s holds a NUL byte", where);
	*out = s;
	return 0;
}

void oci_place(char *buf, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, OCI_WHERE_MAX, fmt, ap);
	va_end(ap);
}

void oci_quote(const char *s, char *buf, size_t len)
{
	size_t n = 0, max = len > 68 ? 64 : len - 4;

	for (; n < max && s[n]; n++)
		buf[n] = (unsigned char)s[n] < 0x20 || s[n] == 0x7f ? '?' : s[n];
	buf[n] = '\0';
	if (s[n])
		memcpy(buf + n, "...", 4);
}

/* ---- the text ---- */

/* json-c saturates an integer beyond 64 bits (99999999999999999999 reads
 * as UINT64_MAX, which as an rlimit is RLIM_INFINITY). Go's decoder, so
 * runc, refuses one: so does this, by looking at the numbers in the text
 * (strings skipped). Run on text json-c has accepted. */
static int numbers_fit(const char *s, size_t len, char *err)
{
	for (size_t i = 0; i < len; i++) {
		size_t start = i;
		uint64_t v = 0, lim;
		bool over = false;

		if (s[i] == '"') {
			for (i++; i < len && s[i] != '"'; i++)
				if (s[i] == '\\')
					i++;
			continue;
		}
		if (s[i] != '-' && !isdigit((unsigned char)s[i]))
			continue;
		lim = s[i] == '-' ? (uint64_t)INT64_MAX + 1 : UINT64_MAX;
		if (s[i] == '-')
			i++;
		for (; i < len && isdigit((unsigned char)s[i]); i++) {
			unsigned d = (unsigned)(s[i] - '0');

			if (v > (lim - d) / 10)
				over = true;
			else
				v = v * 10 + d;
		}
		/* A fraction or an exponent makes it a double, never one of ours. */
		if (over && !(i < len && (s[i] == '.' || s[i] == 'e' || s[i] == 'E')))
			return errf(err, -ERANGE, "the spec holds the number %.*s, beyond 64 bits",
				    (int)(i - start > 40 ? 40 : i - start), s + start);
		while (i < len && (isdigit((unsigned char)s[i]) || (s[i] && strchr(".eE+-", s[i]))))
			i++;
		i--;
	}
	return 0;
}

static bool only_space(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return false;
	return true;
}

/* One JSON object and nothing after it but white space. */
static int tokenize(const char *json, size_t len, json_object **out, char *err)
{
	struct json_tokener *tok;
	enum json_tokener_error e;
	json_object *o;
	size_t end;

	*out = NULL;
	if (len > OCI_SPEC_MAX_BYTES)
		return errf(err, -EFBIG, "the spec is %zu bytes: peon-sshd reads at most %u", len, OCI_SPEC_MAX_BYTES);
	if (!(tok = json_tokener_new()))
		return errf(err, -ENOMEM, "out of memory parsing the spec");
	/* Strict as Go's decoder is (no trailing commas, no comments); what
	 * follows the value is looked at below, for a sentence of its own. */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS);
	o = json_tokener_parse_ex(tok, json, (int)len);
	e = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (!o || e != json_tokener_success) {
		json_object_put(o);
		/* The JSON null parses to no object, with success. */
		if (e == json_tokener_success)
			return errf(err, -EINVAL, "the spec is null, not a JSON object");
		if (e == json_tokener_continue)
			return errf(err, -EINVAL, "the spec ends before its JSON does");
		return errf(err, -EINVAL, "the spec is not JSON: %s at byte %zu", json_tokener_error_desc(e), end);
	}
	if (end > len || !only_space(json + end, len - end)) {
		json_object_put(o);
		return errf(err, -EINVAL, "the spec has more after its JSON value, at byte %zu", end);
	}
	if (!json_object_is_type(o, json_type_object)) {
		errf(err, -EINVAL, "the spec is %s, not a JSON object", type_name(json_object_get_type(o)));
		json_object_put(o);
		return -EINVAL;
	}
	if (numbers_fit(json, end, err) < 0) {
		json_object_put(o);
		return -ERANGE;
	}
	*out = o;
	return 0;
}

/* ---- process.user ---- */

static int parse_gids(json_object *a, struct oci_spec *s, char *err)
{
	size_t n = json_object_array_length(a);
	char where[OCI_WHERE_MAX];

	if (n > OCI_MAX_GIDS)
		return errf(err, -E2BIG, "process.user.additionalGids has %zu groups: at most %d", n, OCI_MAX_GIDS);
	if (n == 0)
		return 0;
	if (!(s->gids = calloc(n, sizeof(*s->gids))))
		return errf(err, -ENOMEM, "out of memory reading process.user.additionalGids");
	for (size_t i = 0; i < n; i++) {
		json_object *v;
		uint64_t id;
		int r;

		if ((r = oci_elem(a, "process.user.additionalGids", i, json_type_int, &v, where, err)) < 0 ||
		    (r = oci_u64(v, where, OCI_ID_MAX, &id, err)) < 0)
			return r;
		s->gids[s->n_gids++] = (gid_t)id;
	}
	return 0;
}

static int parse_user(json_object *proc, struct oci_spec *s, char *err)
{
	json_object *u, *v;
	uint64_t id;
	int r = oci_member(proc, "process", "user", json_type_object, &u, err);

	if (r <= 0)
		return r;
	s->has_user = true;
	/* Go writes both always; a spec without them is not Go's, and 0 (root)
	 * is not to be assumed for it. */
	if ((r = oci_required(u, "process.user", "uid", json_type_int, &v, err)) < 0 ||
	    (r = oci_u64(v, "process.user.uid", OCI_ID_MAX, &id, err)) < 0)
		return r;
	s->uid = (uid_t)id;
	if ((r = oci_required(u, "process.user", "gid", json_type_int, &v, err)) < 0 ||
	    (r = oci_u64(v, "process.user.gid", OCI_ID_MAX, &id, err)) < 0)
		return r;
	s->gid = (gid_t)id;
	if ((r = oci_member(u, "process.user", "additionalGids", json_type_array, &v, err)) <= 0)
		return r;
	return parse_gids(v, s, err);
}

/* ---- process.capabilities ---- */

/* Names and numbers as linux/capability.h has them. */
#define CAP(c) { #c, c }
static const struct {
	const char *name;
	int bit;
} capabilities[] = {
	CAP(CAP_CHOWN), CAP(CAP_DAC_OVERRIDE), CAP(CAP_DAC_READ_SEARCH), CAP(CAP_FOWNER), CAP(CAP_FSETID),
	CAP(CAP_KILL), CAP(CAP_SETGID), CAP(CAP_SETUID), CAP(CAP_SETPCAP), CAP(CAP_LINUX_IMMUTABLE),
	CAP(CAP_NET_BIND_SERVICE), CAP(CAP_NET_BROADCAST), CAP(CAP_NET_ADMIN), CAP(CAP_NET_RAW),
	CAP(CAP_IPC_LOCK), CAP(CAP_IPC_OWNER), CAP(CAP_SYS_MODULE), CAP(CAP_SYS_RAWIO), CAP(CAP_SYS_CHROOT),
	CAP(CAP_SYS_PTRACE), CAP(CAP_SYS_PACCT), CAP(CAP_SYS_ADMIN), CAP(CAP_SYS_BOOT), CAP(CAP_SYS_NICE),
	CAP(CAP_SYS_RESOURCE), CAP(CAP_SYS_TIME), CAP(CAP_SYS_TTY_CONFIG), CAP(CAP_MKNOD), CAP(CAP_LEASE),
	CAP(CAP_AUDIT_WRITE), CAP(CAP_AUDIT_CONTROL), CAP(CAP_SETFCAP), CAP(CAP_MAC_OVERRIDE),
	CAP(CAP_MAC_ADMIN), CAP(CAP_SYSLOG), CAP(CAP_WAKE_ALARM), CAP(CAP_BLOCK_SUSPEND), CAP(CAP_AUDIT_READ),
	CAP(CAP_PERFMON), CAP(CAP_BPF), CAP(CAP_CHECKPOINT_RESTORE),
};

static int cap_bit(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(capabilities); i++)
		if (strcmp(name, capabilities[i].name) == 0)
			return capabilities[i].bit;
	return -1;
}

static int cap_set(json_object *caps, const char *key, uint64_t *set, char *err)
{
	char path[OCI_WHERE_MAX], where[OCI_WHERE_MAX], q[80];
	json_object *a, *v;
	int r = oci_member(caps, "process.capabilities", key, json_type_array, &a, err);

	if (r <= 0)
		return r;
	oci_place(path, "process.capabilities.%s", key);
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		const char *name;
		int bit;

		if ((r = oci_elem(a, path, i, json_type_string, &v, where, err)) < 0 ||
		    (r = oci_str(v, where, &name, err)) < 0)
			return r;
		if ((bit = cap_bit(name)) < 0) {
			oci_quote(name, q, sizeof(q));
			return errf(err, -EINVAL, "%s is \"%s\", not a capability peon-sshd knows (CAP_CHOWN to "
					  "CAP_CHECKPOINT_RESTORE)", where, q);
		}
		*set |= 1ULL << bit;
	}
	return 0;
}

static int parse_caps(json_object *proc, struct oci_spec *s, char *err)
{
	json_object *c;
	int r = oci_member(proc, "process", "capabilities", json_type_object, &c, err);

	if (r <= 0)
		return r;
	s->has_caps = true;
	if ((r = cap_set(c, "bounding", &s->bnd, err)) < 0 || (r = cap_set(c, "effective", &s->eff, err)) < 0 ||
	    (r = cap_set(c, "inheritable", &s->inh, err)) < 0 || (r = cap_set(c, "permitted", &s->prm, err)) < 0 ||
	    (r = cap_set(c, "ambient", &s->amb, err)) < 0)
		return r;
	return 0;
}

/* ---- process.rlimits ---- */

#define RLIM(r) { #r, r }
static const struct {
	const char *name;
	int resource;
} rlimit_names[] = {
	RLIM(RLIMIT_CPU), RLIM(RLIMIT_FSIZE), RLIM(RLIMIT_DATA), RLIM(RLIMIT_STACK), RLIM(RLIMIT_CORE),
	RLIM(RLIMIT_RSS), RLIM(RLIMIT_NPROC), RLIM(RLIMIT_NOFILE), RLIM(RLIMIT_MEMLOCK), RLIM(RLIMIT_AS),
	RLIM(RLIMIT_LOCKS), RLIM(RLIMIT_SIGPENDING), RLIM(RLIMIT_MSGQUEUE), RLIM(RLIMIT_NICE),
	RLIM(RLIMIT_RTPRIO), RLIM(RLIMIT_RTTIME),
};

static int rlimit_resource(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(rlimit_names); i++)
		if (strcmp(name, rlimit_names[i].name) == 0)
			return rlimit_names[i].resource;
	return -1;
}

static const char *rlimit_name(int resource)
{
	for (size_t i = 0; i < ARRAY_SIZE(rlimit_names); i++)
		if (rlimit_names[i].resource == resource)
			return rlimit_names[i].name;
	return "?";
}

static int parse_rlimit(json_object *o, const char *where, struct oci_rlimit *l, char *err)
{
	char w[OCI_WHERE_MAX], q[80];
	json_object *v;
	const char *type;
	uint64_t soft, hard;
	int r;

	if ((r = oci_required(o, where, "type", json_type_string, &v, err)) < 0)
		return r;
	oci_place(w, "%s.type", where);
	if ((r = oci_str(v, w, &type, err)) < 0)
		return r;
	if ((l->resource = rlimit_resource(type)) < 0) {
		oci_quote(type, q, sizeof(q));
		return errf(err, -EINVAL, "%s is \"%s\", not a resource limit of setrlimit(2)", w, q);
	}
	oci_place(w, "%s.soft", where);
	if ((r = oci_required(o, where, "soft", json_type_int, &v, err)) < 0 ||
	    (r = oci_u64(v, w, UINT64_MAX, &soft, err)) < 0)
		return r;
	oci_place(w, "%s.hard", where);
	if ((r = oci_required(o, where, "hard", json_type_int, &v, err)) < 0 ||
	    (r = oci_u64(v, w, UINT64_MAX, &hard, err)) < 0)
		return r;
	/* setrlimit(2) refuses it: runc could not have started the container. */
	if (soft > hard)
		return errf(err, -ERANGE, "%s has a soft limit (%llu) above its hard limit (%llu)", where,
			    (unsigned long long)soft, (unsigned long long)hard);
	l->soft = (rlim_t)soft;
	l->hard = (rlim_t)hard;
	return 0;
}

static int parse_rlimits(json_object *proc, struct oci_spec *s, char *err)
{
	char where[OCI_WHERE_MAX];
	uint64_t seen = 0;
	json_object *a, *o;
	size_t n;
	int r = oci_member(proc, "process", "rlimits", json_type_array, &a, err);

	if (r <= 0 || (n = json_object_array_length(a)) == 0)
		return r < 0 ? r : 0;
	if (n > OCI_MAX_RLIMITS)
		return errf(err, -E2BIG, "process.rlimits has %zu entries: at most %d", n, OCI_MAX_RLIMITS);
	if (!(s->rlimits = calloc(n, sizeof(*s->rlimits))))
		return errf(err, -ENOMEM, "out of memory reading process.rlimits");
	for (size_t i = 0; i < n; i++) {
		struct oci_rlimit *l = &s->rlimits[i];

		if ((r = oci_elem(a, "process.rlimits", i, json_type_object, &o, where, err)) < 0 ||
		    (r = parse_rlimit(o, where, l, err)) < 0)
			return r;
		/* The runtime spec: an error, rather than one entry silently deciding. */
		if (seen & (1ULL << l->resource))
			return errf(err, -EINVAL, "%s sets %s again: the spec allows one entry per type", where,
				    rlimit_name(l->resource));
		seen |= 1ULL << l->resource;
		s->n_rlimits++;
	}
	return 0;
}

/* ---- the rest of process ---- */

/* An LSM label is written to /proc/self/attr/exec at the shell's execve
 * (joblsm.h), one line, "exec " before an AppArmor profile. */
static int parse_label(json_object *proc, const char *key, char **out, char *err)
{
	char where[OCI_WHERE_MAX];
	json_object *v;
	const char *s;
	int r = oci_member(proc, "process", key, json_type_string, &v, err);

	oci_place(where, "process.%s", key);
	if (r <= 0 || (r = oci_str(v, where, &s, err)) < 0)
		return r;
	if (!*s)
		return 0;
	if (strchr(s, '\n'))
		return errf(err, -EINVAL, "%s holds a newline, which no label can", where);
	if (strlen(s) + 5 >= JOB_LABEL_MAX)
		return errf(err, -E2BIG, "%s is %zu bytes: at most %d", where, strlen(s), JOB_LABEL_MAX - 6);
	if (!(*out = strdup(s)))
		return errf(err, -ENOMEM, "out of memory reading %s", where);
	return 0;
}

static int parse_cwd(json_object *proc, struct oci_spec *s, char *err)
{
	json_object *v;
	const char *cwd;
	char q[80];
	int r = oci_member(proc, "process", "cwd", json_type_string, &v, err);

	if (r <= 0 || (r = oci_str(v, "process.cwd", &cwd, err)) < 0)
		return r;
	/* runc refuses a relative one: relative to what, in another root? */
	if (cwd[0] != '/') {
		oci_quote(cwd, q, sizeof(q));
		return errf(err, -EINVAL, "process.cwd is \"%s\", not an absolute path", q);
	}
	if (strlen(cwd) >= PATH_MAX)
		return errf(err, -ENAMETOOLONG, "process.cwd is longer than a path can be");
	if (!(s->cwd = strdup(cwd)))
		return errf(err, -ENOMEM, "out of memory reading process.cwd");
	return 0;
}

static int parse_process(json_object *root, struct oci_spec *s, char *err)
{
	json_object *proc, *v;
	int64_t adj;
	int r = oci_member(root, "", "process", json_type_object, &proc, err);

	if (r <= 0)
		return r;
	if ((r = parse_user(proc, s, err)) < 0 || (r = parse_caps(proc, s, err)) < 0 ||
	    (r = parse_rlimits(proc, s, err)) < 0 || (r = parse_label(proc, "apparmorProfile", &s->apparmor, err)) < 0 ||
	    (r = parse_label(proc, "selinuxLabel", &s->selinux, err)) < 0 || (r = parse_cwd(proc, s, err)) < 0)
		return r;
	if ((r = oci_member(proc, "process", "noNewPrivileges", json_type_boolean, &v, err)) < 0)
		return r;
	s->no_new_privs = v && json_object_get_boolean(v);
	if ((r = oci_member(proc, "process", "oomScoreAdj", json_type_int, &v, err)) <= 0)
		return r;
	if ((r = oci_s64(v, "process.oomScoreAdj", -1000, 1000, &adj, err)) < 0)
		return r;
	s->has_oom_score_adj = true;
	s->oom_score_adj = (int)adj;
	return 0;
}

static int parse_seccomp(json_object *root, struct oci_spec *s, char *err)
{
	json_object *lin, *sec;
	int r = oci_member(root, "", "linux", json_type_object, &lin, err);

	if (r <= 0 || (r = oci_member(lin, "linux", "seccomp", json_type_object, &sec, err)) <= 0)
		return r;
	return oci_seccomp_compile(sec, &s->seccomp, &s->seccomp_flags, err);
}

int ocispec_parse(const char *json, size_t len, struct oci_spec **out, char *err)
{
	struct oci_spec *s = NULL;
	json_object *root = NULL;
	int r;

	*out = NULL;
	if ((r = tokenize(json, len, &root, err)) < 0)
		return r;
	if (!(s = calloc(1, sizeof(*s)))) {
		r = errf(err, -ENOMEM, "out of memory parsing the spec");
		goto out;
	}
	if ((r = parse_process(root, s, err)) < 0 || (r = parse_seccomp(root, s, err)) < 0)
		goto out;
	*out = s;
	s = NULL;
	r = 0;
out:
	ocispec_free(s);
	json_object_put(root);
	return r;
}

int ocispec_load(int dirfd, const char *path, struct oci_spec **out, char *err)
{
	char *text = NULL;
	struct stat st;
	size_t len = 0;
	int fd, r;

	*out = NULL;
	/* O_NONBLOCK: a FIFO put in the spec's place does not hang the daemon
	 * before fstat tells what it is. */
	fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return errf(err, -errno, "cannot open the spec %s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0)
		r = errf(err, -errno, "cannot stat the spec %s: %s", path, strerror(errno));
	else if (!S_ISREG(st.st_mode))
		r = errf(err, -EINVAL, "the spec %s is not a regular file", path);
	else if ((r = read_fd(fd, OCI_SPEC_MAX_BYTES, &text, &len)) == -EFBIG)
		errf(err, r, "the spec %s is larger than %u bytes, more than any spec is", path, OCI_SPEC_MAX_BYTES);
	else if (r < 0)
		errf(err, r, "cannot read the spec %s: %s", path, strerror(-r));
	close(fd);
	if (r == 0)
		r = ocispec_parse(text, len, out, err);
	free(text);
	return r;
}

void ocispec_free(struct oci_spec *s)
{
	if (!s)
		return;
	free(s->gids);
	free(s->rlimits);
	free(s->apparmor);
	free(s->selinux);
	free(s->cwd);
	job_seccomp_free(s->seccomp);
	free(s);
}
