/* The control socket and its requests from peon-sshctl: add, remove, list,
 * sessions, status, kill (keys and ttl: ctlexec.c). A failed request
 * changes nothing. The daemon
 * never blocks on a control client. */
#include "addlook.h"
#include "authkeys.h"
#include "ctlexec.h"
#include "ctlproto.h"
#include "daemon.h"
#include "jobenter.h"
#include "keyurls.h"
#include "log.h"
#include "look.h"
#include "procinfo.h"
#include "regstore.h"
#include "report.h"
#include "sessfile.h"
#include "target.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static json_object *ok_reply(void)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(1));
	return o;
}

/* A reply whose JSON is documented and kept stable (docs/json.md). */
static json_object *versioned_reply(void)
{
	json_object *o = ok_reply();

	json_object_object_add(o, "version", json_object_new_int(CTL_JSON_VERSION));
	return o;
}

/* What every session's spawn needs of the process (jobenter.c): alive, a
 * process of its own (not a kernel thread), and its root to enter. Said now,
 * at add, rather than to the first user who connects. */
static json_object *check_pid_usable(pid_t pid)
{
	struct proc_stat ps;
	char root[64];
	int fd;

	if (procinfo_read_stat(pid, &ps) < 0)
		return ctl_error("no process with pid %d", (int)pid);
	if (ps.flags & PROC_FLAG_KTHREAD)
		return ctl_error("pid %d (%s) is a kernel thread, not a job's process: give the pid of a process "
				 "running in the job", (int)pid, ps.comm);
	if (ps.state == 'Z' || ps.state == 'X')
		return ctl_error("pid %d (%s) has exited (a zombie its parent has not reaped): there is no job "
				 "left to enter", (int)pid, ps.comm);
	if (pid == getpid())
		return ctl_error("pid %d is peon-sshd itself, not a job's process", (int)pid);
	snprintf(root, sizeof(root), "/proc/%d/root", (int)pid);
	fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return ctl_error("cannot open the root directory of pid %d (%s): %s", (int)pid, root,
				 strerror(errno));
	close(fd);
	return NULL;
}

/* A container target: it must exist and run now; from here on the
 * execution follows it by its full id (a new container taking the name
 * later is never followed). */
static json_object *check_container(struct daemon *d, struct target *t, const struct look *l)
{
	if (l->r < 0)
		return ctl_error("%s", l->err);
	if (l->lv.state == TARGET_REMOVED)
		return ctl_error("there is no container '%s' (asked the Docker engine at %s)", t->ref,
				 d->cfg.rt.docker_socket);
	if (l->lv.state != TARGET_RUNNING)
		return ctl_error("%s", l->lv.why);
	t->pid = l->lv.pid;
	t->starttime = l->lv.starttime;
	snprintf(t->id, sizeof(t->id), "%s", l->lv.id);
	return NULL;
}

static bool has_spec(const struct target *t)
{
	char bundle[PATH_MAX], err[ERRLEN];

	return target_bundle(t, bundle, sizeof(bundle), err) == 0;
}

/* The target's process (a container's, once its runtime named it). */
static json_object *check_target(struct execution *e)
{
	struct target *t = &e->target;
	json_object *reply;
	char err[ERRLEN];

	if (t->type == TARGET_HOST) {
		if (!e->user)
			return ctl_error("--host needs --user: the worker user the shell runs as");
		if (!getpwnam(e->user))
			return ctl_error("user '%s' does not exist on this worker", e->user);
		return NULL;
	}
	if ((reply = check_pid_usable(t->pid)))
		return reply;
	if (procinfo_read_starttime(t->pid, &t->starttime) < 0)
		return ctl_error("no process with pid %d", (int)t->pid);
	if (e->user && !job_has_user(t->pid, e->user))
		return ctl_error("user '%s' does not exist in the job of pid %d (its /etc/passwd)", e->user,
				 (int)t->pid);
	e->pidfd = (int)syscall(SYS_pidfd_open, t->pid, 0);
	if (e->pidfd < 0 || !procinfo_same_process(t->pid, t->starttime))
		return ctl_error("process %d ended while it was being registered", (int)t->pid);
	/* Once, now: every shell of the execution runs under these
	 * (jobseccomp.h); unless the container's spec gives them (jobspec.h). */
	if (!has_spec(t) && job_seccomp_capture(t->pid, &e->seccomp, err) < 0)
		return ctl_error("%s", err);
	if (!procinfo_same_process(t->pid, t->starttime))
		return ctl_error("process %d ended while it was being registered", (int)t->pid);
	return NULL;
}

