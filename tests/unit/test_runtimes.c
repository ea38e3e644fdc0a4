/* The container runtimes' answers (docker.c, containerd.c) and container
 * targets in requests and records (registry.c). */
#include "test_util.h"
#include "containerd.h"
#include "docker.h"
#include "fixtures.h"
#include "registry.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <sys/stat.h>

#define ID64 "ac15b45cf2af82143cff120e56c403dff37a67387074f4b088d2560f83e00d46"

static const char *answer(const char *state, const char *config)
{
	static char buf[4096];

	snprintf(buf, sizeof(buf), "{\"Id\":\"" ID64 "\",\"Name\":\"/c1\",\"State\":%s,\"Config\":%s,\"Extra\":[1,2]}",
		 state, config);
	return buf;
}

#define RUNNING "{\"Status\":\"running\",\"Running\":true,\"Paused\":false,\"Restarting\":false,\"Pid\":4242,\"ExitCode\":0}"

static void parse_refused(const char *json, const char *needle)
{
	struct docker_container c;
	char err[ERRLEN] = "";

	assert_true(docker_parse_inspect(json, strlen(json), &c, err) < 0);
	if (!strstr(err, needle))
		fail_msg("error \"%s\" does not contain \"%s\"", err, needle);
}

static void test_docker_answer(void **state)
{
	struct docker_container c;
	char err[ERRLEN];
	const char *a = answer(RUNNING, "{\"User\":\"1000:1000\"}");

	(void)state;
	assert_int_equal(docker_parse_inspect(a, strlen(a), &c, err), 0);
	assert_string_equal(c.id, ID64);
	assert_string_equal(c.name, "/c1");
	assert_true(c.running);
	assert_false(c.paused);
	assert_int_equal(c.pid, 4242);
	assert_string_equal(c.user, "1000:1000");
	/* The image's user: no User, or null. */
	a = answer(RUNNING, "{\"User\":null}");
	assert_int_equal(docker_parse_inspect(a, strlen(a), &c, err), 0);
	assert_string_equal(c.user, "");
	a = answer("{\"Status\":\"exited\",\"Running\":false,\"Paused\":false,\"Restarting\":false,\"Pid\":0,"
		   "\"ExitCode\":137}", "{}");
	assert_int_equal(docker_parse_inspect(a, strlen(a), &c, err), 0);
	assert_false(c.running);
	assert_int_equal(c.exit_code, 137);
}

static void test_docker_answer_refused(void **state)
{
	char big[300];

	(void)state;
	parse_refused("[]", "not a JSON object");
	parse_refused("{\"Id\":1}", "no valid \"Id\"");
	parse_refused("{\"Id\":\"" ID64 "\"} trailing", "not a JSON object");
	parse_refused(answer("{\"Status\":\"running\",\"Running\":\"yes\"}", "{}"), "no valid \"Running\"");
	parse_refused(answer("{\"Status\":\"running\",\"Running\":true,\"Paused\":false,\"Restarting\":false,"
			     "\"Pid\":99999999999,\"ExitCode\":0}", "{}"), "\"Pid\" is out of range");
	parse_refused(answer("{\"Status\":\"running\",\"Running\":true,\"Paused\":false,\"Restarting\":false,"
			     "\"Pid\":0,\"ExitCode\":0}", "{}"), "runs but gives no pid");
	parse_refused(answer("{\"Status\":\"a-status-far-too-long-for-us\",\"Running\":true}", "{}"),
		      "\"Status\" is longer than");
	parse_refused(answer(RUNNING, "[]"), "no valid \"Config\"");
	parse_refused("{\"Id\":\"ZZ\",\"Name\":\"/c\",\"State\":" RUNNING ",\"Config\":{}}", "not 64 hex digits");
	memset(big, 'u', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	{
		char cfg[400];

		snprintf(cfg, sizeof(cfg), "{\"User\":\"%s\"}", big);
		parse_refused(answer(RUNNING, cfg), "\"User\" is longer than");
	}
}

static void test_docker_refs(void **state)
{
	char long_ref[DOCKER_REF_MAX + 2];

	(void)state;
	assert_true(docker_ref_valid("c1"));
	assert_true(docker_ref_valid("my_job.v2-a"));
	assert_true(docker_ref_valid(ID64));
	assert_false(docker_ref_valid(""));
	assert_false(docker_ref_valid("-c"));
	assert_false(docker_ref_valid("../x"));
	assert_false(docker_ref_valid("a/b"));
	assert_false(docker_ref_valid("a%2fb"));
	assert_false(docker_ref_valid("a b"));
	memset(long_ref, 'a', sizeof(long_ref) - 1);
	long_ref[sizeof(long_ref) - 1] = '\0';
	assert_false(docker_ref_valid(long_ref));
}

static void test_containerd_refs(void **state)
{
	(void)state;
	assert_true(containerd_ref_valid("moby/" ID64));
	assert_true(containerd_ref_valid("k8s.io/abc-def_1.x"));
	assert_false(containerd_ref_valid("moby"));
	assert_false(containerd_ref_valid("moby/"));
	assert_false(containerd_ref_valid("/x"));
	assert_false(containerd_ref_valid("moby/../x"));
	assert_false(containerd_ref_valid("moby/a/b"));
	assert_false(containerd_ref_valid("moby/.."));
	assert_false(containerd_ref_valid("moby/a..b"));
	assert_false(containerd_ref_valid("moby/a-"));
	assert_false(containerd_ref_valid("mo by/a"));
}

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_containerd_task(void **state)
{
	char dir[] = "/tmp/peon-unit-ctrd-XXXXXX", p[PATH_MAX], err[ERRLEN];
	pid_t pid = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(containerd_task_pid(dir, "ns/c1", &pid, err), -ENOENT);
	assert_non_null(strstr(err, "has no running task ns/c1"));
	snprintf(p, sizeof(p), "%s/ns", dir);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/ns/c1", dir);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/ns/c1/init.pid", dir);
	put(p, "4242");
	assert_int_equal(containerd_task_pid(dir, "ns/c1", &pid, err), 0);
	assert_int_equal(pid, 4242);
	put(p, "42x");
	assert_int_equal(containerd_task_pid(dir, "ns/c1", &pid, err), -EINVAL);
	assert_non_null(strstr(err, "does not hold a process id"));
	put(p, "0");
	assert_int_equal(containerd_task_pid(dir, "ns/c1", &pid, err), -EINVAL);
	assert_int_equal(containerd_task_pid(dir, "ns/../c1", &pid, err), -EINVAL);
	assert_non_null(strstr(err, "is not NAMESPACE/ID"));
	snprintf(p, sizeof(p), "rm -rf %s", dir);
	assert_int_equal(system(p), 0);
}

