/* The reporter: a child of the daemon that delivers spooled lines to log
 * URLs, so HTTP never blocks the daemon or a session. */
#ifndef PEON_REPORTER_H
#define PEON_REPORTER_H

#include "config.h"

#include <sys/types.h>

/* Fork the reporter; in the child, close_fds(arg) runs first. */
pid_t reporter_start(const struct peon_config *cfg, void (*close_fds)(void *), void *arg);

#endif
