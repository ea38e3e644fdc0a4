/* The connection's listeners inside the job: sockets the monitor had a
 * job-side helper make (remote forwards, the agent socket, X11 displays)
 * and handed over. Connections to them are accepted here, from the loop,
 * and handed to the kind's file, which opens a channel toward the client.
 * Listeners are counted against forwarding.max_listeners by the monitor
 * and closed when the client cancels them or the connection ends. */
#include "chan.h"
#include "monclient.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* At most this many connections are taken per listener per round, so a
 * flood on one cannot starve the rest of the loop. */
#define ACCEPTS_PER_ROUND 8

/* Where an accepted connection goes, by listener kind. */
static void (*const accepted[])(struct sess *, struct lsn *, int, const char *, int) = {
	[MON_LISTEN_TCP] = chan_forwarded_accepted,
	[MON_LISTEN_AGENT] = chan_agent_accepted,
	[MON_LISTEN_X11] = chan_x11_accepted,
};

int lsn_open(struct sess *ss, const struct lsn_request *rq, struct lsn **out, char *err)
{
	struct lsn *l = calloc(1, sizeof(*l)), **nv;
	char *path = NULL;
	int r;

	nv = l ? realloc(ss->lsns, (ss->n_lsns + 1) * sizeof(*nv)) : NULL;
	if (!nv) {
		free(l);
		return errf(err, -ENOMEM, "out of memory");
	}
	ss->lsns = nv;
	l->id = ++ss->next_chan_id;
	l->kind = rq->kind;
	l->channel = rq->channel;
	l->port = rq->port;
	l->slot[0] = l->slot[1] = -1;
	if (rq->addr && !(l->addr = strdup(rq->addr))) {
		free(l);
		return errf(err, -ENOMEM, "out of memory");
	}
	r = monc_listen(ss, l->id, rq, l->fds, &l->nfds, &l->bound, &path, err);
	free(path);
	if (r < 0) {
		free(l->addr);
		free(l);
		return r;
	}
	ss->lsns[ss->n_lsns++] = l;
	*out = l;
	return 0;
}

void lsn_close(struct sess *ss, struct lsn *l)
{
	for (size_t i = 0; i < ss->n_lsns; i++) {
		if (ss->lsns[i] != l)
			continue;
		ss->lsns[i] = ss->lsns[--ss->n_lsns];
		for (int k = 0; k < l->nfds; k++)
			close(l->fds[k]);
		monc_unlisten(l->id);
		free(l->addr);
		free(l);
		return;
	}
}

struct lsn *lsn_find_tcp(struct sess *ss, const char *addr, int port)
{
	for (size_t i = 0; i < ss->n_lsns; i++) {
		struct lsn *l = ss->lsns[i];

		/* A forward asked with port 0 is cancelled by the port it got. */
		if (l->kind == MON_LISTEN_TCP && strcmp(l->addr, addr) == 0 && (l->port == port || l->bound == port))
			return l;
	}
	return NULL;
}

void lsn_poll(struct sess *ss, struct pollset *ps)
{
	for (size_t i = 0; i < ss->n_lsns; i++) {
		struct lsn *l = ss->lsns[i];

		for (int k = 0; k < l->nfds; k++)
			l->slot[k] = pollset_add(ps, l->fds[k], POLLIN);
	}
}

static void peer_of(int fd, char *ip, size_t len, int *port)
{
	struct sockaddr_storage sa;
	socklen_t sl = sizeof(sa);

	snprintf(ip, len, "127.0.0.1");
	*port = 0;
	if (getpeername(fd, (struct sockaddr *)&sa, &sl) == 0 && (sa.ss_family == AF_INET || sa.ss_family == AF_INET6))
		sockaddr_split(&sa, ip, len, port);
}

/* Accept what is waiting. Walked from the end: closing a listener (X11
 * single-connection) moves the last one into its place, already done. */
void lsn_run(struct sess *ss, const struct pollset *ps)
{
	for (size_t i = ss->n_lsns; i-- > 0;) {
		struct lsn *l = ss->lsns[i];
		bool gone = false;

		for (int k = 0; !gone && k < l->nfds; k++) {
			if (!pollset_revents(ps, l->slot[k]))
				continue;
			for (int a = 0; !gone && a < ACCEPTS_PER_ROUND; a++) {
				char ip[64];
				int port, fd = accept4(l->fds[k], NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

				if (fd < 0)
					break;
				peer_of(fd, ip, sizeof(ip), &port);
				gone = l->kind == MON_LISTEN_X11 && l->single;
				accepted[l->kind](ss, l, fd, ip, port);
			}
		}
		if (gone)
			lsn_close(ss, l);
	}
}

void lsn_close_all(struct sess *ss)
{
	while (ss->n_lsns)
		lsn_close(ss, ss->lsns[0]);
	free(ss->lsns);
	ss->lsns = NULL;
}
