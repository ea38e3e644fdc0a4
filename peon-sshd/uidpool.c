#include "uidpool.h"
#include "util.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>

int uidpool_init(struct uidpool *p, int count)
{
	p->used = calloc((size_t)count, 1);
	p->count = p->used ? count : 0;
	p->n_used = 0;
	return p->used ? 0 : -ENOMEM;
}

void uidpool_free(struct uidpool *p)
{
	free(p->used);
	p->used = NULL;
	p->count = p->n_used = 0;
}

int uidpool_take(struct uidpool *p, uint64_t rnd)
{
	int start;

	if (p->n_used >= p->count)
		return -1;
	start = (int)(rnd % (uint64_t)p->count);
	for (int i = 0; i < p->count; i++) {
		int s = (start + i) % p->count;

		if (!p->used[s]) {
			p->used[s] = 1;
			p->n_used++;
			return s;
		}
	}
	return -1;
}

void uidpool_give(struct uidpool *p, int slot)
{
	if (slot >= 0 && slot < p->count && p->used[slot]) {
		p->used[slot] = 0;
		p->n_used--;
	}
}

void uidpool_mark(struct uidpool *p, int slot)
{
	if (slot >= 0 && slot < p->count && !p->used[slot]) {
		p->used[slot] = 1;
		p->n_used++;
	}
}

/* A child with the uid of a real user could be signalled by that user's
 * processes (and could signal them): such a range is a configuration error. */
int uidpool_check_passwd(const char *passwd_path, long long base, int count, char *err)
{
	FILE *f = fopen(passwd_path, "re");
	struct passwd *pw;
	int r = 0;

	if (!f)
		return 0;
	while ((pw = fgetpwent(f)))
		if ((long long)pw->pw_uid >= base && (long long)pw->pw_uid < base + count) {
			r = errf(err, -EEXIST, "privsep: uid %u of user %s in %s is inside the network children's "
				 "range %lld-%lld; set privsep.uid_base to a range no user has", (unsigned)pw->pw_uid,
				 pw->pw_name, passwd_path, base, base + count - 1);
			break;
		}
	fclose(f);
	return r;
}
