/* The registry on disk: one record per execution, <dir>/<id>.json, so that
 * adding writes one small file and ending access only deletes one (unlink
 * needs no free space), and a bad record costs only itself. */
#ifndef PEON_REGSTORE_H
#define PEON_REGSTORE_H

#include "registry.h"

/* what: a file or an entry; why: the problem and what was done about it. */
typedef void (*regstore_bad_fn)(const char *what, const char *why, void *arg);

/* Write e's record atomically (temp file, fsync, rename), mode 0600. */
int regstore_write(const char *dir, const struct execution *e, char *err);
/* Delete id's record; 0 also when there is none. */
int regstore_remove(const char *dir, const char *id, char *err);
/* Load every record in dir into r. A record that cannot be loaded is moved
 * aside (<name>.corrupt) and reported through bad; the others load. Temp
 * files left by a crash are deleted. -errno only when dir cannot be read. */
int regstore_load(struct registry *r, const char *dir, regstore_bad_fn bad, void *arg, char *err);
/* Once, at start: an executions.json of earlier versions ({"version": 1,
 * "executions": [...]}) becomes one record per entry, each entry on its own
 * (a bad one is reported through bad, the others load). The file is moved
 * aside to <old>.migrated before any record is written, so it can never
 * bring back an execution removed later; an entry whose record cannot be
 * written is reported and not restored. Ids already in r keep their record. */
int regstore_migrate(struct registry *r, const char *old, const char *dir, regstore_bad_fn bad, void *arg,
		     char *err);

#endif
