/* linux.seccomp of a container's spec compiled into a BPF program, by
 * libseccomp, with runc's reading of the spec, so that a shell gets the
 * filter `runc exec` would give it:
 *
 *  - actions and comparisons are libseccomp's names; SCMP_ACT_KILL is
 *    KILL_THREAD; ERRNO and TRACE take errnoRet (EPERM when absent), the
 *    others ignore it;
 *  - a syscall name this libseccomp does not know is skipped (a syscall
 *    newer than the library: the default action applies to it);
 *  - a rule whose action is the default one is skipped (libseccomp would
 *    refuse it, and it changes nothing);
 *  - a rule's conditions on distinct arguments are ANDed in one rule; when
 *    two of them test the same argument, each condition becomes a rule of
 *    its own, so they are ORed (libseccomp cannot AND two tests of one
 *    argument; runc's profiles rely on the OR, as Docker's personality
 *    rules do);
 *  - no_new_privs is left to the caller (runc clears libseccomp's);
 *  - the binary-tree layout once there are more than 32 rules, so that a
 *    long profile stays well within the kernel's 4096 instructions;
 *  - runc's ENOSYS stub: unless the default action lets a syscall through
 *    (ALLOW, LOG, TRACE) or already answers ENOSYS, a native syscall
 *    numbered above every one the profile names answers ENOSYS, not the
 *    default action. A syscall newer than the profile then looks absent,
 *    and libc falls back to the old one (as with clone3 or faccessat2)
 *    instead of failing with EPERM. runc writes that stub as raw BPF in
 *    front of libseccomp's program; here it is libseccomp rules, one per
 *    number up to STUB_TOP, in a part of the filter that holds the native
 *    architecture only (libseccomp translates a rule to the other
 *    architectures by the syscall's name, and these numbers have none).
 *    The other architectures the spec lists get no stub.
 *
 * The filter is exported, never loaded here: it is for the processes
 * peon-sshd starts in the container. */
#include "ocispec.h"
#include "ocispec_int.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* One exported filter is always within what a record carries. */
_Static_assert(BPF_MAXINSNS <= JOB_SECCOMP_MAX_INSNS, "one filter must fit a job_seccomp");

/* Above this many rules libseccomp's binary tree pays off (runc's
 * threshold; it also keeps clear of libseccomp 2.5's trouble with a tree
 * over no rules). */
#define OPTIMIZE_ABOVE 32

/* The stub's last number: above any syscall table's end for years (x86_64
 * is near 470), and cheap in the binary tree (about 1.3 instructions a
 * number). Past it the kernel's own table ends and nothing is lost. */
#define STUB_TOP 1023

static const struct {
	const char *name;
	uint32_t action;
	bool takes_ret;                /* errnoRet goes in its low 16 bits */
} actions[] = {
	{ "SCMP_ACT_KILL", SCMP_ACT_KILL_THREAD, false },
	{ "SCMP_ACT_KILL_THREAD", SCMP_ACT_KILL_THREAD, false },
	{ "SCMP_ACT_KILL_PROCESS", SCMP_ACT_KILL_PROCESS, false },
	{ "SCMP_ACT_TRAP", SCMP_ACT_TRAP, false },
	{ "SCMP_ACT_ERRNO", SCMP_ACT_ERRNO(0), true },
	{ "SCMP_ACT_TRACE", SCMP_ACT_TRACE(0), true },
	{ "SCMP_ACT_ALLOW", SCMP_ACT_ALLOW, false },
	{ "SCMP_ACT_LOG", SCMP_ACT_LOG, false },
};

