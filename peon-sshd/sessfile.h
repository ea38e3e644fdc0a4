/* One file per authenticated connection in <runtime_dir>/sessions/, written
 * by the session process itself. The daemon lists and ends sessions from
 * these, so sessions that outlived a daemon restart stay manageable. */
#ifndef PEON_SESSFILE_H
#define PEON_SESSFILE_H

#include <json-c/json.h>
#include <sys/types.h>

struct sessinfo {
	const char *execution, *remote, *user, *key_fp, *key_comment;
};

int sessfile_write(const char *runtime_dir, const struct sessinfo *si);
void sessfile_remove(const char *runtime_dir);
/* Live sessions (stale files are removed), optionally of one execution. */
json_object *sessfile_list(const char *runtime_dir, const char *execution);
/* Signal every live session of an execution; returns how many. */
int sessfile_signal(const char *runtime_dir, const char *execution, int sig);
int sessfile_count(const char *runtime_dir, const char *execution);

#endif
