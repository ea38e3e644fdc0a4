/* Spare monitors: a monitor whose network child is already exec'd, has
 * imported the host keys and sandboxed itself, waiting for a connection.
 * Handing an accepted connection to one takes a send instead of a fork, an
 * exec, dynamic loading and libssh's set-up, which then happen between
 * clients rather than while one waits. Each spare is still one connection's:
 * a fresh image with its own address-space layout and a uid slot of its own,
 * used once. A spare holds the configuration and host keys of when it was
 * forked, so a reload retires the spares and forks new ones. */
#ifndef PEON_SPARES_H
#define PEON_SPARES_H

#include "daemon.h"

#include <stdbool.h>
#include <sys/types.h>

/* How many spares the daemon keeps: enough for a client that opens a few
 * connections at once (an IDE); each costs one idle connection's memory. */
#define SPARES_WANTED 2

/* Fork spares until SPARES_WANTED are waiting. A failure is logged once;
 * connections are then served by forking at accept, as without spares. */
void spares_fill(struct daemon *d);
/* After an accept burst: fill SPARES_REFILL_DELAY_MS later, or now when
 * the burst took every spare. Forked at once, the daemon's fork and the
 * new spare's start held both cores of a 2-core worker just when the
 * connection's child was woken to send its banner (perf: it ran 0.75 ms
 * late); a few ms on, the connection is in key exchange and one side of
 * it is always waiting for the other. */
#define SPARES_REFILL_DELAY_MS 5
void spares_fill_soon(struct daemon *d);
/* Poll timeout until the fill is due (-1: none), and the fill when it is. */
int spares_timeout(const struct daemon *d);
void spares_tick(struct daemon *d);
/* Hand the accepted connection fd to a spare (forking one if none waits):
 * c gets the monitor's pid, routeq socket and uid slot. fd is closed either
 * way. -errno with err when no monitor could take it. */
int spares_hand_over(struct daemon *d, int fd, struct conn *c, char *err);
/* Retire every waiting spare (reload, stop): each sees its socket close
 * and ends, with its network child. */
void spares_retire(struct daemon *d);
/* pid was a spare (waiting or retired): its slot is freed. */
bool spares_reaped(struct daemon *d, pid_t pid, int status);
/* In a forked child: close the daemon's ends of the spares' sockets. */
void spares_close_inherited(struct daemon *d);
void spares_free(struct daemon *d);

#endif
