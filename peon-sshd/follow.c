/* Following a container across restarts (follow.h). */
#include "follow.h"
#include "log.h"
#include "look.h"
#include "regstore.h"
#include "report.h"
#include "target.h"
#include "util.h"

#include <limits.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

void follow_begin(struct execution *e)
{
	if (e->pidfd >= 0)
		close(e->pidfd);
	e->pidfd = -1;
	e->follow_since_ms = e->follow_next_ms = mono_ms();
}

static void start_look(struct execution *e)
{
	int fd = look_start(&e->target);

	if (fd < 0) {
		e->follow_next_ms = mono_ms() + FOLLOW_RESTARTING_MS;
		return;
	}
	e->follow_fd = fd;
}

int follow_run(struct daemon *d)
{
	long long now = mono_ms(), soonest = -1;

	for (size_t i = 0; i < d->reg.n; i++) {
		struct execution *e = d->reg.v[i];

		if (!e->follow_since_ms || e->follow_fd >= 0)
			continue;
		if (e->follow_next_ms <= now)
			start_look(e);
		else if (soonest < 0 || e->follow_next_ms < soonest)
			soonest = e->follow_next_ms;
	}
	return soonest < 0 ? -1 : (int)(soonest - now);
}

static void line(struct daemon *d, const struct execution *e, const char *fmt, const char *arg, int n)
{
	struct log_ctx ctx = { .execution_id = e->id };
	char text[REPORT_LINE_MAX];

	snprintf(text, sizeof(text), fmt, arg, n);
	log_full(LOG_INFO, &ctx, "%s", text);
	report_line(&d->cfg, e, text, NULL);
}

/* The container runs again: watch its new process, from disk on too. */
static void follow_to(struct daemon *d, struct execution *e, const struct target_live *lv)
{
	struct log_ctx ctx = { .execution_id = e->id };
	char dir[PATH_MAX], err[ERRLEN];

	e->target.pid = lv->pid;
	e->target.starttime = lv->starttime;
	e->pidfd = (int)syscall(SYS_pidfd_open, lv->pid, 0);
	e->follow_since_ms = e->follow_next_ms = 0;
	if (e->pidfd < 0) {
		/* Gone again already: the next look finds out what happened. */
		follow_begin(e);
		return;
	}
	if (regstore_write(daemon_records_dir(d, dir, sizeof(dir)), e, err) < 0)
		log_full(LOG_ERR, &ctx, "%s: a restart of peon-sshd would look for the container's process again", err);
	line(d, e, "The container %s restarted; SSH debug access continues in its new process %d.", e->target.ref,
	     (int)lv->pid);
}

static void end(struct daemon *d, struct execution *e, const char *why)
{
	char id[256], err[ERRLEN];

	/* why is the look's, not e's: e is freed on the way. */
	snprintf(id, sizeof(id), "%s", e->id);
	daemon_end_execution(d, id, why, err);
}

static void decide(struct daemon *d, struct execution *e, const struct look *l)
{
	long long now = mono_ms(), waited = now - e->follow_since_ms;
	char why[ERRLEN + 64];

	if (l->r < 0) {
		snprintf(why, sizeof(why), "its container cannot be checked: %s", l->err);
		if (waited >= FOLLOW_UNREACHABLE_MS)
			return end(d, e, why);
		e->follow_next_ms = now + FOLLOW_RESTARTING_MS;
		return;
	}
	switch (l->lv.state) {
	case TARGET_RUNNING:
	case TARGET_PAUSED:
		return follow_to(d, e, &l->lv);
	case TARGET_RESTARTING:
		e->follow_next_ms = now + FOLLOW_RESTARTING_MS;
		return;
	case TARGET_STOPPED:
		if (waited < FOLLOW_SETTLE_MS) {
			e->follow_next_ms = now + FOLLOW_RETRY_MS;
			return;
		}
		return end(d, e, l->lv.why);
	case TARGET_REMOVED:
		return end(d, e, l->lv.why);
	}
}

void follow_answer(struct daemon *d, int fd)
{
	struct look l;

	for (size_t i = 0; i < d->reg.n; i++) {
		struct execution *e = d->reg.v[i];

		if (e->follow_fd != fd)
			continue;
		look_read(fd, &l);
		e->follow_fd = -1;
		decide(d, e, &l);
		return;
	}
}
