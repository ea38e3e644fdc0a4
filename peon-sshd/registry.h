/* The registry of executions: what the job controller registered, kept in
 * the daemon's memory, the only authority for routing. Persisted one record
 * per execution (regstore.h) so a daemon restart restores it. */
#ifndef PEON_REGISTRY_H
#define PEON_REGISTRY_H

#include "authkeys.h"
#include "jobseccomp.h"
#include "keyset.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum target_type { TARGET_PID, TARGET_HOST, TARGET_DOCKER, TARGET_CONTAINERD };

#define TARGET_REF_MAX 160             /* a Docker name/id, a containerd NAMESPACE/ID */
#define TARGET_ID_MAX 64               /* a Docker container id */

struct target {
	enum target_type type;
	/* The job's process (host pid): for PID the execution's one process;
	 * for DOCKER and CONTAINERD the container's process when last seen
	 * (target.h asks the runtime again before every use). */
	pid_t pid;
	unsigned long long starttime;  /* its /proc/PID/stat starttime: guards pid reuse */
	char ref[TARGET_REF_MAX + 1];  /* DOCKER: the name or id given; CONTAINERD: "NAMESPACE/ID" */
	char id[TARGET_ID_MAX + 1];    /* DOCKER: the full id the name had at add, followed from then on */
};
/* Docker and containerd targets: a container, which a runtime names the
 * process of (target.h), with a bundle that may hold its spec. */
static inline bool target_is_container(const struct target *t)
{
	return t->type == TARGET_DOCKER || t->type == TARGET_CONTAINERD;
}
/* The target's type as requests and records name it. */
const char *target_type_name(enum target_type t);
/* "docker c1" / "containerd k8s.io/abc" / "pid 42" / "host". */
const char *target_describe(const struct target *t, char *buf, size_t len);

/* What an execution's add took away (peon-sshctl add --no-...-forwarding). */
enum {
	EXEC_NO_LOCAL_FWD = 1 << 0,    /* -L, -D, -W */
	EXEC_NO_REMOTE_FWD = 1 << 1,   /* -R */
	EXEC_NO_AGENT = 1 << 2,        /* -A */
	EXEC_NO_X11 = 1 << 3,          /* -X, -Y */
};
/* Their names in requests and records ("no_forwarding": [...]), by bit. */
extern const char *const execution_no_forwarding_names[4];

/* One --key-url and the keys of its last good fetch, which the record keeps
 * so that a restarted daemon serves them until the next fetch. */
struct key_url {
	char *url;
	struct authkey *keys;
	size_t n_keys;
	long long fetched_ms;          /* unix ms of the last good fetch; 0: never */
	/* The daemon's own, not recorded: */
	long long asked_mono;          /* CLOCK_MONOTONIC ms a fetch was last asked for; 0: not since start */
	char *error;                   /* why the last fetch failed; NULL after a good one */
};
#define EXECUTION_MAX_KEY_URLS 16

struct execution {
	char *id;
	int port;
	struct target target;
	char *user;                    /* NULL: the target's own user */
	/* Every key routing sees: the static ones (given with add or keys
	 * --add: execution_static_keys()) first, then those of the key URLs not
	 * already held (the first line of a fingerprint wins). */
	struct authkey *keys;
	size_t n_keys;
	size_t n_static;               /* only meaningful with key URLs */
	struct key_url *urls;
	size_t n_urls;
	char *log_file;                /* report sinks, used by the reporter */
	char *log_url;
	long long created_ms;          /* unix time in milliseconds: a --ttl keeps sub-second precision */
	long long expires_ms;          /* unix time in milliseconds, 0 = never */
	int pidfd;                     /* daemon-only: readable when the job exits */
	/* Daemon-only, a container between processes (follow.h): since when,
	 * the next look, the answer pipe of the look in flight (look.h). */
	long long follow_since_ms, follow_next_ms;
	int follow_fd;
	struct job_seccomp *seccomp;   /* the job's filters, copied at add; NULL: none */
	unsigned no_forwarding;        /* EXEC_NO_* */
};

