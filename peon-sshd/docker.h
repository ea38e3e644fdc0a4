/* The Docker Engine API, asked over its unix socket with libcurl: which
 * process a container runs now, whether it runs at all, and as whom.
 * Podman's Docker-compatible socket answers the same request.
 *
 * Only one request is made, GET /containers/REF/json (unversioned: every
 * engine serves it at its own API version), and only the fields below are
 * read from the answer. The answer comes from a root-owned socket, but it
 * is parsed as untrusted input all the same (bounded, type-checked). */
#ifndef PEON_DOCKER_H
#define PEON_DOCKER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define DOCKER_REF_MAX 128        /* a container name or id as `add --docker` takes it */
#define DOCKER_ID_LEN 64          /* a full container id: 64 hex digits */
#define DOCKER_ANSWER_MAX (4 << 20)
#define DOCKER_TIMEOUT_MS 3000

struct docker_container {
	char id[DOCKER_ID_LEN + 1];
	char name[DOCKER_REF_MAX + 2];    /* "/name" as the engine gives it */
	char status[16];                  /* "running", "paused", "exited", ... */
	bool running, paused, restarting;
	pid_t pid;                        /* 0 when not running */
	int exit_code;
	char user[256];                   /* Config.User: "", "name", "uid", "uid:gid", ... */
};

/* Is ref something `add --docker` may name: a container name
 * ([a-zA-Z0-9][a-zA-Z0-9_.-]*) or an id (prefix), at most DOCKER_REF_MAX? */
bool docker_ref_valid(const char *ref);

/* Inspect ref through the engine at socket_path. -ENOENT when the engine
 * knows no such container, -ECONNREFUSED (or another -errno) when the
 * engine cannot be asked; err says which, in one sentence. */
int docker_inspect(const char *socket_path, const char *ref, struct docker_container *c, char *err);

/* The answer's body (len bytes) into c: the parser of docker_inspect(). */
int docker_parse_inspect(const char *json, size_t len, struct docker_container *c, char *err);

#endif
