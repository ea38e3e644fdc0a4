/* The network children's uid slots (uidpool.c). */
#include "test_util.h"
#include "uidpool.h"
#include "util.h"

#include <errno.h>

static void test_slots_are_distinct_until_given_back(void **state)
{
	struct uidpool p;
	int seen[8] = { 0 };

	(void)state;
	assert_int_equal(uidpool_init(&p, 8), 0);
	for (int i = 0; i < 8; i++) {
		int s = uidpool_take(&p, (uint64_t)i * 7919);
		assert_true(s >= 0 && s < 8);
		assert_int_equal(seen[s], 0);
		seen[s] = 1;
	}
	assert_int_equal(uidpool_take(&p, 3), -1);
	uidpool_give(&p, 5);
	uidpool_give(&p, 5);          /* twice: no effect */
	assert_int_equal(uidpool_take(&p, 0), 5);
	uidpool_give(&p, -1);         /* a failed take: no effect */
	assert_int_equal(p.n_used, 8);
	uidpool_give(&p, 2);
	uidpool_mark(&p, 2);          /* a session that outlived a restart */
	uidpool_mark(&p, 99);         /* out of range: ignored */
	assert_int_equal(uidpool_take(&p, 0), -1);
	uidpool_free(&p);
}

static void test_range_with_a_user_is_refused(void **state)
{
	char *path = tmpfile_with("root:x:0:0::/root:/bin/sh\nodd:x:2147418200:100::/:/bin/sh\n");
	char err[ERRLEN];

	(void)state;
	assert_int_equal(uidpool_check_passwd(path, 2147418112LL, 32768, err), -EEXIST);
	assert_non_null(strstr(err, "odd"));
	assert_int_equal(uidpool_check_passwd(path, 2147418112LL, 50, err), 0);
	tmpfile_drop(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slots_are_distinct_until_given_back),
		cmocka_unit_test(test_range_with_a_user_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
