/* direct-tcpip (ssh -L, -D, -W): the connection is made from inside the
 * job by a short-lived job-side process (spawn_connect), so names resolve
 * with the job's own /etc/hosts and resolv.conf and the socket lives in the
 * job's network namespace. The open request is answered only when the
 * connect is done, without holding up any other channel: the message is
 * kept until then, which is why requests are taken from libssh's queue and
 * not answered inside callbacks. */
#include "chan.h"
#include "spawn.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONNECT_MS 10000
/* Name resolution in the job may take its resolver's timeouts first. */
#define OPEN_DEADLINE_MS 25000

struct pending_open {
	ssh_message msg;
	pid_t pid;
	int sock, slot;
	long long deadline;
	char *label;
};

static void pending_free(struct sess *ss, size_t i)
{
	struct pending_open *po = ss->opens[i];

	/* Not reaped yet, so the pid is still ours (reaped by the session's
	 * SIGCHLD handling, which clears it: see chan_direct_reaped). */
	if (po->pid > 0)
		kill(po->pid, SIGKILL);
	close(po->sock);
	ssh_message_free(po->msg);
	free(po->label);
	free(po);
	ss->opens[i] = ss->opens[--ss->n_opens];
	ss->n_forward_chans--;
}

static void refuse(struct sess *ss, ssh_message msg, const char *label, const char *why)
{
	log_full(LOG_INFO, &ss->lctx, "refused forward to %s: %s", label, why);
	ssh_message_reply_default(msg);
}

void chan_direct_open(struct sess *ss, ssh_message msg)
{
	const char *host = ssh_message_channel_request_open_destination(msg);
	int port = ssh_message_channel_request_open_destination_port(msg);
	char err[ERRLEN], *shown = str_printable(host ? host : "", 100), label[160];
	struct pending_open *po = NULL, **nv;
	int r;

	snprintf(label, sizeof(label), "%s port %d", shown ? shown : "?", port);
	free(shown);
	if (!host || !chan_room(ss, CHAN_FORWARD)) {
		refuse(ss, msg, label, host ? "too many forward channels" : "no destination");
		goto out;
	}
	po = calloc(1, sizeof(*po));
	nv = po ? realloc(ss->opens, (ss->n_opens + 1) * sizeof(*nv)) : NULL;
	if (!nv) {
		refuse(ss, msg, label, "out of memory");
		goto out;
	}
	ss->opens = nv;
	r = spawn_connect(ss->exec, host, port, CONNECT_MS, &po->pid, &po->sock, err);
	if (r < 0) {
		refuse(ss, msg, label, err);
		goto out;
	}
	po->msg = msg;
	po->label = strdup(label);
	po->deadline = mono_ms() + OPEN_DEADLINE_MS;
	po->slot = -1;
	ss->opens[ss->n_opens++] = po;
	ss->n_forward_chans++;
	return;
out:
	free(po);
	ssh_message_free(msg);
}

static void complete(struct sess *ss, struct pending_open *po, int fd)
{
	struct chan *c;

	/* The pending open stops counting; the channel counts instead. */
	ss->n_forward_chans--;
	c = chan_accept(ss, po->msg, CHAN_FORWARD);
	ss->n_forward_chans++;
	if (!c) {
		/* Out of memory before the accept went out: the client must still
		 * get an answer (harmless if the accept itself failed). */
		ssh_message_reply_default(po->msg);
		close(fd);
		return;
	}
	c->label = po->label;
	po->label = NULL;
	c->started = c->exited = true;
	c->st[W_IN].fd = fd;
	c->st[W_OUT].fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	c->st[W_ERR].eof = true;
	if (c->st[W_OUT].fd < 0)
		c->remote_closed = true;
	log_full(LOG_INFO, &ss->lctx, "forwarding to %s", c->label);
}

void chan_direct_poll(struct sess *ss, struct pollset *ps)
{
	for (size_t i = 0; i < ss->n_opens; i++)
		ss->opens[i]->slot = pollset_add(ps, ss->opens[i]->sock, POLLIN);
}

void chan_direct_run(struct sess *ss, const struct pollset *ps)
{
	long long now = mono_ms();
	size_t i = 0;

	while (i < ss->n_opens) {
		struct pending_open *po = ss->opens[i];
		char err[ERRLEN];
		int fd, r;

		if (po->slot < 0 || !pollset_revents(ps, po->slot)) {
			if (now < po->deadline) {
				i++;
				continue;
			}
			refuse(ss, po->msg, po->label, "timed out connecting from inside the job");
			pending_free(ss, i);
			continue;
		}
		r = spawn_connect_result(po->sock, &fd, err);
		if (r == -EAGAIN) {
			i++;
			continue;
		}
		if (r < 0)
			refuse(ss, po->msg, po->label, err);
		else
			complete(ss, po, fd);
		pending_free(ss, i);
	}
}

void chan_direct_reaped(struct sess *ss, pid_t pid)
{
	for (size_t i = 0; i < ss->n_opens; i++)
		if (ss->opens[i]->pid == pid)
			ss->opens[i]->pid = 0;
}

int chan_direct_timeout(struct sess *ss)
{
	long long now = mono_ms(), soonest = -1;

	for (size_t i = 0; i < ss->n_opens; i++)
		if (soonest < 0 || ss->opens[i]->deadline < soonest)
			soonest = ss->opens[i]->deadline;
	if (soonest < 0)
		return -1;
	return soonest <= now ? 0 : (int)(soonest - now);
}

void chan_direct_cancel_all(struct sess *ss)
{
	while (ss->n_opens)
		pending_free(ss, 0);
	free(ss->opens);
	ss->opens = NULL;
}
