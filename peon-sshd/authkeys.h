/* authorized_keys lines: parse, validate, fingerprint; the OpenSSH key
 * options a line may carry, and the checks they ask for. */
#ifndef PEON_AUTHKEYS_H
#define PEON_AUTHKEYS_H

#include <libssh/libssh.h>
#include <stdbool.h>

#define AUTHKEY_LINE_MAX 16384
#define AUTHKEY_RSA_MIN_BITS 2048
/* Bounds on the options field (everything before the key type). */
#define AUTHKEY_OPTIONS_MAX 8192 /* bytes of the whole field */
#define AUTHKEY_PERMITS_MAX 64   /* permitopen= options; as many permitlisten= */
#define AUTHKEY_FROM_MAX 256     /* entries in the from= list */
#define AUTHKEY_PATTERN_MAX 255  /* bytes of one from= entry or one permit host */

/* What a line's options ask for, with OpenSSH's meaning (sshd(8),
 * AUTHORIZED_KEYS FILE FORMAT). All zero for a line without options. */
struct authkey_opts {
	bool present;            /* the line had options */
	bool no_port_forwarding, no_agent_forwarding, no_x11_forwarding, no_pty, no_user_rc;  /* after restrict and re-enables */
	char *command;           /* command=, NULL: none */
	char *from;              /* from= pattern list as given, NULL: none */
	long long expiry_ms;     /* expiry-time= in unix ms, 0: none */
	char **permitopen;       /* NULL-terminated "host:port" as given; NULL: no restriction */
	char **permitlisten;     /* NULL-terminated "[host:]port" as given; NULL: no restriction */
};

struct authkey {
	char *type;        /* "ssh-ed25519" */
	char *b64;         /* the key blob as written */
	char *comment;     /* sanitized: printable ASCII only, may be "" */
	char *fingerprint; /* "SHA256:..." as ssh-keygen -l prints */
	char *options;     /* the options field, canonical text to re-emit, NULL: none */
	struct authkey_opts opts;
};

/* Parse one line. Returns 1 with *out filled, 0 for blank/comment lines,
 * -EINVAL with err for anything we refuse (unsupported or malformed options,
 * DSA, short RSA, bad data). */
int authkey_parse(const char *line, struct authkey *out, char *err);
void authkey_free(struct authkey *k);
/* A deep copy of src into dst: 0, or -ENOMEM with dst empty. */
int authkey_copy(struct authkey *dst, const struct authkey *src);
/* Fingerprint of a libssh key, heap "SHA256:..." or NULL. */
char *authkey_fingerprint(const ssh_key key);
/* The line as stored and re-parsed: "[options ]type b64[ comment]". Heap. */
char *authkey_format(const struct authkey *k);

/* Does the options' from= allow this client address (text, as from getnameinfo NI_NUMERICHOST)? true when there is no from=. */
bool authkey_from_allows(const struct authkey_opts *o, const char *ip);
/* Has expiry-time passed at now_ms? false when there is none. As OpenSSH, by
 * whole seconds: the key still works during the second expiry-time names. */
bool authkey_expired(const struct authkey_opts *o, long long now_ms);
/* permitopen: may the client open direct-tcpip to host:port (host as sent)? true when no permitopen. */
bool authkey_permits_open(const struct authkey_opts *o, const char *host, int port);
/* permitlisten: may the client ask tcpip-forward on bind address addr (as sent, may be "") and port (0 = any)? true when no permitlisten.
 * As OpenSSH: a bare-port permission is "*:port"; "localhost" is only a name
 * ("127.0.0.1" does not permit it); "" is permitted only by a host of "*". */
bool authkey_permits_listen(const struct authkey_opts *o, const char *addr, int port);

#endif
