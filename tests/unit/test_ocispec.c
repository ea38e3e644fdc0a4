#include "test_util.h"
#include "ocispec.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

/* config.json of a Docker 20.10 container run with --user 1000:1000
 * --cap-drop ALL --security-opt no-new-privileges --ulimit nofile=512,
 * under Docker's default seccomp profile. */
#define FIXTURE "fixtures/docker-20.10-config.json"

static int parse(const char *json, struct oci_spec **out, char *err)
{
	int r;

	*err = '\0';
	r = ocispec_parse(json, strlen(json), out, err);
	if (r < 0) {
		assert_null(*out);
		assert_true(*err);           /* every refusal says why */
	} else {
		assert_non_null(*out);
	}
	return r;
}

static struct oci_spec *parsed(const char *json)
{
	struct oci_spec *s = NULL;
	char err[ERRLEN];

	if (parse(json, &s, err) < 0)
		fail_msg("spec %s refused: %s", json, err);
	return s;
}

/* json is refused with code, and the sentence holds want. */
static void refused(const char *json, int code, const char *want)
{
	struct oci_spec *s = NULL;
	char err[ERRLEN];
	int r = parse(json, &s, err);

	if (r != code || !strstr(err, want))
		fail_msg("spec %.200s: got %d \"%s\", want %d and \"%s\"", json, r, err, code, want);
}

/* ---- the process settings ---- */

static void test_docker_fixture(void **state)
{
	struct oci_spec *s = NULL;
	char err[ERRLEN] = "";

	(void)state;
	assert_int_equal(ocispec_load(AT_FDCWD, FIXTURE, &s, err), 0);
	assert_true(s->has_user);
	assert_int_equal(s->uid, 1000);
	assert_int_equal(s->gid, 1000);
	assert_int_equal(s->n_gids, 1);
	assert_int_equal(s->gids[0], 1000);
	/* --cap-drop ALL: "capabilities": {}, every set empty. */
	assert_true(s->has_caps);
	assert_true(s->bnd == 0 && s->eff == 0 && s->inh == 0 && s->prm == 0 && s->amb == 0);
	assert_int_equal(s->n_rlimits, 1);
	assert_int_equal(s->rlimits[0].resource, RLIMIT_NOFILE);
	assert_int_equal(s->rlimits[0].soft, 512);
	assert_int_equal(s->rlimits[0].hard, 512);
	assert_true(s->no_new_privs);
	assert_true(s->has_oom_score_adj);
	assert_int_equal(s->oom_score_adj, 0);
	assert_null(s->apparmor);
	assert_null(s->selinux);
	assert_string_equal(s->cwd, "/");
	assert_non_null(s->seccomp);
	assert_int_equal(s->seccomp->n, 1);
	assert_in_range(s->seccomp->f[0].len, 2, BPF_MAXINSNS);
	/* No flags member: what runc then asks for. */
	assert_int_equal(s->seccomp_flags, SECCOMP_FILTER_FLAG_SPEC_ALLOW);
	/* ... and the filter carries them to seccomp(2). */
	assert_int_equal(s->seccomp->f[0].flags, SECCOMP_FILTER_FLAG_SPEC_ALLOW);
	ocispec_free(s);
}

static void test_absent_and_null_are_nothing(void **state)
{
	struct oci_spec *s;

	(void)state;
	s = parsed("{}");
	assert_false(s->has_user || s->has_caps || s->no_new_privs || s->has_oom_score_adj);
	assert_true(s->n_rlimits == 0 && !s->rlimits && !s->gids && !s->cwd && !s->seccomp);
	assert_int_equal(s->seccomp_flags, 0);
	ocispec_free(s);
	/* Go's decoder, so runc, takes null as absent. */
	s = parsed("{\"process\":{\"user\":null,\"capabilities\":null,\"oomScoreAdj\":null,\"apparmorProfile\":null},"
		   "\"linux\":{\"seccomp\":null}}");
	assert_false(s->has_user || s->has_caps || s->has_oom_score_adj);
	assert_null(s->apparmor);
	ocispec_free(s);
	/* A seccomp member with neither a default action nor syscalls is none. */
	s = parsed("{\"linux\":{\"seccomp\":{\"defaultAction\":\"\",\"architectures\":[\"SCMP_ARCH_X86_64\"]}}}");
	assert_null(s->seccomp);
	assert_int_equal(s->seccomp_flags, 0);
	ocispec_free(s);
}