/* The log file must be appendable now, not at the first line. */
static json_object *check_log_file(const struct execution *e)
{
	int fd;

	if (!e->log_file)
		return NULL;
	fd = report_open_log(e->log_file);
	if (fd < 0)
		return ctl_error("cannot append to --log-file %s: %s", e->log_file, strerror(errno));
	close(fd);
	return NULL;
}

/* The host key the execution's log names, with the same known_hosts line
 * (report.c): a job controller needs neither to parse the log nor to ask. */
static json_object *announced_key_json(const struct daemon *d, int port)
{
	json_object *arr = json_object_new_array(), *k = json_object_new_object();
	char known[REPORT_LINE_MAX];

	json_object_object_add(k, "type", json_object_new_string(d->hki.type));
	json_object_object_add(k, "fingerprint", json_object_new_string(d->hki.fingerprint));
	if (report_known_hosts_line(d->addr.addr, port, &d->hki, known, sizeof(known)) == 0)
		json_object_object_add(k, "known_hosts", json_object_new_string(known));
	json_object_array_add(arr, k);
	return arr;
}

static json_object *add_reply(struct daemon *d, const struct execution *e, const char *shell)
{
	json_object *o = versioned_reply();
	char line[512];

	report_connect_command(d->addr.addr, e->port, shell, line, sizeof(line));
	json_object_object_add(o, "message", json_object_new_string("execution registered and reachable"));
	json_object_object_add(o, "address", json_object_new_string(d->addr.addr));
	json_object_object_add(o, "port", json_object_new_int(e->port));
	json_object_object_add(o, "connect", json_object_new_string(line));
	json_object_object_add(o, "host_keys", announced_key_json(d, e->port));
	json_object_object_add(o, "execution", execution_to_json(e));
	return o;
}

json_object *control_register(struct daemon *d, struct execution *e, bool port_new)
{
	json_object *reply;
	char err[ERRLEN], dir[PATH_MAX], shell[PATH_MAX];

	/* On disk before it is live: an execution a restart would not restore
	 * is never reported registered. A record that cannot be written fails
	 * the add and changes nothing. */
	if (regstore_write(daemon_records_dir(d, dir, sizeof(dir)), e, err) < 0) {
		reply = ctl_error("%s", err);
		goto unport;
	}
	if (registry_add(&d->reg, e) < 0) {
		regstore_remove(dir, e->id, NULL);
		reply = ctl_error("out of memory");
		goto unport;
	}
	{
		struct log_ctx ctx = { .execution_id = e->id };
		char tgt[64];
		log_full(LOG_INFO, &ctx, "registered: %s, port %d, %zu key%s%s%s, %u seccomp filter%s",
			 target_describe(&e->target, tgt, sizeof(tgt)), e->port, e->n_keys, e->n_keys == 1 ? "" : "s",
			 e->user ? ", user " : "", e->user ? e->user : "", e->seccomp ? e->seccomp->n : 0,
			 e->seccomp && e->seccomp->n == 1 ? "" : "s");
	}
	daemon_notify_status(d);
	/* One look into the job for the program the connect lines run. */
	job_connect_shell(e, shell, sizeof(shell));
	daemon_report_activation(d, e, shell);
	return add_reply(d, e, shell);
unport:
	if (port_new)
		daemon_release_port(d, e->port);
	execution_free(e);
	return reply;
}

/* What an add is refused for before anything is looked at, and again once
 * its container's runtime has answered (other adds were served meanwhile). */
static json_object *add_refused(struct daemon *d, const struct execution *e)
{
	if (registry_find(&d->reg, e->id))
		return ctl_error("execution %s is already registered; remove it first", e->id);
	if (keyurls_adding(d, e->id))
		return ctl_error("execution %s is being registered: its key URLs are being fetched", e->id);
	if (addlook_pending(d, e->id))
		return ctl_error("execution %s is being registered: its container is being looked at", e->id);
	if (d->reg.n >= (size_t)d->cfg.limits.max_executions)
		return ctl_error("too many executions (limits.max_executions = %d)", d->cfg.limits.max_executions);
	if (e->n_keys > (size_t)d->cfg.limits.max_keys)
		return ctl_error("too many keys: %zu given, limits.max_keys is %d", e->n_keys, d->cfg.limits.max_keys);
	return NULL;
}

