/* authorized_keys lines: parse, validate, fingerprint. */
#ifndef PEON_AUTHKEYS_H
#define PEON_AUTHKEYS_H

#include <libssh/libssh.h>

#define AUTHKEY_LINE_MAX 16384
#define AUTHKEY_RSA_MIN_BITS 2048

struct authkey {
	char *type;        /* "ssh-ed25519" */
	char *b64;         /* the key blob as written */
	char *comment;     /* sanitized: printable ASCII only, may be "" */
	char *fingerprint; /* "SHA256:..." as ssh-keygen -l prints */
};

/* Parse one line. Returns 1 with *out filled, 0 for blank/comment lines,
 * -EINVAL with err for anything we refuse (options, DSA, short RSA, bad data). */
int authkey_parse(const char *line, struct authkey *out, char *err);
void authkey_free(struct authkey *k);
/* Fingerprint of a libssh key, heap "SHA256:..." or NULL. */
char *authkey_fingerprint(const ssh_key key);
/* The line as stored and re-parsed: "type b64 comment". Heap. */
char *authkey_format(const struct authkey *k);

#endif
