/* The daemon's side of the key fetcher (keyfetcher.h): a queue of URLs to
 * fetch, at most KF_MAX_IN_FLIGHT at once, the most urgent first; answers
 * read without blocking, checked, and handed to keyurls.c. The fetcher is
 * started when there is work and restarted (after a pause) when it dies. */
#ifndef PEON_KEYFETCH_H
#define PEON_KEYFETCH_H

#include "daemon.h"

#include <stdbool.h>
#include <stdint.h>

/* Why a URL is fetched, most urgent last: a waiting add or refresh goes
 * before a key nobody holds, which goes before the periodic refresh. */
enum kf_prio { KF_PERIODIC, KF_UNKNOWN_KEY, KF_ASKED };

void keyfetch_free(struct daemon *d);
/* In a forked child: close the daemon's end of the fetcher's socket. */
void keyfetch_close_inherited(struct daemon *d);
/* The socket to poll for answers, or -1. */
int keyfetch_fd(const struct daemon *d);
/* Answers are ready to read. */
void keyfetch_io(struct daemon *d);
/* pid exited: true when it was the fetcher (its fetches in flight fail). */
bool keyfetch_reaped(struct daemon *d, pid_t pid, int status);
/* Fail fetches past their deadline, start what the queue holds. */
void keyfetch_tick(struct daemon *d);
/* ms until keyfetch_tick has work, or -1. */
int keyfetch_timeout(const struct daemon *d);

/* Fetch url. With fresh, the caller needs a fetch that starts from now on:
 * one already in flight is followed by another. false when the queue is
 * full (the fetch is not made). */
bool keyfetch_queue(struct daemon *d, const char *url, enum kf_prio prio, bool fresh);
/* Answers of fetches numbered >= this started after the call. */
uint64_t keyfetch_next_seq(const struct daemon *d);

#endif