/* The add once its target is known to exist: e is taken. */
static json_object *add_target_known(struct daemon *d, struct execution *e, long long ttl_ms)
{
	json_object *reply;
	char err[ERRLEN];
	bool port_new;

	if ((reply = check_target(e)) || (reply = check_log_file(e)))
		goto fail;
	if (!e->port)
		e->port = d->cfg.debug_port;
	/* Milliseconds: `--ttl 2s` means two seconds from now, not from the start of this second. */
	e->created_ms = now_ms();
	if (ttl_ms)
		e->expires_ms = e->created_ms + ttl_ms;
	port_new = registry_count_port(&d->reg, e->port) == 0;
	if (daemon_ensure_port(d, e->port, err) < 0) {
		reply = ctl_error("%s", err);
		goto fail;
	}
	/* Live only with its keys: the answer waits for the first fetch. */
	if (e->n_urls)
		return keyurls_add(d, e, ttl_ms);
	return control_register(d, e, port_new);
fail:
	execution_free(e);
	return reply;
}

json_object *control_add_looked(struct daemon *d, struct execution *e, long long ttl_ms, const struct look *l)
{
	json_object *reply;

	if ((reply = add_refused(d, e)) || (reply = check_container(d, &e->target, l))) {
		execution_free(e);
		return reply;
	}
	return add_target_known(d, e, ttl_ms);
}

static json_object *do_add(struct daemon *d, json_object *req)
{
	struct execution *e = NULL;
	json_object *reply;
	char err[ERRLEN];
	long long ttl_ms;

	if (execution_from_request(req, &e, &ttl_ms, err) < 0)
		return ctl_error("%s", err);
	if ((reply = add_refused(d, e))) {
		execution_free(e);
		return reply;
	}
	/* Which process the container runs is the runtime's to say, and it may
	 * take seconds: asked from a child (addlook.h). */
	if (target_is_container(&e->target))
		return addlook_begin(d, e, ttl_ms);
	return add_target_known(d, e, ttl_ms);
}

/* The request's "id": NULL when absent; -EINVAL with err when not a string. */
static int req_id(json_object *req, const char **id, char *err)
{
	json_object *v;

	*id = NULL;
	if (!json_object_object_get_ex(req, "id", &v))
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return errf(err, -EINVAL, "execution id must be a string");
	*id = json_object_get_string(v);
	return 0;
}

/* The registry no longer knows id (a bad record, a failed earlier remove)
 * but sessions recorded for it may still run: end them, and clear a record
 * left behind, if any. */
static json_object *remove_unknown(struct daemon *d, const char *id)
{
	struct log_ctx ctx = { .execution_id = id };
	char dir[PATH_MAX], msg[512];
	json_object *o;
	int n;

	if (!execution_id_valid(id) || (n = sessfile_signal(d->cfg.runtime_dir, id, SIGTERM)) == 0)
		return ctl_error("no execution '%.200s' is registered", id);
	regstore_remove(daemon_records_dir(d, dir, sizeof(dir)), id, NULL);
	snprintf(msg, sizeof(msg), "no execution '%s' is registered; ended %d live session%s", id, n, n == 1 ? "" : "s");
	log_full(LOG_INFO, &ctx, "remove: %s", msg);
	o = ok_reply();
	json_object_object_add(o, "registered", json_object_new_boolean(0));
	json_object_object_add(o, "message", json_object_new_string(msg));
	json_object_object_add(o, "sessions_ended", json_object_new_int(n));
	return o;
}

static json_object *do_remove(struct daemon *d, json_object *req)
{
	const char *id;
	char err[ERRLEN];
	json_object *o;

	if (req_id(req, &id, err) < 0)
		return ctl_error("%s", err);
	if (!id)
		return ctl_error("no execution '' is registered");
	if (!registry_find(&d->reg, id))
		return remove_unknown(d, id);
	o = ok_reply();
	json_object_object_add(o, "message", json_object_new_string("execution removed"));
	/* Access has ended either way; a record left behind is said, not hidden. */
	if (daemon_end_execution(d, id, "removed", err) < 0)
		json_object_object_add(o, "warning", json_object_new_string(err));
	return o;
}