static const struct {
	const char *name;
	enum scmp_compare op;
} comparisons[] = {
	{ "SCMP_CMP_NE", SCMP_CMP_NE }, { "SCMP_CMP_LT", SCMP_CMP_LT }, { "SCMP_CMP_LE", SCMP_CMP_LE },
	{ "SCMP_CMP_EQ", SCMP_CMP_EQ }, { "SCMP_CMP_GE", SCMP_CMP_GE }, { "SCMP_CMP_GT", SCMP_CMP_GT },
	{ "SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ },
};

/* A syscalls[] entry, read: what each of its names gets. */
struct rule {
	uint32_t action;
	struct scmp_arg_cmp cmp[OCI_SECCOMP_MAX_ARGS];
	unsigned n_cmp;
	bool split;                    /* two conditions on one argument: one rule each */
};

/* o.key (at path) with its errnoRet member ret_key. */
static int read_action(json_object *o, const char *path, const char *key, const char *ret_key, uint32_t *out,
		       char *err)
{
	char where[OCI_WHERE_MAX], q[80];
	json_object *v;
	const char *name;
	uint64_t ret = EPERM;
	int r;

	oci_place(where, "%s.%s", path, key);
	if ((r = oci_required(o, path, key, json_type_string, &v, err)) < 0 || (r = oci_str(v, where, &name, err)) < 0)
		return r;
	if (strcmp(name, "SCMP_ACT_NOTIFY") == 0)
		return errf(err, -EOPNOTSUPP, "%s is SCMP_ACT_NOTIFY, which hands syscalls to a listener, and none can "
				  "exist for a process peon-sshd starts", where);
	for (size_t i = 0; i < ARRAY_SIZE(actions); i++) {
		if (strcmp(name, actions[i].name) != 0)
			continue;
		oci_place(where, "%s.%s", path, ret_key);
		if ((r = oci_member(o, path, ret_key, json_type_int, &v, err)) < 0 ||
		    (r > 0 && (r = oci_u64(v, where, 0xffff, &ret, err)) < 0))
			return r;
		*out = actions[i].action | (actions[i].takes_ret ? (uint32_t)ret : 0);
		return 0;
	}
	oci_quote(name, q, sizeof(q));
	return errf(err, -EINVAL, "%s is \"%s\", not a seccomp action", where, q);
}

/* SCMP_ARCH_X86_64 is libseccomp's "x86_64". 0 when it knows no such. */
static uint32_t arch_token(const char *name)
{
	char low[32];
	size_t n;

	if (strncmp(name, "SCMP_ARCH_", 10) != 0)
		return 0;
	name += 10;
	if ((n = strlen(name)) == 0 || n >= sizeof(low))
		return 0;
	for (size_t i = 0; i <= n; i++)
		low[i] = (char)tolower((unsigned char)name[i]);
	return seccomp_arch_resolve_name(low);
}

/* The spec's architectures other than the native one; *added says how many. */
static int add_other_arches(scmp_filter_ctx ctx, json_object *sec, size_t *added, char *err)
{
	char where[OCI_WHERE_MAX], q[80];
	json_object *a, *v;
	size_t n;
	int r = oci_member(sec, "linux.seccomp", "architectures", json_type_array, &a, err);

	*added = 0;
	if (r <= 0)
		return r;
	if ((n = json_object_array_length(a)) > OCI_SECCOMP_MAX_ARCHES)
		return errf(err, -E2BIG, "linux.seccomp.architectures has %zu entries: at most %d", n,
			    OCI_SECCOMP_MAX_ARCHES);
	for (size_t i = 0; i < n; i++) {
		const char *name;
		uint32_t token;

		if ((r = oci_elem(a, "linux.seccomp.architectures", i, json_type_string, &v, where, err)) < 0 ||
		    (r = oci_str(v, where, &name, err)) < 0)
			return r;
		if (!(token = arch_token(name))) {
			oci_quote(name, q, sizeof(q));
			return errf(err, -EINVAL, "%s is \"%s\", not an architecture libseccomp knows", where, q);
		}
		/* The native one has its own part of the filter (see STUB_TOP). */
		if (token == seccomp_arch_native())
			continue;
		r = seccomp_arch_add(ctx, token);
		if (r < 0 && r != -EEXIST)
			return errf(err, r, "libseccomp cannot add %s to the filter: %s", where, strerror(-r));
		if (r == 0)
			(*added)++;
	}
	return 0;
}

/* flags: what the installer is to pass to seccomp(2). */
static int read_flags(json_object *sec, unsigned *flags, char *err)
{
	char where[OCI_WHERE_MAX], q[80];
	json_object *a, *v;
	size_t n;
	int r = oci_member(sec, "linux.seccomp", "flags", json_type_array, &a, err);

	/* No flags member at all: runc asks for SPEC_ALLOW (an empty one is
	 * no flags). */
	if (r <= 0) {
		*flags = r == 0 ? SECCOMP_FILTER_FLAG_SPEC_ALLOW : 0;
		return r;
	}
	if ((n = json_object_array_length(a)) > OCI_SECCOMP_MAX_FLAGS)
		return errf(err, -E2BIG, "linux.seccomp.flags has %zu entries: at most %d", n, OCI_SECCOMP_MAX_FLAGS);
	for (size_t i = 0; i < n; i++) {
		const char *f;

		if ((r = oci_elem(a, "linux.seccomp.flags", i, json_type_string, &v, where, err)) < 0 ||
		    (r = oci_str(v, where, &f, err)) < 0)
			return r;
		if (strcmp(f, "SECCOMP_FILTER_FLAG_LOG") == 0)
			*flags |= SECCOMP_FILTER_FLAG_LOG;
		else if (strcmp(f, "SECCOMP_FILTER_FLAG_SPEC_ALLOW") == 0)
			*flags |= SECCOMP_FILTER_FLAG_SPEC_ALLOW;
		/* TSYNC: a process peon-sshd starts has one thread when the filter
		 * goes in. WAIT_KILLABLE_RECV: about a listener, and there is none
		 * (the kernel refuses it without one). runc accepts both. */
		else if (strcmp(f, "SECCOMP_FILTER_FLAG_TSYNC") != 0 &&
			 strcmp(f, "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV") != 0) {
			oci_quote(f, q, sizeof(q));
			return errf(err, -EINVAL, "%s is \"%s\", not a seccomp filter flag", where, q);
		}
	}
	return 0;
}

static int read_cmp(json_object *o, const char *where, struct scmp_arg_cmp *c, char *err)
{
	char w[OCI_WHERE_MAX], q[80];
	uint64_t index, value, two = 0;
	json_object *v;
	const char *op;
	int r;

	oci_place(w, "%s.index", where);
	if ((r = oci_required(o, where, "index", json_type_int, &v, err)) < 0 ||
	    (r = oci_u64(v, w, OCI_SECCOMP_MAX_ARGS - 1, &index, err)) < 0)
		return r;
	oci_place(w, "%s.value", where);
	if ((r = oci_required(o, where, "value", json_type_int, &v, err)) < 0 ||
	    (r = oci_u64(v, w, UINT64_MAX, &value, err)) < 0)
		return r;
	/* For MASKED_EQ, value is the mask and valueTwo what the masked
	 * argument must equal, in libseccomp's order (datum_a, datum_b). */
	oci_place(w, "%s.valueTwo", where);
	if ((r = oci_member(o, where, "valueTwo", json_type_int, &v, err)) < 0 ||
	    (r > 0 && (r = oci_u64(v, w, UINT64_MAX, &two, err)) < 0))
		return r;
	oci_place(w, "%s.op", where);
	if ((r = oci_required(o, where, "op", json_type_string, &v, err)) < 0 || (r = oci_str(v, w, &op, err)) < 0)
		return r;
	*c = (struct scmp_arg_cmp){ .arg = (unsigned)index, .datum_a = value, .datum_b = two };
	for (size_t i = 0; i < ARRAY_SIZE(comparisons); i++)
		if (strcmp(op, comparisons[i].name) == 0) {
			c->op = comparisons[i].op;
			return 0;
		}
	oci_quote(op, q, sizeof(q));
	return errf(err, -EINVAL, "%s is \"%s\", not a seccomp comparison", w, q);
}

static int read_rule(json_object *e, const char *where, struct rule *rl, char *err)
{
	char path[OCI_WHERE_MAX], w[OCI_WHERE_MAX];
	unsigned tests[OCI_SECCOMP_MAX_ARGS] = { 0 };
	json_object *args, *a;
	size_t n;
	int r;

	memset(rl, 0, sizeof(*rl));
	if ((r = read_action(e, where, "action", "errnoRet", &rl->action, err)) < 0 ||
	    (r = oci_member(e, where, "args", json_type_array, &args, err)) <= 0)
		return r;
	if ((n = json_object_array_length(args)) > OCI_SECCOMP_MAX_ARGS)
		return errf(err, -E2BIG, "%s.args has %zu conditions: a syscall has %d arguments", where, n,
			    OCI_SECCOMP_MAX_ARGS);
	oci_place(path, "%s.args", where);
	for (size_t i = 0; i < n; i++) {
		if ((r = oci_elem(args, path, i, json_type_object, &a, w, err)) < 0 ||
		    (r = read_cmp(a, w, &rl->cmp[i], err)) < 0)
			return r;
		if (++tests[rl->cmp[i].arg] > 1)
			rl->split = true;
	}
	rl->n_cmp = (unsigned)n;
	return 0;
}

static int add_rule(scmp_filter_ctx ctx, const struct rule *rl, int nr, const char *where, const char *name,
		    size_t *n_rules, char *err)
{
	char q[80];
	int r = 0;

	if (!rl->split) {
		r = seccomp_rule_add_array(ctx, rl->action, nr, rl->n_cmp, rl->cmp);
		(*n_rules)++;
	}
	for (unsigned i = 0; rl->split && i < rl->n_cmp && r == 0; i++) {
		r = seccomp_rule_add_array(ctx, rl->action, nr, 1, &rl->cmp[i]);
		(*n_rules)++;
	}
	if (r < 0) {
		oci_quote(name, q, sizeof(q));
		return errf(err, r, "libseccomp cannot add the rule of %s for %s: %s", where, q, strerror(-r));
	}
	return 0;
}

/* What the syscalls[] entries add to one part of the filter. */
struct profile {
	json_object *calls;
	uint32_t def;
	size_t n_rules;                /* rules added */
	int last;                      /* highest native number named, any action; -1 = none */
};

static int add_names(scmp_filter_ctx ctx, json_object *e, const char *where, const struct rule *rl,
		     struct profile *p, size_t *names, char *err)
{
	char path[OCI_WHERE_MAX], w[OCI_WHERE_MAX];
	json_object *a, *v;
	size_t n;
	/* Go takes a null or missing names as none: the entry does nothing. */
	int r = oci_member(e, where, "names", json_type_array, &a, err);

	if (r <= 0)
		return r;
	n = json_object_array_length(a);
	if ((*names += n) > OCI_SECCOMP_MAX_NAMES)
		return errf(err, -E2BIG, "linux.seccomp.syscalls names more than %d syscalls in all",
			    OCI_SECCOMP_MAX_NAMES);
	oci_place(path, "%s.names", where);
	for (size_t i = 0; i < n; i++) {
		const char *name;
		int nr;

		if ((r = oci_elem(a, path, i, json_type_string, &v, w, err)) < 0 || (r = oci_str(v, w, &name, err)) < 0)
			return r;
		if (!*name)
			return errf(err, -EINVAL, "%s is empty, which names no syscall", w);
		if ((nr = seccomp_syscall_resolve_name(name)) == __NR_SCMP_ERROR)
			continue;
		/* Negative numbers are libseccomp's stand-ins for syscalls the
		 * native architecture does not have. */
		if (nr > p->last)
			p->last = nr;
		if (rl->action == p->def)
			continue;
		if ((r = add_rule(ctx, rl, nr, where, name, &p->n_rules, err)) < 0)
			return r;
	}
	return 0;
}

static int add_syscalls(scmp_filter_ctx ctx, struct profile *p, char *err)
{
	char where[OCI_WHERE_MAX];
	size_t n = p->calls ? json_object_array_length(p->calls) : 0, names = 0;

	for (size_t i = 0; i < n; i++) {
		struct rule rl;
		json_object *e;
		int r;

		if ((r = oci_elem(p->calls, "linux.seccomp.syscalls", i, json_type_object, &e, where, err)) < 0 ||
		    (r = read_rule(e, where, &rl, err)) < 0 || (r = add_names(ctx, e, where, &rl, p, &names, err)) < 0)
			return r;
	}
	return 0;
}

/* runc's test (patchbpf's generatePatch): a default that lets syscalls
 * through needs no stub, nor one that answers ENOSYS already. */
static bool wants_stub(uint32_t def)
{
	return def != SCMP_ACT_ERRNO(ENOSYS) && def != SCMP_ACT_ALLOW && def != SCMP_ACT_LOG &&
	       (def & SECCOMP_RET_ACTION_FULL) != SECCOMP_RET_TRACE;
}

static int add_stub(scmp_filter_ctx ctx, struct profile *p, char *err)
{
	int r;

	if (!wants_stub(p->def) || p->last < 0)
		return 0;
	for (int nr = p->last + 1; nr <= STUB_TOP; nr++) {
		if ((r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0)) < 0)
			return errf(err, r, "libseccomp cannot add the ENOSYS rule for syscall %d: %s", nr, strerror(-r));
		p->n_rules++;
	}
	return 0;
}

