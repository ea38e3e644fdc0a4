/* The key fetcher: a child of the daemon that fetches key URLs, so that
 * HTTP never blocks the daemon's loop or a login. It talks only HTTP(S),
 * as an unprivileged uid of its own with no capabilities, and answers
 * over a SOCK_SEQPACKET socketpair: one record per request and per answer,
 * the body in a memfd passed with the answer (it does not fit a record). */
#ifndef PEON_KEYFETCHER_H
#define PEON_KEYFETCHER_H

#include "keyurl.h"

#include <stdint.h>
#include <sys/types.h>

/* Fetches the daemon has in flight at once (the fetcher refuses more). */
#define KF_MAX_IN_FLIGHT 8
#define KF_CONNECT_TIMEOUT_MS 5000
#define KF_TOTAL_TIMEOUT_MS 20000
#define KF_ERROR_MAX 384

/* daemon -> fetcher: uint64_t seq, then the URL's bytes (no NUL). */
#define KF_REQUEST_MAX (8 + KEYURL_MAX_LEN)

/* fetcher -> daemon; with ok, the body's memfd in SCM_RIGHTS. */
struct kf_answer {
	uint64_t seq;
	uint32_t ok;
	uint32_t body_len;               /* at most KEYURL_MAX_BYTES */
	char error[KF_ERROR_MAX];        /* NUL-terminated when !ok */
};

/* Fork the fetcher as uid/gid; *fd is the daemon's end (non-blocking,
 * close-on-exec). In the child close_fds(arg) runs first. The pid, or -1
 * with errno. */
pid_t keyfetcher_start(uid_t uid, gid_t gid, void (*close_fds)(void *), void *arg, int *fd);

#endif
