/* The monitor's job-side requests: everything the network child may ask
 * to happen inside the execution's job once the connection has logged in.
 * Each goes through the one "do it inside the job" primitive of spawn.c
 * (fork from the monitor, enter the job, act, hand fds back), and each is
 * checked first: logged in, a channel id the child owns, within limits. */
#include "envfilter.h"
#include "jobtask.h"
#include "jobenter.h"
#include "monitor_int.h"
#include "spawn.h"
#include "target.h"
#include "util.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CONNECT_MS 10000
/* Name resolution in the job may take its resolver's timeouts first. */
#define OPEN_DEADLINE_MS 25000

static struct mproc *find_proc(struct mon *m, uint32_t id)
{
	for (size_t i = 0; i < m->n_procs; i++)
		if (m->procs[i].id == id && !m->procs[i].released)
			return &m->procs[i];
	return NULL;
}

static size_t live_channels(const struct mon *m)
{
	size_t n = 0;

	for (size_t i = 0; i < m->n_procs; i++)
		n += !m->procs[i].released;
	return n;
}

static void drop_proc(struct mon *m, size_t i)
{
	m->procs[i] = m->procs[--m->n_procs];
}

static void answer(struct mon *m, enum mon_type type, uint32_t id, const char *error, const int *fds, int nfds)
{
	struct mon_buf b;

	mon_buf_init(&b, type);
	mon_put_u32(&b, id);
	mon_put_u32(&b, error ? 0 : 1);
	mon_put_str(&b, error ? error : "");
	mon_reply(m, &b, fds, nfds);
}

static bool authed(struct mon *m, const char *what)
{
	if (!m->authed)
		mon_violation(m, "%s before authentication", what);
	return m->authed;
}

/* The child filtered env requests already; the monitor applies the same
 * rules itself, as the child's word is not enough. */
static char **filter_env(struct mon *m, char *const *env)
{
	char **out = NULL;
	size_t n = 0;

	for (size_t i = 0; env && env[i]; i++) {
		char *name = strdup(env[i]), *eq = name ? strchr(name, '=') : NULL;

		if (eq) {
			*eq = '\0';
			if (envfilter_accept(name, eq + 1, m->cfg->accept_env))
				strv_push(&out, &n, env[i]);
		}
		free(name);
	}
	return out;
}

static void log_started(struct mon *m, const struct mon_request *rq, const struct spawn_res *res)
{
	const char *forced = monfwd_forced_command(m);
	char *shown = forced ? str_printable(forced, 200) : rq->command ? str_printable(rq->command, 200) : NULL;

	log_full(LOG_INFO, &m->lctx, "started %s%s (pid %d%s%s)",
		 forced ? "the key's forced command: " : rq->kind == MON_SPAWN_SFTP ? "sftp" :
		 rq->kind == MON_SPAWN_TOOLBOX ? "the toolbox" : rq->command ? "command: " : "login shell",
		 shown ? shown : "",
		 (int)res->pid, *res->tty ? ", " : "", res->tty);
	free(shown);
}

static void hand_over(struct mon *m, uint32_t id, struct spawn_res *res)
{
	int fds[3] = { res->in_fd, res->out_fd, res->err_fd };

	/* With a pty, in and out are the one master. */
	answer(m, MON_SPAWNED, id, NULL, fds, res->err_fd < 0 ? 1 : 3);
	close(res->in_fd);
	if (res->out_fd != res->in_fd)
		close(res->out_fd);
	if (res->err_fd >= 0)
		close(res->err_fd);
}

int monjob_refresh(struct mon *m, char *err)
{
	struct target t = m->exec->target;
	int r = target_refresh(&t, err);

	if (r < 0)
		return r;
	/* This connection's processes are members of the pid namespace it
	 * entered: a restarted container has a new one, and what ran in the
	 * old one ended with it. The connection does not move over. */
	if (m->pidns_entered && (t.pid != m->exec->target.pid || t.starttime != m->exec->target.starttime))
		return errf(err, -ESRCH, "the container restarted after this connection began: connect again");
	m->exec->target = t;
	return 0;
}

static const char *original_command(const struct mon_request *rq)
{
	switch (rq->kind) {
	case MON_SPAWN_EXEC: return rq->command;
	case MON_SPAWN_SFTP: return "internal-sftp";
	case MON_SPAWN_TOOLBOX: return "toolbox";
	default: return NULL;
	}
}

/* A key's command="..." replaces whatever the client asked to run, as in
 * OpenSSH: shell, command and subsystems alike, with what was asked in
 * SSH_ORIGINAL_COMMAND. */