static void test_process_settings(void **state)
{
	struct oci_spec *s;

	(void)state;
	s = parsed("{\"process\":{\"user\":{\"uid\":0,\"gid\":4294967294,\"additionalGids\":[]},"
		   "\"capabilities\":{\"bounding\":[\"CAP_CHOWN\",\"CAP_SYS_ADMIN\",\"CAP_CHOWN\"],"
		   "\"permitted\":[\"CAP_CHECKPOINT_RESTORE\"],\"ambient\":[]},"
		   "\"rlimits\":[{\"type\":\"RLIMIT_CORE\",\"soft\":0,\"hard\":18446744073709551615},"
		   "{\"type\":\"RLIMIT_NPROC\",\"soft\":10,\"hard\":10}],"
		   "\"noNewPrivileges\":false,\"oomScoreAdj\":-1000,"
		   "\"apparmorProfile\":\"docker-default\",\"selinuxLabel\":\"\",\"cwd\":\"/work dir\","
		   "\"env\":[\"A=1\"],\"args\":[\"sh\"],\"terminal\":true,\"unknownToUs\":{\"x\":[1.5]}}}\n");
	assert_int_equal(s->uid, 0);
	assert_int_equal(s->gid, 4294967294U);
	assert_int_equal(s->n_gids, 0);
	assert_true(s->bnd == ((1ULL << CAP_CHOWN) | (1ULL << CAP_SYS_ADMIN)));
	assert_true(s->prm == 1ULL << 40);
	assert_true(s->eff == 0 && s->inh == 0 && s->amb == 0);
	assert_int_equal(s->n_rlimits, 2);
	assert_int_equal(s->rlimits[0].resource, RLIMIT_CORE);
	assert_true(s->rlimits[0].hard == RLIM_INFINITY);
	assert_int_equal(s->rlimits[1].resource, RLIMIT_NPROC);
	assert_false(s->no_new_privs);
	assert_int_equal(s->oom_score_adj, -1000);
	assert_string_equal(s->apparmor, "docker-default");
	assert_null(s->selinux);
	assert_string_equal(s->cwd, "/work dir");
	ocispec_free(s);
}

static void test_bad_json_refused(void **state)
{
	char *big = malloc(OCI_SPEC_MAX_BYTES + 2);
	struct oci_spec *s = NULL;
	char err[ERRLEN];
	char deep[128] = "";

	(void)state;
	refused("", -EINVAL, "ends before");
	refused("{\"process\":{", -EINVAL, "ends before");
	refused("{]", -EINVAL, "not JSON");
	refused("{\"a\":1,}", -EINVAL, "not JSON");                 /* Go refuses a trailing comma */
	refused("{} x", -EINVAL, "more after its JSON value, at byte 3");
	refused("{}{}", -EINVAL, "more after");
	refused("[]", -EINVAL, "the spec is an array, not a JSON object");
	refused("\"spec\"", -EINVAL, "not a JSON object");
	refused("null ", -EINVAL, "the spec is null, not a JSON object");
	for (int i = 0; i < 40; i++)
		strcat(deep, "[");
	refused(deep, -EINVAL, "not JSON");                          /* json-c's depth of 32 */
	/* The length is what counts, not a NUL. */
	assert_int_equal(ocispec_parse("{}garbage", 2, &s, err), 0);
	ocispec_free(s);
	assert_int_equal(ocispec_parse("{}\0", 3, &s, err), -EINVAL);
	/* Too large, before any parsing. */
	memset(big, ' ', OCI_SPEC_MAX_BYTES + 1);
	big[0] = '{';
	big[OCI_SPEC_MAX_BYTES - 1] = '}';
	assert_int_equal(ocispec_parse(big, OCI_SPEC_MAX_BYTES, &s, err), 0);
	ocispec_free(s);
	assert_int_equal(ocispec_parse(big, OCI_SPEC_MAX_BYTES + 1, &s, err), -EFBIG);
	assert_non_null(strstr(err, "at most 4194304"));
	assert_null(s);
	free(big);
}