/* A part of the filter, empty: the default action, and no_new_privs left
 * to noNewPrivileges. */
static int new_part(uint32_t def, scmp_filter_ctx *out, char *err)
{
	int r;

	if (!(*out = seccomp_init(def)))
		return errf(err, -EINVAL, "libseccomp refuses linux.seccomp.defaultAction (an action this kernel lacks?)");
	if ((r = seccomp_attr_set(*out, SCMP_FLTATR_CTL_NNP, 0)) < 0) {
		seccomp_release(*out);
		*out = NULL;
		return errf(err, r, "libseccomp cannot leave no_new_privs alone: %s", strerror(-r));
	}
	return 0;
}

/* The part for the spec's other architectures: NULL when it lists none. */
static int other_part(json_object *sec, struct profile *p, scmp_filter_ctx *out, char *err)
{
	scmp_filter_ctx ctx = NULL;
	size_t added;
	int r;

	*out = NULL;
	if ((r = new_part(p->def, &ctx, err)) < 0)
		return r;
	if ((r = seccomp_arch_remove(ctx, SCMP_ARCH_NATIVE)) < 0) {
		errf(err, r, "libseccomp cannot split the filter by architecture: %s", strerror(-r));
		goto fail;
	}
	if ((r = add_other_arches(ctx, sec, &added, err)) < 0)
		goto fail;
	if (added == 0) {
		seccomp_release(ctx);
		return 0;
	}
	if ((r = add_syscalls(ctx, p, err)) < 0)
		goto fail;
	*out = ctx;
	return 0;
fail:
	seccomp_release(ctx);
	return r;
}

