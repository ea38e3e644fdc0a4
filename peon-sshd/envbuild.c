#include "envbuild.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ENV_MAX_ENTRIES 4096

struct envv {
	char **v;
	size_t n;
	int err;
};

static size_t name_len(const char *kv)
{
	const char *eq = strchr(kv, '=');

	return eq ? (size_t)(eq - kv) : strlen(kv);
}

/* Set or replace one "NAME=VALUE" entry. */
static void env_put(struct envv *e, const char *kv)
{
	size_t nl = name_len(kv);
	char *copy;

	if (e->err || nl == 0 || kv[nl] != '=')
		return;
	for (size_t i = 0; i < e->n; i++) {
		if (name_len(e->v[i]) == nl && strncmp(e->v[i], kv, nl) == 0) {
			copy = strdup(kv);
			if (!copy) {
				e->err = -ENOMEM;
				return;
			}
			free(e->v[i]);
			e->v[i] = copy;
			return;
		}
	}
	if (e->n >= ENV_MAX_ENTRIES)
		return;
	if (strv_push(&e->v, &e->n, kv) < 0)
		e->err = -ENOMEM;
}

static void env_set(struct envv *e, const char *name, const char *value)
{
	char *kv;

	if (!value)
		return;
	if (asprintf(&kv, "%s=%s", name, value) < 0) {
		e->err = -ENOMEM;
		return;
	}
	env_put(e, kv);
	free(kv);
}

const char *env_get(char *const *env, const char *name)
{
	size_t nl = strlen(name);

	for (size_t i = 0; env && env[i]; i++)
		if (strncmp(env[i], name, nl) == 0 && env[i][nl] == '=')
			return env[i] + nl + 1;
	return NULL;
}

char **env_build(const struct env_input *in)
{
	struct envv e = { 0 };

	/* The job's environment; the block may lack a final NUL if truncated. */
	for (size_t off = 0; in->base && off < in->base_len;) {
		size_t l = strnlen(in->base + off, in->base_len - off);

		if (off + l < in->base_len) {
			env_put(&e, in->base + off);
		}
		off += l + 1;
	}
	if (!env_get(e.v, "PATH"))
		env_set(&e, "PATH", ENV_DEFAULT_PATH);
	for (size_t i = 0; in->client_env && in->client_env[i]; i++)
		env_put(&e, in->client_env[i]);
	env_set(&e, "USER", in->user);
	env_set(&e, "LOGNAME", in->user);
	env_set(&e, "HOME", in->home);
	env_set(&e, "SHELL", in->shell);
	env_set(&e, "SSH_CONNECTION", in->ssh_connection);
	env_set(&e, "SSH_CLIENT", in->ssh_client);
	env_set(&e, "SSH_TTY", in->tty);
	env_set(&e, "TERM", in->term);
	for (size_t i = 0; in->server_env && in->server_env[i]; i++)
		env_put(&e, in->server_env[i]);
	if (e.err || !e.v) {
		strv_free(e.v);
		return NULL;
	}
	return e.v;
}
