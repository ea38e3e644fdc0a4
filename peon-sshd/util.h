/* Small helpers shared by every module: bounded file I/O, number parsing,
 * string vectors and fd flags. */
#ifndef PEON_UTIL_H
#define PEON_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define ERRLEN 512
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Read at most max bytes of path into a NUL-terminated heap buffer.
 * Returns 0, -errno, or -EFBIG when the file is larger than max. */
int read_file(const char *path, size_t max, char **out, size_t *len);
/* Same, from an already-open fd (not closed). */
int read_fd(int fd, size_t max, char **out, size_t *len);
/* Replace path atomically (temp file, rename) with the given mode, so a
 * reader sees the old or the new content, never half of one. DURABLE also
 * syncs the data to disk before the rename, for state that must outlive a
 * crash of the machine; VOLATILE skips that wait for files that describe
 * running processes or are rebuilt anyway. */
enum durability { DURABLE, VOLATILE };
int write_file_atomic(const char *path, const char *data, size_t len, mode_t mode, enum durability dur);

/* Strict decimal parsing: no sign, no spaces, no trailing garbage. */
int parse_ulong(const char *s, unsigned long max, unsigned long *out);
/* A TCP port peon-sshd may serve: 1024-65535. -ERANGE outside. */
int parse_port(const char *s, int *out);
bool port_allowed(long port);

/* NULL-terminated string vectors. */
int strv_push(char ***v, size_t *n, const char *s);
void strv_free(char **v);
size_t strv_len(char *const *v);

int fd_set_nonblock(int fd, bool on);
int fd_set_cloexec(int fd, bool on);
/* write() everything, retrying on EINTR/short writes (blocking fds only). */
int write_all(int fd, const void *buf, size_t len);

/* Is the len bytes at name one whole entry of the comma-separated list
 * (which ends at NUL or a newline)? "a,bc" has "bc", not "b". */
bool list_has(const char *list, const char *name, size_t len);

/* Copy of untrusted text for logs: control bytes become '?', at most max bytes. */
char *str_printable(const char *s, size_t max);

/* Execution ids double as SSH usernames and file-name parts. */
#define EXECUTION_ID_MAX 128
bool execution_id_valid(const char *id);

struct sockaddr_storage;
/* "ip:port", "[ip6]:port"; IPv4-mapped IPv6 addresses as IPv4. */
void sockaddr_format(const struct sockaddr_storage *sa, char *out, size_t len);
/* The address alone (IPv4-mapped as IPv4) and the port. */
void sockaddr_split(const struct sockaddr_storage *sa, char *ip, size_t len, int *port);

/* Both ends of a connected socket, for logs and SSH_CONNECTION. */
struct endpoints {
	char remote_ip[64], local_ip[64];
	int remote_port, local_port;
	char remote[96];                 /* "ip:port", "[ip6]:port" */
};
void endpoints_read(int fd, struct endpoints *ep);

/* Wall-clock time in milliseconds (CLOCK_REALTIME): execution lifetimes. */
long long now_ms(void);
/* CLOCK_MONOTONIC in milliseconds: deadlines. */
long long mono_ms(void);
/* A forked child's signals back to their defaults, none blocked. */
void signals_reset(void);

/* An HTTP answer's body, grown up to max bytes and kept NUL-terminated:
 * bounded_body_write is a libcurl write callback (CURLOPT_WRITEFUNCTION,
 * CURLOPT_WRITEDATA = the struct). Past max it stops the transfer and
 * sets too_big; the caller frees buf. */
struct bounded_body {
	char *buf;
	size_t len, max;
	bool too_big;
};
size_t bounded_body_write(char *p, size_t sz, size_t n, void *u);

/* snprintf into err, returning code: lets callers write `return errf(...)`. */
int errf(char *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
