#include "jobseccomp.h"
#include "procinfo.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* A process that does not stop within this long is not waited for (a
 * frozen cgroup, for one): the add fails rather than stall the daemon. */
#define CAPTURE_TIMEOUT_MS 2000

/* ---- in the helper, the tracer for a moment ---- */

struct capture {
	uint32_t n, total, lens[JOB_SECCOMP_MAX_FILTERS];
	struct sock_filter insns[JOB_SECCOMP_MAX_INSNS];
};

/* Seize and interrupt pid; *sig is the signal it stopped for, to hand back
 * on detach (0 for the interrupt's own stop). */
static int tracee_stop(pid_t pid, int *sig)
{
	int st;

	if (ptrace(PTRACE_SEIZE, pid, 0, 0) < 0 || ptrace(PTRACE_INTERRUPT, pid, 0, 0) < 0)
		return -errno;
	for (;;) {
		pid_t w = waitpid(pid, &st, __WALL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (!WIFSTOPPED(st))
			return -ESRCH;
		*sig = (st >> 16) == PTRACE_EVENT_STOP ? 0 : WSTOPSIG(st);
		return 0;
	}
}

/* Index 0 is the filter installed last. */
static int copy_filters(pid_t pid, struct capture *c)
{
	for (long i = 0;; i++) {
		long len = ptrace(PTRACE_SECCOMP_GET_FILTER, pid, i, NULL);

		if (len < 0)
			return errno == ENOENT && i > 0 ? 0 : -errno;
		if (len == 0 || len > BPF_MAXINSNS || c->n == JOB_SECCOMP_MAX_FILTERS ||
		    c->total + (uint32_t)len > JOB_SECCOMP_MAX_INSNS)
			return -E2BIG;
		if (ptrace(PTRACE_SECCOMP_GET_FILTER, pid, i, c->insns + c->total) != len)
			return -EIO;
		c->lens[c->n++] = (uint32_t)len;
		c->total += (uint32_t)len;
	}
}

/* Answers on fd: an int (0 or -errno), then the capture when 0. */
static void __attribute__((noreturn)) capture_main(pid_t pid, int fd)
{
	static struct capture c;
	int sig = 0, r = tracee_stop(pid, &sig);

	if (r == 0) {
		r = copy_filters(pid, &c);
		/* The job goes on as before, with any signal it stopped for. */
		ptrace(PTRACE_DETACH, pid, 0, sig);
	}
	if (write_all(fd, &r, sizeof(r)) < 0 ||
	    (r == 0 && write_all(fd, &c, offsetof(struct capture, insns) + c.total * sizeof(c.insns[0])) < 0))
		_exit(1);
	_exit(0);
}

/* ---- in the daemon ---- */

static ssize_t read_answer(int fd, void *buf, size_t len)
{
	long long deadline = mono_ms() + CAPTURE_TIMEOUT_MS;
	size_t got = 0;

	while (got < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long long left = deadline - mono_ms();
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return -ETIMEDOUT;
		n = read(fd, (char *)buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

static int describe(pid_t pid, int r, char *err)
{
	switch (r) {
	case -ETIMEDOUT:
		return errf(err, r, "process %d did not stop within %d s to have its seccomp filters copied (is the job paused?)",
			    (int)pid, CAPTURE_TIMEOUT_MS / 1000);
	case -ESRCH:
		return errf(err, r, "process %d ended while its seccomp filters were copied", (int)pid);
	case -E2BIG:
		return errf(err, r, "process %d has more seccomp filters than peon-sshd carries (%d filters, %d instructions)",
			    (int)pid, JOB_SECCOMP_MAX_FILTERS, JOB_SECCOMP_MAX_INSNS);
	case -EACCES:
		return errf(err, r, "the kernel hands out seccomp filters only to a process under none, and peon-sshd "
				    "runs under one (a SystemCallFilter= or similar in its service unit?)");
	case -EINVAL:
	case -EIO:
		return errf(err, r, "this kernel does not hand out seccomp filters (PTRACE_SECCOMP_GET_FILTER needs "
				    "CONFIG_CHECKPOINT_RESTORE), so the job's filters cannot be carried into its shells");
	default:
		return errf(err, r, "cannot copy the seccomp filters of process %d: %s", (int)pid, strerror(-r));
	}
}

static int from_capture(const struct capture *c, struct job_seccomp **out)
{
	struct job_seccomp *s = calloc(1, sizeof(*s));
	uint32_t off = 0;

	if (!s || !(s->f = calloc(c->n, sizeof(*s->f)))) {
		free(s);
		return -ENOMEM;
	}
	s->n = c->n;
	for (uint32_t i = 0; i < c->n; i++) {
		struct job_seccomp_filter *f = &s->f[c->n - 1 - i];

		f->len = c->lens[i];
		f->insns = malloc(f->len * sizeof(*f->insns));
		if (!f->insns) {
			job_seccomp_free(s);
			return -ENOMEM;
		}
		memcpy(f->insns, c->insns + off, f->len * sizeof(*f->insns));
		off += f->len;
	}
	*out = s;
	return 0;
}

static int run_helper(pid_t pid, struct capture *c)
{
	int p[2], r = -EIO, st;
	ssize_t n;
	pid_t h;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	h = fork();
	if (h == 0) {
		close(p[0]);
		capture_main(pid, p[1]);
	}
	close(p[1]);
	if (h < 0) {
		close(p[0]);
		return -errno;
	}
	n = read_answer(p[0], &r, sizeof(r));
	if (n == sizeof(r) && r == 0) {
		n = read_answer(p[0], c, offsetof(struct capture, insns));
		if (n != (ssize_t)offsetof(struct capture, insns) || c->n > JOB_SECCOMP_MAX_FILTERS ||
		    c->total > JOB_SECCOMP_MAX_INSNS)
			r = n < 0 ? (int)n : -EIO;
		else if (read_answer(p[0], c->insns, c->total * sizeof(c->insns[0])) !=
			 (ssize_t)(c->total * sizeof(c->insns[0])))
			r = -EIO;
	} else if (n != sizeof(r)) {
		r = n < 0 ? (int)n : -EIO;
	}
	close(p[0]);
	/* Killing the tracer detaches it: the job runs on. */
	kill(h, SIGKILL);
	while (waitpid(h, &st, 0) < 0 && errno == EINTR)
		;
	return r;
}

int job_seccomp_capture(pid_t pid, struct job_seccomp **out, char *err)
{
	static struct capture c;
	struct proc_status st;
	int r = procinfo_read_status(pid, &st);

	*out = NULL;
	if (r < 0)
		return errf(err, r, "cannot read the status of process %d: %s", (int)pid, strerror(-r));
	if (st.seccomp_mode == 0)
		return 0;
	if (st.seccomp_mode != 2)
		return errf(err, -EPERM, "process %d runs in seccomp strict mode, under which no shell can run",
			    (int)pid);
	if (st.tracer)
		return errf(err, -EBUSY,
			    "process %d is being traced by process %d (a debugger?), and peon-sshd never stops a traced "
			    "process to copy its seccomp filters: add the execution with --pid of another process of "
			    "the job, or once the tracer has detached", (int)pid, (int)st.tracer);
	memset(&c, 0, offsetof(struct capture, insns));
	r = run_helper(pid, &c);
	if (r < 0)
		return describe(pid, r, err);
	r = from_capture(&c, out);
	return r < 0 ? errf(err, r, "out of memory copying seccomp filters") : 0;
}

void job_seccomp_free(struct job_seccomp *s)
{
	if (!s)
		return;
	for (uint32_t i = 0; i < s->n; i++)
		free(s->f[i].insns);
	free(s->f);
	free(s);
}

/* ---- records ---- */

json_object *job_seccomp_to_json(const struct job_seccomp *s)
{
	json_object *a = json_object_new_array();

	for (uint32_t i = 0; s && i < s->n; i++) {
		size_t bytes = s->f[i].len * sizeof(struct sock_filter);
		char *b64 = malloc(4 * ((bytes + 2) / 3) + 1);

		if (!b64) {
			json_object_put(a);
			return NULL;
		}
		EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)s->f[i].insns, (int)bytes);
		json_object_array_add(a, json_object_new_string(b64));
		free(b64);
	}
	return a;
}

static int filter_from_b64(const char *b64, size_t len, struct job_seccomp_filter *f, uint32_t *total, char *err)
{
	size_t max = JOB_SECCOMP_MAX_INSNS * sizeof(struct sock_filter), pad = 0;
	unsigned char *raw;
	int n;

	if (len == 0 || len % 4 || len / 4 * 3 > max + 2)
		return errf(err, -EINVAL, "a seccomp filter is not base64 of a whole program");
	for (size_t i = len; i > 0 && b64[i - 1] == '=' && pad < 2; i--)
		pad++;
	raw = malloc(len / 4 * 3);
	if (!raw)
		return -ENOMEM;
	n = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)len);
	if (n < 0 || (size_t)n < pad || ((size_t)n - pad) % sizeof(struct sock_filter)) {
		free(raw);
		return errf(err, -EINVAL, "a seccomp filter is not base64 of a whole program");
	}
	f->len = (uint32_t)(((size_t)n - pad) / sizeof(struct sock_filter));
	if (f->len == 0 || f->len > BPF_MAXINSNS || *total + f->len > JOB_SECCOMP_MAX_INSNS) {
		free(raw);
		return errf(err, -E2BIG, "a seccomp filter has %u instructions: at most %d per filter and %d in all",
			    f->len, BPF_MAXINSNS, JOB_SECCOMP_MAX_INSNS);
	}
	*total += f->len;
	f->insns = (struct sock_filter *)raw;
	return 0;
}

