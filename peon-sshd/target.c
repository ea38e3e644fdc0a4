/* Which process is the job now (target.h). */
#include "target.h"
#include "containerd.h"
#include "docker.h"
#include "procinfo.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Where Docker's containerd keeps its task bundles when docker.state_dir
 * is "": next to a system containerd (docker-ce, Debian's docker.io with
 * containerd running), or under dockerd's own exec-root when dockerd
 * started containerd itself. */
static const char *const docker_state_defaults[] = {
	"/run/containerd/io.containerd.runtime.v2.task/moby",
	"/run/docker/containerd/daemon/io.containerd.runtime.v2.task/moby",
};

static struct {
	char docker_socket[PATH_MAX], docker_state[PATH_MAX], containerd_state[PATH_MAX];
} paths = {
	.docker_socket = "/run/docker.sock",
	.containerd_state = "/run/containerd/io.containerd.runtime.v2.task",
};

static int set_path(char *dst, const char *src, const char *what, char *err)
{
	if (strlen(src) >= PATH_MAX)
		return errf(err, -ENAMETOOLONG, "%s is too long", what);
	strcpy(dst, src);
	return 0;
}

int target_configure(const struct runtimes *rt, char *err)
{
	int r;

	if ((r = set_path(paths.docker_socket, rt->docker_socket, "docker.socket", err)) < 0 ||
	    (r = set_path(paths.docker_state, rt->docker_state_dir, "docker.state_dir", err)) < 0 ||
	    (r = set_path(paths.containerd_state, rt->containerd_state_dir, "containerd.state_dir", err)) < 0)
		return r;
	return 0;
}

static void set_running(struct target_live *lv, pid_t pid)
{
	lv->pid = pid;
	if (procinfo_read_starttime(pid, &lv->starttime) < 0) {
		/* Named by the runtime, gone by now: it is between processes. */
		lv->state = TARGET_STOPPED;
		snprintf(lv->why, sizeof(lv->why), "the container's process %d has just ended", (int)pid);
	}
}

static int look_docker(const struct target *t, struct target_live *lv, char *err)
{
	const char *ref = *t->id ? t->id : t->ref;
	struct docker_container c;
	int r = docker_inspect(paths.docker_socket, ref, &c, err);

	if (r == -ENOENT) {
		lv->state = TARGET_REMOVED;
		snprintf(lv->why, sizeof(lv->why), "the container %s was removed", t->ref);
		return 0;
	}
	if (r < 0)
		return r;
	/* Asked by its full id, the engine cannot answer with another one;
	 * a new container under the old name is never followed. */
	if (*t->id && strcmp(c.id, t->id) != 0)
		return errf(err, -EIO, "the Docker engine answered for container %.12s when asked for %.12s", c.id, t->id);
	snprintf(lv->id, sizeof(lv->id), "%s", c.id);
	snprintf(lv->user, sizeof(lv->user), "%s", c.user);
	if (c.paused) {
		lv->state = TARGET_PAUSED;
		lv->pid = c.pid;
		snprintf(lv->why, sizeof(lv->why), "the container %s is paused: `docker unpause` it, then connect again",
			 t->ref);
	} else if (c.restarting) {
		lv->state = TARGET_RESTARTING;
		snprintf(lv->why, sizeof(lv->why), "the container %s is restarting: connect again in a moment", t->ref);
	} else if (c.running) {
		lv->state = TARGET_RUNNING;
		set_running(lv, c.pid);
	} else {
		/* Podman answers "stopped" for a while before "exited": not
		 * worth saying twice. */
		bool plain = !*c.status || strcmp(c.status, "stopped") == 0;

		lv->state = TARGET_STOPPED;
		snprintf(lv->why, sizeof(lv->why), "the container %s stopped (%s%sexit code %d)", t->ref,
			 plain ? "" : c.status, plain ? "" : ", ", c.exit_code);
	}
	return 0;
}

static int look_containerd(const struct target *t, struct target_live *lv, char *err)
{
	char why[ERRLEN];
	pid_t pid;
	int r = containerd_task_pid(paths.containerd_state, t->ref, &pid, why);

	if (r == -ENOENT) {
		lv->state = TARGET_STOPPED;
		snprintf(lv->why, sizeof(lv->why), "the container %s is not running (containerd has no task for it)",
			 t->ref);
		return 0;
	}
	if (r < 0)
		return errf(err, r, "%s", why);
	lv->state = TARGET_RUNNING;
	set_running(lv, pid);
	return 0;
}

int target_look(const struct target *t, struct target_live *lv, char *err)
{
	memset(lv, 0, sizeof(*lv));
	switch (t->type) {
	case TARGET_DOCKER: return look_docker(t, lv, err);
	case TARGET_CONTAINERD: return look_containerd(t, lv, err);
	case TARGET_PID:
		lv->pid = t->pid;
		lv->starttime = t->starttime;
		lv->state = procinfo_same_process(t->pid, t->starttime) ? TARGET_RUNNING : TARGET_STOPPED;
		if (lv->state != TARGET_RUNNING)
			snprintf(lv->why, sizeof(lv->why), "the job's process %d has ended", (int)t->pid);
		return 0;
	case TARGET_HOST:
		lv->state = TARGET_RUNNING;
		return 0;
	}
	return errf(err, -EINVAL, "unknown target type");
}

int target_refresh(struct target *t, char *err)
{
	struct target_live lv;
	int r = target_look(t, &lv, err);

	if (r < 0)
		return r;
	if (lv.state != TARGET_RUNNING)
		return errf(err, -EAGAIN, "%s", lv.why);
	t->pid = lv.pid;
	t->starttime = lv.starttime;
	return 0;
}

static bool has_spec(const char *dir)
{
	char p[PATH_MAX + 16];

	snprintf(p, sizeof(p), "%s/config.json", dir);
	return access(p, R_OK) == 0;
}

int target_bundle(const struct target *t, char *out, size_t len, char *err)
{
	int r;

	if (t->type == TARGET_CONTAINERD) {
		if ((r = containerd_task_dir(paths.containerd_state, t->ref, out, len, err)) < 0)
			return r;
		return has_spec(out) ? 0 : errf(err, -ENOENT, "%s holds no config.json", out);
	}
	if (t->type != TARGET_DOCKER || !*t->id)
		return errf(err, -ENOENT, "the target has no OCI bundle");
	if (*paths.docker_state) {
		snprintf(out, len, "%s/%s", paths.docker_state, t->id);
		return has_spec(out) ? 0 : errf(err, -ENOENT, "%s holds no config.json", out);
	}
	for (size_t i = 0; i < ARRAY_SIZE(docker_state_defaults); i++) {
		snprintf(out, len, "%s/%s", docker_state_defaults[i], t->id);
		if (has_spec(out))
			return 0;
	}
	return errf(err, -ENOENT, "no OCI bundle of container %.12s in %s or %s (set docker.state_dir)", t->id,
		    docker_state_defaults[0], docker_state_defaults[1]);
}
