/* /etc/peon.config: the worker's env-style KEY=VALUE file, shared with other
 * worker software. We read DEBUG_PORT and ignore every other key. */
#ifndef PEON_PEONCONF_H
#define PEON_PEONCONF_H

/* Parse one line. Returns 1 with heap key/value, 0 for a blank or comment
 * line, -EINVAL (err filled) when the line is not KEY=VALUE. */
int peonconf_parse_line(const char *line, char **key, char **value, char *err);

/* Load DEBUG_PORT from path into *port. Returns 0 when set, -ENOENT when the
 * file or the key is absent, other negative codes with err naming file:line. */
int peonconf_load(const char *path, int *port, int *line_no, char *err);

#endif
