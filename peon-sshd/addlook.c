/* Adds waiting for their container's runtime (addlook.h). */
#include "addlook.h"
#include "ctlproto.h"
#include "look.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct pending {
	struct execution *e;           /* NULL: the slot is free */
	long long ttl_ms;
	struct ctl_ref client;
	int fd;
};

struct addlooks {
	struct pending p[CTL_MAX_CLIENTS];
};

static struct pending *free_slot(struct daemon *d)
{
	if (!d->al && !(d->al = calloc(1, sizeof(*d->al))))
		return NULL;
	for (size_t i = 0; i < CTL_MAX_CLIENTS; i++)
		if (!d->al->p[i].e)
			return &d->al->p[i];
	return NULL;
}

json_object *addlook_begin(struct daemon *d, struct execution *e, long long ttl_ms)
{
	struct pending *p = free_slot(d);
	int fd;

	if (!p) {
		execution_free(e);
		return ctl_error("too many adds are waiting for their container's runtime; try again shortly");
	}
	if ((fd = look_start(&e->target)) < 0) {
		execution_free(e);
		return ctl_error("cannot ask about the container: %s", strerror(-fd));
	}
	*p = (struct pending){ .e = e, .ttl_ms = ttl_ms, .client = control_current(d), .fd = fd };
	return NULL;
}

bool addlook_pending(const struct daemon *d, const char *id)
{
	for (size_t i = 0; d->al && i < CTL_MAX_CLIENTS; i++)
		if (d->al->p[i].e && strcmp(d->al->p[i].e->id, id) == 0)
			return true;
	return false;
}

int addlook_fd(const struct daemon *d, size_t i)
{
	return d->al && i < CTL_MAX_CLIENTS && d->al->p[i].e ? d->al->p[i].fd : -1;
}

void addlook_answer(struct daemon *d, size_t i)
{
	struct pending p = d->al->p[i];
	struct look l;
	json_object *reply;

	memset(&d->al->p[i], 0, sizeof(d->al->p[i]));
	look_read(p.fd, &l);
	/* Its client went away: nothing is registered for nobody to know. */
	if (!control_waiting(d, p.client)) {
		execution_free(p.e);
		return;
	}
	/* Answered as if the request were being served now: a later wait (its
	 * key URLs) belongs to the same client. */
	d->ctl_serving = p.client;
	reply = control_add_looked(d, p.e, p.ttl_ms, &l);
	d->ctl_serving = (struct ctl_ref){ .slot = -1 };
	if (reply)
		control_answer(d, p.client, reply);
}

void addlook_free(struct daemon *d)
{
	for (size_t i = 0; d->al && i < CTL_MAX_CLIENTS; i++)
		if (d->al->p[i].e) {
			close(d->al->p[i].fd);
			execution_free(d->al->p[i].e);
		}
	free(d->al);
	d->al = NULL;
}
