#include "regstore.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A record with max_keys keys of the longest kind stays well below this. */
#define RECORD_MAX_BYTES (64 * 1024 * 1024)

static int record_path(const char *dir, const char *id, char *out, size_t len)
{
	if (!execution_id_valid(id) || (size_t)snprintf(out, len, "%s/%s.json", dir, id) >= len)
		return -ENAMETOOLONG;
	return 0;
}

int regstore_write(const char *dir, const struct execution *e, char *err)
{
	char path[PATH_MAX];
	json_object *o;
	const char *text;
	int r = record_path(dir, e->id, path, sizeof(path));

	if (r < 0)
		return errf(err, r, "execution id %s cannot name a file in %s", e->id, dir);
	o = execution_to_record(e);
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
	r = write_file_atomic(path, text, strlen(text), 0600, DURABLE);
	json_object_put(o);
	if (r < 0)
		return errf(err, r, "cannot record execution %s in %s: %s", e->id, dir, strerror(-r));
	return 0;
}

int regstore_remove(const char *dir, const char *id, char *err)
{
	char path[PATH_MAX];
	int r = record_path(dir, id, path, sizeof(path));

	if (r < 0)
		return errf(err, r, "execution id %s cannot name a file in %s", id, dir);
	if (unlink(path) < 0 && errno != ENOENT)
		return errf(err, -errno, "cannot delete %s: %s", path, strerror(errno));
	return 0;
}

/* One record file into r; -errno with err saying what is wrong with it. */
static int load_one(struct registry *r, const char *path, const char *name, char *err)
{
	char *text = NULL, id[256];
	json_object *o = NULL;
	struct execution *e = NULL;
	int ret = read_file(path, RECORD_MAX_BYTES, &text, NULL);

	if (ret < 0) {
		errf(err, ret, "cannot read it: %s", strerror(-ret));
		goto out;
	}
	if (!(o = json_tokener_parse(text))) {
		ret = errf(err, -EINVAL, "not valid JSON");
		goto out;
	}
	if ((ret = execution_from_record(o, &e, err)) < 0)
		goto out;
	/* The file name is the id: a record under another name is not trusted. */
	snprintf(id, sizeof(id), "%.*s", (int)(strlen(name) - 5), name);
	if (strcmp(id, e->id) != 0) {
		ret = errf(err, -EINVAL, "it holds execution '%s', not '%s'", e->id, id);
		goto out;
	}
	if ((ret = registry_add(r, e)) < 0) {
		errf(err, ret, "%s", ret == -EEXIST ? "duplicate id" : strerror(-ret));
		goto out;
	}
	e = NULL;
out:
	execution_free(e);
	json_object_put(o);
	free(text);
	return ret;
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n > m && strcmp(s + n - m, suffix) == 0;
}

static void move_aside(const char *path, const char *suffix, char *why, size_t len)
{
	char to[PATH_MAX + 16];
	size_t used = strlen(why);

	snprintf(to, sizeof(to), "%s%s", path, suffix);
	if (rename(path, to) == 0)
		snprintf(why + used, len - used, "; moved aside to %s", to);
	else
		snprintf(why + used, len - used, "; could not move it aside: %s", strerror(errno));
}

int regstore_load(struct registry *r, const char *dir, regstore_bad_fn bad, void *arg, char *err)
{
	struct dirent *de;
	DIR *dh = opendir(dir);

	if (!dh)
		return errno == ENOENT ? 0 : errf(err, -errno, "cannot read %s: %s", dir, strerror(errno));
	while ((de = readdir(dh))) {
		char path[PATH_MAX + 256], why[ERRLEN + PATH_MAX + 64];

		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		/* write_file_atomic's temp files, left by a crash mid-write. */
		if (strstr(de->d_name, ".json.tmp.")) {
			unlink(path);
			continue;
		}
		if (de->d_name[0] == '.' || !has_suffix(de->d_name, ".json"))
			continue;
		if (load_one(r, path, de->d_name, why) == 0)
			continue;
		move_aside(path, ".corrupt", why, sizeof(why));
		bad(path, why, arg);
	}
	closedir(dh);
	return 0;
}

/* One entry of an old executions.json: into a record and r, or reported. */
static void migrate_one(struct registry *r, json_object *entry, size_t idx, const char *old, const char *dir,
			regstore_bad_fn bad, void *arg)
{
	struct execution *e = NULL;
	char what[PATH_MAX + 300], why[ERRLEN * 2];
	json_object *v;

	snprintf(what, sizeof(what), "%s entry %zu", old, idx + 1);
	if (json_object_object_get_ex(entry, "id", &v) && json_object_is_type(v, json_type_string))
		snprintf(what, sizeof(what), "%s entry %zu (%.200s)", old, idx + 1, json_object_get_string(v));
	if (execution_from_record(entry, &e, why) < 0) {
		snprintf(why + strlen(why), sizeof(why) - strlen(why), "; not restored");
		bad(what, why, arg);
		return;
	}
	if (registry_find(r, e->id)) {
		bad(what, "its execution already has a record; the old entry is ignored", arg);
		execution_free(e);
		return;
	}
	if (regstore_write(dir, e, why) < 0) {
		snprintf(why + strlen(why), sizeof(why) - strlen(why), "; not restored");
		bad(what, why, arg);
		execution_free(e);
		return;
	}
	if (registry_add(r, e) < 0) {
		regstore_remove(dir, e->id, NULL);
		bad(what, "out of memory; not restored", arg);
		execution_free(e);
	}
}

int regstore_migrate(struct registry *r, const char *old, const char *dir, regstore_bad_fn bad, void *arg,
		     char *err)
{
	char *text = NULL, aside[PATH_MAX + 16];
	json_object *root = NULL, *arr;
	int ret = read_file(old, RECORD_MAX_BYTES, &text, NULL);

	if (ret == -ENOENT)
		return 0;
	if (ret < 0)
		return errf(err, ret, "%s: cannot read: %s", old, strerror(-ret));
	root = json_tokener_parse(text);
	if (!root || !json_object_object_get_ex(root, "executions", &arr) ||
	    !json_object_is_type(arr, json_type_array)) {
		char why[PATH_MAX + 128] = "not a peon-sshd registry file; no execution restored from it";

		move_aside(old, ".corrupt", why, sizeof(why));
		bad(old, why, arg);
		goto out;
	}
	/* Aside first: from here on it can bring nothing back, whatever fails below. */
	snprintf(aside, sizeof(aside), "%s.migrated", old);
	if (rename(old, aside) < 0) {
		ret = errf(err, -errno, "cannot move %s aside: %s; no execution restored from it", old,
			   strerror(errno));
		goto out;
	}
	for (size_t i = 0; i < json_object_array_length(arr); i++)
		migrate_one(r, json_object_array_get_idx(arr, i), i, old, dir, bad, arg);
out:
	json_object_put(root);
	free(text);
	return ret;
}