static json_object *do_list(struct daemon *d, json_object *req)
{
	json_object *o = versioned_reply(), *arr = json_object_new_array();
	/* One pass over the session records, not one per execution. */
	json_object *counts = sessfile_counts(d->cfg.runtime_dir, NULL), *n;

	(void)req;
	for (size_t i = 0; i < d->reg.n; i++) {
		json_object *e = execution_to_json(d->reg.v[i]);
		int sessions = json_object_object_get_ex(counts, d->reg.v[i]->id, &n) ? json_object_get_int(n) : 0;

		json_object_object_add(e, "sessions", json_object_new_int(sessions));
		json_object_array_add(arr, e);
	}
	json_object_put(counts);
	json_object_object_add(o, "executions", arr);
	return o;
}

static json_object *do_sessions(struct daemon *d, json_object *req)
{
	const char *id;
	char err[ERRLEN];
	json_object *o;

	if (req_id(req, &id, err) < 0)
		return ctl_error("%s", err);
	/* Sessions of an id the registry no longer knows are still listed. */
	if (id && !registry_find(&d->reg, id) && sessfile_count(d->cfg.runtime_dir, id) == 0)
		return ctl_error("no execution '%.200s' is registered", id);
	o = versioned_reply();
	json_object_object_add(o, "sessions", sessfile_list(d->cfg.runtime_dir, id));
	return o;
}

/* The host keys clients are offered now (algorithms.host_keys), and which
 * one the connect lines announce. */
static json_object *offered_keys_json(const struct daemon *d)
{
	json_object *a = json_object_new_array();

	for (int i = 0; i < d->hk.n; i++) {
		char *fp = hostkey_offered(d->hk.keys[i], d->cfg.algo.host_keys) ? authkey_fingerprint(d->hk.keys[i]) :
										     NULL;
		json_object *k;

		if (!fp)
			continue;
		k = json_object_new_object();
		json_object_object_add(k, "type", json_object_new_string(ssh_key_type_to_char(ssh_key_type(d->hk.keys[i]))));
		json_object_object_add(k, "fingerprint", json_object_new_string(fp));
		json_object_object_add(k, "path", json_object_new_string(d->hk.paths[i]));
		json_object_object_add(k, "announced", json_object_new_boolean(strcmp(fp, d->hki.fingerprint) == 0));
		json_object_array_add(a, k);
		ssh_string_free_char(fp);
	}
	return a;
}

/* docs/json.md, "status": version 1. */
static json_object *do_status(struct daemon *d, json_object *req)
{
	json_object *o = ok_reply(), *ports = json_object_new_array();

	(void)req;
	for (size_t i = 0; i < d->n_ls; i++)
		json_object_array_add(ports, json_object_new_int(d->ls[i].port));
	json_object_object_add(o, "version", json_object_new_int(1));
	json_object_object_add(o, "daemon_version", json_object_new_string(PEON_VERSION));
	json_object_object_add(o, "pid", json_object_new_int(getpid()));
	json_object_object_add(o, "uptime_seconds", json_object_new_int64(time(NULL) - d->started));
	json_object_object_add(o, "config", json_object_new_string(d->cfg.path ? d->cfg.path : "(defaults)"));
	json_object_object_add(o, "default_port", json_object_new_int(d->cfg.debug_port));
	json_object_object_add(o, "default_port_source", json_object_new_string(d->cfg.debug_port_source));
	json_object_object_add(o, "address", json_object_new_string(d->addr.addr));
	json_object_object_add(o, "address_source", json_object_new_string(d->addr.source));
	json_object_object_add(o, "host_key", json_object_new_string(d->hki.fingerprint));
	json_object_object_add(o, "host_keys", offered_keys_json(d));
	json_object_object_add(o, "ports", ports);
	json_object_object_add(o, "executions", json_object_new_int((int)d->reg.n));
	json_object_object_add(o, "sessions", json_object_new_int(sessfile_count(d->cfg.runtime_dir, NULL)));
	json_object_object_add(o, "unauthenticated", json_object_new_int((int)daemon_unauthenticated(d)));
	json_object_object_add(o, "penalised_sources", json_object_new_int((int)daemon_penalised_sources(d)));
	json_object_object_add(o, "connections_accepted", json_object_new_int64((int64_t)d->accepted));
	json_object_object_add(o, "connections_dropped", json_object_new_int64((int64_t)d->dropped));
	json_object_object_add(o, "dropped_penalised", json_object_new_int64((int64_t)d->dropped_by[DROP_PENALISED]));
	json_object_object_add(o, "dropped_per_source", json_object_new_int64((int64_t)d->dropped_by[DROP_PER_SOURCE]));
	json_object_object_add(o, "dropped_max_startups",
			       json_object_new_int64((int64_t)d->dropped_by[DROP_MAX_STARTUPS]));
	metrics_status(d, o);
	return o;
}

