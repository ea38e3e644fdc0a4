/* The monitor's side of forwarding: what a connection may forward (the
 * configuration, the execution's add and the key's authorized_keys options,
 * each able only to take away), and the listeners made for it inside the
 * job (remote forwards, the agent socket, X11 displays): checked, counted,
 * and what they left in the job removed when the connection ends. */
#include "forward.h"
#include "monitor_int.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CLEANUP_MS 3000

static const char *const perm_names[PERM_N] = {
	[PERM_LOCAL_FWD] = "port forwarding", [PERM_REMOTE_FWD] = "remote port forwarding",
	[PERM_AGENT] = "agent forwarding", [PERM_X11] = "X11 forwarding", [PERM_PTY] = "a pty",
};

static void deny(struct mon *m, enum mon_perm p, const char *why)
{
	if (m->denied[p])
		return;          /* the first reason found is the one told */
	if (asprintf(&m->denied[p], "%s is %s", perm_names[p], why) < 0)
		m->denied[p] = NULL;
	if (!m->denied[p])
		m->denied[p] = strdup("refused");
}

static const struct authkey *logged_in_key(const struct mon *m)
{
	for (size_t i = 0; m->exec && m->fp && i < m->exec->n_keys; i++)
		if (strcmp(m->exec->keys[i].fingerprint, m->fp) == 0)
			return &m->exec->keys[i];
	return NULL;
}

void monfwd_decide(struct mon *m)
{
	const struct forwarding *f = &m->cfg->fwd;
	unsigned nf = m->exec->no_forwarding;
	const struct authkey_opts *o;

	m->key = logged_in_key(m);
	o = m->key ? &m->key->opts : NULL;
	if (!f->local)
		deny(m, PERM_LOCAL_FWD, "turned off on this worker (forwarding.local)");
	if (!f->remote)
		deny(m, PERM_REMOTE_FWD, "turned off on this worker (forwarding.remote)");
	if (!f->agent)
		deny(m, PERM_AGENT, "turned off on this worker (forwarding.agent)");
	if (!f->x11)
		deny(m, PERM_X11, "turned off on this worker (forwarding.x11)");
	if (f->max_listeners == 0) {
		deny(m, PERM_REMOTE_FWD, "turned off on this worker (forwarding.max_listeners = 0)");
		deny(m, PERM_AGENT, "turned off on this worker (forwarding.max_listeners = 0)");
		deny(m, PERM_X11, "turned off on this worker (forwarding.max_listeners = 0)");
	}
	if (nf & EXEC_NO_LOCAL_FWD)
		deny(m, PERM_LOCAL_FWD, "turned off for this execution (add --no-port-forwarding)");
	if (nf & EXEC_NO_REMOTE_FWD)
		deny(m, PERM_REMOTE_FWD, "turned off for this execution (add --no-remote-forwarding)");
	if (nf & EXEC_NO_AGENT)
		deny(m, PERM_AGENT, "turned off for this execution (add --no-agent-forwarding)");
	if (nf & EXEC_NO_X11)
		deny(m, PERM_X11, "turned off for this execution (add --no-x11-forwarding)");
	if (o && o->no_port_forwarding) {
		deny(m, PERM_LOCAL_FWD, "not allowed for this key (no-port-forwarding or restrict)");
		deny(m, PERM_REMOTE_FWD, "not allowed for this key (no-port-forwarding or restrict)");
	}
	if (o && o->no_agent_forwarding)
		deny(m, PERM_AGENT, "not allowed for this key (no-agent-forwarding or restrict)");
	if (o && o->no_x11_forwarding)
		deny(m, PERM_X11, "not allowed for this key (no-X11-forwarding or restrict)");
	if (o && o->no_pty)
		deny(m, PERM_PTY, "not allowed for this key (no-pty or restrict)");
}

void monfwd_put_perms(const struct mon *m, struct mon_buf *b)
{
	for (size_t i = 0; i < PERM_N; i++)
		mon_put_str(b, m->denied[i] ? m->denied[i] : "");
}

const char *monfwd_connect_denied(const struct mon *m, const char *host, int port, char *buf, size_t len)
{
	char *shown;

	if (m->denied[PERM_LOCAL_FWD])
		return m->denied[PERM_LOCAL_FWD];
	if (m->key && !authkey_permits_open(&m->key->opts, host, port)) {
		shown = str_printable(host, 100);
		snprintf(buf, len, "%s port %d is not in this key's permitopen", shown ? shown : "?", port);
		free(shown);
		return buf;
	}
	return NULL;
}

