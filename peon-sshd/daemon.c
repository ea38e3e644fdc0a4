#include "daemon.h"
#include "addlook.h"
#include "follow.h"
#include "target.h"
#include "algo.h"
#include "authkeys.h"
#include "ctlproto.h"
#include "log.h"
#include "procinfo.h"
#include "regstore.h"
#include "reporter.h"
#include "route.h"
#include "routeq.h"
#include "monitor.h"
#include "sessfile.h"
#include "image.h"
#include "jobenter.h"
#include "keyfetch.h"
#include "keyurls.h"
#include "primer.h"
#include "spares.h"
#include "spawn.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/random.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#define MAX_POLL 4096
/* busybox-static's program (a Debian package the worker installs). */
#define TOOLBOX_PATH "/bin/busybox"

/* ---- algorithm lists: checked here, used by the network children ---- */

static int check_algorithms(const struct peon_config *cfg, char *err)
{
	ssh_bind b = ssh_bind_new();
	int r;

	if (!b)
		return errf(err, -ENOMEM, "cannot create the SSH server");
	r = algorithms_apply(b, &cfg->algo, err);
	ssh_bind_free(b);
	return r < 0 ? r : hostkeys_check_offered(cfg->algo.host_keys, err);
}

int daemon_check_config(const struct peon_config *cfg, char *err)
{
	struct stat st;
	char why[ERRLEN];
	int r = check_algorithms(cfg, err);

	if (r < 0)
		return r;
	r = image_load("peon-sshd-net", why);
	if (r < 0)
		return errf(err, r, "cannot load the network child: %s", why);
	close(r);
	/* An existing key directory must already be safe; a missing one is created at start. */
	if (stat(cfg->host_key_dir, &st) == 0) {
		struct hostkeys hk;
		r = hostkeys_load(cfg->host_key_dir, false, &hk, err);
		if (r == -ENOENT)
			r = 0;
		hostkeys_free(&hk);
	}
	return r;
}

/* ---- listeners ---- */

static struct listener *find_listener(struct daemon *d, int port)
{
	for (size_t i = 0; i < d->n_ls; i++)
		if (d->ls[i].port == port)
			return &d->ls[i];
	return NULL;
}

int daemon_ensure_port(struct daemon *d, int port, char *err)
{
	struct listener l, *nv;
	int r;

	if (find_listener(d, port))
		return 0;
	r = listener_open(&l, port, d->cfg.listen_address, d->cfg.n_listen, err);
	if (r < 0)
		return r;
	nv = realloc(d->ls, (d->n_ls + 1) * sizeof(*nv));
	if (!nv) {
		listener_close(&l);
		return errf(err, -ENOMEM, "out of memory");
	}
	d->ls = nv;
	d->ls[d->n_ls++] = l;
	log_info("listening on port %d", port);
	return 0;
}

void daemon_release_port(struct daemon *d, int port)
{
	struct listener *l = find_listener(d, port);

	/* Nor while an add waiting for its key URLs holds it. */
	if (!l || registry_count_port(&d->reg, port) > 0 || keyurls_holds_port(d, port))
		return;
	listener_close(l);
	*l = d->ls[--d->n_ls];
	log_info("port %d released", port);
}

/* ---- registry and executions ---- */

const char *daemon_records_dir(const struct daemon *d, char *buf, size_t len)
{
	snprintf(buf, len, "%s/executions", d->cfg.runtime_dir);
	return buf;
}

void daemon_notify_status(struct daemon *d)
{
	int sessions = sessfile_count(d->cfg.runtime_dir, NULL);

	sd_notifyf(0, "STATUS=%zu executions, %d sessions, %zu ports", d->reg.n, sessions, d->n_ls);
	metrics_changed(d);
}

int daemon_end_execution(struct daemon *d, const char *id, const char *reason, char *err)
{
	struct execution *e = registry_take(&d->reg, id);
	struct log_ctx ctx = { .execution_id = id };
	char dir[PATH_MAX], line[256];
	int n, r;

	if (!e)
		return errf(err, -ENOENT, "no execution '%s' is registered", id);
	/* Memory first: from here no probe or claim reaches it, whatever the
	 * disk does. Then its sessions; then its record, whose unlink needs no
	 * free space. */
	n = sessfile_signal(d->cfg.runtime_dir, e->id, SIGTERM);
	r = regstore_remove(daemon_records_dir(d, dir, sizeof(dir)), e->id, err);
	log_full(LOG_INFO, &ctx, "access ended (%s); closing %d session%s", reason, n, n == 1 ? "" : "s");
	if (r < 0) {
		log_full(LOG_ERR, &ctx, "%s: access has ended, but a restart of peon-sshd would restore the execution",
			 err);
		snprintf(err + strlen(err), ERRLEN - strlen(err),
			 "; access has ended, but a restart of peon-sshd would restore it: delete the file");
	}
	snprintf(line, sizeof(line), "SSH debug access ended (%s).", reason);
	report_line(&d->cfg, e, line, NULL);
	daemon_release_port(d, e->port);
	execution_free(e);
	daemon_notify_status(d);
	return r;
}

