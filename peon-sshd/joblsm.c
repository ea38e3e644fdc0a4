#include "joblsm.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum lsm_kind lsm_from_list(const char *list)
{
	if (list_has(list, "apparmor", 8))
		return LSM_APPARMOR;
	if (list_has(list, "selinux", 7))
		return LSM_SELINUX;
	return LSM_NONE;
}

/* "name (enforce)" -> "name"; the mode is the last " (...)". */
static int apparmor_profile(const char *text, size_t len, char *out, size_t max)
{
	const char *open = NULL;

	for (size_t i = 0; i + 1 < len; i++)
		if (text[i] == ' ' && text[i + 1] == '(')
			open = text + i;
	if (open && text[len - 1] == ')')
		len = (size_t)(open - text);
	if (len == 0 || len >= max || memchr(text, '\0', len) || memchr(text, '\n', len))
		return -EINVAL;
	memcpy(out, text, len);
	out[len] = '\0';
	return 0;
}

int lsm_exec_label(enum lsm_kind kind, const char *current, size_t len, struct job_label *out, char *err)
{
	char label[JOB_LABEL_MAX];

	memset(out, 0, sizeof(*out));
	out->kind = kind;
	if (kind == LSM_NONE)
		return 0;
	/* The kernel ends the text with a newline (AppArmor) or a NUL (SELinux). */
	while (len && (current[len - 1] == '\n' || current[len - 1] == '\0'))
		len--;
	if (kind == LSM_APPARMOR) {
		if (apparmor_profile(current, len, label, sizeof(label) - 5) < 0)
			return errf(err, -EINVAL, "the job's AppArmor label is not a profile name");
		if (strcmp(label, "unconfined") != 0) {
			memcpy(out->exec, "exec ", 5);
			memcpy(out->exec + 5, label, strlen(label) + 1);
		}
		return 0;
	}
	if (len == 0 || len >= sizeof(out->exec) || memchr(current, '\0', len) || memchr(current, '\n', len) ||
	    !memchr(current, ':', len))
		return errf(err, -EINVAL, "the job's SELinux label is not a security context");
	memcpy(out->exec, current, len);
	out->exec[len] = '\0';
	return 0;
}

static int read_attr(pid_t pid, enum lsm_kind kind, char **text, size_t *len)
{
	char p[96];
	int r = -ENOENT;

	/* Stacking kernels (5.1+) keep AppArmor's own file apart. */
	if (kind == LSM_APPARMOR) {
		snprintf(p, sizeof(p), "/proc/%d/attr/apparmor/current", (int)pid);
		r = read_file(p, JOB_LABEL_MAX, text, len);
	}
	if (r == -ENOENT) {
		snprintf(p, sizeof(p), "/proc/%d/attr/current", (int)pid);
		r = read_file(p, JOB_LABEL_MAX, text, len);
	}
	return r;
}

int job_label_read(pid_t pid, struct job_label *out, char *err)
{
	char *list = NULL, *text = NULL;
	size_t len = 0;
	enum lsm_kind kind;
	int r;

	memset(out, 0, sizeof(*out));
	if (read_file("/sys/kernel/security/lsm", 4096, &list, NULL) < 0)
		return 0;              /* securityfs not mounted: no LSM we could read a label from */
	kind = lsm_from_list(list);
	free(list);
	if (kind == LSM_NONE)
		return 0;
	r = read_attr(pid, kind, &text, &len);
	if (r < 0)
		return errf(err, r, "cannot read the %s label of the job's process %d: %s",
			    kind == LSM_APPARMOR ? "AppArmor" : "SELinux", (int)pid, strerror(-r));
	r = lsm_exec_label(kind, text, len, out, err);
	free(text);
	return r;
}

int job_label_apply(const struct job_label *l, char *err)
{
	const char *path = "/proc/self/attr/exec";
	int fd = -1;
	ssize_t n;

	if (l->kind == LSM_NONE || !*l->exec)
		return 0;
	if (l->kind == LSM_APPARMOR)
		fd = open("/proc/self/attr/apparmor/exec", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return errf(err, -errno, "cannot open %s for the job's label: %s", path, strerror(errno));
	n = write(fd, l->exec, strlen(l->exec));
	if (n != (ssize_t)strlen(l->exec)) {
		int e = n < 0 ? errno : EIO;

		close(fd);
		return errf(err, -e, "cannot take the job's label %s: %s", l->exec, strerror(e));
	}
	close(fd);
	return 0;
}