static int start(struct mon *m, const struct mon_request *rq, struct spawn_res *res, char *err)
{
	const char *forced = monfwd_forced_command(m);
	char conn[256], client[256], **env = filter_env(m, rq->env);
	char **server_env = monfwd_spawn_env(m, rq->id, forced ? original_command(rq) : NULL);
	bool sftp = rq->kind == MON_SPAWN_SFTP && !forced;
	struct spawn_req sr = {
		.exec = m->exec, .pty = rq->pty && !sftp && !m->denied[PERM_PTY], .term = rq->term, .ws = rq->ws,
		.command = forced ? forced : rq->command, .sftp = sftp,
		.toolbox = rq->kind == MON_SPAWN_TOOLBOX && !forced, .client_env = env, .server_env = server_env,
		.ssh_connection = conn, .ssh_client = client,
	};
	int r;

	snprintf(conn, sizeof(conn), "%s %d %s %d", m->ep.remote_ip, m->ep.remote_port, m->ep.local_ip,
		 m->ep.local_port);
	snprintf(client, sizeof(client), "%s %d %d", m->ep.remote_ip, m->ep.remote_port, m->ep.local_port);
	/* Once: later children of the monitor are members of the job's pid
	 * namespace, so a shell is our direct child there too. */
	r = monjob_refresh(m, err);
	if (r == 0 && !m->pidns_entered)
		r = job_enter_ns(m->exec, "pid", CLONE_NEWPID, err);
	if (r == 0) {
		m->pidns_entered = true;
		r = spawn_start(&sr, res, err);
	}
	strv_free(env);
	strv_free(server_env);
	return r;
}

void monjob_spawn(struct mon *m, const struct mon_request *rq)
{
	struct spawn_res res;
	struct mproc *nv;
	char err[ERRLEN];

	if (!authed(m, "spawn"))
		return;
	if (find_proc(m, rq->id)) {
		mon_violation(m, "a second spawn on channel %u", (unsigned)rq->id);
		return;
	}
	if (live_channels(m) >= (size_t)m->cfg->limits.max_sessions) {
		answer(m, MON_SPAWNED, rq->id, "too many sessions on this connection", NULL, 0);
		return;
	}
	nv = realloc(m->procs, (m->n_procs + 1) * sizeof(*nv));
	if (!nv) {
		m->spawn_failures++;
		answer(m, MON_SPAWNED, rq->id, "out of memory", NULL, 0);
		return;
	}
	m->procs = nv;
	if (start(m, rq, &res, err) < 0) {
		log_full(LOG_WARNING, &m->lctx, "cannot start %s: %s",
			 rq->kind == MON_SPAWN_SFTP ? "sftp" : rq->kind == MON_SPAWN_TOOLBOX ? "the toolbox" :
			 rq->command ? "command" : "shell", err);
		m->spawn_failures++;
		answer(m, MON_SPAWNED, rq->id, err, NULL, 0);
		return;
	}
	m->procs[m->n_procs++] = (struct mproc){ .id = rq->id, .pid = res.pid };
	log_started(m, rq, &res);
	hand_over(m, rq->id, &res);
}

static struct mproc *known(struct mon *m, uint32_t id)
{
	struct mproc *p = find_proc(m, id);

	if (!p)
		mon_violation(m, "unknown channel %u", (unsigned)id);
	return p;
}

void monjob_signal(struct mon *m, const struct mon_request *rq)
{
	struct mproc *p = known(m, rq->id);

	if (!p)
		return;
	if (!monproto_signal_allowed((int)rq->sig)) {
		mon_violation(m, "signal %u, which a client may not send", (unsigned)rq->sig);
		return;
	}
	/* Until reaped the pid is ours: it cannot name another process. */
	if (!p->exited)
		kill(p->pid, (int)rq->sig);
}

static void hangup(struct mproc *p)
{
	if (!p->exited) {
		kill(-p->pid, SIGHUP);
		kill(p->pid, SIGHUP);
		kill(-p->pid, SIGCONT);
	}
}

void monjob_hangup(struct mon *m, const struct mon_request *rq)
{
	struct mproc *p = known(m, rq->id);

	if (p)
		hangup(p);
}

void monjob_release(struct mon *m, const struct mon_request *rq)
{
	struct mproc *p = known(m, rq->id);

	if (!p)
		return;
	p->released = true;
	if (p->exited)
		drop_proc(m, (size_t)(p - m->procs));
}

/* ---- job-side tasks: direct-tcpip connects and listeners ---- */

static void drop_task(struct mon *m, size_t i)
{
	struct mtask *t = &m->tasks[i];

	if (t->pid > 0)
		kill(t->pid, SIGKILL);
	close(t->sock);
	m->tasks[i] = m->tasks[--m->n_tasks];
}