/* The journald fields every line about access carries: where and with
 * which host key clients connect. */
struct access_fields {
	char addr[300], port[32], fp[160];
	const char *v[4];
};

static const char *const *access_fields(const struct daemon *d, const struct execution *e, struct access_fields *f)
{
	snprintf(f->addr, sizeof(f->addr), "PEON_SSH_ADDRESS=%s", d->addr.addr);
	snprintf(f->port, sizeof(f->port), "PEON_SSH_PORT=%d", e->port);
	snprintf(f->fp, sizeof(f->fp), "PEON_HOST_KEY_FINGERPRINT=%s", d->hki.fingerprint);
	f->v[0] = f->addr, f->v[1] = f->port, f->v[2] = f->fp, f->v[3] = NULL;
	return f->v;
}

void daemon_report_activation(struct daemon *d, const struct execution *e, const char *shell)
{
	char lines[3][REPORT_LINE_MAX];
	struct access_fields f = { .addr = "" };
	const char *const *extra = access_fields(d, e, &f);

	if (report_activation_lines(d->addr.addr, e->port, shell, &d->hki, lines) < 0)
		return;
	for (int i = 0; i < 3; i++)
		report_line(&d->cfg, e, lines[i], extra);
}

/* A new host key (SIGHUP): every live execution's log gets the host key
 * line again, in its activation form, so whatever parsed the first one
 * (vh exec ssh, a known_hosts writer) can take the new key the same way. */
static void announce_host_key(struct daemon *d)
{
	char lines[3][REPORT_LINE_MAX];
	struct access_fields f = { .addr = "" };

	for (size_t i = 0; i < d->reg.n; i++) {
		const struct execution *e = d->reg.v[i];
		const char *const *extra = access_fields(d, e, &f);

		if (report_activation_lines(d->addr.addr, e->port, "", &d->hki, lines) < 0)
			continue;
		report_line(&d->cfg, e, "SSH host key changed: new connections are served with this key; "
			    "sessions already open keep theirs.", extra);
		report_line(&d->cfg, e, lines[1], extra);
	}
}

/* The key the connect lines name: the first one a client can be offered
 * under algorithms.host_keys (ed25519 unless the admin turned it off). */
static int hostkey_info(const struct hostkeys *hk, const char *algos, struct hostkey_info *out, char *err)
{
	struct hostkey_info hki = { .b64 = NULL };
	int i = 0;
	ssh_key key = hostkeys_first_offered(hk, algos, &i);
	char *fp = key ? authkey_fingerprint(key) : NULL;

	if (!key)
		return errf(err, -EINVAL, "no loaded host key is offered by algorithms.host_keys \"%s\"", algos);
	if (!fp || ssh_pki_export_pubkey_base64(key, &hki.b64) != SSH_OK) {
		if (fp)
			ssh_string_free_char(fp);
		return errf(err, -EINVAL, "cannot read the public half of %s", hk->paths[i]);
	}
	snprintf(hki.type, sizeof(hki.type), "%s", ssh_key_type_to_char(ssh_key_type(key)));
	snprintf(hki.fingerprint, sizeof(hki.fingerprint), "%s", fp);
	ssh_string_free_char(fp);
	*out = hki;
	return 0;
}

static void hostkey_info_free(struct hostkey_info *hki)
{
	if (hki->b64)
		ssh_string_free_char(hki->b64);
	hki->b64 = NULL;
}

/* In a child (session or reporter): drop every descriptor of the daemon. */
static void close_inherited(void *arg)
{
	struct daemon *d = arg;

	for (size_t i = 0; i < d->n_ls; i++)
		listener_close(&d->ls[i]);
	for (size_t i = 0; i < d->n_conns; i++)
		if (d->conns[i].fd >= 0)
			close(d->conns[i].fd);
	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		if (d->clients[i].fd >= 0)
			close(d->clients[i].fd);
	for (size_t i = 0; i < d->reg.n; i++)
		if (d->reg.v[i]->pidfd >= 0)
			close(d->reg.v[i]->pidfd);
	if (d->ctl_fd >= 0)
		close(d->ctl_fd);
	if (d->sig_fd >= 0)
		close(d->sig_fd);
	spares_close_inherited(d);
	primer_close_inherited(d);
	/* Only a monitor needs the host key copies (a spare keeps its own). */
	hostkeys_free(&d->hk);
	keyfetch_close_inherited(d);
}

void daemon_close_inherited(void *d)
{
	close_inherited(d);
}

static void reporter_restart(struct daemon *d)
{
	if (d->reporter > 0)
		kill(d->reporter, SIGTERM);
	d->reporter = reporter_start(&d->cfg, close_inherited, d);
	if (d->reporter < 0)
		log_err("cannot start the log URL reporter: %s", strerror(errno));
}

static void on_bad_record(const char *what, const char *why, void *arg)
{
	(void)arg;
	log_err("%s: %s", what, why);
}

