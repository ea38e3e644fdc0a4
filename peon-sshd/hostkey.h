/* Host keys: generated on first start, reused after; refused when anyone but
 * the owner could write them (or read the private half). The daemon holds
 * only the public halves and, for each private key, a sealed memfd holding
 * the form the network child's libssh (libgcrypt) reads, written by a
 * short-lived helper (the daemon never reads it); each monitor opens its own
 * description of that copy and its network child reads it. The copy keeps
 * what connections are served with equal to what the daemon announces
 * until the next load (start or SIGHUP), whatever happens to the file. */
#ifndef PEON_HOSTKEY_H
#define PEON_HOSTKEY_H

#include <libssh/libssh.h>
#include <stdbool.h>

#define HOSTKEY_MAX 2
/* Largest private key file read (RSA 16384 is ~12 KiB). */
#define HOSTKEY_FILE_MAX (64 * 1024)

struct hostkeys {
	ssh_key keys[HOSTKEY_MAX];     /* public halves only (from <path>.pub) */
	char *paths[HOSTKEY_MAX];      /* the private key files */
	int fds[HOSTKEY_MAX];          /* sealed memfds of the network child's copies (create mode only, else -1) */
	int n;
};

/* create (the daemon's start): generate missing keys, (re)write each
 * <key>.pub, and load the public halves. !create (-t): only check that
 * the private keys exist, are safe and readable; nothing is written and
 * no key is loaded. Private keys are read only in short-lived children. */
int hostkeys_load(const char *dir, bool create, struct hostkeys *hk, char *err);
void hostkeys_free(struct hostkeys *hk);
/* A readable descriptor of the copy of private key i, of its own (so no
 * two network children share a file offset), checked to be sealed; -errno
 * with err otherwise. For the monitor: root reopens through /proc/self/fd. */
int hostkey_open_private(const struct hostkeys *hk, int i, char *err);

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