/* Through a memfd: libseccomp 2.5 exports to a file descriptor only. */
static int export_filter(scmp_filter_ctx ctx, struct job_seccomp **out, char *err)
{
	struct job_seccomp *s = NULL;
	struct stat st;
	char *raw = NULL;
	size_t len = 0;
	int fd, r;

	if ((fd = memfd_create("peon-oci-seccomp", MFD_CLOEXEC)) < 0)
		return errf(err, -errno, "cannot create a memfd for the seccomp filter: %s", strerror(errno));
	if ((r = seccomp_export_bpf(ctx, fd)) < 0) {
		errf(err, r, "libseccomp cannot generate the spec's seccomp filter: %s", strerror(-r));
		goto out;
	}
	if (fstat(fd, &st) < 0 || lseek(fd, 0, SEEK_SET) < 0) {
		r = errf(err, -errno, "cannot read back the seccomp filter: %s", strerror(errno));
		goto out;
	}
	if (st.st_size / (off_t)sizeof(struct sock_filter) > BPF_MAXINSNS) {
		r = errf(err, -E2BIG, "the spec's seccomp filter compiles to %lld instructions: the kernel takes at "
				      "most %d in one filter", (long long)(st.st_size / (off_t)sizeof(struct sock_filter)), BPF_MAXINSNS);
		goto out;
	}
	if ((r = read_fd(fd, BPF_MAXINSNS * sizeof(struct sock_filter), &raw, &len)) < 0) {
		errf(err, r, "cannot read back the seccomp filter: %s", strerror(-r));
		goto out;
	}
	if (len == 0 || len % sizeof(struct sock_filter)) {
		r = errf(err, -EIO, "libseccomp exported %zu bytes, not a whole program", len);
		goto out;
	}
	if (!(s = calloc(1, sizeof(*s))) || !(s->f = calloc(1, sizeof(*s->f)))) {
		free(s);
		r = errf(err, -ENOMEM, "out of memory compiling the spec's seccomp filter");
		goto out;
	}
	s->n = 1;
	s->f[0].len = (uint32_t)(len / sizeof(struct sock_filter));
	s->f[0].insns = (struct sock_filter *)raw;
	raw = NULL;
	*out = s;
out:
	free(raw);
	close(fd);
	return r;
}