const char *monfwd_forced_command(const struct mon *m)
{
	return m->key ? m->key->opts.command : NULL;
}

/* ---- listeners ---- */

static struct mlisten *find_listen(struct mon *m, uint32_t id)
{
	for (size_t i = 0; i < m->n_listens; i++)
		if (m->listens[i].id == id)
			return &m->listens[i];
	return NULL;
}

static void listen_answer(struct mon *m, uint32_t id, const char *error, int port, const char *path,
			  const int *fds, int nfds)
{
	struct mon_buf b;

	mon_buf_init(&b, MON_LISTENING);
	mon_put_u32(&b, id);
	mon_put_u32(&b, error ? 0 : 1);
	mon_put_str(&b, error ? error : "");
	mon_put_u32(&b, (uint32_t)port);
	mon_put_str(&b, path ? path : "");
	mon_reply(m, &b, fds, nfds);
}

static void refuse(struct mon *m, const struct mon_request *rq, const char *why)
{
	static const char *const what[] = { "remote forwarding", "agent forwarding", "X11 forwarding" };

	log_full(LOG_INFO, &m->lctx, "refused %s: %s", what[rq->listen_kind], why);
	listen_answer(m, rq->id, why, 0, NULL, NULL, 0);
}

/* Checks a listen request against the decision and the limits; the reason
 * for a refusal, or NULL. */
static const char *listen_denied(struct mon *m, const struct mon_request *rq, char *buf, size_t len)
{
	static const enum mon_perm perm[] = { PERM_REMOTE_FWD, PERM_AGENT, PERM_X11 };
	char *shown;

	if (m->denied[perm[rq->listen_kind]])
		return m->denied[perm[rq->listen_kind]];
	if (m->n_listens >= (size_t)m->cfg->fwd.max_listeners) {
		snprintf(buf, len, "the limit of %d listeners per connection is reached (forwarding.max_listeners)",
			 m->cfg->fwd.max_listeners);
		return buf;
	}
	if (rq->listen_kind == MON_LISTEN_AGENT) {
		for (size_t i = 0; i < m->n_listens; i++)
			if (m->listens[i].kind == MON_LISTEN_AGENT)
				return "the agent socket is already set up";
	}
	if (rq->listen_kind == MON_LISTEN_TCP && m->key &&
	    !authkey_permits_listen(&m->key->opts, rq->text, (int)rq->port)) {
		shown = str_printable(rq->text, 100);
		snprintf(buf, len, "listening on \"%s\" port %u is not in this key's permitlisten", shown ? shown : "?",
			 (unsigned)rq->port);
		free(shown);
		return buf;
	}
	return NULL;
}

void monfwd_listen(struct mon *m, const struct mon_request *rq)
{
	char agent_name[32], why[ERRLEN], err[ERRLEN];
	struct jobtask jt = {
		.kind = rq->listen_kind == MON_LISTEN_TCP ? JT_LISTEN_TCP :
			rq->listen_kind == MON_LISTEN_AGENT ? JT_LISTEN_AGENT : JT_LISTEN_X11,
		.host = rq->text, .port = (int)rq->port, .gateway_ports = m->cfg->fwd.gateway_ports,
		.display_offset = m->cfg->fwd.x11_display_offset, .x11_proto = rq->x11_proto,
		.x11_cookie = rq->x11_cookie, .screen = (int)rq->screen, .agent_name = agent_name,
	};
	struct mlisten *nv;
	const char *denied;
	int r;

	if (!m->authed) {
		mon_violation(m, "listen before authentication");
		return;
	}
	if (find_listen(m, rq->id)) {
		mon_violation(m, "a second listener with id %u", (unsigned)rq->id);
		return;
	}
	if ((denied = listen_denied(m, rq, why, sizeof(why)))) {
		refuse(m, rq, denied);
		return;
	}
	nv = realloc(m->listens, (m->n_listens + 1) * sizeof(*nv));
	if (!nv) {
		refuse(m, rq, "out of memory");
		return;
	}
	m->listens = nv;
	snprintf(agent_name, sizeof(agent_name), "agent.%d", (int)getpid());
	r = monjob_task(m, &jt, rq->id, MON_LISTENING, rq->listen_kind, rq->channel, err);
	if (r == -EPROTO)
		return;
	if (r < 0) {
		refuse(m, rq, err);
		return;
	}
	/* Counted from now on, so requests in flight cannot pass the limit. */
	m->listens[m->n_listens++] = (struct mlisten){ .id = rq->id, .kind = rq->listen_kind, .channel = rq->channel,
						       .display = -1 };
}

