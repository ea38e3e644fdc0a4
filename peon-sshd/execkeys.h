/* Changing the keys of a registered execution. What it holds is the union
 * of its static keys (add, keys --add) and its key URLs' last good keys. A
 * change is recorded before it takes effect (one that cannot be recorded
 * changes nothing, so a restart neither undoes nor redoes it), and what it
 * revokes ends: the sessions of a key no longer held as it was. */
#ifndef PEON_EXECKEYS_H
#define PEON_EXECKEYS_H

#include "daemon.h"
#include "keyset.h"

struct keychange {
	struct keylist added, removed;   /* the union before and after, by fingerprint and options */
	int sessions_ended;
};

/* e's static keys become *stat (unless NULL) and/or the keys of its URL
 * url_idx become *url_keys (unless NULL); both are taken on success.
 * limits.max_keys bounds the union. 0 with *out, or -errno with err and
 * nothing changed. */
int execkeys_set(struct daemon *d, struct execution *e, struct keylist *stat, size_t url_idx,
		 struct keylist *url_keys, struct keychange *out, char *err);
void keychange_free(struct keychange *c);
/* "added A (alice), B; removed C; 3 keys now; 1 session of removed keys ended" */
void keychange_describe(const struct keychange *c, size_t now, char *buf, size_t len);

#endif