/* Drop what cannot be served any more: its job ended while we were stopped. */
static bool restore_one(struct daemon *d, struct execution *e)
{
	struct log_ctx ctx = { .execution_id = e->id };
	char err[ERRLEN], dir[PATH_MAX];

	if (e->target.type == TARGET_PID && !procinfo_same_process(e->target.pid, e->target.starttime)) {
		log_full(LOG_INFO, &ctx, "access ended (the job ended while peon-sshd was stopped)");
		if (regstore_remove(daemon_records_dir(d, dir, sizeof(dir)), e->id, err) < 0)
			log_full(LOG_ERR, &ctx, "%s", err);
		return false;
	}
	if (e->target.type != TARGET_HOST && procinfo_same_process(e->target.pid, e->target.starttime))
		e->pidfd = (int)syscall(SYS_pidfd_open, e->target.pid, 0);
	/* A container whose process changed while we were stopped: asked
	 * about like one whose process has just exited (follow.h). */
	if (target_is_container(&e->target) && e->pidfd < 0)
		follow_begin(e);
	if (daemon_ensure_port(d, e->port, err) < 0)
		log_full(LOG_ERR, &ctx, "restored, but unreachable: %s", err);
	else
		log_full(LOG_INFO, &ctx, "restored on port %d", e->port);
	return true;
}

static void restore_registry(struct daemon *d)
{
	char dir[PATH_MAX], old[PATH_MAX], err[ERRLEN];
	size_t i = 0;

	daemon_records_dir(d, dir, sizeof(dir));
	if (regstore_load(&d->reg, dir, on_bad_record, d, err) < 0)
		log_err("%s", err);
	snprintf(old, sizeof(old), "%s/executions.json", d->cfg.runtime_dir);
	if (regstore_migrate(&d->reg, old, dir, on_bad_record, d, err) < 0)
		log_err("%s", err);
	while (i < d->reg.n) {
		if (restore_one(d, d->reg.v[i]))
			i++;
		else
			execution_free(registry_take(&d->reg, d->reg.v[i]->id));
	}
}

/* ---- connections ---- */

static struct conn *find_conn(struct daemon *d, pid_t pid)
{
	for (size_t i = 0; i < d->n_conns; i++)
		if (d->conns[i].pid == pid)
			return &d->conns[i];
	return NULL;
}

/* c (admitted and counted by the gate) gets its monitor: a spare whose
 * network child is already waiting (spares.h), or one forked now. */
static void start_session(struct daemon *d, int fd, struct conn *c)
{
	struct conn *nv = realloc(d->conns, (d->n_conns + 1) * sizeof(*nv));
	char err[ERRLEN];

	if (!nv) {
		log_err("cannot set up a connection: out of memory");
		gate_uncount(d, c);
		close(fd);
		return;
	}
	d->conns = nv;
	/* A job's shell will join its cgroups: start the wait that costs
	 * now, while the client does key exchange (primer.h). */
	if (route_port_has_job(&d->reg, c->port))
		primer_poke(d);
	if (spares_hand_over(d, fd, c, err) < 0) {
		log_err("cannot set up a connection: %s", err);
		gate_uncount(d, c);
		return;
	}
	d->conns[d->n_conns++] = *c;
	d->accepted++;
	metrics_changed(d);
}

/* Refusals are decided before fork: under a flood each costs an accept
 * and a close. */
static void on_listen_ready(struct daemon *d, int lfd, int port)
{
	for (int burst = 0; burst < 64; burst++) {
		struct sockaddr_storage sa;
		socklen_t len = sizeof(sa);
		int fd = accept4(lfd, (struct sockaddr *)&sa, &len, SOCK_CLOEXEC);
		struct conn c = { .fd = -1, .port = port, .counted = true };

		if (fd < 0)
			break;
		sockaddr_format(&sa, c.remote, sizeof(c.remote));
		sockaddr_split(&sa, c.remote_ip, sizeof(c.remote_ip), &(int){ 0 });
		if (!gate_admit(d, &sa, c.remote, &c.addr)) {
			close(fd);
			continue;
		}
		start_session(d, fd, &c);
	}
	/* Between clients, not while one waits. */
	spares_fill_soon(d);
}