/* One key of one execution, in the registry's key index. */
struct keyref {
	const char *fingerprint;       /* points into e->keys[] */
	struct execution *e;
};

/* Routing asks "which executions hold this key?" and "which execution has
 * this id?" on every authentication attempt: both are binary searches, so
 * their cost does not grow with the registry. */
struct registry {
	struct execution **v;          /* sorted by id */
	size_t n;
	struct keyref *by_key;         /* every key of every execution, sorted by (fingerprint, id) */
	size_t n_by_key;
};

/* How many of e->keys are static: all of them when e has no key URL, so an
 * execution built without knowing of URLs keeps every key in its record. */
static inline size_t execution_static_keys(const struct execution *e)
{
	return e->n_urls ? e->n_static : e->n_keys;
}

struct execution *execution_new(void);
void execution_free(struct execution *e);
/* Does e accept the key with this fingerprint? */
bool execution_has_key(const struct execution *e, const char *fingerprint);
/* The comment of e's key with this fingerprint, or "". */
/* The execution's key with this fingerprint, or NULL. */
const struct authkey *execution_key(const struct execution *e, const char *fingerprint);
const char *execution_key_comment(const struct execution *e, const char *fingerprint);

struct execution *registry_find(const struct registry *r, const char *id);
/* Takes ownership of e on success; -EEXIST (id taken) or -ENOMEM change nothing. */
int registry_add(struct registry *r, struct execution *e);
/* The executions holding the key with this fingerprint, in id order: a
 * slice of r->by_key starting at *first, of the returned length. */
size_t registry_with_key(const struct registry *r, const char *fingerprint, const struct keyref **first);
/* Detach and return the execution, or NULL. */
struct execution *registry_take(struct registry *r, const char *id);
void registry_clear(struct registry *r);

/* Replacing the keys of e (in r) in two steps, so that the caller can
 * persist the change in between: prepare allocates the new key index, the
 * only step that can fail (-ENOMEM, nothing changed); commit cannot fail:
 * it takes keys[0..n_new) (a malloc'd array), frees e's old keys and
 * installs the index. abort drops a prepared index unused. Nothing else may
 * change r in between. */
struct keyindex {
	struct keyref *v;
	size_t n, n_new;
};
int registry_keys_prepare(const struct registry *r, const struct execution *e, size_t n_new, struct keyindex *ki);
void registry_keys_commit(struct registry *r, struct execution *e, struct authkey *keys, struct keyindex *ki);
void registry_keys_abort(struct keyindex *ki);
size_t registry_count_port(const struct registry *r, int port);

/* Highest pid the kernel hands out (PID_MAX_LIMIT). */
#define PID_MAX 4194304
/* 3: key_urls, and "keys" holds only the static keys. */
#define REGISTRY_RECORD_VERSION 3

/* JSON forms. For people and tools (`list`): keys as {fingerprint, type,
 * comment}, times as created/expires (seconds) and created_ms/expires_ms. */
json_object *execution_to_json(const struct execution *e);
/* The keys alone, as execution_to_json shows them; one key so. */
json_object *execution_keys_json(const struct execution *e);
json_object *authkey_to_json(const struct authkey *key);
/* The daemon's own record (its files, routeq answers): keys as lines, the
 * static ones in "keys", each URL's in "key_urls". */
json_object *execution_to_record(const struct execution *e);
/* The record a session gets: only the key it offered, as a static key, and
 * no URL. */
json_object *execution_record_one_key(const struct execution *e, const char *fingerprint);
/* The static keys of e, then each URL's keys, without duplicates: what
 * e->keys must be. Copies into *out (empty on entry); -ENOMEM. */
int execution_key_union(const struct execution *e, struct keylist *out);
/* An add request from the control socket: untrusted. Every field is type-
 * and range-checked before use, fields that are not part of a request are
 * refused by name. Sets no times; *ttl_ms is 0 or the requested ttl. */
int execution_from_request(json_object *req, struct execution **out, long long *ttl_ms, char *err);
/* A record the daemon wrote: validated, but may carry what requests may not
 * (start time, created/expires); version-1 entries hold times in seconds. */
int execution_from_record(json_object *o, struct execution **out, char *err);

#endif
