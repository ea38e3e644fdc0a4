/* A key's SHA256 fingerprint, as OpenSSH prints it. Apart from authkeys.c
 * because the network child needs only this (and so loads no more than
 * libssh for it). */
#include "authkeys.h"

char *authkey_fingerprint(const ssh_key key)
{
	unsigned char *hash = NULL;
	size_t hlen = 0;
	char *fp;

	if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen) != 0)
		return NULL;
	fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen);
	ssh_clean_pubkey_hash(&hash);
	return fp;
}

