/* Agent forwarding (ssh -A): auth-agent-req@openssh.com on a session
 * channel asks for it; the monitor's job-side helper makes a unix socket
 * inside the job (a private 0700 directory in the job's own /tmp, made as
 * the job's user), and every process started on this connection from then
 * on gets SSH_AUTH_SOCK naming it. Each connection to it becomes an
 * auth-agent@openssh.com channel toward the client, whose agent answers.
 * The monitor removes the socket when the connection ends. */
#include "chan.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

/* From a libssh callback: only record (see session_int.h). */
void chan_agent_requested(struct chan *c)
{
	c->ss->agent_wanted = true;
}

/* From the loop, before any queued request is answered and before a
 * process starts: the socket exists before the shell that names it. */
void chan_agent_setup(struct sess *ss)
{
	struct lsn_request rq = { .kind = MON_LISTEN_AGENT, .addr = "", .x11_proto = "", .x11_cookie = "" };
	struct lsn *l;
	char err[ERRLEN];

	if (!ss->agent_wanted || ss->agent_done)
		return;
	ss->agent_done = true;
	if (ss->denied[PERM_AGENT]) {
		log_full(LOG_INFO, &ss->lctx, "refused agent forwarding: %s", ss->denied[PERM_AGENT]);
		return;
	}
	if (lsn_open(ss, &rq, &l, err) < 0)
		log_full(LOG_INFO, &ss->lctx, "refused agent forwarding: %s", err);
}

static int open_agent(struct chan *c)
{
	return ssh_channel_open_auth_agent(c->ch);
}

void chan_agent_accepted(struct sess *ss, struct lsn *l, int fd, const char *peer_ip, int peer_port)
{
	(void)l;
	(void)peer_ip;
	(void)peer_port;
	chan_open_out(ss, IDLE_AGENT, fd, strdup("the forwarded agent"), open_agent);
}
