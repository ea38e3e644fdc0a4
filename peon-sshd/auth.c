/* Public-key authentication: which execution (if any) the offered key
 * opens on this port for this user name, probe answers, failure counting. */
#include "authkeys.h"
#include "report.h"
#include "route.h"
#include "sessfile.h"
#include "session_int.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* libssh 0.10 deprecates reading a queued auth request in favour of a
 * callback that must answer at once; requests are answered from the main
 * loop here (session_int.h says why), so the accessors are what it has. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static int offered_key(ssh_message msg, ssh_key *key)
{
	*key = ssh_message_auth_pubkey(msg);
	return ssh_message_auth_publickey_state(msg);
}
#pragma GCC diagnostic pop

static void send_banner(struct sess *ss, const char *msg)
{
	ssh_string b = ssh_string_from_char(msg);

	if (b) {
		ssh_send_issue_banner(ss->s, b);
		ssh_string_free(b);
	}
}

static const char *key_comment(const struct execution *e, const char *fp)
{
	for (size_t i = 0; i < e->n_keys; i++)
		if (strcmp(e->keys[i].fingerprint, fp) == 0)
			return e->keys[i].comment;
	return "";
}

/* The registry as the daemon last saved it: a connection that waited in
 * key exchange must not get into an execution removed meanwhile. */
static int fresh_registry(struct sess *ss)
{
	char path[4096], err[ERRLEN];
	int r;

	registry_clear(&ss->reg);
	snprintf(path, sizeof(path), "%s/executions.json", ss->cfg->runtime_dir);
	r = registry_load(&ss->reg, path, err);
	if (r < 0)
		log_full(LOG_ERR, &ss->lctx, "cannot read the registry: %s", err);
	return r;
}

static void session_report(struct sess *ss, const char *what)
{
	char line[REPORT_LINE_MAX];

	snprintf(line, sizeof(line), "SSH session %s: key %s (%s) from %s as %s.", what, ss->fp,
		 ss->key_comment ? ss->key_comment : "", ss->remote, ss->user ? ss->user : "?");
	report_line(ss->cfg, ss->exec, line, NULL);
}

static bool accept_key(struct sess *ss, const char *user, const struct execution *e, char *fp)
{
	struct sessinfo si;

	if (sessfile_count(ss->cfg->runtime_dir, e->id) >= ss->cfg->limits.max_connections) {
		char msg[256];
		snprintf(msg, sizeof(msg), "peon-sshd: execution %s already has %d connections; close one first\n",
			 e->id, ss->cfg->limits.max_connections);
		send_banner(ss, msg);
		log_full(LOG_WARNING, &ss->lctx, "refused: connection limit of execution %s reached", e->id);
		return false;
	}
	alarm(0);
	ss->authenticated = true;
	ss->exec = e;
	ss->fp = fp;
	ss->user = str_printable(user, 256);
	ss->key_comment = strdup(key_comment(e, fp));
	ss->lctx.execution_id = e->id;
	ss->lctx.key_fp = ss->fp;
	si = (struct sessinfo){ .execution = e->id, .remote = ss->remote, .user = ss->user ? ss->user : "",
				.key_fp = fp, .key_comment = ss->key_comment ? ss->key_comment : "" };
	if (sessfile_write(ss->cfg->runtime_dir, &si) < 0)
		log_full(LOG_WARNING, &ss->lctx, "cannot record the session in %s", ss->cfg->runtime_dir);
	if (ss->daemon_fd >= 0) {
		if (write(ss->daemon_fd, "A\n", 2) < 0)
			log_debug("cannot notify the daemon: %s", strerror(errno));
		close(ss->daemon_fd);
		ss->daemon_fd = -1;
	}
	log_full(LOG_INFO, &ss->lctx, "accepted key %s (%s) for user %s", fp, ss->key_comment ? ss->key_comment : "",
		 ss->user ? ss->user : "?");
	session_report(ss, "opened");
	return true;
}

static void deny(struct sess *ss, ssh_message msg, const char *user, const char *fp, const char *why)
{
	char *u = str_printable(user ? user : "", 64);

	ss->auth_failures++;
	log_full(LOG_INFO, &ss->lctx, "refused key %s for user %s: %s", fp ? fp : "(unreadable)", u ? u : "?", why);
	free(u);
	if (ss->auth_failures >= ss->cfg->limits.max_auth_tries) {
		log_full(LOG_NOTICE, &ss->lctx, "too many authentication failures (%d)", ss->auth_failures);
		ss->quit = true;
	}
	ssh_message_auth_set_methods(msg, SSH_AUTH_METHOD_PUBLICKEY);
	ssh_message_reply_default(msg);
}

static void auth_pubkey(struct sess *ss, ssh_message msg, const char *user)
{
	ssh_key key;
	int state = offered_key(msg, &key);
	const struct execution *e = NULL;
	enum route_result rr;
	char *fp = NULL;

	if (state != SSH_PUBLICKEY_STATE_NONE && state != SSH_PUBLICKEY_STATE_VALID) {
		deny(ss, msg, user, NULL, "bad signature");
		return;
	}
	fp = authkey_fingerprint(key);
	if (!fp || fresh_registry(ss) < 0) {
		deny(ss, msg, user, fp, "internal error");
		goto out;
	}
	rr = route_pick(&ss->reg, ss->local_port, user, fp, &e);
	if (rr == ROUTE_NONE) {
		deny(ss, msg, user, fp, "no execution on this port accepts it");
		goto out;
	}
	if (state == SSH_PUBLICKEY_STATE_NONE) {
		/* A probe: say yes so the client proves possession with a signature. */
		ssh_message_auth_reply_pk_ok_simple(msg);
		goto out;
	}
	if (rr == ROUTE_AMBIGUOUS) {
		char *text = route_ambiguous_message(&ss->reg, ss->local_port, fp);
		if (text)
			send_banner(ss, text);
		free(text);
		deny(ss, msg, user, fp, "several executions accept it; the user must name one");
		goto out;
	}
	if (!accept_key(ss, user, e, fp)) {
		deny(ss, msg, user, fp, "the execution's connection limit is reached");
		goto out;
	}
	fp = NULL;    /* owned by ss now */
	ssh_message_auth_reply_success(msg, 0);
out:
	if (fp)
		ssh_string_free_char(fp);
}

void auth_handle(struct sess *ss, ssh_message msg)
{
	const char *user = ssh_message_auth_user(msg);
	int method = ssh_message_subtype(msg);

	if (ss->authenticated || ss->quit) {
		ssh_message_reply_default(msg);
		return;
	}
	if (method == SSH_AUTH_METHOD_PUBLICKEY) {
		auth_pubkey(ss, msg, user);
		return;
	}
	/* "none" asks which methods exist; anything else is a failed try. */
	if (method != SSH_AUTH_METHOD_NONE) {
		deny(ss, msg, user, NULL, "only public-key authentication is offered");
		return;
	}
	ssh_message_auth_set_methods(msg, SSH_AUTH_METHOD_PUBLICKEY);
	ssh_message_reply_default(msg);
}

void auth_session_closed(struct sess *ss)
{
	if (!ss->authenticated)
		return;
	log_full(LOG_INFO, &ss->lctx, "connection closed");
	session_report(ss, "closed");
	sessfile_remove(ss->cfg->runtime_dir);
}
