/* Host keys: generated on first start, reused after; refused when anyone but
 * the owner could write them (or read the private half). The daemon holds
 * only the public halves; the private files are opened by each monitor and
 * read only by its network child. */
#ifndef PEON_HOSTKEY_H
#define PEON_HOSTKEY_H

#include <libssh/libssh.h>
#include <stdbool.h>

#define HOSTKEY_MAX 2

struct hostkeys {
	ssh_key keys[HOSTKEY_MAX];     /* public halves only (from <path>.pub) */
	char *paths[HOSTKEY_MAX];      /* the private key files */
	int n;
};

/* create (the daemon's start): generate missing keys, (re)write each
 * <key>.pub, and load the public halves. !create (-t): only check that
 * the private keys exist, are safe and readable; nothing is written and
 * no key is loaded. Private keys are read only in short-lived children. */
int hostkeys_load(const char *dir, bool create, struct hostkeys *hk, char *err);
void hostkeys_free(struct hostkeys *hk);

/* Only keys some configured host-key algorithm can sign with are worth
 * anything: the others are neither read by network children nor
 * reported. algos is algorithms.host_keys. */
bool hostkey_offered(ssh_key key, const char *algos);
/* -EINVAL (err says so) when algos can use none of the kinds of key
 * peon-sshd keeps: no client could ever connect. */
int hostkeys_check_offered(const char *algos, char *err);
/* The first loaded public key algos offers (its index in *index), or NULL. */
ssh_key hostkeys_first_offered(const struct hostkeys *hk, const char *algos, int *index);

#endif
