#include "test_util.h"
#include "fixtures.h"
#include "regstore.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <sys/stat.h>

struct bad_log {
	char text[8192];
	int n;
};

static void on_bad(const char *what, const char *why, void *arg)
{
	struct bad_log *b = arg;
	size_t used = strlen(b->text);

	snprintf(b->text + used, sizeof(b->text) - used, "%s: %s\n", what, why);
	b->n++;
}

static int setup(void **state)
{
	char *dir = strdup("/tmp/peon-unit-store-XXXXXX");

	assert_non_null(mkdtemp(dir));
	*state = dir;
	return 0;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", (char *)*state);
	assert_int_equal(system(cmd), 0);
	free(*state);
	return 0;
}

static struct execution *host_exec(const char *id, const char *key)
{
	struct execution *e = execution_new();
	char err[ERRLEN];

	e->id = strdup(id);
	e->port = 2222;
	e->target.type = TARGET_HOST;
	e->user = strdup("root");
	e->created_ms = 1700000000123LL;
	e->expires_ms = 1700000009876LL;
	e->keys = calloc(1, sizeof(*e->keys));
	assert_int_equal(authkey_parse(key, &e->keys[e->n_keys++], err), 1);
	return e;
}

static void put(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static bool exists(const char *dir, const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

static void test_write_load_remove(void **state)
{
	const char *dir = *state;
	struct registry r = { 0 };
	struct execution *e = host_exec("exec-1", KEY_ED);
	struct bad_log bad = { "", 0 };
	char err[ERRLEN], path[PATH_MAX];
	struct stat st;

	assert_int_equal(regstore_write(dir, e, err), 0);
	snprintf(path, sizeof(path), "%s/exec-1.json", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(regstore_load(&r, dir, on_bad, &bad, err), 0);
	assert_int_equal(bad.n, 0);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.v[0]->id, "exec-1");
	assert_int_equal(r.v[0]->created_ms, 1700000000123LL);
	assert_int_equal(r.v[0]->expires_ms, 1700000009876LL);
	assert_true(execution_has_key(r.v[0], FP_ED));
	registry_clear(&r);
	assert_int_equal(regstore_remove(dir, "exec-1", err), 0);
	assert_false(exists(dir, "exec-1.json"));
	/* Removing what is not there is not an error. */
	assert_int_equal(regstore_remove(dir, "exec-1", err), 0);
	assert_int_equal(regstore_load(&r, dir, on_bad, &bad, err), 0);
	assert_int_equal(r.n, 0);
	execution_free(e);
}

/* Issue 7 item 3: a bad record costs only itself, named, moved aside. */
static void test_bad_record_costs_only_itself(void **state)
{
	const char *dir = *state;
	struct registry r = { 0 };
	struct execution *a = host_exec("exec-a", KEY_ED), *c = host_exec("exec-c", KEY_ED2);
	struct bad_log bad = { "", 0 };
	char err[ERRLEN];

	assert_int_equal(regstore_write(dir, a, err), 0);
	assert_int_equal(regstore_write(dir, c, err), 0);
	put(dir, "exec-b.json", "{\"id\": \"exec-b\", \"port\": ");
	put(dir, "exec-d.json", "{\"id\": \"exec-e\", \"port\": 2222, \"target\": {\"type\": \"host\"}, \"keys\": [\"" KEY_ED "\"]}");
	put(dir, "exec-f.json", "{\"id\": \"exec-f\", \"port\": 80, \"target\": {\"type\": \"host\"}, \"keys\": [\"" KEY_ED "\"]}");
	put(dir, "exec-g.json.tmp.123", "half written");
	put(dir, "notes.txt", "ignored");
	assert_int_equal(regstore_load(&r, dir, on_bad, &bad, err), 0);
	assert_int_equal(r.n, 2);
	assert_non_null(registry_find(&r, "exec-a"));
	assert_non_null(registry_find(&r, "exec-c"));
	assert_int_equal(bad.n, 3);
	assert_non_null(strstr(bad.text, "exec-b.json: not valid JSON; moved aside to"));
	assert_non_null(strstr(bad.text, "exec-d.json: it holds execution 'exec-e', not 'exec-d'"));
	assert_non_null(strstr(bad.text, "exec-f.json: port 80 is not allowed"));
	assert_true(exists(dir, "exec-b.json.corrupt"));
	assert_false(exists(dir, "exec-b.json"));
	assert_false(exists(dir, "exec-g.json.tmp.123"));
	assert_true(exists(dir, "notes.txt"));
	registry_clear(&r);
	execution_free(a);
	execution_free(c);
}

static void test_migrate_entry_by_entry(void **state)
{
	const char *dir = *state;
	struct registry r = { 0 };
	struct execution *kept = host_exec("exec-k", KEY_EC);
	struct bad_log bad = { "", 0 };
	char err[ERRLEN], old[PATH_MAX], rdir[PATH_MAX];

	snprintf(rdir, sizeof(rdir), "%s/executions", dir);
	assert_int_equal(mkdir(rdir, 0700), 0);
	snprintf(old, sizeof(old), "%s/executions.json", dir);
	put(dir, "executions.json",
	    "{\"version\": 1, \"executions\": ["
	    "{\"id\": \"exec-a\", \"port\": 2222, \"target\": {\"type\": \"host\"}, \"user\": \"root\", \"created\": 1700000000,"
	    " \"expires\": 1700000100, \"keys\": [\"" KEY_ED "\"]},"
	    "{\"id\": \"exec-b\", \"port\": 80, \"target\": {\"type\": \"host\"}, \"keys\": []},"
	    "{\"port\": 2222},"
	    "{\"id\": \"exec-k\", \"port\": 2222, \"target\": {\"type\": \"host\"}, \"keys\": [\"" KEY_ED2 "\"]},"
	    "{\"id\": \"exec-c\", \"port\": 3333, \"target\": {\"type\": \"host\"}, \"keys\": [\"" KEY_ED2 "\"]}]}");
	/* exec-k already has its own record: it wins over the old entry. */
	assert_int_equal(registry_add(&r, kept), 0);
	assert_int_equal(regstore_migrate(&r, old, rdir, on_bad, &bad, err), 0);
	assert_int_equal(r.n, 3);
	assert_int_equal(registry_find(&r, "exec-a")->expires_ms, 1700000100000LL);
	assert_non_null(registry_find(&r, "exec-c"));
	assert_true(execution_has_key(registry_find(&r, "exec-k"), FP_EC));
	assert_int_equal(bad.n, 3);
	assert_non_null(strstr(bad.text, "executions.json entry 2 (exec-b): port 80 is not allowed"));
	assert_non_null(strstr(bad.text, "executions.json entry 3: execution id must be a string; not restored"));
	assert_non_null(strstr(bad.text, "entry 4 (exec-k): its execution already has a record"));
	/* Each migrated entry has its record; the old file is aside for good. */
	assert_true(exists(rdir, "exec-a.json"));
	assert_true(exists(rdir, "exec-c.json"));
	assert_false(exists(rdir, "exec-b.json"));
	assert_false(exists(dir, "executions.json"));
	assert_true(exists(dir, "executions.json.migrated"));
	registry_clear(&r);
	/* Nothing left to migrate the next time. */
	bad.n = 0;
	assert_int_equal(regstore_migrate(&r, old, rdir, on_bad, &bad, err), 0);
	assert_int_equal(r.n, 0);
	assert_int_equal(bad.n, 0);
	/* Not a registry at all: moved aside, said. */
	put(dir, "executions.json", "{\"executions\": 3}");
	assert_int_equal(regstore_migrate(&r, old, rdir, on_bad, &bad, err), 0);
	assert_int_equal(bad.n, 1);
	assert_non_null(strstr(bad.text, "not a peon-sshd registry file"));
	assert_true(exists(dir, "executions.json.corrupt"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_write_load_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_record_costs_only_itself, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_entry_by_entry, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
