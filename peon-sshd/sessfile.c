#include "sessfile.h"
#include "procinfo.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void path_for(const char *dir, pid_t pid, char *out, size_t len)
{
	snprintf(out, len, "%s/sessions/%d.json", dir, (int)pid);
}

int sessfile_write(const char *runtime_dir, pid_t pid, const struct sessinfo *si)
{
	char path[PATH_MAX], sdir[PATH_MAX];
	unsigned long long st = 0;
	json_object *o;
	const char *text;
	int r;

	snprintf(sdir, sizeof(sdir), "%s/sessions", runtime_dir);
	if (mkdir(sdir, 0700) < 0 && errno != EEXIST)
		return -errno;
	/* Without its start time the record could later name another process. */
	if ((r = procinfo_read_starttime(pid, &st)) < 0)
		return r;
	o = json_object_new_object();
	json_object_object_add(o, "pid", json_object_new_int(pid));
	json_object_object_add(o, "starttime", json_object_new_uint64(st));
	json_object_object_add(o, "execution", json_object_new_string(si->execution));
	json_object_object_add(o, "remote", json_object_new_string(si->remote));
	json_object_object_add(o, "user", json_object_new_string(si->user));
	json_object_object_add(o, "key_fingerprint", json_object_new_string(si->key_fp));
	json_object_object_add(o, "key_comment", json_object_new_string(si->key_comment));
	if (si->runs_as) {
		json_object_object_add(o, "runs_as", json_object_new_string(si->runs_as));
		json_object_object_add(o, "runs_as_uid", json_object_new_uint64(si->runs_as_uid));
	}
	json_object_object_add(o, "uid_slot", json_object_new_int(si->uid_slot));
	json_object_object_add(o, "since", json_object_new_int64((int64_t)time(NULL)));
	text = json_object_to_json_string(o);
	path_for(runtime_dir, pid, path, sizeof(path));
	/* No fsync: a record names a live process and means nothing after the
	 * machine's own crash (a torn one is dropped as stale when read), while
	 * a daemon restart finds it in the page cache. The sync cost every
	 * login 0.3-0.7 ms on a disk-backed runtime_dir, inside the claim the
	 * client waits on. */
	r = write_file_atomic(path, text, strlen(text), 0600, VOLATILE);
	json_object_put(o);
	return r;
}

void sessfile_remove_pid(const char *runtime_dir, pid_t pid)
{
	char path[PATH_MAX];

	path_for(runtime_dir, pid, path, sizeof(path));
	unlink(path);
}

void sessfile_remove(const char *runtime_dir)
{
	sessfile_remove_pid(runtime_dir, getpid());
}

/* Load one record; NULL (and the file removed) when its process is gone. */
static json_object *load_live(const char *sdir, const char *name)
{
	char path[PATH_MAX + 256], *text = NULL;
	json_object *o = NULL, *pid, *st;

	snprintf(path, sizeof(path), "%s/%s", sdir, name);
	if (read_file(path, 64 * 1024, &text, NULL) < 0)
		return NULL;
	o = json_tokener_parse(text);
	free(text);
	if (!o || !json_object_object_get_ex(o, "pid", &pid) ||
	    !json_object_object_get_ex(o, "starttime", &st) ||
	    !procinfo_same_process(json_object_get_int(pid), json_object_get_uint64(st))) {
		json_object_put(o);
		unlink(path);
		return NULL;
	}
	return o;
}

typedef void (*sess_fn)(json_object *rec, void *arg);

static int each_session(const char *runtime_dir, const char *execution, sess_fn fn, void *arg)
{
	char sdir[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(sdir, sizeof(sdir), "%s/sessions", runtime_dir);
	d = opendir(sdir);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		json_object *o, *ex;
		size_t l = strlen(de->d_name);

		if (l < 6 || strcmp(de->d_name + l - 5, ".json") != 0)
			continue;
		o = load_live(sdir, de->d_name);
		if (!o)
			continue;
		if (!execution || (json_object_object_get_ex(o, "execution", &ex) &&
				   strcmp(json_object_get_string(ex), execution) == 0)) {
			n++;
			if (fn)
				fn(o, arg);
		}
		json_object_put(o);
	}
	closedir(d);
	return n;
}

static void add_to_array(json_object *rec, void *arg)
{
	json_object_array_add(arg, json_object_get(rec));
}

json_object *sessfile_list(const char *runtime_dir, const char *execution)
{
	json_object *arr = json_object_new_array();

	each_session(runtime_dir, execution, add_to_array, arr);
	return arr;
}

static void signal_one(json_object *rec, void *arg)
{
	json_object *pid;

	if (json_object_object_get_ex(rec, "pid", &pid))
		kill(json_object_get_int(pid), *(int *)arg);
}

int sessfile_signal(const char *runtime_dir, const char *execution, int sig)
{
	return each_session(runtime_dir, execution, signal_one, &sig);
}

static void count_one(json_object *rec, void *arg)
{
	json_object *ex, *n;
	const char *id;

	if (!json_object_object_get_ex(rec, "execution", &ex) || !(id = json_object_get_string(ex)))
		return;
	if (json_object_object_get_ex(arg, id, &n))
		json_object_int_inc(n, 1);
	else
		json_object_object_add(arg, id, json_object_new_int(1));
}

json_object *sessfile_counts(const char *runtime_dir, int *total)
{
	json_object *counts = json_object_new_object();
	int n = each_session(runtime_dir, NULL, count_one, counts);

	if (total)
		*total = n;
	return counts;
}

int sessfile_count(const char *runtime_dir, const char *execution)
{
	return each_session(runtime_dir, execution, NULL, NULL);
}

int sessfile_signal_pid(const char *runtime_dir, pid_t pid, int sig, char *execution, size_t len)
{
	char sdir[PATH_MAX], name[32];
	json_object *o, *v, *ex;
	int found = 0;

	snprintf(sdir, sizeof(sdir), "%s/sessions", runtime_dir);
	snprintf(name, sizeof(name), "%d.json", (int)pid);
	/* load_live checks the recorded start time: a reused pid is not it. */
	o = load_live(sdir, name);
	if (o && json_object_object_get_ex(o, "pid", &v) && json_object_get_int(v) == pid &&
	    json_object_object_get_ex(o, "execution", &ex)) {
		snprintf(execution, len, "%s", json_object_get_string(ex));
		found = kill(pid, sig) == 0;
	}
	json_object_put(o);
	return found;
}

struct key_signal {
	char *const *fps;
	size_t n;
	int sig, hit;
};

static void signal_if_key(json_object *rec, void *arg)
{
	struct key_signal *ks = arg;
	json_object *fp, *pid;

	if (!json_object_object_get_ex(rec, "key_fingerprint", &fp) || !json_object_object_get_ex(rec, "pid", &pid))
		return;
	for (size_t i = 0; i < ks->n; i++)
		if (strcmp(json_object_get_string(fp), ks->fps[i]) == 0) {
			ks->hit += kill(json_object_get_int(pid), ks->sig) == 0;
			return;
		}
}

int sessfile_signal_keys(const char *runtime_dir, const char *execution, char *const *fps, size_t n, int sig)
{
	struct key_signal ks = { .fps = fps, .n = n, .sig = sig };

	if (n)
		each_session(runtime_dir, execution, signal_if_key, &ks);
	return ks.hit;
}

json_object *sessfile_get(const char *runtime_dir, pid_t pid)
{
	char sdir[PATH_MAX], name[32];

	snprintf(sdir, sizeof(sdir), "%s/sessions", runtime_dir);
	snprintf(name, sizeof(name), "%d.json", (int)pid);
	return load_live(sdir, name);
}