int oci_seccomp_compile(json_object *sec, struct job_seccomp **out, unsigned *flags, char *err)
{
	scmp_filter_ctx ctx = NULL, other = NULL;
	struct profile p = { .last = -1 }, po;
	json_object *dflt;
	size_t n_calls;
	int r;

	*out = NULL;
	*flags = 0;
	if ((r = oci_member(sec, "linux.seccomp", "defaultAction", json_type_string, &dflt, err)) < 0 ||
	    (r = oci_member(sec, "linux.seccomp", "syscalls", json_type_array, &p.calls, err)) < 0)
		return r;
	n_calls = p.calls ? json_object_array_length(p.calls) : 0;
	/* runc's reading: no default action and no syscalls is no seccomp. */
	if (dflt && json_object_get_string_len(dflt) == 0)
		dflt = NULL;
	if (!dflt && n_calls == 0)
		return 0;
	if (!dflt)
		return errf(err, -EINVAL, "linux.seccomp has syscalls but no defaultAction");
	if (n_calls > OCI_SECCOMP_MAX_SYSCALLS)
		return errf(err, -E2BIG, "linux.seccomp.syscalls has %zu entries: at most %d", n_calls,
			    OCI_SECCOMP_MAX_SYSCALLS);
	if ((r = read_action(sec, "linux.seccomp", "defaultAction", "defaultErrnoRet", &p.def, err)) < 0 ||
	    (r = read_flags(sec, flags, err)) < 0)
		goto out;
	po = p;
	/* The native part, with the stub, and the others' part, merged. */
	if ((r = new_part(p.def, &ctx, err)) < 0 || (r = add_syscalls(ctx, &p, err)) < 0 ||
	    (r = add_stub(ctx, &p, err)) < 0 || (r = other_part(sec, &po, &other, err)) < 0)
		goto out;
	/* Not fatal: an older libseccomp makes a longer program, the same
	 * filter. Both parts alike, as seccomp_merge wants. */
	if (p.n_rules > OPTIMIZE_ABOVE) {
		seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
		if (other)
			seccomp_attr_set(other, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	}
	if (other) {
		if ((r = seccomp_merge(ctx, other)) < 0) {
			errf(err, r, "libseccomp cannot join the filter's architectures: %s", strerror(-r));
			goto out;
		}
		other = NULL;          /* merged: ctx owns it now */
	}
	if ((r = export_filter(ctx, out, err)) == 0)
		(*out)->f[0].flags = *flags;
out:
	if (other)
		seccomp_release(other);
	if (ctx)
		seccomp_release(ctx);
	if (r < 0)
		*flags = 0;
	return r;
}