/* "SSH session ended by the administrator: ..." in the execution's log,
 * naming the session as its own lines did (monitor.c). */
static void report_kill(struct daemon *d, const char *exec_id, json_object *rec, pid_t pid)
{
	const struct execution *e = registry_find(&d->reg, exec_id);
	char line[REPORT_LINE_MAX];
	json_object *v;
	const char *fp = "?", *comment = "", *remote = "?", *user = "?";

	if (!e)
		return;
	if (json_object_object_get_ex(rec, "key_fingerprint", &v))
		fp = json_object_get_string(v);
	if (json_object_object_get_ex(rec, "key_comment", &v))
		comment = json_object_get_string(v);
	if (json_object_object_get_ex(rec, "remote", &v))
		remote = json_object_get_string(v);
	if (json_object_object_get_ex(rec, "user", &v))
		user = json_object_get_string(v);
	snprintf(line, sizeof(line), "SSH session ended by the administrator: key %s (%s) from %s as %s (session %d).",
		 fp, comment, remote, user, (int)pid);
	report_line(&d->cfg, e, line, NULL);
}

/* End one recorded session: only a live process recorded in sessions/. */
static json_object *do_kill(struct daemon *d, json_object *req)
{
	struct log_ctx ctx = { 0 };
	char exec_id[256], msg[400];
	json_object *o, *rec;
	int64_t pid;

	if (json_int_in(req, "pid", 1, PID_MAX, &pid) < 0)
		return ctl_error("pid must be a process id between 1 and %d", PID_MAX);
	rec = sessfile_get(d->cfg.runtime_dir, (pid_t)pid);
	if (!rec || sessfile_signal_pid(d->cfg.runtime_dir, (pid_t)pid, SIGTERM, exec_id, sizeof(exec_id)) <= 0) {
		json_object_put(rec);
		return ctl_error("no live session with pid %d (see peon-sshctl sessions)", (int)pid);
	}
	ctx.execution_id = exec_id;
	snprintf(msg, sizeof(msg), "session %d of execution %s ended", (int)pid, exec_id);
	log_full(LOG_INFO, &ctx, "kill: %s", msg);
	report_kill(d, exec_id, rec, (pid_t)pid);
	json_object_put(rec);
	o = ok_reply();
	json_object_object_add(o, "message", json_object_new_string(msg));
	json_object_object_add(o, "execution", json_object_new_string(exec_id));
	return o;
}

static const char *const f_cmd[] = { "cmd", NULL };
static const char *const f_cmd_pid[] = { "cmd", "pid", NULL };
static const char *const f_cmd_id[] = { "cmd", "id", NULL };

static const struct command {
	const char *name;
	const char *const *fields;   /* NULL: the handler checks them */
	json_object *(*run)(struct daemon *d, json_object *req);
} commands[] = {
	{ "add", NULL, do_add },
	{ "remove", f_cmd_id, do_remove },
	{ "list", f_cmd, do_list },
	{ "sessions", f_cmd_id, do_sessions },
	{ "status", f_cmd, do_status },
	{ "kill", f_cmd_pid, do_kill },
	{ "keys", NULL, ctl_keys },
	{ "ttl", NULL, ctl_ttl },
	{ "refresh", f_cmd_id, keyurls_refresh },
};

