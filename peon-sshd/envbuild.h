/* The environment of a spawned shell: the job's live environment, then the
 * client's accepted env requests, then what sshd sets (USER, HOME, SSH_*). */
#ifndef PEON_ENVBUILD_H
#define PEON_ENVBUILD_H

#include <stddef.h>

#define ENV_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct env_input {
	const char *base;           /* NUL-separated block (/proc/PID/environ) or NULL */
	size_t base_len;
	const char *user, *home, *shell;
	const char *ssh_connection; /* "client_ip client_port server_ip server_port" */
	const char *ssh_client;     /* "client_ip client_port server_port" */
	const char *tty;            /* pty path, or NULL */
	const char *term;           /* from pty-req, or NULL */
	char *const *client_env;    /* "NAME=VALUE", already filtered */
	char *const *server_env;    /* "NAME=VALUE" the server sets (agent, X11, forced command): last */
};

/* Heap NULL-terminated "NAME=VALUE" vector (strv_free it), or NULL on ENOMEM. */
char **env_build(const struct env_input *in);
/* Value of name in a vector built above, or NULL. */
const char *env_get(char *const *env, const char *name);

#endif
