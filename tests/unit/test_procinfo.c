#include "test_util.h"
#include "caps.h"
#include "procinfo.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static const char status_text[] =
	"Name:\tsleep\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t42\nNgid:\t0\nPid:\t42\n"
	"Uid:\t1000\t1001\t1002\t1003\nGid:\t100\t101\t102\t103\nFDSize:\t64\n"
	"Groups:\t100 27 4 \nNStgid:\t42\t1\n"
	"CapInh:\t0000000000000000\nCapPrm:\t00000000000000c1\nCapEff:\t0000000000000041\n"
	"CapBnd:\t00000000a80425fb\nCapAmb:\t0000000000000001\nNoNewPrivs:\t1\nSeccomp:\t2\n";

static void test_status(void **state)
{
	struct proc_status st;

	(void)state;
	assert_int_equal(procinfo_parse_status(status_text, &st), 0);
	assert_int_equal(st.uid, 1001);
	assert_int_equal(st.gid, 101);
	assert_int_equal(st.n_groups, 3);
	assert_int_equal(st.groups[1], 27);
	assert_int_equal(st.cap_prm, 0xc1);
	assert_int_equal(st.cap_eff, 0x41);
	assert_int_equal(st.cap_bnd, 0xa80425fb);
	assert_int_equal(st.cap_amb, 1);
	assert_true(st.no_new_privs);
	assert_int_equal(st.seccomp_mode, 2);
	assert_int_equal(st.tracer, 0);
	assert_true(st.have_umask);
	assert_int_equal(st.umask, 022);
	assert_int_equal(procinfo_parse_status("Name:\tx\n", &st), -ENOENT);
}

static const char limits_text[] =
	"Limit                     Soft Limit           Hard Limit           Units     \n"
	"Max cpu time              unlimited            unlimited            seconds   \n"
	"Max file size             unlimited            unlimited            bytes     \n"
	"Max data size             unlimited            unlimited            bytes     \n"
	"Max stack size            8388608              unlimited            bytes     \n"
	"Max core file size        0                    unlimited            bytes     \n"
	"Max resident set          unlimited            unlimited            bytes     \n"
	"Max processes             95476                95476                processes \n"
	"Max open files            1024                 2048                 files     \n"
	"Max locked memory         8388608              8388608              bytes     \n"
	"Max address space         unlimited            unlimited            bytes     \n"
	"Max file locks            unlimited            unlimited            locks     \n"
	"Max pending signals       95476                95476                signals   \n"
	"Max msgqueue size         819200               819200               bytes     \n"
	"Max nice priority         0                    0                    \n"
	"Max realtime priority     0                    0                    \n"
	"Max realtime timeout      unlimited            unlimited            us        \n";

static void test_limits(void **state)
{
	struct proc_limits l;
	char *bad;

	(void)state;
	assert_int_equal(procinfo_parse_limits(limits_text, &l), 0);
	assert_int_equal(l.lim[RLIMIT_NOFILE].rlim_cur, 1024);
	assert_int_equal(l.lim[RLIMIT_NOFILE].rlim_max, 2048);
	assert_true(l.lim[RLIMIT_STACK].rlim_max == RLIM_INFINITY);
	assert_int_equal(l.lim[RLIMIT_STACK].rlim_cur, 8388608);
	assert_int_equal(l.lim[RLIMIT_CORE].rlim_cur, 0);
	assert_int_equal(l.lim[RLIMIT_RTPRIO].rlim_max, 0);
	/* A limit missing, a value that is not a number, soft above hard: refused. */
	assert_int_equal(procinfo_parse_limits("Max open files            1024   2048   files\n", &l), -EINVAL);
	bad = strdup(limits_text);
	memcpy(strstr(bad, "1024 "), "10x4 ", 5);
	assert_int_equal(procinfo_parse_limits(bad, &l), -EINVAL);
	memcpy(strstr(bad, "10x4 "), "4096 ", 5);
	assert_int_equal(procinfo_parse_limits(bad, &l), -EINVAL);
	free(bad);
	/* Our own process, after setting a limit (one valgrind does not
	 * virtualise, unlike NOFILE): the kernel's file agrees. */
	{
		struct rlimit mine;

		assert_int_equal(getrlimit(RLIMIT_MSGQUEUE, &mine), 0);
		mine.rlim_cur = mine.rlim_max < 4096 ? mine.rlim_max : 4096;
		assert_int_equal(setrlimit(RLIMIT_MSGQUEUE, &mine), 0);
		assert_int_equal(procinfo_read_limits(getpid(), &l), 0);
		assert_true(l.lim[RLIMIT_MSGQUEUE].rlim_cur == mine.rlim_cur);
		assert_true(l.lim[RLIMIT_MSGQUEUE].rlim_max == mine.rlim_max);
	}
}

static void test_starttime(void **state)
{
	unsigned long long st = 0;
	const char *stat_text = "1234 (we (ird) ) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 "
				"1 2 0 0 20 0 1 0 987654 1000 100 18446744073709551615";

	(void)state;
	assert_int_equal(procinfo_parse_starttime(stat_text, &st), 0);
	assert_int_equal(st, 987654ULL);
	assert_int_equal(procinfo_parse_starttime("1 (x) S 1 2", &st), -EINVAL);
	assert_int_equal(procinfo_parse_starttime("garbage", &st), -EINVAL);
}

