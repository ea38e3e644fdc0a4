#include "spares.h"
#include "log.h"
#include "monitor.h"
#include "monproto.h"
#include "routeq.h"
#include "uidpool.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* The routeq socket of a monitor, and its uid slot (privsep.uid_base +
 * slot). fd is -1 once retired: the process is then only waited for. */
struct spare {
	pid_t pid;
	int fd;
	int uid_slot;
};

static size_t waiting(const struct daemon *d)
{
	size_t n = 0;

	for (size_t i = 0; i < d->n_spares; i++)
		n += d->spares[i].fd >= 0;
	return n;
}

/* spare: whether it waits for a later connection (spares.h) or is forked
 * for the one being handed over (monitor.h). */
static int fork_monitor(struct daemon *d, bool spare, char *err)
{
	struct spare *nv = realloc(d->spares, (d->n_spares + 1) * sizeof(*nv));
	uint64_t rnd = 0;
	int sp[2], slot;
	pid_t pid;

	if (!nv)
		return errf(err, -ENOMEM, "out of memory");
	d->spares = nv;
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) < 0)
		rnd = (uint64_t)mono_ms();
	slot = uidpool_take(&d->uids, rnd);
	if (slot < 0)
		return errf(err, -EAGAIN, "every uid of the privsep range is in use");
	/* SEQPACKET: each question and answer is one record, never split or merged. */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) {
		uidpool_give(&d->uids, slot);
		return errf(err, -errno, "socketpair: %s", strerror(errno));
	}
	/* An answer carries the execution's seccomp filters: room for the largest. */
	for (int i = 0; i < 2; i++) {
		int buf = 4 * ROUTEQ_MAX_ANSWER;

		setsockopt(sp[i], SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf));
		setsockopt(sp[i], SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf));
	}
	pid = fork();
	if (pid == 0) {
		long long id = d->cfg.privsep.uid_base + slot;
		struct hostkeys hk = d->hk;
		struct monitor_args a = {
			.cfg = &d->cfg, .daemon_fd = sp[1], .net_image = d->net_image, .hk = &hk,
			.uid = (uid_t)id, .gid = (gid_t)id, .empty_dir = d->empty_dir, .spare = spare,
		};
		close(sp[0]);
		/* The monitor keeps the host keys; close_inherited drops the daemon's. */
		memset(&d->hk, 0, sizeof(d->hk));
		daemon_close_inherited(d);
		_exit(monitor_run(&a));
	}
	close(sp[1]);
	if (pid < 0) {
		int e = errno;

		close(sp[0]);
		uidpool_give(&d->uids, slot);
		return errf(err, -e, "cannot fork a monitor: %s", strerror(e));
	}
	/* The daemon never blocks on a session's socket. */
	fd_set_nonblock(sp[0], true);
	d->spares[d->n_spares++] = (struct spare){ .pid = pid, .fd = sp[0], .uid_slot = slot };
	return 0;
}

void spares_fill(struct daemon *d)
{
	char err[ERRLEN];

	d->spares_due = 0;
	while (!d->stopping && waiting(d) < SPARES_WANTED)
		if (fork_monitor(d, true, err) < 0) {
			log_err("cannot start a spare monitor: %s", err);
			return;
		}
}

void spares_fill_soon(struct daemon *d)
{
	if (waiting(d) == 0)
		spares_fill(d);
	else if (!d->spares_due && waiting(d) < SPARES_WANTED)
		d->spares_due = mono_ms() + SPARES_REFILL_DELAY_MS;
}

int spares_timeout(const struct daemon *d)
{
	long long left = d->spares_due - mono_ms();

	if (!d->spares_due)
		return -1;
	return left < 0 ? 0 : (int)left;
}

void spares_tick(struct daemon *d)
{
	if (d->spares_due && mono_ms() >= d->spares_due)
		spares_fill(d);
}

/* The oldest waiting spare: the likeliest to have its child ready. */
static struct spare *oldest(struct daemon *d)
{
	for (size_t i = 0; i < d->n_spares; i++)
		if (d->spares[i].fd >= 0)
			return &d->spares[i];
	return NULL;
}

static void forget(struct daemon *d, struct spare *s)
{
	memmove(s, s + 1, (size_t)(d->spares + d->n_spares - (s + 1)) * sizeof(*s));
	d->n_spares--;
}

int spares_hand_over(struct daemon *d, int fd, struct conn *c, char *err)
{
	struct spare *s = oldest(d);
	struct mon_buf b;
	int r = 0, prio;

	if (!s && (r = fork_monitor(d, false, err)) == 0)
		s = oldest(d);
	if (r < 0) {
		close(fd);
		return r;
	}
	mon_buf_init(&b, MON_CONNECTION);
	r = mon_send(s->fd, &b, &fd, 1);
	mon_buf_free(&b);
	close(fd);
	if (r < 0) {
		/* It is gone or wedged: retire it, the client is refused. */
		errf(err, r, "cannot hand the connection to monitor %d: %s", (int)s->pid, strerror(-r));
		kill(s->pid, SIGKILL);
		close(s->fd);
		s->fd = -1;
		return r;
	}
	/* A spare forked when the burst took the ready ones may still be
	 * starting its child at a spare's low priority, which it would keep
	 * until the connection reaches it: from now on it serves a waiting
	 * client. (Its child, if already forked, is raised by the monitor.) */
	errno = 0;
	prio = getpriority(PRIO_PROCESS, 0);
	if (errno == 0)
		setpriority(PRIO_PROCESS, (id_t)s->pid, prio);
	c->pid = s->pid;
	c->fd = s->fd;
	c->uid_slot = s->uid_slot;
	forget(d, s);
	return 0;
}

void spares_retire(struct daemon *d)
{
	for (size_t i = 0; i < d->n_spares; i++)
		if (d->spares[i].fd >= 0) {
			close(d->spares[i].fd);
			d->spares[i].fd = -1;
		}
}

bool spares_reaped(struct daemon *d, pid_t pid, int status)
{
	for (size_t i = 0; i < d->n_spares; i++) {
		struct spare *s = &d->spares[i];

		if (s->pid != pid)
			continue;
		/* A retired spare ends with 0; one that ends on its own could not
		 * start its network child (logged by the monitor). */
		if (s->fd >= 0) {
			log_warn("spare monitor %d ended before it served a connection (status 0x%x)", (int)pid, status);
			close(s->fd);
		}
		uidpool_give(&d->uids, s->uid_slot);
		forget(d, s);
		return true;
	}
	return false;
}

void spares_close_inherited(struct daemon *d)
{
	for (size_t i = 0; i < d->n_spares; i++)
		if (d->spares[i].fd >= 0)
			close(d->spares[i].fd);
}

void spares_free(struct daemon *d)
{
	spares_retire(d);
	free(d->spares);
	d->spares = NULL;
	d->n_spares = 0;
}