static void conn_close_socket(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* The process is gone: its record (if it was let in) goes with it, even if
 * it died without removing it. */
static void drop_conn(struct daemon *d, struct conn *c)
{
	if (c->claimed)
		sessfile_remove_pid(d->cfg.runtime_dir, c->pid);
	conn_close_socket(c);
	*c = d->conns[--d->n_conns];
}

static char *printf_alloc(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *printf_alloc(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	return r < 0 ? NULL : s;
}

/* Live sessions of execution id. Ours are our claimed connections, counted
 * in memory: reading every record per login made a login cost the daemon
 * ~30 us per live session (6 ms at 200), in the loop every connection waits
 * on. Sessions of a daemon before a restart are known only by their
 * records, so while any may be live the records are counted; once none
 * is, never again (nothing else writes them). */
static int sessions_of(struct daemon *d, const char *id)
{
	int ours = 0, n = 0, all;
	json_object *counts, *v;

	for (size_t i = 0; i < d->n_conns; i++)
		if (d->conns[i].claimed) {
			ours++;
			n += strcmp(d->conns[i].execution, id) == 0;
		}
	if (!d->earlier_sessions)
		return n;
	counts = sessfile_counts(d->cfg.runtime_dir, &all);
	if (all > ours)
		n = json_object_object_get_ex(counts, id, &v) ? json_object_get_int(v) : 0;
	else
		d->earlier_sessions = false;
	json_object_put(counts);
	return n;
}

/* The signature is verified: enforce the connection limit and record the
 * session before the connection is let in. A login that cannot be recorded
 * would be invisible to `sessions` and out of reach of `remove`: refused. */
static enum route_result claim(struct daemon *d, struct conn *c, const struct routeq_question *q,
			       const struct execution *e, char **msg, char **reason)
{
	struct log_ctx ctx = { .execution_id = e->id, .remote_addr = c->remote, .key_fp = q->fingerprint };
	char *user = str_printable(q->user, ROUTEQ_USER_MAX);
	struct sessinfo si = { .execution = e->id, .remote = c->remote, .user = user ? user : "",
			       .key_fp = q->fingerprint, .key_comment = execution_key_comment(e, q->fingerprint),
			       .uid_slot = c->uid_slot };
	struct job_identity who;
	char why[ERRLEN];
	int max = d->cfg.limits.max_connections, r;

	if (sessions_of(d, e->id) >= max) {
		*msg = printf_alloc("peon-sshd: execution %s already has %d connections; close one first\n", e->id, max);
		*reason = printf_alloc("connection limit of execution %s reached", e->id);
		free(user);
		return ROUTE_REFUSED;
	}
	/* Shown by `sessions`; a job we cannot read now still lets the login in
	 * (the shell itself will say what is wrong). */
	if (job_identity(e, &who, why) == 0) {
		si.runs_as = who.name;
		si.runs_as_uid = who.uid;
	}
	r = sessfile_write(d->cfg.runtime_dir, c->pid, &si);
	free(user);
	if (r < 0) {
		log_full(LOG_ERR, &ctx, "cannot record the session in %s/sessions: %s; login refused",
			 d->cfg.runtime_dir, strerror(-r));
		*msg = printf_alloc("peon-sshd: cannot record this session on the server (%s); access refused\n",
				    strerror(-r));
		*reason = printf_alloc("cannot record the session: %s", strerror(-r));
		return ROUTE_REFUSED;
	}
	c->claimed = true;
	snprintf(c->execution, sizeof(c->execution), "%s", e->id);
	gate_uncount(d, c);
	return ROUTE_OK;
}

static void expire(struct daemon *d);

static void answer(struct daemon *d, struct conn *c, const struct routeq_question *q)
{
	const struct execution *e = NULL;
	char *msg = NULL, *reason = NULL, err[ERRLEN];
	const char *why = NULL;
	enum route_result rr;

	/* A lapsed ttl never routes, even if its timer has not fired yet. */
	expire(d);
	rr = route_pick_from(&d->reg, c->port, q->user, q->fingerprint, c->remote_ip, now_ms(), &e, &why);
	/* A key nobody here holds may be new at a key URL: the next attempt will know. */
	if (rr == ROUTE_NONE)
		keyurls_unknown_key(d, c->port, q->fingerprint);
	if (rr == ROUTE_NONE && why) {
		log_full(LOG_INFO, &(struct log_ctx){ .remote_addr = c->remote, .key_fp = q->fingerprint },
			 "key %s refused from %s: %s", q->fingerprint, c->remote_ip, why);
		reason = strdup(why);
	}
	if (rr == ROUTE_AMBIGUOUS)
		msg = route_ambiguous_message(&d->reg, c->port, q->fingerprint);
	/* Again as the key reaches a job: still warm when the shell joins. */
	if (rr == ROUTE_OK && e->target.type != TARGET_HOST)
		primer_poke(d);
	if (rr == ROUTE_OK && q->kind == ROUTEQ_CLAIM)
		rr = claim(d, c, q, e, &msg, &reason);
	if (routeq_send_answer(c->fd, rr, e, q->fingerprint, msg, reason, err) < 0) {
		/* The session refuses without an answer; it must not stay recorded. */
		log_full(LOG_WARNING, &(struct log_ctx){ .remote_addr = c->remote },
			 "cannot answer the session process: %s; closing its socket", err);
		if (c->claimed)
			sessfile_remove_pid(d->cfg.runtime_dir, c->pid);
		c->claimed = false;
		gate_recount(d, c);
		conn_close_socket(c);
	}
	free(msg);
	free(reason);
}

/* Up to max messages from c's monitor. tallies_only: the process has
 * exited, so its last totals still count but nothing is answered. */
static void read_questions(struct daemon *d, struct conn *c, int max, bool tallies_only)
{
	struct routeq_question q;
	char err[ERRLEN];

	for (int i = 0; c->fd >= 0 && i < max; i++) {
		int r = routeq_read_question(c->fd, &q, err);

		if (r == 0)
			return;
		if (r == 1 && q.kind == ROUTEQ_TALLY) {
			metrics_tally(d, c, &q.tally);
			continue;
		}
		if (r == 1 && tallies_only)
			continue;
		if (r == 1 && c->claimed)
			r = errf(err, -EPROTO, "a question after the connection was let in");
		if (r < 0) {
			/* EOF: the process is ending; anything else is a protocol violation. */
			if (r != -EPIPE)
				log_full(LOG_WARNING, &(struct log_ctx){ .remote_addr = c->remote },
					 "session process %d: %s; closing its socket", (int)c->pid, err);
			conn_close_socket(c);
			return;
		}
		answer(d, c, &q);
	}
}

static void on_question(struct daemon *d, pid_t pid)
{
	struct conn *c = find_conn(d, pid);

	/* A few per round: one connection cannot monopolise the loop. */
	if (c)
		read_questions(d, c, 4, false);
}

/* ---- signals, reload ---- */

static void reap(struct daemon *d)
{
	pid_t pid;
	int st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		if (keyfetch_reaped(d, pid, st) || spares_reaped(d, pid, st) || primer_reaped(d, pid, st))
			continue;
		if (pid == d->reporter) {
			d->reporter = 0;
			if (!d->stopping) {
				log_warn("the log URL reporter exited (status 0x%x); restarting it", st);
				reporter_restart(d);
			}
			continue;
		}
		struct conn *c = find_conn(d, pid);
		if (c) {
			/* Its final totals are still in the socket. */
			read_questions(d, c, 16, true);
			uidpool_give(&d->uids, c->uid_slot);
			gate_ended(d, c, st);
			drop_conn(d, c);
		}
	}
}

static bool same_listen(const struct peon_config *a, const struct peon_config *b)
{
	if (a->n_listen != b->n_listen)
		return false;
	for (size_t i = 0; i < a->n_listen; i++)
		if (strcmp(a->listen_address[i], b->listen_address[i]) != 0)
			return false;
	return true;
}

static int reopen_listeners(struct daemon *d, const struct peon_config *ncfg, char *err)
{
	struct listener *nl = calloc(d->n_ls ? d->n_ls : 1, sizeof(*nl));
	size_t i;
	int r = 0;

	if (!nl)
		return errf(err, -ENOMEM, "out of memory");
	/* Old sockets close first so the same ports can be bound again. */
	for (i = 0; i < d->n_ls; i++)
		listener_close(&d->ls[i]);
	for (i = 0; i < d->n_ls && r == 0; i++)
		r = listener_open(&nl[i], d->ls[i].port, ncfg->listen_address, ncfg->n_listen, err);
	if (r < 0) {
		char e2[ERRLEN];
		while (i-- > 0)
			listener_close(&nl[i]);
		for (i = 0; i < d->n_ls; i++)
			if (listener_open(&nl[i], d->ls[i].port, d->cfg.listen_address, d->cfg.n_listen, e2) < 0)
				log_err("port %d: %s", d->ls[i].port, e2);
	}
	free(d->ls);
	d->ls = nl;
	return r;
}

/* What reload takes on only if all of it is good. */
struct reload_set {
	struct peon_config cfg;
	struct hostkeys hk;
	struct hostkey_info hki;
};

/* Check the new configuration and host keys without touching the running
 * ones (listeners aside: reopen_listeners puts the old ones back). */
static int reload_prepare(struct daemon *d, struct reload_set *n, char *err)
{
	int r;

	if ((r = config_load(d->config_path, d->config_explicit, &n->cfg, err)) < 0)
		return r;
	if (strcmp(n->cfg.runtime_dir, d->cfg.runtime_dir) != 0 ||
	    strcmp(n->cfg.host_key_dir, d->cfg.host_key_dir) != 0 ||
	    strcmp(n->cfg.control_socket, d->cfg.control_socket) != 0)
		log_warn("runtime_dir, host_key_dir and control_socket change only on restart");
	if (n->cfg.privsep.uid_base != d->cfg.privsep.uid_base || n->cfg.privsep.uid_count != d->cfg.privsep.uid_count) {
		log_warn("privsep changes only on restart");
		n->cfg.privsep = d->cfg.privsep;
	}
	/* Keys from the running directory: host_key_dir changes only on restart. */
	if ((r = hostkeys_load(d->cfg.host_key_dir, true, &n->hk, err)) < 0 ||
	    (r = check_algorithms(&n->cfg, err)) < 0 || (r = target_configure(&n->cfg.rt, err)) < 0 ||
	    (r = hostkey_info(&n->hk, n->cfg.algo.host_keys, &n->hki, err)) < 0 ||
	    (!same_listen(&n->cfg, &d->cfg) && (r = reopen_listeners(d, &n->cfg, err)) < 0))
		goto fail;
	return 0;
fail:
	hostkeys_free(&n->hk);
	hostkey_info_free(&n->hki);
	config_free(&n->cfg);
	return r;
}

/* Paths stay fixed for the life of the process (see the warning above). */
static void keep_paths(const struct peon_config *old, struct peon_config *ncfg)
{
	free(ncfg->runtime_dir);
	ncfg->runtime_dir = strdup(old->runtime_dir);
	free(ncfg->host_key_dir);
	ncfg->host_key_dir = strdup(old->host_key_dir);
	free(ncfg->control_socket);
	ncfg->control_socket = strdup(old->control_socket);
}

static void reload(struct daemon *d)
{
	struct reload_set n = { .hki.b64 = NULL };
	char err[ERRLEN], old_fp[sizeof(d->hki.fingerprint)], old_metrics[PATH_MAX];

	sd_notify(0, "RELOADING=1");
	if (reload_prepare(d, &n, err) < 0) {
		log_err("reload refused, keeping the running configuration and host keys: %s", err);
		goto out;
	}
	keep_paths(&d->cfg, &n.cfg);
	snprintf(old_metrics, sizeof(old_metrics), "%s", d->cfg.metrics.textfile);
	config_free(&d->cfg);
	d->cfg = n.cfg;
	metrics_reconfigure(d, old_metrics);
	hostkeys_free(&d->hk);
	d->hk = n.hk;
	snprintf(old_fp, sizeof(old_fp), "%s", d->hki.fingerprint);
	hostkey_info_free(&d->hki);
	d->hki = n.hki;
	log_set_level(log_level_from_name(d->cfg.log_level));
	gate_reconfigure(d);
	/* Spares hold the old configuration and keys. */
	spares_retire(d);
	spares_fill(d);
	address_discover(&d->cfg, &d->addr);
	reporter_restart(d);
	log_info("configuration reloaded (default port %d from %s)", d->cfg.debug_port,
		 d->cfg.debug_port_source);
	if (strcmp(old_fp, d->hki.fingerprint) != 0) {
		log_notice("host key changed: connections are now served with %s %s (was %s); announcing it to %zu "
			   "execution%s", d->hki.type, d->hki.fingerprint, old_fp, d->reg.n, d->reg.n == 1 ? "" : "s");
		announce_host_key(d);
	}
out:
	sd_notify(0, "READY=1");
	daemon_notify_status(d);
}

static void on_signal(struct daemon *d)
{
	struct signalfd_siginfo si;

	while (read(d->sig_fd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			reap(d);
			break;
		case SIGHUP:
			reload(d);
			break;
		case SIGTERM:
		case SIGINT:
			d->stopping = true;
			break;
		}
	}
}

/* ---- the loop ---- */

enum src { SRC_SIG, SRC_CTL, SRC_CLIENT, SRC_LISTEN, SRC_CONN, SRC_JOB, SRC_FOLLOW, SRC_KEYFETCH, SRC_ADDLOOK };

struct pollset {
	struct pollfd p[MAX_POLL];
	enum src kind[MAX_POLL];
	size_t idx[MAX_POLL];
	nfds_t n;
};

static void add_events(struct pollset *ps, int fd, short events, enum src k, size_t idx)
{
	if (fd < 0 || ps->n >= MAX_POLL)
		return;
	ps->p[ps->n] = (struct pollfd){ .fd = fd, .events = events };
	ps->kind[ps->n] = k;
	ps->idx[ps->n++] = idx;
}

static void add(struct pollset *ps, int fd, enum src k, size_t idx)
{
	add_events(ps, fd, POLLIN, k, idx);
}

static void build_pollset(struct daemon *d, struct pollset *ps)
{
	ps->n = 0;
	add(ps, d->sig_fd, SRC_SIG, 0);
	add(ps, d->ctl_fd, SRC_CTL, 0);
	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		add_events(ps, d->clients[i].fd, control_client_events(&d->clients[i]), SRC_CLIENT, (size_t)i);
	for (size_t i = 0; i < d->n_ls; i++)
		for (int k = 0; k < d->ls[i].nfds; k++)
			add(ps, d->ls[i].fds[k], SRC_LISTEN, i);
	for (size_t i = 0; i < d->n_conns; i++)
		add(ps, d->conns[i].fd, SRC_CONN, (size_t)d->conns[i].pid);
	for (size_t i = 0; i < d->reg.n; i++) {
		add(ps, d->reg.v[i]->pidfd, SRC_JOB, i);
		add(ps, d->reg.v[i]->follow_fd, SRC_FOLLOW, i);
	}
	add(ps, keyfetch_fd(d), SRC_KEYFETCH, 0);
	for (size_t i = 0; i < CTL_MAX_CLIENTS; i++)
		add(ps, addlook_fd(d, i), SRC_ADDLOOK, i);
}

static int next_timeout(struct daemon *d)
{
	long long now = now_ms(), soonest = 0;

	for (size_t i = 0; i < d->reg.n; i++) {
		long long ex = d->reg.v[i]->expires_ms;
		if (ex && (!soonest || ex < soonest))
			soonest = ex;
	}
	if (!soonest)
		return -1;
	return soonest <= now ? 0 : (int)(soonest - now > 3600000 ? 3600000 : soonest - now);
}

/* Of two poll timeouts (-1: none), the sooner. */
static int sooner(int a, int b)
{
	if (a < 0)
		return b;
	return b < 0 || a < b ? a : b;
}

static void expire(struct daemon *d)
{
	long long now = now_ms();
	char err[ERRLEN];

	for (size_t i = 0; i < d->reg.n; i++)
		if (d->reg.v[i]->expires_ms && d->reg.v[i]->expires_ms <= now) {
			char id[256];
			snprintf(id, sizeof(id), "%s", d->reg.v[i]->id);
			daemon_end_execution(d, id, "expired", err);
			i = (size_t)-1;
		}
}

static void on_job_ended(struct daemon *d, int pidfd)
{
	char err[ERRLEN];

	for (size_t i = 0; i < d->reg.n; i++) {
		struct execution *e = d->reg.v[i];
		char id[256];

		if (e->pidfd != pidfd)
			continue;
		/* A container may come back with a new process (follow.h). */
		if (target_is_container(&e->target)) {
			struct log_ctx ctx = { .execution_id = e->id };

			log_full(LOG_INFO, &ctx, "the container's process %d ended; asking its runtime what became of it",
				 (int)e->target.pid);
			follow_begin(e);
			return;
		}
		snprintf(id, sizeof(id), "%s", e->id);
		daemon_end_execution(d, id, "the job ended", err);
		return;
	}
}

static void dispatch(struct daemon *d, struct pollset *ps)
{
	for (nfds_t i = 0; i < ps->n; i++) {
		if (!ps->p[i].revents)
			continue;
		switch (ps->kind[i]) {
		case SRC_SIG: on_signal(d); break;
		case SRC_CTL: control_accept(d); break;
		case SRC_CLIENT: control_client_io(d, &d->clients[ps->idx[i]], ps->p[i].revents); break;
		case SRC_LISTEN: on_listen_ready(d, ps->p[i].fd, d->ls[ps->idx[i]].port); break;
		case SRC_CONN: on_question(d, (pid_t)ps->idx[i]); break;
		case SRC_JOB: on_job_ended(d, ps->p[i].fd); break;
		case SRC_FOLLOW: follow_answer(d, ps->p[i].fd); break;
		case SRC_KEYFETCH: keyfetch_io(d); break;
		case SRC_ADDLOOK: addlook_answer(d, ps->idx[i]); break;
		}
		/* Handlers may change what the set refers to: rebuild. */
		if (ps->kind[i] != SRC_LISTEN)
			return;
	}
}

static int make_dir(const char *path, mode_t mode, char *err)
{
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		return errf(err, -errno, "cannot create directory %s: %s", path, strerror(errno));
	return 0;
}

/* The network children's root: an empty directory only root may change. */
static int make_empty_dir(struct daemon *d, char *err)
{
	struct stat st;

	snprintf(d->empty_dir, sizeof(d->empty_dir), "%s/empty", d->cfg.runtime_dir);
	if (mkdir(d->empty_dir, 0755) < 0 && errno != EEXIST)
		return errf(err, -errno, "cannot create %s: %s", d->empty_dir, strerror(errno));
	if (lstat(d->empty_dir, &st) < 0)
		return errf(err, -errno, "%s: %s", d->empty_dir, strerror(errno));
	if (!S_ISDIR(st.st_mode) || st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)))
		return errf(err, -EPERM, "%s must be a directory owned by root and writable only by root",
			    d->empty_dir);
	if (rmdir(d->empty_dir) == 0 || errno == ENOENT) {
		/* Recreated: whatever another process left in it is gone. */
		if (mkdir(d->empty_dir, 0755) < 0)
			return errf(err, -errno, "cannot create %s: %s", d->empty_dir, strerror(errno));
		return 0;
	}
	return errf(err, -ENOTEMPTY, "%s is not empty; it must be, as the network children's root",
		    d->empty_dir);
}