int monjob_task(struct mon *m, const struct jobtask *jt, uint32_t id, enum mon_type ans, uint32_t listen_kind,
		uint32_t channel, char *err)
{
	struct mtask *nv, t = { .id = id, .answer = ans, .listen_kind = listen_kind, .channel = channel,
				.sock = -1, .slot = -1 };
	int r;

	for (size_t i = 0; i < m->n_tasks; i++)
		if (m->tasks[i].id == id && m->tasks[i].answer == ans) {
			mon_violation(m, "a second request with id %u", (unsigned)id);
			return -EPROTO;
		}
	if (m->n_tasks >= (size_t)m->cfg->limits.max_forwards || m->n_tasks >= 64)
		return errf(err, -EAGAIN, "too many forwards being opened");
	nv = realloc(m->tasks, (m->n_tasks + 1) * sizeof(*nv));
	if (!nv)
		return errf(err, -ENOMEM, "out of memory");
	m->tasks = nv;
	if ((r = monjob_refresh(m, err)) < 0 || (r = jobtask_start(m->exec, jt, &t.pid, &t.sock, err)) < 0)
		return r;
	t.deadline = mono_ms() + OPEN_DEADLINE_MS;
	m->tasks[m->n_tasks++] = t;
	return 0;
}

void monjob_connect(struct mon *m, const struct mon_request *rq)
{
	struct jobtask jt = { .kind = JT_CONNECT, .host = rq->text, .port = (int)rq->port, .timeout_ms = CONNECT_MS };
	char err[ERRLEN], why[ERRLEN];
	const char *denied;
	int r;

	if (!authed(m, "connect"))
		return;
	if ((denied = monfwd_connect_denied(m, rq->text, (int)rq->port, why, sizeof(why)))) {
		answer(m, MON_CONNECTED, rq->id, denied, NULL, 0);
		return;
	}
	r = monjob_task(m, &jt, rq->id, MON_CONNECTED, 0, 0, err);
	if (r < 0 && r != -EPROTO)
		answer(m, MON_CONNECTED, rq->id, err, NULL, 0);
}

size_t monjob_poll(struct mon *m, struct pollfd *p, size_t room)
{
	size_t n = 0;

	for (size_t i = 0; i < m->n_tasks; i++) {
		m->tasks[i].slot = -1;
		if (n < room) {
			p[n] = (struct pollfd){ .fd = m->tasks[i].sock, .events = POLLIN };
			m->tasks[i].slot = (int)n++;
		}
	}
	return n;
}

static void task_done(struct mon *m, const struct mtask *t, int r, struct jobtask_result *res, const char *err)
{
	if (t->answer == MON_LISTENING) {
		monfwd_listened(m, t, r, res, err);
		return;
	}
	answer(m, MON_CONNECTED, t->id, r < 0 ? err : NULL, res->fds, r < 0 ? 0 : res->nfds > 1 ? 1 : res->nfds);
}

void monjob_run(struct mon *m, const struct pollfd *p)
{
	long long now = mono_ms();
	size_t i = 0;

	while (i < m->n_tasks) {
		struct mtask *t = &m->tasks[i];
		struct jobtask_result res = { .nfds = 0 };
		char err[ERRLEN];
		int r;

		if (t->slot < 0 || !p[t->slot].revents) {
			if (now < t->deadline) {
				i++;
				continue;
			}
			r = errf(err, -ETIMEDOUT, "timed out inside the job");
		} else if ((r = jobtask_result(t->sock, &res, err)) == -EAGAIN) {
			i++;
			continue;
		}
		task_done(m, t, r, &res, err);
		for (int k = 0; k < res.nfds; k++)
			close(res.fds[k]);
		drop_task(m, i);
	}
}

int monjob_timeout(const struct mon *m)
{
	long long now = mono_ms(), soonest = -1;

	for (size_t i = 0; i < m->n_tasks; i++)
		if (soonest < 0 || m->tasks[i].deadline < soonest)
			soonest = m->tasks[i].deadline;
	if (soonest < 0)
		return -1;
	return soonest <= now ? 0 : (int)(soonest - now);
}

void monjob_reaped(struct mon *m, pid_t pid, int status)
{
	for (size_t i = 0; i < m->n_tasks; i++)
		if (m->tasks[i].pid == pid)
			m->tasks[i].pid = 0;
	for (size_t i = 0; i < m->n_procs; i++) {
		struct mproc *p = &m->procs[i];
		struct mon_buf b;

		if (p->pid != pid || p->exited)
			continue;
		p->exited = true;
		log_full(LOG_DEBUG, &m->lctx, "process %d ended with status 0x%x", (int)pid, status);
		if (p->released) {
			drop_proc(m, i);
			return;
		}
		mon_buf_init(&b, MON_EXITED);
		mon_put_u32(&b, p->id);
		mon_put_u32(&b, (uint32_t)status);
		mon_reply(m, &b, NULL, 0);
		return;
	}
}

void monjob_end(struct mon *m)
{
	for (size_t i = 0; i < m->n_procs; i++)
		hangup(&m->procs[i]);
	while (m->n_tasks)
		drop_task(m, 0);
	monfwd_end(m);
}
