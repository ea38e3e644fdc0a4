#include "test_util.h"
#include "joblsm.h"
#include "util.h"

#include <errno.h>
#include <string.h>

static void test_which_lsm(void **state)
{
	(void)state;
	assert_int_equal(lsm_from_list("lockdown,capability,apparmor\n"), LSM_APPARMOR);
	assert_int_equal(lsm_from_list("capability,selinux"), LSM_SELINUX);
	assert_int_equal(lsm_from_list("capability,yama,landlock"), LSM_NONE);
	assert_int_equal(lsm_from_list("apparmorx,selinuxy"), LSM_NONE);
	assert_int_equal(lsm_from_list(""), LSM_NONE);
	assert_int_equal(lsm_from_list(NULL), LSM_NONE);
}

static int decide(enum lsm_kind k, const char *text, struct job_label *l)
{
	char err[ERRLEN];

	return lsm_exec_label(k, text, strlen(text) + 1, l, err);
}

static void test_apparmor(void **state)
{
	struct job_label l;

	(void)state;
	assert_int_equal(decide(LSM_APPARMOR, "docker-default (enforce)\n", &l), 0);
	assert_string_equal(l.exec, "exec docker-default");
	assert_int_equal(decide(LSM_APPARMOR, "cri-containerd.apparmor.d (complain)\n", &l), 0);
	assert_string_equal(l.exec, "exec cri-containerd.apparmor.d");
	/* A name with a space and parentheses of its own: only the last " (mode)" goes. */
	assert_int_equal(decide(LSM_APPARMOR, "my (odd) profile (enforce)\n", &l), 0);
	assert_string_equal(l.exec, "exec my (odd) profile");
	/* Unconfined: nothing to change. */
	assert_int_equal(decide(LSM_APPARMOR, "unconfined\n", &l), 0);
	assert_string_equal(l.exec, "");
	/* No name at all: refused, never guessed. */
	assert_int_equal(decide(LSM_APPARMOR, "\n", &l), -EINVAL);
	assert_int_equal(decide(LSM_APPARMOR, " (enforce)\n", &l), -EINVAL);
}

static void test_selinux(void **state)
{
	struct job_label l;

	(void)state;
	assert_int_equal(decide(LSM_SELINUX, "system_u:system_r:container_t:s0:c123,c456", &l), 0);
	assert_string_equal(l.exec, "system_u:system_r:container_t:s0:c123,c456");
	assert_int_equal(l.kind, LSM_SELINUX);
	assert_int_equal(decide(LSM_SELINUX, "", &l), -EINVAL);
	assert_int_equal(decide(LSM_SELINUX, "no-colons-here", &l), -EINVAL);
	assert_int_equal(decide(LSM_SELINUX, "a:b:c\nd:e", &l), -EINVAL);
}

static void test_none_changes_nothing(void **state)
{
	struct job_label l;
	char err[ERRLEN] = "";

	(void)state;
	assert_int_equal(lsm_exec_label(LSM_NONE, "whatever", 8, &l, err), 0);
	assert_string_equal(l.exec, "");
	assert_int_equal(job_label_apply(&l, err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_which_lsm),
		cmocka_unit_test(test_apparmor),
		cmocka_unit_test(test_selinux),
		cmocka_unit_test(test_none_changes_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
