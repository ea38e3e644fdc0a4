/* Public-key authentication in the network child: libssh verifies the
 * signature, the monitor (asking the daemon) says which execution, if any,
 * the offered key opens on this port for this user name; probe answers and
 * failure counting are here, the session's open/closed lines the monitor's. */
#include "authkeys.h"
#include "monclient.h"
#include "monproto.h"
#include "session_int.h"
#include "testhook.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
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
	log_full(LOG_NOTICE, &ss->lctx, "too many authentication attempts from %s (%d); closing", ss->ep.remote, max);
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

/* The monitor has let us in (the daemon recorded the session). */
static void accept_key(struct sess *ss, const char *user, struct monc_auth *ans, char *fp)
{
	ss->authenticated = true;
	ss->count_fd = fcntl(ss->fd, F_DUPFD_CLOEXEC, 3);
	ss->exec_id = ans->exec_id;
	ans->exec_id = NULL;
	ss->fp = fp;
	ss->user = str_printable(user, 256);
	ss->key_comment = ans->comment;
	ans->comment = NULL;
	memcpy(ss->denied, ans->denied, sizeof(ss->denied));
	memset(ans->denied, 0, sizeof(ans->denied));
	ss->lctx.execution_id = ss->exec_id;
	ss->lctx.key_fp = ss->fp;
	session_watch_refused_requests(ss);
}

static void deny(struct sess *ss, ssh_message msg, const char *user, const char *fp, const char *why)
{
	char *u = str_printable(user ? user : "", 64);

	ss->auth_failures++;
	log_full(LOG_INFO, &ss->lctx, "refused key %s for user %s: %s", fp ? fp : "(unreadable)", u ? u : "?", why);
	free(u);
	if (ss->auth_tries >= ss->cfg->limits.max_auth_tries) {
		log_full(LOG_NOTICE, &ss->lctx, "too many authentication failures from %s (%d)", ss->ep.remote,
			 ss->auth_failures);
		ss->tries_exhausted = true;
		ss->quit = true;
	}
	ssh_message_auth_set_methods(msg, SSH_AUTH_METHOD_PUBLICKEY);
	ssh_message_reply_default(msg);
}

static void auth_pubkey(struct sess *ss, ssh_message msg, const char *user)
{
	struct monc_auth ans = { .result = MON_AUTH_ERROR };
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
	if (monc_auth(ss, !probe, user ? user : "", key, &ans) < 0 || ans.result == MON_AUTH_ERROR) {
		ss->internal_error = true;
		deny(ss, msg, user, fp, "internal error");
		goto out;
	}
	if (ans.result == MON_AUTH_NO) {
		deny(ss, msg, user, fp, "no execution on this port accepts it");
	} else if (probe && ans.result == MON_AUTH_OK) {
		/* Say yes so the client proves possession with a signature. */
		ss->pk_ok_fp = strdup(fp);
		ssh_message_auth_reply_pk_ok_simple(msg);
	} else if (ans.result == MON_AUTH_OK) {
		accept_key(ss, user, &ans, fp);
		fp = NULL;    /* owned by ss now */
		ssh_message_auth_reply_success(msg, 0);
	} else {
		/* Ambiguous, a limit, or the daemon could not record the session:
		 * the client is told why. */
		if (ans.banner && *ans.banner)
			send_banner(ss, ans.banner);
		deny(ss, msg, user, fp, ans.reason && *ans.reason ? ans.reason : "refused by the daemon");
	}
out:
	monc_auth_clear(&ans);
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
	testhook_preauth(ss, user);
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
}