static void drop_listen(struct mon *m, struct mlisten *l)
{
	free(l->path);
	*l = m->listens[--m->n_listens];
}

void monfwd_listened(struct mon *m, const struct mtask *t, int r, struct jobtask_result *res, const char *err)
{
	static const char *const what[] = { "remote forward", "agent socket", "X11 display" };
	struct mlisten *l = find_listen(m, t->id);

	if (!l)
		return;
	if (r < 0) {
		log_full(LOG_INFO, &m->lctx, "cannot set up the %s: %s", what[t->listen_kind], err);
		listen_answer(m, t->id, err, 0, NULL, NULL, 0);
		drop_listen(m, l);
		return;
	}
	l->ready = true;
	l->display = t->listen_kind == MON_LISTEN_X11 ? res->port : -1;
	if (*res->text && !(l->path = strdup(res->text)))
		log_full(LOG_WARNING, &m->lctx, "out of memory: %s will stay in the job", res->text);
	if (t->listen_kind == MON_LISTEN_TCP)
		log_full(LOG_INFO, &m->lctx, "listening in the job on port %d for the client", res->port);
	else if (t->listen_kind == MON_LISTEN_AGENT)
		log_full(LOG_INFO, &m->lctx, "agent forwarding: %s in the job", res->text);
	else
		log_full(LOG_INFO, &m->lctx, "X11 forwarding: display localhost:%d, %s in the job", res->port,
			 res->text);
	listen_answer(m, t->id, NULL, res->port, res->text, res->fds, res->nfds);
}

void monfwd_unlisten(struct mon *m, const struct mon_request *rq)
{
	struct mlisten *l = find_listen(m, rq->id);

	if (!l) {
		mon_violation(m, "closing an unknown listener %u", (unsigned)rq->id);
		return;
	}
	/* The agent socket and the Xauthority file stay until the end: later
	 * sessions of the connection still name them. */
	if (!l->path)
		drop_listen(m, l);
}

char **monfwd_spawn_env(const struct mon *m, uint32_t id, const char *original_command)
{
	char **v = NULL, *kv = NULL;
	size_t n = 0;

	for (size_t i = 0; i < m->n_listens; i++) {
		const struct mlisten *l = &m->listens[i];

		if (!l->ready || !l->path)
			continue;
		if (l->kind == MON_LISTEN_AGENT && asprintf(&kv, "SSH_AUTH_SOCK=%s", l->path) >= 0) {
			strv_push(&v, &n, kv);   /* out of memory: the variable is missing */
			free(kv);
		}
		if (l->kind != MON_LISTEN_X11 || l->channel != id)
			continue;
		if (asprintf(&kv, "DISPLAY=localhost:%d.0", l->display) >= 0) {
			strv_push(&v, &n, kv);   /* out of memory: the variable is missing */
			free(kv);
		}
		if (asprintf(&kv, "XAUTHORITY=%s", l->path) >= 0) {
			strv_push(&v, &n, kv);   /* out of memory: the variable is missing */
			free(kv);
		}
	}
	if (original_command && asprintf(&kv, "SSH_ORIGINAL_COMMAND=%s", original_command) >= 0) {
		strv_push(&v, &n, kv);   /* out of memory: the variable is missing */
		free(kv);
	}
	return v;
}

void monfwd_end(struct mon *m)
{
	char **paths = NULL, err[ERRLEN];
	struct jobtask_result res;
	size_t n = 0;

	for (size_t i = 0; i < m->n_listens; i++)
		if (m->listens[i].path)
			strv_push(&paths, &n, m->listens[i].path);
	/* A container that is gone took its files with it. */
	if (n && m->exec && monjob_refresh(m, err) == 0) {
		struct jobtask jt = { .kind = JT_CLEANUP, .paths = paths };

		if (jobtask_run(m->exec, &jt, CLEANUP_MS, &res, err) < 0)
			log_full(LOG_INFO, &m->lctx, "cannot remove the agent socket or Xauthority file from the job: %s",
				 err);
	}
	strv_free(paths);
	while (m->n_listens)
		drop_listen(m, &m->listens[0]);
	free(m->listens);
	m->listens = NULL;
	for (size_t i = 0; i < PERM_N; i++) {
		free(m->denied[i]);
		m->denied[i] = NULL;
	}
}