json_object *control_handle(struct daemon *d, json_object *req)
{
	char err[ERRLEN], what[64];
	json_object *v;
	const char *cmd;

	if (!json_object_object_get_ex(req, "cmd", &v) || !json_object_is_type(v, json_type_string))
		return ctl_error("request has no \"cmd\"");
	cmd = json_object_get_string(v);
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		if (strcmp(cmd, commands[i].name) != 0)
			continue;
		snprintf(what, sizeof(what), "%s request", cmd);
		if (commands[i].fields && ctl_check_fields(req, commands[i].fields, what, err) < 0)
			return ctl_error("%s", err);
		return commands[i].run(d, req);
	}
	return ctl_error("unknown command '%.64s'", cmd);
}

/* ---- the socket: one request, one reply, never blocking the daemon ---- */

int control_listen(struct daemon *d, char *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = d->cfg.control_socket;
	int fd, probe;

	if (strlen(path) >= sizeof(sa.sun_path))
		return errf(err, -ENAMETOOLONG, "control socket path %s is too long", path);
	strcpy(sa.sun_path, path);
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		close(probe);
		return errf(err, -EADDRINUSE, "another peon-sshd is already running on %s", path);
	}
	if (probe >= 0)
		close(probe);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(path, (mode_t)d->cfg.control_socket_mode) < 0 || listen(fd, 64) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return errf(err, -e, "cannot create control socket %s: %s", path, strerror(e));
	}
	d->ctl_fd = fd;
	return 0;
}

struct ctl_ref control_current(const struct daemon *d)
{
	return d->ctl_serving;
}

static struct ctl_client *waiting_client(struct daemon *d, struct ctl_ref ref)
{
	struct ctl_client *c;

	if (ref.slot < 0 || ref.slot >= CTL_MAX_CLIENTS)
		return NULL;
	c = &d->clients[ref.slot];
	return c->fd >= 0 && c->serial == ref.serial && c->waiting ? c : NULL;
}

bool control_waiting(struct daemon *d, struct ctl_ref ref)
{
	return waiting_client(d, ref) != NULL;
}

static void queue_reply(struct ctl_client *c, json_object *reply);

bool control_answer(struct daemon *d, struct ctl_ref ref, json_object *reply)
{
	struct ctl_client *c = waiting_client(d, ref);

	if (!c) {
		json_object_put(reply);
		return false;
	}
	c->waiting = false;
	queue_reply(c, reply);
	return true;
}

void control_client_close(struct ctl_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->in);
	free(c->out);
	*c = (struct ctl_client){ .fd = -1 };
}

/* How idle a client is, for eviction: one without a complete request
 * first, then one whose reply is not taken, last one waiting for its answer
 * (an add waiting for its key URLs is not idle). */
static int idleness(const struct ctl_client *c)
{
	return c->waiting ? 0 : c->out ? 1 : 2;
}

/* A free slot, or the one of the longest-idle client. */
static struct ctl_client *slot_for_new_client(struct daemon *d)
{
	static const char *const why[] = { "waiting for its answer", "its reply not taken", "no complete request" };
	struct ctl_client *victim = NULL;

	for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
		struct ctl_client *c = &d->clients[i];

		if (c->fd < 0)
			return c;
		if (!victim || idleness(c) > idleness(victim) ||
		    (idleness(c) == idleness(victim) && c->since < victim->since))
			victim = c;
	}
	log_notice("control socket: all %d client slots busy; closing the longest-idle client (%s)",
		   CTL_MAX_CLIENTS, why[idleness(victim)]);
	control_client_close(victim);
	return victim;
}

void control_accept(struct daemon *d)
{
	for (int burst = 0; burst < 32; burst++) {
		int fd = accept4(d->ctl_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		struct ucred cred;
		socklen_t l = sizeof(cred);
		long long now = mono_ms();

		if (fd < 0)
			return;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &l) < 0 ||
		    (cred.uid != 0 && cred.uid != geteuid())) {
			/* A short line into an empty socket buffer: the write cannot block. */
			json_object *e = ctl_error("permission denied: only root may control peon-sshd");
			ctl_send(fd, e);
			json_object_put(e);
			close(fd);
			continue;
		}
		*slot_for_new_client(d) = (struct ctl_client){
			.fd = fd, .uid = cred.uid, .since = now, .deadline = now + CTL_REQUEST_TIMEOUT_MS,
			.serial = ++d->ctl_serial,
		};
	}
}