/* comm with parens and spaces; kthreadd's flags carry PF_KTHREAD. */
static void test_stat(void **state)
{
	struct proc_stat ps;

	(void)state;
	assert_int_equal(procinfo_parse_stat("1234 (we (ird) ) name) Z 1 1234 1234 0 -1 4194560 100", &ps), 0);
	assert_string_equal(ps.comm, "we (ird) ) name");
	assert_int_equal(ps.state, 'Z');
	assert_int_equal(ps.flags, 4194560UL);
	assert_false(ps.flags & PROC_FLAG_KTHREAD);
	assert_int_equal(procinfo_parse_stat("2 (kthreadd) S 0 0 0 0 -1 2129984 0 0", &ps), 0);
	assert_true(ps.flags & PROC_FLAG_KTHREAD);
	assert_int_equal(procinfo_parse_stat("2 (kthreadd) S 0 0", &ps), -EINVAL);
	assert_int_equal(procinfo_parse_stat("garbage", &ps), -EINVAL);
	assert_int_equal(procinfo_read_stat(getpid(), &ps), 0);
	assert_int_equal(ps.state, 'R');
}

static void test_self(void **state)
{
	unsigned long long st;

	(void)state;
	assert_int_equal(procinfo_read_starttime(getpid(), &st), 0);
	assert_true(procinfo_same_process(getpid(), st));
	assert_false(procinfo_same_process(getpid(), st + 1));
}

static void wait_zombie(pid_t pid)
{
	struct proc_stat st = { .state = 0 };

	for (int i = 0; i < 1000 && st.state != 'Z'; i++) {
		if (procinfo_read_stat(pid, &st) < 0 || st.state != 'Z')
			usleep(1000);
	}
	assert_int_equal(st.state, 'Z');
}

/* Ours, another, or unreadable: a process whose namespaces cannot be read
 * (a zombie has none left, a pid that is gone) must not pass for one in
 * ours, or the caller would enter nothing and run the shell in the host's. */
static void test_ns_differs(void **state)
{
	int ready[2];
	pid_t z, other;
	char c;

	(void)state;
	assert_int_equal(procinfo_ns_differs(getpid(), "net"), 0);
	assert_int_equal(procinfo_ns_differs(getpid(), "no-such-type"), 0);
	z = fork();
	assert_true(z >= 0);
	if (z == 0)
		_exit(0);
	wait_zombie(z);
	assert_true(procinfo_ns_differs(z, "net") < 0);
	assert_int_equal(waitpid(z, NULL, 0), z);
	assert_true(procinfo_ns_differs(z, "net") < 0);
	if (geteuid() != 0)
		return;
	assert_int_equal(pipe(ready), 0);
	other = fork();
	assert_true(other >= 0);
	if (other == 0) {
		if (unshare(CLONE_NEWNET) < 0 || write(ready[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	assert_int_equal(read(ready[0], &c, 1), 1);
	assert_int_equal(procinfo_ns_differs(other, "net"), 1);
	assert_int_equal(procinfo_ns_differs(other, "uts"), 0);
	kill(other, SIGKILL);
	waitpid(other, NULL, 0);
	close(ready[0]);
	close(ready[1]);
}

static void test_idmap(void **state)
{
	struct idmap m;
	unsigned long in;

	(void)state;
	assert_int_equal(idmap_parse("         0     100000      65536\n     65536          0          1\n", &m), 0);
	assert_int_equal(m.n, 2);
	assert_int_equal(idmap_to_inside(&m, 100000, &in), 0);
	assert_int_equal(in, 0);
	assert_int_equal(idmap_to_inside(&m, 101000, &in), 0);
	assert_int_equal(in, 1000);
	assert_int_equal(idmap_to_inside(&m, 0, &in), 0);
	assert_int_equal(in, 65536);
	assert_int_equal(idmap_to_inside(&m, 165536, &in), -ERANGE);
	assert_int_equal(idmap_parse("0 x 1\n", &m), -EINVAL);
}

static void test_caps_for(void **state)
{
	struct proc_status job = { .cap_prm = 0xf0, .cap_eff = 0x30, .cap_inh = 0x10,
				   .cap_bnd = 0xff0, .cap_amb = 0x10, .no_new_privs = true };
	struct creds c;

	(void)state;
	/* The job's own user: its sets, bounding capped at permitted for root. */
	caps_for(&job, true, 0, &c);
	assert_int_equal(c.bnd, 0xf0);
	assert_int_equal(c.prm, 0xf0);
	assert_int_equal(c.eff, 0x30);
	assert_int_equal(c.amb, 0x10);
	assert_true(c.no_new_privs);
	/* Non-root job user keeps the bounding set (file caps bounded by it). */
	caps_for(&job, true, 1000, &c);
	assert_int_equal(c.bnd, 0xff0);
	assert_int_equal(c.eff, 0x30);
	/* Another, unprivileged user: nothing. */
	caps_for(&job, false, 1000, &c);
	assert_int_equal(c.prm | c.eff | c.inh | c.amb, 0);
	/* Another user who is root: the job's sets, no ambient. */
	caps_for(&job, false, 0, &c);
	assert_int_equal(c.eff, 0x30);
	assert_int_equal(c.amb, 0);
	/* Never wider than the job, whatever it claims. */
	job.cap_eff = 0xffff;
	caps_for(&job, true, 0, &c);
	assert_int_equal(c.eff & ~job.cap_prm, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status), cmocka_unit_test(test_starttime), cmocka_unit_test(test_stat),
		cmocka_unit_test(test_self),   cmocka_unit_test(test_idmap),
		cmocka_unit_test(test_caps_for),   cmocka_unit_test(test_limits),
		cmocka_unit_test(test_ns_differs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
