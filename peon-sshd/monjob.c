/* The monitor's job-side requests: everything the network child may ask
 * to happen inside the execution's job once the connection has logged in.
 * Each goes through the one "do it inside the job" primitive of spawn.c
 * (fork from the monitor, enter the job, act, hand fds back), and each is
 * checked first: logged in, a channel id the child owns, within limits. */
#include "envfilter.h"
#include "jobenter.h"
#include "monitor_int.h"
#include "spawn.h"
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
	char *shown = rq->command ? str_printable(rq->command, 200) : NULL;

	log_full(LOG_INFO, &m->lctx, "started %s%s (pid %d%s%s)",
		 rq->kind == MON_SPAWN_SFTP ? "sftp" : rq->kind == MON_SPAWN_TOOLBOX ? "the toolbox" :
		 rq->command ? "command: " : "login shell", shown ? shown : "",
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

static int start(struct mon *m, const struct mon_request *rq, struct spawn_res *res, char *err)
{
	char conn[256], client[256], **env = filter_env(m, rq->env);
	bool sftp = rq->kind == MON_SPAWN_SFTP;
	struct spawn_req sr = {
		.exec = m->exec, .pty = rq->pty && !sftp, .term = rq->term, .ws = rq->ws, .command = rq->command,
		.sftp = sftp, .toolbox = rq->kind == MON_SPAWN_TOOLBOX, .client_env = env, .ssh_connection = conn,
		.ssh_client = client,
	};
	int r;

	snprintf(conn, sizeof(conn), "%s %d %s %d", m->ep.remote_ip, m->ep.remote_port, m->ep.local_ip,
		 m->ep.local_port);
	snprintf(client, sizeof(client), "%s %d %d", m->ep.remote_ip, m->ep.remote_port, m->ep.local_port);
	/* Once: later children of the monitor are members of the job's pid
	 * namespace, so a shell is our direct child there too. */
	r = m->pidns_entered ? 0 : job_enter_ns(m->exec, "pid", CLONE_NEWPID, err);
	if (r == 0) {
		m->pidns_entered = true;
		r = spawn_start(&sr, res, err);
	}
	strv_free(env);
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
		answer(m, MON_SPAWNED, rq->id, "out of memory", NULL, 0);
		return;
	}
	m->procs = nv;
	if (start(m, rq, &res, err) < 0) {
		log_full(LOG_WARNING, &m->lctx, "cannot start %s: %s",
			 rq->kind == MON_SPAWN_SFTP ? "sftp" : rq->kind == MON_SPAWN_TOOLBOX ? "the toolbox" :
			 rq->command ? "command" : "shell", err);
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

/* ---- direct-tcpip ---- */

static void drop_connect(struct mon *m, size_t i)
{
	struct mconnect *c = &m->conns[i];

	if (c->pid > 0)
		kill(c->pid, SIGKILL);
	close(c->sock);
	m->conns[i] = m->conns[--m->n_conns];
}

void monjob_connect(struct mon *m, const struct mon_request *rq)
{
	struct mconnect *nv, c = { .id = rq->id, .sock = -1, .slot = -1 };
	char err[ERRLEN];

	if (!authed(m, "connect"))
		return;
	for (size_t i = 0; i < m->n_conns; i++)
		if (m->conns[i].id == rq->id) {
			mon_violation(m, "a second connect with id %u", (unsigned)rq->id);
			return;
		}
	if (m->n_conns >= (size_t)m->cfg->limits.max_forwards || m->n_conns >= 64) {
		answer(m, MON_CONNECTED, rq->id, "too many forwards being opened", NULL, 0);
		return;
	}
	nv = realloc(m->conns, (m->n_conns + 1) * sizeof(*nv));
	if (!nv) {
		answer(m, MON_CONNECTED, rq->id, "out of memory", NULL, 0);
		return;
	}
	m->conns = nv;
	if (spawn_connect(m->exec, rq->text, (int)rq->port, CONNECT_MS, &c.pid, &c.sock, err) < 0) {
		answer(m, MON_CONNECTED, rq->id, err, NULL, 0);
		return;
	}
	c.deadline = mono_ms() + OPEN_DEADLINE_MS;
	m->conns[m->n_conns++] = c;
}

size_t monjob_poll(struct mon *m, struct pollfd *p, size_t room)
{
	size_t n = 0;

	for (size_t i = 0; i < m->n_conns; i++) {
		m->conns[i].slot = -1;
		if (n < room) {
			p[n] = (struct pollfd){ .fd = m->conns[i].sock, .events = POLLIN };
			m->conns[i].slot = (int)n++;
		}
	}
	return n;
}

void monjob_run(struct mon *m, const struct pollfd *p)
{
	long long now = mono_ms();
	size_t i = 0;

	while (i < m->n_conns) {
		struct mconnect *c = &m->conns[i];
		char err[ERRLEN];
		int fd = -1, r;

		if (c->slot < 0 || !p[c->slot].revents) {
			if (now < c->deadline) {
				i++;
				continue;
			}
			answer(m, MON_CONNECTED, c->id, "timed out connecting from inside the job", NULL, 0);
			drop_connect(m, i);
			continue;
		}
		r = spawn_connect_result(c->sock, &fd, err);
		if (r == -EAGAIN) {
			i++;
			continue;
		}
		answer(m, MON_CONNECTED, c->id, r < 0 ? err : NULL, &fd, r < 0 ? 0 : 1);
		if (fd >= 0)
			close(fd);
		drop_connect(m, i);
	}
}

int monjob_timeout(const struct mon *m)
{
	long long now = mono_ms(), soonest = -1;

	for (size_t i = 0; i < m->n_conns; i++)
		if (soonest < 0 || m->conns[i].deadline < soonest)
			soonest = m->conns[i].deadline;
	if (soonest < 0)
		return -1;
	return soonest <= now ? 0 : (int)(soonest - now);
}

void monjob_reaped(struct mon *m, pid_t pid, int status)
{
	for (size_t i = 0; i < m->n_conns; i++)
		if (m->conns[i].pid == pid)
			m->conns[i].pid = 0;
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
	while (m->n_conns)
		drop_connect(m, 0);
}