/* Sessions that outlived a restart keep their network children's uids:
 * no new connection may share one. */
static void keep_running_slots(struct daemon *d)
{
	json_object *all = sessfile_list(d->cfg.runtime_dir, NULL), *slot;

	for (size_t i = 0; all && i < json_object_array_length(all); i++)
		if (json_object_object_get_ex(json_object_array_get_idx(all, i), "uid_slot", &slot))
			uidpool_mark(&d->uids, json_object_get_int(slot));
	json_object_put(all);
}

/* Privilege separation needs its image, its root and a uid range no user has. */
static int privsep_setup(struct daemon *d, char *err)
{
	char why[ERRLEN];
	int r;

	d->net_image = image_load("peon-sshd-net", why);
	if (d->net_image < 0)
		return errf(err, d->net_image, "cannot load the network child: %s", why);
	if ((r = make_empty_dir(d, err)) < 0 ||
	    (r = uidpool_check_passwd("/etc/passwd", d->cfg.privsep.uid_base, d->cfg.privsep.uid_count, err)) < 0)
		return r;
	if (uidpool_init(&d->uids, d->cfg.privsep.uid_count) < 0)
		return errf(err, -ENOMEM, "out of memory");
	keep_running_slots(d);
	return 0;
}

/* SFTP runs from a sealed copy of peon-sftp-server; without it the rest of
 * the service works and SFTP requests are refused with the reason. */
