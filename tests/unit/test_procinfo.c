#include "test_util.h"
#include "caps.h"
#include "procinfo.h"

#include <errno.h>

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
	assert_int_equal(procinfo_parse_status("Name:\tx\n", &st), -ENOENT);
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

static void test_self(void **state)
{
	unsigned long long st;

	(void)state;
	assert_int_equal(procinfo_read_starttime(getpid(), &st), 0);
	assert_true(procinfo_same_process(getpid(), st));
	assert_false(procinfo_same_process(getpid(), st + 1));
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
		cmocka_unit_test(test_status), cmocka_unit_test(test_starttime),
		cmocka_unit_test(test_self),   cmocka_unit_test(test_idmap),
		cmocka_unit_test(test_caps_for),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
