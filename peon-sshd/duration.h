/* Durations as written on command lines and in configs: "90", "90s", "15m",
 * "2h", "1d", or sums like "1h30m". */
#ifndef PEON_DURATION_H
#define PEON_DURATION_H

#define DURATION_MAX (10L * 366 * 86400)

/* Returns 0 with seconds in *out, -EINVAL on syntax, -ERANGE past 10 years. */
int duration_parse(const char *s, long *out);

#endif
