#include "test_util.h"
#include "cgroup.h"
#include "util.h"

#include <errno.h>
#include <sys/wait.h>
#include <unistd.h>

/* A hybrid host like Debian's with systemd in v1 mode, plus a subtree mount
 * and a mount point with a blank (escaped as \040). */
static const char mountinfo[] =
	"24 30 0:22 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755\n"
	"25 24 0:23 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw,nsdelegate\n"
	"26 24 0:24 / /sys/fs/cgroup/systemd rw,nosuid shared:11 - cgroup cgroup rw,xattr,name=systemd\n"
	"27 24 0:25 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:12 - cgroup cgroup rw,cpu,cpuacct\n"
	"28 24 0:26 /kube /sys/fs/cgroup/my\\040memory rw,nosuid shared:13 - cgroup cgroup rw,memory\n"
	"29 30 8:1 / / rw,relatime shared:1 - ext4 /dev/vda rw\n";

static void test_hybrid(void **state)
{
	const char *pcg = "12:pids:/job\n"
			  "4:memory:/kube/pod1\n"
			  "3:cpu,cpuacct:/job\n"
			  "1:name=systemd:/job\n"
			  "0::/job\n";
	char **paths = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(cgroup_procs_paths(pcg, mountinfo, &paths, &n), 0);
	/* pids is not mounted here: skipped. */
	assert_int_equal(n, 4);
	assert_string_equal(paths[0], "/sys/fs/cgroup/my memory/pod1/cgroup.procs");
	assert_string_equal(paths[1], "/sys/fs/cgroup/cpu,cpuacct/job/cgroup.procs");
	assert_string_equal(paths[2], "/sys/fs/cgroup/systemd/job/cgroup.procs");
	assert_string_equal(paths[3], "/sys/fs/cgroup/unified/job/cgroup.procs");
	strv_free(paths);
}

static void test_outside_subtree(void **state)
{
	char **paths = NULL;
	size_t n = 0;

	(void)state;
	/* A memory cgroup outside the mounted /kube subtree cannot be reached. */
	assert_int_equal(cgroup_procs_paths("4:memory:/other\n", mountinfo, &paths, &n), 0);
	assert_int_equal(n, 0);
	strv_free(paths);
}

static void test_v2_only(void **state)
{
	const char *mi = "30 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
	char **paths = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(cgroup_procs_paths("0::/system.slice/docker-abc.scope\n", mi, &paths, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(paths[0], "/sys/fs/cgroup/system.slice/docker-abc.scope/cgroup.procs");
	strv_free(paths);
	assert_true(cgroup_procs_paths("garbage\n", mi, &paths, &n) < 0);
	strv_free(paths);
}

/* Only the hierarchies where we are not already in the job's cgroup. */
static void test_join_skips_shared_cgroups(void **state)
{
	const char *job = "4:memory:/kube/pod1\n"
			  "3:cpu,cpuacct:/\n"
			  "1:name=systemd:/job\n"
			  "0::/\n";
	const char *self = "4:memory:/kube\n"
			   "3:cpu,cpuacct:/\n"
			   "1:name=systemd:/system.slice/peon-sshd.service\n"
			   "0::/\n";
	char **paths = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(cgroup_paths_to_join(job, self, mountinfo, &paths, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(paths[0], "/sys/fs/cgroup/my memory/pod1/cgroup.procs");
	assert_string_equal(paths[1], "/sys/fs/cgroup/systemd/job/cgroup.procs");
	strv_free(paths);
	/* Already in every one of them: nothing to write. */
	assert_int_equal(cgroup_paths_to_join(job, job, mountinfo, &paths, &n), 0);
	assert_int_equal(n, 0);
	strv_free(paths);
	/* Our own cgroups unreadable: fail, never guess. */
	assert_true(cgroup_paths_to_join(job, "garbage\n", mountinfo, &paths, &n) < 0);
	strv_free(paths);
}

static void test_freeze_paths_and_state(void **state)
{
	const char *mi = "26 24 0:24 / /sys/fs/cgroup/freezer rw,nosuid shared:11 - cgroup cgroup rw,freezer\n"
			 "27 24 0:25 / /sys/fs/cgroup/pids rw,nosuid shared:12 - cgroup cgroup rw,pids\n"
			 "25 24 0:23 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw\n";
	const char *pcg = "7:freezer:/docker/abc\n5:pids:/docker/abc\n0::/docker/abc\n";
	char **paths = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(cgroup_freeze_paths(pcg, mi, &paths, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(paths[0], "/sys/fs/cgroup/freezer/docker/abc/freezer.state");
	assert_string_equal(paths[1], "/sys/fs/cgroup/unified/docker/abc/cgroup.events");
	strv_free(paths);
	assert_true(cgroup_state_frozen(".../freezer.state", "FROZEN\n"));
	assert_true(cgroup_state_frozen(".../freezer.state", "FREEZING\n"));
	assert_false(cgroup_state_frozen(".../freezer.state", "THAWED\n"));
	assert_true(cgroup_state_frozen(".../cgroup.events", "populated 1\nfrozen 1\n"));
	assert_false(cgroup_state_frozen(".../cgroup.events", "populated 1\nfrozen 0\n"));
	assert_false(cgroup_state_frozen(".../cgroup.events", "populated 1\nfrozen 10\n"));
}

/* The primer's file is one of our own cgroup.procs files, and its write
 * succeeds (as root) and moves nobody: our cgroups are as they were. */
static void test_prime(void **state)
{
	char *before = NULL, *after = NULL, *path = NULL;

	(void)state;
	assert_int_equal(read_file("/proc/self/cgroup", 1 << 20, &before, NULL), 0);
	assert_int_equal(cgroup_prime_path(&path), 0);
	assert_non_null(strstr(path, "/cgroup.procs"));
	if (geteuid() == 0)
		assert_int_equal(cgroup_procs_write(path), 0);
	assert_int_equal(read_file("/proc/self/cgroup", 1 << 20, &after, NULL), 0);
	assert_string_equal(before, after);
	assert_true(cgroup_procs_write("/nonexistent/cgroup.procs") == -ENOENT);
	free(path);
	free(before);
	free(after);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hybrid),
		cmocka_unit_test(test_outside_subtree),
		cmocka_unit_test(test_v2_only),
		cmocka_unit_test(test_join_skips_shared_cgroups),
		cmocka_unit_test(test_freeze_paths_and_state),
		cmocka_unit_test(test_prime),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