static void load_sftp_image(void)
{
	char err[ERRLEN], why[ERRLEN + 64];
	int fd = image_load("peon-sftp-server", err);

	if (fd < 0) {
		log_warn("SFTP is unavailable: %s", err);
		snprintf(why, sizeof(why), "SFTP is unavailable on this worker: %s", err);
	}
	spawn_set_sftp_image(fd, fd < 0 ? why : NULL);
}

/* The shell of jobs that have none, and the `toolbox` subsystem. */
static void load_toolbox_image(void)
{
	char err[ERRLEN], why[ERRLEN + 96];
	int fd = image_load_static("busybox", TOOLBOX_PATH, err);

	if (fd < 0) {
		log_warn("the busybox toolbox is unavailable: %s", err);
		snprintf(why, sizeof(why), "the job has no shell, and the busybox toolbox is unavailable on this worker: %s",
			 err);
	}
	spawn_set_toolbox_image(fd, fd < 0 ? why : NULL);
}

static int setup(struct daemon *d, char *err)
{
	char dir[PATH_MAX];
	sigset_t set;
	int r;

	d->ctl_fd = d->sig_fd = d->net_image = d->primer_fd = -1;
	d->ctl_serving.slot = -1;
	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		d->clients[i].fd = -1;
	if ((r = make_dir(d->cfg.runtime_dir, 0755, err)) < 0 ||
	    (r = make_dir(daemon_records_dir(d, dir, sizeof(dir)), 0700, err)) < 0)
		return r;
	if ((r = gate_init(d, err)) < 0)
		return r;
	if ((r = target_configure(&d->cfg.rt, err)) < 0)
		return r;
	if ((r = hostkeys_load(d->cfg.host_key_dir, true, &d->hk, err)) < 0 || (r = check_algorithms(&d->cfg, err)) < 0 ||
	    (r = hostkey_info(&d->hk, d->cfg.algo.host_keys, &d->hki, err)) < 0 || (r = privsep_setup(d, err)) < 0 ||
	    (r = control_listen(d, err)) < 0)
		return r;
	load_sftp_image();
	load_toolbox_image();
	/* Once, before any add: a slow metadata service delays start, never add. */
	address_discover(&d->cfg, &d->addr);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	d->sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d->sig_fd < 0)
		return errf(err, -errno, "signalfd: %s", strerror(errno));
	d->started = time(NULL);
	d->earlier_sessions = sessfile_count(d->cfg.runtime_dir, NULL) > 0;
	reporter_restart(d);
	restore_registry(d);
	return 0;
}

