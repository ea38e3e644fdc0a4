/* Which client "env" requests are honoured. Names are matched against the
 * configured accept_env patterns, but names that change how programs load
 * code or find binaries are refused whatever the configuration says. */
#ifndef PEON_ENVFILTER_H
#define PEON_ENVFILTER_H

#include <stdbool.h>

#define ENV_NAME_MAX 64
#define ENV_VALUE_MAX 4096
#define ENV_CLIENT_MAX 64   /* accepted env requests per channel */

/* true when NAME=VALUE may be set in the job's shell. */
bool envfilter_accept(const char *name, const char *value, char *const *patterns);

#endif
