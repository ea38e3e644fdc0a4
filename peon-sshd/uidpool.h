/* Slots of the network children's uid range (privsep.uid_base + slot):
 * one per live connection, so that no two children share a uid. */
#ifndef PEON_UIDPOOL_H
#define PEON_UIDPOOL_H

#include <stdint.h>

struct uidpool {
	unsigned char *used;
	int count, n_used;
};

int uidpool_init(struct uidpool *p, int count);
void uidpool_free(struct uidpool *p);
/* A free slot, searched from a random start (so a restarted daemon, which
 * does not know the slots of connections still running, rarely repeats
 * one), or -1 when all are taken. */
int uidpool_take(struct uidpool *p, uint64_t rnd);
void uidpool_give(struct uidpool *p, int slot);
/* Take this slot (a session that outlived a restart); ignored when out of range. */
void uidpool_mark(struct uidpool *p, int slot);
/* Refuse a range that holds a user of passwd_path: -EEXIST with err. */
int uidpool_check_passwd(const char *passwd_path, long long base, int count, char *err);

#endif
