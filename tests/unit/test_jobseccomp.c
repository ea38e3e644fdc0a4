#include "test_util.h"
#include "jobseccomp.h"
#include "util.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

/* A filter of n instructions (ret allow), as base64 in a JSON string. */
static json_object *filter_json(size_t n)
{
	struct sock_filter *f = calloc(n, sizeof(*f));
	char *b64 = malloc(4 * ((n * sizeof(*f) + 2) / 3) + 1);
	json_object *s;

	for (size_t i = 0; i < n; i++)
		f[i] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0x7fff0000U);
	EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)f, (int)(n * sizeof(*f)));
	s = json_object_new_string(b64);
	free(f);
	free(b64);
	return s;
}

static int parse(json_object *arr, struct job_seccomp **out)
{
	char err[ERRLEN] = "";
	int r = job_seccomp_from_json(arr, out, err);

	if (r < 0)
		assert_true(*err);           /* every refusal says why */
	json_object_put(arr);
	return r;
}

static void test_round_trip_keeps_order(void **state)
{
	struct job_seccomp *s = NULL, *back = NULL;
	json_object *a = json_object_new_array();
	char err[ERRLEN];

	(void)state;
	json_object_array_add(a, filter_json(3));
	json_object_array_add(a, filter_json(1));
	assert_int_equal(parse(a, &s), 0);
	assert_int_equal(s->n, 2);
	assert_int_equal(s->f[0].len, 3);
	assert_int_equal(s->f[1].len, 1);
	a = job_seccomp_to_json(s);
	assert_int_equal(job_seccomp_from_json(a, &back, err), 0);
	assert_int_equal(back->n, 2);
	assert_int_equal(back->f[0].len, 3);
	assert_memory_equal(back->f[0].insns, s->f[0].insns, 3 * sizeof(struct sock_filter));
	json_object_put(a);
	job_seccomp_free(s);
	job_seccomp_free(back);
	/* An empty array: no filters at all. */
	assert_int_equal(parse(json_object_new_array(), &s), 0);
	assert_null(s);
}

static void test_bad_records_refused(void **state)
{
	struct job_seccomp *s = NULL;
	json_object *a;

	(void)state;
	assert_int_equal(parse(json_object_new_string("AAAA"), &s), -EINVAL);        /* not an array */
	a = json_object_new_array();
	json_object_array_add(a, json_object_new_int(7));
	assert_int_equal(parse(a, &s), -EINVAL);                                       /* not a string */
	a = json_object_new_array();
	json_object_array_add(a, json_object_new_string("not base64!"));
	assert_int_equal(parse(a, &s), -EINVAL);
	a = json_object_new_array();
	json_object_array_add(a, json_object_new_string("AAAA"));                      /* 3 bytes: no whole instruction */
	assert_int_equal(parse(a, &s), -EINVAL);
	a = json_object_new_array();
	json_object_array_add(a, json_object_new_string(""));
	assert_int_equal(parse(a, &s), -EINVAL);
	a = json_object_new_array();
	json_object_array_add(a, filter_json(BPF_MAXINSNS + 1));                       /* over the kernel's limit */
	assert_int_equal(parse(a, &s), -E2BIG);
	a = json_object_new_array();
	for (int i = 0; i < 3; i++)
		json_object_array_add(a, filter_json(BPF_MAXINSNS));                   /* over the total */
	assert_int_equal(parse(a, &s), -E2BIG);
	a = json_object_new_array();
	for (int i = 0; i <= JOB_SECCOMP_MAX_FILTERS; i++)
		json_object_array_add(a, filter_json(1));
	assert_int_equal(parse(a, &s), -E2BIG);
	assert_null(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_keeps_order),
		cmocka_unit_test(test_bad_records_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
