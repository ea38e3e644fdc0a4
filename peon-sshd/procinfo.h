/* What /proc says about the job's process: credentials, capabilities, start
 * time, id maps. Parsers take text so they are testable without a process. */
#ifndef PEON_PROCINFO_H
#define PEON_PROCINFO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#define PROC_MAX_GROUPS 256

struct proc_status {
	uid_t uid;                 /* effective */
	gid_t gid;
	gid_t groups[PROC_MAX_GROUPS];
	int n_groups;
	uint64_t cap_inh, cap_prm, cap_eff, cap_bnd, cap_amb;
	bool no_new_privs;
	int seccomp_mode;          /* 0 none, 1 strict, 2 filters ("Seccomp:") */
	pid_t tracer;              /* "TracerPid:", 0 when not traced */
	bool have_umask;           /* "Umask:" is there since Linux 4.7 */
	mode_t umask;
};

int procinfo_parse_status(const char *text, struct proc_status *st);

/* PF_KTHREAD of the kernel's include/linux/sched.h, in stat's flags. */
#define PROC_FLAG_KTHREAD 0x00200000UL

struct proc_stat {
	char comm[64];           /* as the kernel shows it (at most 15 bytes, or a kthread's longer name) */
	char state;              /* 'R', 'S', 'Z' (zombie), 'X' (dead), ... */
	unsigned long flags;     /* PF_* */
};
/* /proc/PID/stat: comm, state and flags. */
int procinfo_parse_stat(const char *text, struct proc_stat *out);
/* Field 22 of /proc/PID/stat; comm may hold spaces and parens. */
int procinfo_parse_starttime(const char *text, unsigned long long *out);

#define IDMAP_MAX 340
struct idmap {
	struct { unsigned long inside, outside, count; } e[IDMAP_MAX];
	int n;
};
/* Every resource limit of /proc/PID/limits; a limit the file does not
 * name (or cannot be parsed) is -EINVAL: nothing is guessed. */
struct proc_limits {
	struct rlimit lim[RLIM_NLIMITS];
};
int procinfo_parse_limits(const char *text, struct proc_limits *out);

int idmap_parse(const char *text, struct idmap *m);
/* Translate an id seen from the host into the namespace; -ERANGE if unmapped. */
int idmap_to_inside(const struct idmap *m, unsigned long host, unsigned long *inside);

/* Readers over /proc/PID. */
int procinfo_read_status(pid_t pid, struct proc_status *st);
int procinfo_read_starttime(pid_t pid, unsigned long long *out);
int procinfo_read_stat(pid_t pid, struct proc_stat *out);
int procinfo_read_limits(pid_t pid, struct proc_limits *out);
/* /proc/PID/oom_score_adj: -1000..1000. */
int procinfo_read_oom_score_adj(pid_t pid, int *out);
/* Is pid alive and still the process that started at starttime? */
bool procinfo_same_process(pid_t pid, unsigned long long starttime);
/* 1: pid's namespace of type ns ("net", "pid", ...) is not ours; 0: it is,
 * or this kernel has no such type; -errno: pid's cannot be read (a zombie
 * has none left, a process that is gone). Callers refuse on < 0: entering
 * nothing would leave the shell in our namespace. */
int procinfo_ns_differs(pid_t pid, const char *ns);

#endif
