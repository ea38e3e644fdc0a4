/* The job's seccomp filters, carried into every process started in the job.
 *
 * The kernel gives a process's filters only to a tracer of that process
 * while it is stopped (PTRACE_SECCOMP_GET_FILTER). So they are copied once,
 * when the execution is added: a short-lived helper seizes the job's
 * process, interrupts it for the copy and lets it go. They are kept with the
 * execution (its record, which is also the monitor's copy) and installed,
 * oldest first as the job got them, into the shell, a command, the SFTP
 * server and the job-side helpers, as late as the job's no_new_privs allows
 * (runc's order, see jobenter.h). */
#ifndef PEON_JOBSECCOMP_H
#define PEON_JOBSECCOMP_H

#include <json-c/json.h>
#include <linux/filter.h>
#include <stdint.h>
#include <sys/types.h>

/* Bounds on what a record may carry: the kernel's own per-filter limit
 * (BPF_MAXINSNS), and totals far above any runtime's profile. */
#define JOB_SECCOMP_MAX_FILTERS 32
#define JOB_SECCOMP_MAX_INSNS 8192

struct job_seccomp_filter {
	uint32_t len;
	struct sock_filter *insns;
	uint32_t flags;                /* seccomp(2)'s: a spec's LOG, SPEC_ALLOW; 0 for copies */
};

struct job_seccomp {
	uint32_t n;
	struct job_seccomp_filter *f;  /* oldest first: the order to install */
};

/* Copy pid's filters. *out is NULL when pid has none. Refused, with a
 * sentence in err: strict mode (1), a process already being traced (a
 * debugger is never disturbed), a kernel without the ptrace request, a
 * process that does not stop within a few seconds (a paused job). */
int job_seccomp_capture(pid_t pid, struct job_seccomp **out, char *err);
void job_seccomp_free(struct job_seccomp *s);

/* Records: an array of base64 strings, one filter each, oldest first. */
json_object *job_seccomp_to_json(const struct job_seccomp *s);
int job_seccomp_from_json(json_object *arr, struct job_seccomp **out, char *err);

/* Install every filter into the calling process. */
int job_seccomp_install(const struct job_seccomp *s, char *err);

#endif