static void test_bad_values_refused(void **state)
{
	(void)state;
	refused("{\"process\":\"x\"}", -EINVAL, "process must be an object, not a string");
	refused("{\"process\":{\"user\":{\"uid\":\"1000\",\"gid\":0}}}", -EINVAL,
		"process.user.uid must be a whole number, not a string");
	refused("{\"process\":{\"user\":{\"uid\":1.5,\"gid\":0}}}", -EINVAL, "not a fractional number");
	refused("{\"process\":{\"user\":{\"gid\":0}}}", -EINVAL, "process.user has no uid");
	refused("{\"process\":{\"user\":{\"uid\":0}}}", -EINVAL, "process.user has no gid");
	refused("{\"process\":{\"user\":{\"uid\":4294967295,\"gid\":0}}}", -ERANGE,
		"process.user.uid is 4294967295: it must be 0..4294967294");
	refused("{\"process\":{\"user\":{\"uid\":0,\"gid\":-1}}}", -ERANGE, "process.user.gid is -1");
	refused("{\"process\":{\"user\":{\"uid\":0,\"gid\":0,\"additionalGids\":[1,\"2\"]}}}", -EINVAL,
		"process.user.additionalGids[1] must be a whole number, not a string");
	refused("{\"process\":{\"user\":{\"uid\":0,\"gid\":0,\"additionalGids\":[1,null]}}}", -EINVAL,
		"additionalGids[1] must be a whole number, not null");
	refused("{\"process\":{\"capabilities\":{\"effective\":[\"CAP_CHOWN\",\"CAP_FOO\"]}}}", -EINVAL,
		"process.capabilities.effective[1] is \"CAP_FOO\", not a capability");
	refused("{\"process\":{\"capabilities\":{\"bounding\":[\"cap_chown\"]}}}", -EINVAL, "\"cap_chown\"");
	refused("{\"process\":{\"capabilities\":{\"ambient\":\"CAP_CHOWN\"}}}", -EINVAL,
		"process.capabilities.ambient must be an array");
	refused("{\"process\":{\"capabilities\":{\"bounding\":[\"CAP_\\u001b[31m\"]}}}", -EINVAL, "\"CAP_?[31m\"");
	refused("{\"process\":{\"rlimits\":[{\"type\":\"RLIMIT_FOO\",\"soft\":1,\"hard\":1}]}}", -EINVAL,
		"process.rlimits[0].type is \"RLIMIT_FOO\", not a resource limit");
	refused("{\"process\":{\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"soft\":1,\"hard\":1},"
		"{\"type\":\"RLIMIT_NOFILE\",\"soft\":2,\"hard\":2}]}}", -EINVAL,
		"process.rlimits[1] sets RLIMIT_NOFILE again");
	refused("{\"process\":{\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"soft\":2,\"hard\":1}]}}", -ERANGE,
		"process.rlimits[0] has a soft limit (2) above its hard limit (1)");
	refused("{\"process\":{\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"soft\":-1,\"hard\":1}]}}", -ERANGE,
		"process.rlimits[0].soft is -1");
	refused("{\"process\":{\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"soft\":1}]}}", -EINVAL,
		"process.rlimits[0] has no hard");
	refused("{\"process\":{\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"soft\":1,\"hard\":18446744073709551616}]}}",
		-ERANGE, "the spec holds the number 18446744073709551616, beyond 64 bits");
	refused("{\"x\":-9223372036854775809}", -ERANGE, "beyond 64 bits");
	refused("{\"process\":{\"rlimits\":[7]}}", -EINVAL, "process.rlimits[0] must be an object, not a whole number");
	refused("{\"process\":{\"noNewPrivileges\":\"yes\"}}", -EINVAL, "process.noNewPrivileges must be true or false");
	refused("{\"process\":{\"oomScoreAdj\":1001}}", -ERANGE, "process.oomScoreAdj is 1001: it must be -1000..1000");
	refused("{\"process\":{\"oomScoreAdj\":-1001}}", -ERANGE, "process.oomScoreAdj is -1001");
	refused("{\"process\":{\"cwd\":\"work\"}}", -EINVAL, "process.cwd is \"work\", not an absolute path");
	refused("{\"process\":{\"apparmorProfile\":\"a\\nb\"}}", -EINVAL, "process.apparmorProfile holds a newline");
	refused("{\"process\":{\"selinuxLabel\":\"a\\u0000b\"}}", -EINVAL, "process.selinuxLabel holds a NUL byte");
	refused("{\"linux\":[]}", -EINVAL, "linux must be an object, not an array");
	refused("{\"linux\":{\"seccomp\":true}}", -EINVAL, "linux.seccomp must be an object");
}

