/* The configured algorithm lists on an ssh_bind: the daemon checks them
 * (at start, -t and reload) with the same code the network child uses. */
#ifndef PEON_ALGO_H
#define PEON_ALGO_H

#include "config.h"

#include <libssh/server.h>

/* Turn off libssh's own server config file, then set every list (both
 * directions). -EINVAL with err naming the setting libssh rejects. */
int algorithms_apply(ssh_bind b, const struct algorithms *a, char *err);

#endif