static int request(const char *target, struct execution **e, char *err)
{
	char json[1024];
	long long ttl;
	json_object *o;
	int r;

	snprintf(json, sizeof(json), "{\"id\":\"x\",\"target\":%s,\"keys\":[\"" KEY_ED "\"]}", target);
	o = json_tokener_parse(json);
	assert_non_null(o);
	r = execution_from_request(o, e, &ttl, err);
	json_object_put(o);
	return r;
}

static void test_container_targets(void **state)
{
	struct execution *e = NULL, *back = NULL;
	char err[ERRLEN], buf[256];
	json_object *rec;

	(void)state;
	assert_int_equal(request("{\"type\":\"docker\",\"container\":\"c1\"}", &e, err), 0);
	assert_int_equal(e->target.type, TARGET_DOCKER);
	assert_string_equal(e->target.ref, "c1");
	assert_string_equal(target_describe(&e->target, buf, sizeof(buf)), "docker c1");
	/* What the daemon learnt survives its record. */
	snprintf(e->target.id, sizeof(e->target.id), "%s", ID64);
	e->target.pid = 77;
	e->target.starttime = 1234;
	e->port = 2222;
	rec = execution_to_record(e);
	assert_int_equal(execution_from_record(rec, &back, err), 0);
	assert_int_equal(back->target.type, TARGET_DOCKER);
	assert_string_equal(back->target.id, ID64);
	assert_int_equal(back->target.pid, 77);
	assert_int_equal(back->target.starttime, 1234);
	json_object_put(rec);
	execution_free(back);
	execution_free(e);
	e = NULL;
	assert_int_equal(request("{\"type\":\"containerd\",\"container\":\"k8s.io/abc\"}", &e, err), 0);
	assert_string_equal(target_describe(&e->target, buf, sizeof(buf)), "containerd k8s.io/abc");
	execution_free(e);
	e = NULL;
	/* A request cannot bring what only the daemon learns. */
	assert_true(request("{\"type\":\"docker\",\"container\":\"c1\",\"container_id\":\"" ID64 "\"}", &e, err) < 0);
	assert_non_null(strstr(err, "container_id"));
	assert_true(request("{\"type\":\"docker\",\"container\":\"c1\",\"pid\":4}", &e, err) < 0);
	assert_true(request("{\"type\":\"docker\",\"container\":\"a/b\"}", &e, err) < 0);
	assert_non_null(strstr(err, "--docker needs a container name or id"));
	assert_true(request("{\"type\":\"docker\"}", &e, err) < 0);
	assert_true(request("{\"type\":\"containerd\",\"container\":\"nons\"}", &e, err) < 0);
	assert_non_null(strstr(err, "--containerd needs NAMESPACE/ID"));
	assert_true(request("{\"type\":\"podman\",\"container\":\"c1\"}", &e, err) < 0);
	assert_non_null(strstr(err, "unknown target type 'podman'"));
	assert_null(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_docker_answer),   cmocka_unit_test(test_docker_answer_refused),
		cmocka_unit_test(test_docker_refs),     cmocka_unit_test(test_containerd_refs),
		cmocka_unit_test(test_containerd_task), cmocka_unit_test(test_container_targets),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