static void test_bounds_refused(void **state)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	f = open_memstream(&text, &len);
	fputs("{\"process\":{\"rlimits\":[", f);
	for (int i = 0; i <= OCI_MAX_RLIMITS; i++)
		fprintf(f, "%s{\"type\":\"RLIMIT_NOFILE\",\"soft\":1,\"hard\":1}", i ? "," : "");
	fputs("]}}", f);
	fclose(f);
	refused(text, -E2BIG, "process.rlimits has 65 entries: at most 64");
	free(text);

	f = open_memstream(&text, &len);
	fputs("{\"process\":{\"user\":{\"uid\":0,\"gid\":0,\"additionalGids\":[", f);
	for (int i = 0; i <= OCI_MAX_GIDS; i++)
		fprintf(f, "%s1", i ? "," : "");
	fputs("]}}}", f);
	fclose(f);
	refused(text, -E2BIG, "process.user.additionalGids has 65537 groups: at most 65536");
	free(text);

	f = open_memstream(&text, &len);
	fputs("{\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[", f);
	for (int i = 0; i <= OCI_SECCOMP_MAX_SYSCALLS; i++)
		fprintf(f, "%s{\"names\":[],\"action\":\"SCMP_ACT_ALLOW\"}", i ? "," : "");
	fputs("]}}}", f);
	fclose(f);
	refused(text, -E2BIG, "linux.seccomp.syscalls has 4097 entries: at most 4096");
	free(text);

	f = open_memstream(&text, &len);
	fputs("{\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"action\":"
	      "\"SCMP_ACT_ALLOW\",\"names\":[", f);
	for (int i = 0; i <= OCI_SECCOMP_MAX_NAMES; i++)
		fprintf(f, "%s\"getpid\"", i ? "," : "");
	fputs("]}]}}}", f);
	fclose(f);
	refused(text, -E2BIG, "names more than 16384 syscalls");
	free(text);
}

static void test_load(void **state)
{
	struct oci_spec *s = NULL;
	char err[ERRLEN], *path;
	int dfd, fd;

	(void)state;
	/* Relative to a directory fd. */
	dfd = open("fixtures", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(dfd >= 0);
	assert_int_equal(ocispec_load(dfd, "docker-20.10-config.json", &s, err), 0);
	assert_int_equal(s->uid, 1000);
	ocispec_free(s);
	s = NULL;
	assert_int_equal(ocispec_load(dfd, "nonexistent.json", &s, err), -ENOENT);
	assert_non_null(strstr(err, "cannot open the spec nonexistent.json"));
	assert_int_equal(ocispec_load(AT_FDCWD, "fixtures", &s, err), -EINVAL);
	assert_non_null(strstr(err, "is not a regular file"));
	close(dfd);
	/* One byte over the bound. */
	path = tmpfile_with("{");
	fd = open(path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, OCI_SPEC_MAX_BYTES + 1), 0);
	close(fd);
	assert_int_equal(ocispec_load(AT_FDCWD, path, &s, err), -EFBIG);
	assert_non_null(strstr(err, "larger than 4194304 bytes"));
	assert_null(s);
	tmpfile_drop(path);
	/* A refusal of the text comes through. */
	path = tmpfile_with("{\"process\":{\"oomScoreAdj\":5000}}");
	assert_int_equal(ocispec_load(AT_FDCWD, path, &s, err), -ERANGE);
	assert_non_null(strstr(err, "process.oomScoreAdj is 5000"));
	tmpfile_drop(path);
}

/* ---- linux.seccomp: what is refused ---- */

#define SEC(body) "{\"linux\":{\"seccomp\":{" body "}}}"
#define ERRNO_ON_GETPPID(extra) \
	SEC("\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"getppid\"]," extra "}]")

