/* The cgroup primer: one small root process per daemon that takes the
 * kernel's cgroup migration lock when the daemon asks.
 *
 * A shell started in a job joins the job's cgroups, and the first write to
 * a cgroup.procs file takes cgroup_threadgroup_rwsem, whose writer waits
 * for an RCU grace period (8-20 ms on a 2-core cgroup v1 worker) unless a
 * writer held it within about the last one. The daemon pokes the primer
 * when a connection arrives on a port with a job and when a key probe or
 * a claim routes to a job; the primer writes "0" into its own cgroup.procs (the
 * same lock, nothing moved), so the grace period passes during key
 * exchange and the lock is still warm when the shell joins.
 *
 * Before, each monitor forked a primer of its own, twice per connection:
 * two forks and exits of a process with the daemon's ~240 mappings, 3-4
 * ms of CPU per connection on a 2-core machine (perf). A poke is a byte
 * on a pipe. Pokes coalesce, and the primer writes at most once per
 * PRIMER_GAP_MS, so a flood of probes keeps the lock warm (the kernel's
 * fork and exit then take their slower path, as the favordynmods mount
 * option makes them do all the time) and costs nothing more. */
#ifndef PEON_PRIMER_H
#define PEON_PRIMER_H

#include "daemon.h"

#include <stdbool.h>
#include <sys/types.h>

#define PRIMER_GAP_MS 5
/* A primer that ended is started again at the next poke, at most this often. */
#define PRIMER_RESTART_MS 10000

/* Take the lock now, or as soon as the primer may. Never blocks. */
void primer_poke(struct daemon *d);
/* pid was the primer: a failure is logged. */
bool primer_reaped(struct daemon *d, pid_t pid, int status);
/* In a forked child: close the daemon's end of the primer's pipe. */
void primer_close_inherited(struct daemon *d);
void primer_stop(struct daemon *d);

#endif
