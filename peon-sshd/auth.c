/* Public-key authentication: the daemon says which execution (if any) the
 * offered key opens on this port for this user name (routeq.h); probe
 * answers, failure counting, the session's open/closed lines. */
#include "authkeys.h"
#include "report.h"
#include "routeq.h"
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

/* Only the daemon knows the executions (routeq.h): a connection that waited
 * in key exchange can never get into an execution removed meanwhile, and a
 * daemon that does not answer means no. */
static int ask_daemon(struct sess *ss, enum routeq_kind kind, const char *user, const char *fp,
		      struct route_answer *ans)
{
	char err[ERRLEN];
	int r = routeq_ask(ss->daemon_fd, kind, user, fp, ans, err);

	if (r < 0) {
		log_full(LOG_ERR, &ss->lctx, "cannot ask the daemon: %s", err);
		ss->internal_error = true;
	}
	return r;
}

/* Every userauth request counts toward max_auth_tries except the first
 * "none" (which asks what methods there are) and the signed request proving
 * the key the previous probe was told "ok" for: probe and proof are one try.
 * So keys can be neither guessed nor, registered ones, enumerated without
 * bound, and a normal client (one probe, one signature) spends one try.
 * False when none is left: the request is refused and the connection ends. */
static bool spend_try(struct sess *ss, ssh_message msg)
{
	int max = ss->cfg->limits.max_auth_tries;

	if (ss->auth_tries < max) {
		ss->auth_tries++;
		return true;
	}
	log_full(LOG_NOTICE, &ss->lctx, "too many authentication attempts from %s (%d); closing", ss->remote, max);
	ss->tries_exhausted = true;
	ss->quit = true;
	ssh_message_auth_set_methods(msg, SSH_AUTH_METHOD_PUBLICKEY);
	ssh_message_reply_default(msg);
	return false;
}

static bool proves_probed_key(const struct sess *ss, int state, const char *fp)
{
	return state == SSH_PUBLICKEY_STATE_VALID && fp && ss->pk_ok_fp && strcmp(fp, ss->pk_ok_fp) == 0;
}

static void session_report(struct sess *ss, const char *what)
{
	char line[REPORT_LINE_MAX];

	snprintf(line, sizeof(line), "SSH session %s: key %s (%s) from %s as %s.", what, ss->fp,
		 ss->key_comment ? ss->key_comment : "", ss->remote, ss->user ? ss->user : "?");
	report_line(ss->cfg, ss->exec, line, NULL);
}

/* The daemon has recorded the session (CLAIM answered ok): take its copy. */
static void accept_key(struct sess *ss, const char *user, struct route_answer *ans, char *fp)
{
	alarm(0);
	ss->authenticated = true;
	ss->exec = ans->exec;
	ans->exec = NULL;
	ss->fp = fp;
	ss->user = str_printable(user, 256);
	ss->key_comment = strdup(key_comment(ss->exec, fp));
	ss->lctx.execution_id = ss->exec->id;
	ss->lctx.key_fp = ss->fp;
	log_full(LOG_INFO, &ss->lctx, "accepted key %s (%s) for user %s", fp, ss->key_comment ? ss->key_comment : "",
		 ss->user ? ss->user : "?");
	session_report(ss, "opened");
}

static void deny(struct sess *ss, ssh_message msg, const char *user, const char *fp, const char *why)
{
	char *u = str_printable(user ? user : "", 64);

	ss->auth_failures++;
	log_full(LOG_INFO, &ss->lctx, "refused key %s for user %s: %s", fp ? fp : "(unreadable)", u ? u : "?", why);
	free(u);
	if (ss->auth_tries >= ss->cfg->limits.max_auth_tries) {
		log_full(LOG_NOTICE, &ss->lctx, "too many authentication failures from %s (%d)", ss->remote,
			 ss->auth_failures);
		ss->tries_exhausted = true;
		ss->quit = true;
	}
	ssh_message_auth_set_methods(msg, SSH_AUTH_METHOD_PUBLICKEY);
	ssh_message_reply_default(msg);
}

static void auth_pubkey(struct sess *ss, ssh_message msg, const char *user)
{
	struct route_answer ans = { .result = ROUTE_NONE };
	ssh_key key;
	int state = offered_key(msg, &key);
	bool probe = state == SSH_PUBLICKEY_STATE_NONE;
	char *fp = NULL;

	if (state != SSH_PUBLICKEY_STATE_NONE && state != SSH_PUBLICKEY_STATE_VALID) {
		if (spend_try(ss, msg))
			deny(ss, msg, user, NULL, "bad signature");
		return;
	}
	fp = authkey_fingerprint(key);
	if (!proves_probed_key(ss, state, fp) && !spend_try(ss, msg))
		goto out;
	free(ss->pk_ok_fp);
	ss->pk_ok_fp = NULL;
	if (!fp) {
		deny(ss, msg, user, fp, "unreadable key");
		goto out;
	}
	if (ask_daemon(ss, probe ? ROUTEQ_PROBE : ROUTEQ_CLAIM, user, fp, &ans) < 0) {
		deny(ss, msg, user, fp, "internal error");
		goto out;
	}
	if (ans.result == ROUTE_NONE) {
		deny(ss, msg, user, fp, "no execution on this port accepts it");
	} else if (probe && (ans.result == ROUTE_OK || ans.result == ROUTE_AMBIGUOUS)) {
		/* Say yes so the client proves possession with a signature. */
		ss->pk_ok_fp = strdup(fp);
		ssh_message_auth_reply_pk_ok_simple(msg);
	} else if (ans.result == ROUTE_OK) {
		accept_key(ss, user, &ans, fp);
		fp = NULL;    /* owned by ss now */
		ssh_message_auth_reply_success(msg, 0);
	} else {
		/* Ambiguous, a limit, or the daemon could not record the session:
		 * the client is told why. */
		if (ans.message)
			send_banner(ss, ans.message);
		deny(ss, msg, user, fp, ans.result == ROUTE_AMBIGUOUS ?
			 "several executions accept it; the user must name one" :
			 ans.reason ? ans.reason : "refused by the daemon");
	}
out:
	route_answer_clear(&ans);
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
	/* "none" asks which methods exist (once for free); anything else is a failed try. */
	if (method != SSH_AUTH_METHOD_NONE) {
		if (spend_try(ss, msg))
			deny(ss, msg, user, NULL, "only public-key authentication is offered");
		return;
	}
	if (ss->none_asked && !spend_try(ss, msg))
		return;
	ss->none_asked = true;
	ssh_message_auth_set_methods(msg, SSH_AUTH_METHOD_PUBLICKEY);
	ssh_message_reply_default(msg);
}

void auth_session_closed(struct sess *ss)
{
	free(ss->pk_ok_fp);
	ss->pk_ok_fp = NULL;
	if (!ss->authenticated)
		return;
	log_full(LOG_INFO, &ss->lctx, "connection closed");
	session_report(ss, "closed");
	/* The daemon also drops the record when it reaps us; it may have restarted. */
	sessfile_remove(ss->cfg->runtime_dir);
}