short control_client_events(const struct ctl_client *c)
{
	/* Waiting: only a hangup (always reported) matters. */
	return c->waiting ? 0 : c->out ? POLLOUT : POLLIN;
}

/* Write what the socket takes now; close once all is out or on error. */
static void flush_reply(struct ctl_client *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0)
			break;
		c->out_off += (size_t)n;
	}
	control_client_close(c);
}

static void queue_reply(struct ctl_client *c, json_object *reply)
{
	const char *text = json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN);
	size_t len = strlen(text);
	json_object *too_big = NULL;

	/* peon-sshctl reads at most CTL_MAX_MSG: a longer reply would be lost anyway. */
	if (len + 1 > CTL_MAX_MSG) {
		too_big = ctl_error("the reply would exceed %d bytes", CTL_MAX_MSG);
		text = json_object_to_json_string_ext(too_big, JSON_C_TO_STRING_PLAIN);
		len = strlen(text);
	}
	free(c->in);
	c->in = NULL;
	c->in_len = 0;
	c->out = malloc(len + 1);
	if (c->out) {
		memcpy(c->out, text, len);
		c->out[len] = '\n';
		c->out_len = len + 1;
		c->out_off = 0;
		c->deadline = mono_ms() + CTL_REPLY_TIMEOUT_MS;
	}
	json_object_put(too_big);
	json_object_put(reply);
	if (!c->out)
		control_client_close(c);
	else
		flush_reply(c);
}

static void read_request(struct daemon *d, struct ctl_client *c)
{
	char chunk[16384], *nl, *nb;
	ssize_t n = read(c->fd, chunk, sizeof(chunk));
	json_object *req, *reply;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0 || c->in_len + (size_t)n > CTL_MAX_MSG) {
		control_client_close(c);
		return;
	}
	nb = realloc(c->in, c->in_len + (size_t)n + 1);
	if (!nb) {
		control_client_close(c);
		return;
	}
	c->in = nb;
	memcpy(c->in + c->in_len, chunk, (size_t)n);
	c->in_len += (size_t)n;
	nl = memchr(c->in, '\n', c->in_len);
	if (!nl)
		return;
	req = ctl_parse(c->in, (size_t)(nl - c->in));
	if (!req) {
		queue_reply(c, ctl_error("malformed request: expected one JSON object per line"));
		return;
	}
	d->ctl_serving = (struct ctl_ref){ .slot = (int)(c - d->clients), .serial = c->serial };
	reply = control_handle(d, req);
	d->ctl_serving = (struct ctl_ref){ .slot = -1 };
	json_object_put(req);
	if (reply) {
		queue_reply(c, reply);
		return;
	}
	/* Answered later (control_answer): an add waiting for its key URLs. */
	free(c->in);
	c->in = NULL;
	c->in_len = 0;
	c->waiting = true;
	c->deadline = mono_ms() + CTL_ANSWER_TIMEOUT_MS;
}

void control_client_io(struct daemon *d, struct ctl_client *c, short revents)
{
	if (c->waiting) {
		/* Gone before its answer: whoever answers later finds it gone. */
		if (revents & (POLLERR | POLLHUP))
			control_client_close(c);
		return;
	}
	if (c->out) {
		if (revents & (POLLOUT | POLLERR | POLLHUP))
			flush_reply(c);
		return;
	}
	if (revents & (POLLIN | POLLERR | POLLHUP))
		read_request(d, c);
}

int control_timeouts(struct daemon *d)
{
	long long now = mono_ms(), next = -1;

	for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
		struct ctl_client *c = &d->clients[i];

		if (c->fd < 0)
			continue;
		if (c->deadline <= now) {
			log_notice("control socket: closing a client: %s within %d ms",
				   c->waiting ? "no answer was ready" : c->out ? "its reply was not taken" : "no complete request",
				   c->waiting ? CTL_ANSWER_TIMEOUT_MS : c->out ? CTL_REPLY_TIMEOUT_MS : CTL_REQUEST_TIMEOUT_MS);
			control_client_close(c);
			continue;
		}
		if (next < 0 || c->deadline - now < next)
			next = c->deadline - now;
	}
	return (int)next;
}