static void teardown(struct daemon *d)
{
	sd_notify(0, "STOPPING=1");
	log_info("stopping; running sessions are left alone");
	if (d->reporter > 0)
		kill(d->reporter, SIGTERM);
	for (size_t i = 0; i < d->n_ls; i++)
		listener_close(&d->ls[i]);
	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		if (d->clients[i].fd >= 0)
			control_client_close(&d->clients[i]);
	/* Connections not yet let in lose their authority: they refuse. */
	for (size_t i = 0; i < d->n_conns; i++)
		conn_close_socket(&d->conns[i]);
	if (d->ctl_fd >= 0) {
		close(d->ctl_fd);
		unlink(d->cfg.control_socket);
	}
	if (d->sig_fd >= 0)
		close(d->sig_fd);
	if (d->net_image >= 0)
		close(d->net_image);
	spares_free(d);
	primer_stop(d);
	uidpool_free(&d->uids);
	hostkeys_free(&d->hk);
	hostkey_info_free(&d->hki);
	keyurls_free(d);
	keyfetch_free(d);
	addlook_free(d);
	registry_clear(&d->reg);
	gate_free(d);
	free(d->ls);
	free(d->conns);
}

int daemon_run(struct daemon *d)
{
	static struct pollset ps;
	char err[ERRLEN];
	int r = setup(d, err);

	if (r < 0) {
		log_err("%s", err);
		teardown(d);
		return 1;
	}
	log_info("peon-sshd %s ready: control socket %s, default port %d (%s)", PEON_VERSION,
		 d->cfg.control_socket, d->cfg.debug_port, d->cfg.debug_port_source);
	job_load_host_nss();
	spares_fill(d);
	sd_notify(0, "READY=1");
	daemon_notify_status(d);
	while (!d->stopping) {
		/* Looks at containers first: the ones it starts are polled too. */
		int follow_in = follow_run(d);

		build_pollset(d, &ps);
		r = poll(ps.p, ps.n, sooner(sooner(sooner(next_timeout(d), control_timeouts(d)), follow_in),
					    sooner(sooner(keyurls_timeout(d), keyfetch_timeout(d)),
						   sooner(metrics_timeout(d), spares_timeout(d)))));
		if (r < 0 && errno != EINTR) {
			log_err("poll: %s", strerror(errno));
			break;
		}
		if (r > 0)
			dispatch(d, &ps);
		expire(d);
		control_timeouts(d);
		keyurls_tick(d);
		keyfetch_tick(d);
		metrics_tick(d);
		spares_tick(d);
	}
	teardown(d);
	return 0;
}
