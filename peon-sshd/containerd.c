/* containerd's runtime-v2 task state (containerd.h). */
#include "containerd.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool containerd_name_valid(const char *s, size_t n)
{
	bool sep_ok = false;

	if (n == 0 || n > CONTAINERD_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (isalnum((unsigned char)s[i])) {
			sep_ok = true;
		} else if (strchr("._-", s[i]) && s[i] && sep_ok) {
			sep_ok = false;
		} else {
			return false;
		}
	}
	return sep_ok;             /* not ending in a separator */
}

bool containerd_ref_valid(const char *ref)
{
	const char *slash = strchr(ref, '/');

	return slash && containerd_name_valid(ref, (size_t)(slash - ref)) &&
	       containerd_name_valid(slash + 1, strlen(slash + 1));
}

int containerd_task_dir(const char *state_dir, const char *ref, char *out, size_t len, char *err)
{
	if (!containerd_ref_valid(ref))
		return errf(err, -EINVAL, "'%.*s' is not NAMESPACE/ID (letters, digits and single . _ - between them)",
			    CONTAINERD_REF_MAX, ref);
	/* ref has exactly one '/', and neither half can be "." or "..". */
	if ((size_t)snprintf(out, len, "%s/%s", state_dir, ref) >= len)
		return errf(err, -ENAMETOOLONG, "containerd state path for %s is too long", ref);
	return 0;
}

int containerd_task_pid(const char *state_dir, const char *ref, pid_t *pid, char *err)
{
	char dir[PATH_MAX], path[PATH_MAX + 16], *text = NULL, *end;
	long v;
	int r;

	if ((r = containerd_task_dir(state_dir, ref, dir, sizeof(dir), err)) < 0)
		return r;
	snprintf(path, sizeof(path), "%s/init.pid", dir);
	if ((r = read_file(path, 32, &text, NULL)) < 0) {
		if (r == -ENOENT)
			return errf(err, -ENOENT, "containerd has no running task %s (no %s)", ref, path);
		return errf(err, r, "cannot read %s: %s", path, strerror(-r));
	}
	errno = 0;
	v = strtol(text, &end, 10);
	while (*end == '\n')
		end++;
	r = 0;
	if (errno || end == text || *end || v < 1 || v > 4194304)
		r = errf(err, -EINVAL, "%s does not hold a process id", path);
	else
		*pid = (pid_t)v;
	free(text);
	return r;
}