int job_seccomp_from_json(json_object *arr, struct job_seccomp **out, char *err)
{
	struct job_seccomp *s;
	uint32_t total = 0;
	size_t n;

	*out = NULL;
	if (!json_object_is_type(arr, json_type_array))
		return errf(err, -EINVAL, "seccomp must be an array of filters");
	n = json_object_array_length(arr);
	if (n == 0)
		return 0;
	if (n > JOB_SECCOMP_MAX_FILTERS)
		return errf(err, -E2BIG, "%zu seccomp filters: at most %d", n, JOB_SECCOMP_MAX_FILTERS);
	if (!(s = calloc(1, sizeof(*s))) || !(s->f = calloc(n, sizeof(*s->f)))) {
		free(s);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		json_object *v = json_object_array_get_idx(arr, i);
		int r;

		if (!json_object_is_type(v, json_type_string)) {
			job_seccomp_free(s);
			return errf(err, -EINVAL, "seccomp filter #%zu is not a string", i + 1);
		}
		r = filter_from_b64(json_object_get_string(v), (size_t)json_object_get_string_len(v), &s->f[i],
				    &total, err);
		if (r < 0) {
			job_seccomp_free(s);
			return r;
		}
		s->n++;
	}
	*out = s;
	return 0;
}

/* ---- in the process about to run in the job ---- */

int job_seccomp_install(const struct job_seccomp *s, char *err)
{
	for (uint32_t i = 0; s && i < s->n; i++) {
		struct sock_fprog prog = { .len = (unsigned short)s->f[i].len, .filter = s->f[i].insns };

		if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, s->f[i].flags, &prog) < 0)
			return errf(err, -errno, "cannot install the job's seccomp filter %u of %u: %s", i + 1, s->n,
				    strerror(errno));
	}
	return 0;
}
