/* Key URLs (`--key-url`): which ones peon-sshd fetches, and how they are
 * named where people read them. */
#ifndef PEON_KEYURL_H
#define PEON_KEYURL_H

#include <stddef.h>

#define KEYURL_MAX_LEN 8192
/* What one fetch may bring: more is refused whole (the last good keys stay). */
#define KEYURL_MAX_BYTES (1024 * 1024)
#define KEYURL_MAX_KEYS 1000

/* https to anywhere, or http to this machine's loopback only (127.0.0.0/8,
 * [::1], localhost): anywhere else a man in the middle could hand us his
 * own key. 0, or -EINVAL with err naming the URL. */
int keyurl_check(const char *url, char *err);
/* The URL without user info, query and fragment (they may carry tokens),
 * for logs and the execution's log, which the job's users read. */
void keyurl_redact(const char *url, char *out, size_t len);

#endif