static void test_seccomp_refused(void **state)
{
	(void)state;
	refused(SEC("\"defaultAction\":\"SCMP_ACT_NOTIFY\""), -EOPNOTSUPP,
		"linux.seccomp.defaultAction is SCMP_ACT_NOTIFY, which hands syscalls to a listener");
	refused(ERRNO_ON_GETPPID("\"action\":\"SCMP_ACT_NOTIFY\""), -EOPNOTSUPP,
		"linux.seccomp.syscalls[0].action is SCMP_ACT_NOTIFY");
	refused(SEC("\"defaultAction\":\"SCMP_ACT_FOO\""), -EINVAL,
		"linux.seccomp.defaultAction is \"SCMP_ACT_FOO\", not a seccomp action");
	refused(SEC("\"syscalls\":[{\"names\":[\"getpid\"],\"action\":\"SCMP_ACT_ALLOW\"}]"), -EINVAL,
		"linux.seccomp has syscalls but no defaultAction");
	refused(ERRNO_ON_GETPPID("\"errnoRet\":1"), -EINVAL, "linux.seccomp.syscalls[0] has no action");
	refused(ERRNO_ON_GETPPID("\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":65536"), -ERANGE,
		"linux.seccomp.syscalls[0].errnoRet is 65536: it must be 0..65535");
	refused(SEC("\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":-1"), -ERANGE,
		"linux.seccomp.defaultErrnoRet is -1");
	refused(SEC("\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":[\"SCMP_ARCH_X86_64\",\"SCMP_ARCH_PDP11\"]"),
		-EINVAL, "linux.seccomp.architectures[1] is \"SCMP_ARCH_PDP11\", not an architecture libseccomp knows");
	refused(SEC("\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":[\"x86_64\"]"), -EINVAL, "\"x86_64\"");
	refused(SEC("\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":[\"SCMP_ARCH_\"]"), -EINVAL, "architecture");
	refused(SEC("\"defaultAction\":\"SCMP_ACT_ALLOW\",\"flags\":[\"SECCOMP_FILTER_FLAG_NEW_LISTENER\"]"), -EINVAL,
		"linux.seccomp.flags[0] is \"SECCOMP_FILTER_FLAG_NEW_LISTENER\", not a seccomp filter flag");
	refused(ERRNO_ON_GETPPID("\"action\":\"SCMP_ACT_ERRNO\",\"args\":[{\"index\":0,\"value\":1,\"op\":\"SCMP_CMP_FOO\"}]"),
		-EINVAL, "linux.seccomp.syscalls[0].args[0].op is \"SCMP_CMP_FOO\", not a seccomp comparison");
	refused(ERRNO_ON_GETPPID("\"action\":\"SCMP_ACT_ERRNO\",\"args\":[{\"index\":6,\"value\":1,\"op\":\"SCMP_CMP_EQ\"}]"),
		-ERANGE, "linux.seccomp.syscalls[0].args[0].index is 6: it must be 0..5");
	refused(ERRNO_ON_GETPPID("\"action\":\"SCMP_ACT_ERRNO\",\"args\":[{\"index\":0,\"op\":\"SCMP_CMP_EQ\"}]"),
		-EINVAL, "linux.seccomp.syscalls[0].args[0] has no value");
	refused(ERRNO_ON_GETPPID("\"action\":\"SCMP_ACT_ERRNO\",\"args\":[{\"index\":0,\"value\":1,\"op\":\"SCMP_CMP_EQ\"},"
				 "{\"index\":1,\"value\":1,\"op\":\"SCMP_CMP_EQ\"},{\"index\":2,\"value\":1,\"op\":\"SCMP_CMP_EQ\"},"
				 "{\"index\":3,\"value\":1,\"op\":\"SCMP_CMP_EQ\"},{\"index\":4,\"value\":1,\"op\":\"SCMP_CMP_EQ\"},"
				 "{\"index\":5,\"value\":1,\"op\":\"SCMP_CMP_EQ\"},{\"index\":0,\"value\":2,\"op\":\"SCMP_CMP_EQ\"}]"),
		-E2BIG, "linux.seccomp.syscalls[0].args has 7 conditions");
	refused(SEC("\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"\"],\"action\":\"SCMP_ACT_ERRNO\"}]"),
		-EINVAL, "linux.seccomp.syscalls[0].names[0] is empty");
	refused(SEC("\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"getpid\",3],\"action\":\"SCMP_ACT_ERRNO\"}]"),
		-EINVAL, "linux.seccomp.syscalls[0].names[1] must be a string");
	refused(SEC("\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":{}"), -EINVAL,
		"linux.seccomp.syscalls must be an array");
}

/* Under a default ERRNO, each value personality may take is a rule of its
 * own: more than one filter may hold, and the spec is refused. */
static void test_seccomp_filter_too_long(void **state)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	(void)state;
	fputs("{\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[", f);
	/* Both halves of each value differ: some four instructions a value. */
	for (unsigned long long i = 1; i <= 2000; i++)
		fprintf(f, "%s{\"names\":[\"personality\"],\"action\":\"SCMP_ACT_ALLOW\",\"args\":"
			   "[{\"index\":0,\"value\":%llu,\"op\":\"SCMP_CMP_EQ\"}]}", i > 1 ? "," : "",
			i * 0x100000001ULL);
	fputs("]}}}", f);
	fclose(f);
	refused(text, -E2BIG, "instructions: the kernel takes at most 4096 in one filter");
	free(text);
}

static void test_seccomp_flags(void **state)
{
	struct oci_spec *s;

	(void)state;
	s = parsed(SEC("\"defaultAction\":\"SCMP_ACT_ALLOW\",\"flags\":[\"SECCOMP_FILTER_FLAG_LOG\","
		       "\"SECCOMP_FILTER_FLAG_TSYNC\",\"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV\"]"));
	assert_int_equal(s->seccomp_flags, SECCOMP_FILTER_FLAG_LOG);
	assert_non_null(s->seccomp);
	assert_int_equal(s->seccomp->f[0].flags, SECCOMP_FILTER_FLAG_LOG);
	ocispec_free(s);
	s = parsed(SEC("\"defaultAction\":\"SCMP_ACT_ALLOW\",\"flags\":[]"));
	assert_int_equal(s->seccomp_flags, 0);
	ocispec_free(s);
	s = parsed(SEC("\"defaultAction\":\"SCMP_ACT_ALLOW\",\"flags\":[\"SECCOMP_FILTER_FLAG_SPEC_ALLOW\","
		       "\"SECCOMP_FILTER_FLAG_LOG\"]"));
	assert_int_equal(s->seccomp_flags, SECCOMP_FILTER_FLAG_SPEC_ALLOW | SECCOMP_FILTER_FLAG_LOG);
	ocispec_free(s);
}

/* ---- linux.seccomp: what the compiled filter does, in a child ---- */

typedef int (*probe_fn)(void);

/* valgrind has no seccomp(2) (ENOSYS, as a kernel without seccomp): there
 * the filters cannot be tried, only compiled. */
static void need_seccomp(void)
{
	static int missing = -1;       /* asked once: valgrind warns each time */
	unsigned action = SECCOMP_RET_ALLOW;

	if (missing < 0)
		missing = syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) < 0 && errno == ENOSYS;
	if (missing)
		skip();
}

/* probe's exit status in a child with no_new_privs and filter s (none when
 * NULL), installed as peon-sshd will: 0 when every check held, otherwise
 * the number of the first one that did not. */
static int in_child(const struct job_seccomp *s, probe_fn probe)
{
	pid_t pid = fork();
	int st;

	assert_true(pid >= 0);
	if (pid == 0) {
		char err[ERRLEN];

		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			_exit(100);
		if (s && job_seccomp_install(s, err) < 0)
			_exit(101);
		_exit(probe());
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (!WIFEXITED(st))
		fail_msg("the probe was killed by signal %d", WTERMSIG(st));
	return WEXITSTATUS(st);
}

/* clone() with flags; a child that should not have been is gone at once. */
static long raw_clone(unsigned long flags)
{
	long r = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);

	if (r == 0)
		_exit(0);
	if (r > 0)
		waitpid((pid_t)r, NULL, 0);
	return r;
}

/* Docker's profile: its allow list, its personality and clone rules, and
 * clone3 answered ENOSYS (errnoRet 38) so that glibc falls back to clone. */
static int docker_probe(void)
{
	pid_t pid;

	if (syscall(SYS_getpid) <= 0)
		return 1;
	errno = 0;
	if (unshare(CLONE_NEWUSER) != -1 || errno != EPERM)
		return 2;
	if (personality(0xffffffff) < 0)
		return 3;
	if (personality(ADDR_COMPAT_LAYOUT) != -1 || errno != EPERM)
		return 4;
	if (syscall(SYS_clone3, NULL, 0) != -1 || errno != ENOSYS)
		return 5;
	/* clone: MASKED_EQ with the namespace flags as the mask, 0 as the value. */
	if ((pid = fork()) == 0)
		_exit(0);
	if (pid < 0 || waitpid(pid, NULL, 0) != pid)
		return 6;
	if (raw_clone(CLONE_NEWUSER) != -1 || errno != EPERM)
		return 7;
	return 0;
}

/* What docker_probe sees as denied is allowed without the filter, and
 * clone3 is not ENOSYS: the probe can tell a filter from none. */
static int unfiltered_probe(void)
{
	if (personality(ADDR_COMPAT_LAYOUT) == -1)
		return 1;
	if (syscall(SYS_clone3, NULL, 0) != -1 || errno == ENOSYS)
		return 2;
	if (syscall(SYS_getppid) <= 0)
		return 3;
	return 0;
}

static void test_docker_profile_in_child(void **state)
{
	struct oci_spec *s = NULL;
	char err[ERRLEN] = "";

	(void)state;
	need_seccomp();
	assert_int_equal(ocispec_load(AT_FDCWD, FIXTURE, &s, err), 0);
	assert_int_equal(in_child(NULL, unfiltered_probe), 0);
	assert_int_equal(in_child(s->seccomp, docker_probe), 0);
	ocispec_free(s);
}

static int getppid_probe(void)
{
	errno = 0;
	if (syscall(SYS_getppid) != -1 || errno != ENOSYS)
		return 1;
	if (syscall(SYS_getpid) <= 0)
		return 2;
	return 0;
}

static void test_errno_ret_in_child(void **state)
{
	struct oci_spec *s;

	(void)state;
	need_seccomp();
	/* A name this libseccomp does not know is skipped, not the entry; a
	 * rule with the default action is skipped (libseccomp refuses one). */
	s = parsed(SEC("\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":["
		       "{\"names\":[\"no_such_syscall\",\"getppid\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":38},"
		       "{\"names\":[\"getpid\"],\"action\":\"SCMP_ACT_ALLOW\",\"errnoRet\":5}]"));
	assert_int_equal(in_child(NULL, getppid_probe), 1);
	assert_int_equal(in_child(s->seccomp, getppid_probe), 0);
	ocispec_free(s);
}

/* A syscall newer than every one a profile names (cachestat, Linux 6.5,
 * past Docker 20.10's last), and one older that the profile leaves out
 * (syslog): runc's stub makes the first look absent, so libc would fall
 * back, while the second keeps the default action. Numbers are x86_64's. */
#define NR_CACHESTAT 451
#define NEWER_THAN_PROFILE(e) (syscall(NR_CACHESTAT, -1, NULL, NULL, 0) == -1 && errno == (e))

static int stub_probe(void)
{
	errno = 0;
	if (!NEWER_THAN_PROFILE(ENOSYS))
		return 1;
	errno = 0;
	if (syscall(1000, 0, 0, 0) != -1 || errno != ENOSYS)
		return 2;
	errno = 0;
	if (syscall(SYS_syslog, 10, NULL, 0) != -1 || errno != EPERM)
		return 3;
	return 0;
}

static int no_stub_probe(void)
{
	errno = 0;
	return NEWER_THAN_PROFILE(EBADF) ? 0 : 1;
}

static void test_newer_syscalls_answer_enosys_in_child(void **state)
{
	struct oci_spec *s = NULL;
	char err[ERRLEN] = "";

	(void)state;
	need_seccomp();
#ifndef __x86_64__
	skip();
#endif
	/* The kernel must have it for the test to tell ENOSYS from the stub's. */
	if (in_child(NULL, no_stub_probe) != 0)
		skip();
	assert_int_equal(ocispec_load(AT_FDCWD, FIXTURE, &s, err), 0);
	assert_int_equal(in_child(s->seccomp, stub_probe), 0);
	assert_int_equal(in_child(s->seccomp, docker_probe), 0);
	ocispec_free(s);
	/* A default that lets syscalls through gets no stub. */
	s = parsed(SEC("\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":["
		       "{\"names\":[\"getppid\"],\"action\":\"SCMP_ACT_ERRNO\"}]"));
	assert_int_equal(in_child(s->seccomp, no_stub_probe), 0);
	ocispec_free(s);
	/* Nor one that answers ENOSYS already (syslog would be ENOSYS too). */
	s = parsed(SEC("\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":38,\"syscalls\":["
		       "{\"names\":[\"exit\",\"exit_group\",\"write\",\"mmap\",\"munmap\",\"brk\",\"futex\","
		       "\"rt_sigreturn\",\"rt_sigprocmask\",\"sigaltstack\",\"getpid\",\"gettid\",\"tgkill\"],"
		       "\"action\":\"SCMP_ACT_ALLOW\"}]"));
	assert_int_equal(in_child(s->seccomp, stub_probe), 3);
	ocispec_free(s);
}

/* Allowed: what the child needs to run and end (sigaltstack: ASan's
 * _exit), and personality for two values (the query and PER_LINUX). */
#define ONLY_PERSONALITY(args) \
	SEC("\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":33,\"syscalls\":[" \
	    "{\"names\":[\"exit\",\"exit_group\",\"rt_sigreturn\",\"rt_sigprocmask\",\"gettid\",\"getpid\",\"tgkill\"," \
	    "\"write\",\"futex\",\"mmap\",\"munmap\",\"brk\",\"sigaltstack\"],\"action\":\"SCMP_ACT_ALLOW\"}," \
	    "{\"names\":[\"personality\"],\"action\":\"SCMP_ACT_ALLOW\",\"args\":" args "}]")

static int personality_probe(void)
{
	if (personality(0xffffffff) < 0)
		return 1;
	if (personality(PER_LINUX) < 0)
		return 2;
	errno = 0;
	if (personality(ADDR_NO_RANDOMIZE) != -1 || errno != EDOM)  /* defaultErrnoRet */
		return 3;
	return 0;
}

static void test_same_argument_ored_in_child(void **state)
{
	struct oci_spec *s;

	(void)state;
	need_seccomp();
	s = parsed(ONLY_PERSONALITY("[{\"index\":0,\"value\":4294967295,\"op\":\"SCMP_CMP_EQ\"},"
				    "{\"index\":0,\"value\":0,\"op\":\"SCMP_CMP_EQ\"}]"));
	assert_int_equal(in_child(s->seccomp, personality_probe), 0);
	ocispec_free(s);
	/* One of the two alone: the other value is refused (the probe can fail). */
	s = parsed(ONLY_PERSONALITY("[{\"index\":0,\"value\":4294967295,\"op\":\"SCMP_CMP_EQ\"}]"));
	assert_int_equal(in_child(s->seccomp, personality_probe), 2);
	ocispec_free(s);
}

static int kill_probe(void)
{
	errno = 0;
	if (kill(1, 0) != -1 || errno != EDOM)
		return 1;
	if (kill(getpid(), 0) != 0)
		return 2;
	return 0;
}

static void test_distinct_arguments_anded_in_child(void **state)
{
	struct oci_spec *s;

	(void)state;
	need_seccomp();
	/* kill(1, 0) only: ORed, kill(self, 0) would match too. */
	s = parsed(SEC("\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"kill\"],"
		       "\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":33,\"args\":["
		       "{\"index\":0,\"value\":1,\"op\":\"SCMP_CMP_EQ\"},{\"index\":1,\"value\":0,\"op\":\"SCMP_CMP_EQ\"}]}]"));
	assert_int_equal(in_child(s->seccomp, kill_probe), 0);
	ocispec_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_docker_fixture),
		cmocka_unit_test(test_absent_and_null_are_nothing),
		cmocka_unit_test(test_process_settings),
		cmocka_unit_test(test_bad_json_refused),
		cmocka_unit_test(test_bad_values_refused),
		cmocka_unit_test(test_bounds_refused),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_seccomp_refused),
		cmocka_unit_test(test_seccomp_filter_too_long),
		cmocka_unit_test(test_seccomp_flags),
		cmocka_unit_test(test_docker_profile_in_child),
		cmocka_unit_test(test_errno_ret_in_child),
		cmocka_unit_test(test_newer_syscalls_answer_enosys_in_child),
		cmocka_unit_test(test_same_argument_ored_in_child),
		cmocka_unit_test(test_distinct_arguments_anded_in_child),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
