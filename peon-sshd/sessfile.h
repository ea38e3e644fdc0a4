/* One file per authenticated connection in <runtime_dir>/sessions/<pid>.json,
 * written by the daemon when it lets the connection in (routeq CLAIM) and
 * removed by the session process at its end (and by the daemon when it reaps
 * it). The daemon lists and ends sessions from these, so sessions that
 * outlived a daemon restart stay manageable. */
#ifndef PEON_SESSFILE_H
#define PEON_SESSFILE_H

#include <json-c/json.h>
#include <sys/types.h>

struct sessinfo {
	const char *execution, *remote, *user, *key_fp, *key_comment;
	const char *runs_as;   /* the user the shell runs as in the job, or NULL when unknown */
	unsigned long runs_as_uid;
	int uid_slot;      /* its network child's privsep slot: a restarted daemon keeps it taken */
};

/* Record the session of process pid (its start time guards against pid reuse). */
int sessfile_write(const char *runtime_dir, pid_t pid, const struct sessinfo *si);
/* Remove the record of this process (the session's own, at its end). */
void sessfile_remove(const char *runtime_dir);
void sessfile_remove_pid(const char *runtime_dir, pid_t pid);
/* Live sessions (stale files are removed), optionally of one execution. */
json_object *sessfile_list(const char *runtime_dir, const char *execution);
/* Signal every live session of an execution; returns how many. */
int sessfile_signal(const char *runtime_dir, const char *execution, int sig);
int sessfile_count(const char *runtime_dir, const char *execution);
/* Live sessions per execution in one pass: {"exec-id": count, ...}, and
 * all live sessions in *total when not NULL. */
json_object *sessfile_counts(const char *runtime_dir, int *total);
/* Signal the session of process pid if it is a live recorded one: 1 with
 * its execution id copied out, 0 when pid is not a live recorded session. */
int sessfile_signal_pid(const char *runtime_dir, pid_t pid, int sig, char *execution, size_t len);
/* Signal the live sessions of an execution that logged in with one of the
 * keys fps[0..n) (fingerprints): how many were signalled. */
int sessfile_signal_keys(const char *runtime_dir, const char *execution, char *const *fps, size_t n, int sig);
/* The record of the live session of process pid, or NULL. */
json_object *sessfile_get(const char *runtime_dir, pid_t pid);

#endif
