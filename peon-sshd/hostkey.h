/* Host keys: generated on first start, reused after; refused when anyone but
 * the owner could write them (or read the private half). */
#ifndef PEON_HOSTKEY_H
#define PEON_HOSTKEY_H

#include <libssh/libssh.h>
#include <stdbool.h>

#define HOSTKEY_MAX 2

struct hostkeys {
	ssh_key keys[HOSTKEY_MAX];
	char *paths[HOSTKEY_MAX];
	int n;
};

int hostkeys_load(const char *dir, bool create, struct hostkeys *hk, char *err);
void hostkeys_free(struct hostkeys *hk);

#endif
