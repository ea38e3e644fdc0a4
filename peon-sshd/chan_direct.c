/* direct-tcpip (ssh -L, -D, -W): the connection is made from inside the
 * job, by the monitor's job-side helper (monjob.c), so names resolve with
 * the job's own /etc/hosts and resolv.conf and the socket lives in the
 * job's network namespace. The open request is answered only when the
 * monitor answers, without holding up any other channel: the message is
 * kept until then, which is why requests are taken from libssh's queue and
 * not answered inside callbacks. */
#include "chan.h"
#include "monclient.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The monitor answers within 25 s; this only guards against one that does not. */
#define OPEN_DEADLINE_MS 30000

struct pending_open {
	ssh_message msg;
	uint32_t id;
	long long deadline;
	char *label;
	bool answered;
	int fd;              /* answered: the connected socket, or -1 */
	char *error;         /* answered without a socket: why */
};

static void pending_free(struct sess *ss, size_t i)
{
	struct pending_open *po = ss->opens[i];

	if (po->fd >= 0)
		close(po->fd);
	ssh_message_free(po->msg);
	free(po->label);
	free(po->error);
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
	char *shown = str_printable(host ? host : "", 100), label[160];
	struct pending_open *po = NULL, **nv;

	snprintf(label, sizeof(label), "%s port %d", shown ? shown : "?", port);
	free(shown);
	if (!host || port < 0 || port > 65535 || !chan_room(ss, CHAN_FORWARD)) {
		refuse(ss, msg, label, host ? "too many forward channels or a bad port" : "no destination");
		goto out;
	}
	po = calloc(1, sizeof(*po));
	nv = po ? realloc(ss->opens, (ss->n_opens + 1) * sizeof(*nv)) : NULL;
	if (!nv) {
		refuse(ss, msg, label, "out of memory");
		goto out;
	}
	ss->opens = nv;
	po->id = ++ss->next_chan_id;
	po->fd = -1;
	if (monc_connect(po->id, host, port) < 0) {
		refuse(ss, msg, label, "the monitor is gone");
		ss->quit = true;
		goto out;
	}
	po->msg = msg;
	po->label = strdup(label);
	po->deadline = mono_ms() + OPEN_DEADLINE_MS;
	ss->opens[ss->n_opens++] = po;
	ss->n_forward_chans++;
	return;
out:
	free(po);
	ssh_message_free(msg);
}

void chan_direct_connected(struct sess *ss, uint32_t id, int fd, const char *err)
{
	for (size_t i = 0; i < ss->n_opens; i++) {
		struct pending_open *po = ss->opens[i];

		if (po->id != id || po->answered)
			continue;
		po->answered = true;
		po->fd = fd;
		if (fd < 0)
			po->error = strdup(err);
		return;
	}
	if (fd >= 0)
		close(fd);
}

static void complete(struct sess *ss, struct pending_open *po)
{
	struct chan *c;
	int fd = po->fd;

	/* The pending open stops counting; the channel counts instead. */
	ss->n_forward_chans--;
	c = chan_accept(ss, po->msg, CHAN_FORWARD);
	ss->n_forward_chans++;
	if (!c) {
		/* Out of memory before the accept went out: the client must still
		 * get an answer (harmless if the accept itself failed). */
		ssh_message_reply_default(po->msg);
		return;
	}
	po->fd = -1;
	c->label = po->label;
	po->label = NULL;
	chan_attach_socket(c, fd);
	log_full(LOG_INFO, &ss->lctx, "forwarding to %s", c->label);
}

/* Answered opens become channels (or refusals) here, in the loop's step
 * that may add channels; opens the monitor never answered are refused. */
void chan_direct_run(struct sess *ss)
{
	long long now = mono_ms();
	size_t i = 0;

	while (i < ss->n_opens) {
		struct pending_open *po = ss->opens[i];

		if (!po->answered && now < po->deadline) {
			i++;
			continue;
		}
		if (!po->answered)
			refuse(ss, po->msg, po->label, "the monitor did not answer");
		else if (po->fd < 0)
			refuse(ss, po->msg, po->label, po->error ? po->error : "refused");
		else
			complete(ss, po);
		pending_free(ss, i);
	}
}

int chan_direct_timeout(struct sess *ss)
{
	long long now = mono_ms(), soonest = -1;

	for (size_t i = 0; i < ss->n_opens; i++) {
		if (ss->opens[i]->answered)
			return 0;
		if (soonest < 0 || ss->opens[i]->deadline < soonest)
			soonest = ss->opens[i]->deadline;
	}
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
