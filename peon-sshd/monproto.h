/* The privilege-separation protocol between a connection's monitor (root)
 * and its network child (unprivileged, sandboxed, runs all of libssh).
 *
 * One SOCK_SEQPACKET record per message: a type byte, then fields in a
 * fixed order per type, each a u32 (big-endian) or a string (u32 length,
 * then the bytes, no NUL inside). File descriptors travel only from the
 * monitor to the child (SCM_RIGHTS on SPAWNED and CONNECTED); the monitor
 * treats any descriptor from the child as a protocol violation.
 *
 * The monitor parses what the child sends with monproto_parse_request():
 * bounds-checked, every field's length and range checked, trailing bytes
 * refused. It is fuzzed (tests/fuzz/fuzz_monproto.c). */
#ifndef PEON_MONPROTO_H
#define PEON_MONPROTO_H

#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/types.h>

/* Largest record either side sends or accepts: a command line of up to
 * 256 KiB (an SSH packet's worth) plus the rest of a spawn request. */
#define MON_MSG_MAX (264 * 1024)
#define MON_COMMAND_MAX (256 * 1024)
#define MON_USER_MAX 256
#define MON_BLOB_MAX 24576        /* an offered public key, base64: RSA 16384 bits is ~2.8 KiB */
#define MON_LOG_MAX 1000
#define MON_HOST_MAX 1025         /* a DNS name or address literal, as RFC 4254 carries it */
#define MON_TERM_MAX 63
#define MON_ENV_MAX 64            /* = ENV_CLIENT_MAX */
#define MON_ENV_ENTRY_MAX (64 + 1 + 4096)
#define MON_ERR_MAX 511
#define MON_PATH_MAX 4095
#define MON_X11_PROTO_MAX 64
#define MON_X11_COOKIE_MAX 512    /* hex: 256 bytes of cookie */

enum mon_type {
	/* child -> monitor */
	MON_LOG = 1,        /* prio, text */
	MON_AUTH_PROBE,     /* user, key blob (base64): may this key log in? */
	MON_AUTH_CLAIM,     /* user, key blob (base64): libssh verified the signature; once */
	MON_SPAWN,          /* id, kind, pty, term, cols, rows, xpixel, ypixel, command?, env[] */
	MON_SIGNAL,         /* id, signal number */
	MON_HANGUP,         /* id: the client closed the channel */
	MON_RELEASE,        /* id: the channel is gone; the id may be reused */
	MON_CONNECT,        /* id, host, port: direct-tcpip from inside the job */
	MON_LISTEN,         /* id, kind, channel, host, port, x11 protocol, x11 cookie, screen */
	MON_UNLISTEN,       /* id: the child closed that listener */
	MON_ENDING,         /* no payload: the connection closes next; the monitor counts its bytes now */
	MON_CHILD_LAST = MON_ENDING,
	/* monitor -> child */
	MON_SETUP = 64,     /* settings (see struct mon_setup) */
	MON_AUTH_ANSWER,    /* result, banner, execution id, key comment */
	MON_SPAWNED,        /* id, ok, error text; fds: pty master, or stdin, stdout, stderr */
	MON_EXITED,         /* id, wait status */
	MON_CONNECTED,      /* id, ok, error text; fd: the connected socket */
	MON_CLOSE,          /* access has ended (remove, kill, ttl): say goodbye and end */
	MON_LISTENING,      /* id, ok, error text, port (x11: display), path; fds: 1-2 listening sockets */
	MON_ENDED,          /* no payload: the answer to MON_ENDING */
	MON_CONNECTION,     /* no payload; fd: the client's connection. The daemon sends it to a
			     * spare monitor, which sends it on to its waiting child (spares.h) */
	/* job-side helper -> monitor (never on the child's socket) */
	MON_TASK_RESULT = 96,   /* ok, text (error or path), port; fds */
};

/* What a listener is for (MON_LISTEN). */
enum mon_listen_kind {
	MON_LISTEN_TCP,     /* tcpip-forward: host and port as the client sent them */
	MON_LISTEN_AGENT,   /* auth-agent-req: a unix socket in the job */
	MON_LISTEN_X11,     /* x11-req on session channel `channel` */
};

/* What a connection may do beyond a shell, decided by the monitor at the
 * claim from the configuration, the execution and the key's options; the
 * child is told, to refuse early with the reason, and the monitor checks
 * again on every request. */
enum mon_perm { PERM_LOCAL_FWD, PERM_REMOTE_FWD, PERM_AGENT, PERM_X11, PERM_PTY, PERM_N };

enum mon_spawn_kind { MON_SPAWN_SHELL, MON_SPAWN_EXEC, MON_SPAWN_SFTP, MON_SPAWN_TOOLBOX };

enum mon_auth_result {
	MON_AUTH_NO,        /* no execution on this port takes this key */
	MON_AUTH_OK,        /* probe: prove it with a signature; claim: logged in */
	MON_AUTH_REFUSED,   /* routed, but refused (ambiguous, a limit, not recordable): see banner */
	MON_AUTH_ERROR,     /* the monitor could not decide (daemon unreachable): refuse */
};

/* A request from the network child, parsed. Strings are NUL-terminated
 * copies owned by the struct (monproto_request_clear). */
struct mon_request {
	enum mon_type type;
	uint32_t id;
	uint32_t prio;              /* LOG */
	char *text;                 /* LOG text, AUTH user name, CONNECT host */
	char *key_b64;              /* AUTH: the offered key's blob in base64 (A-Z a-z 0-9 + / =) */
	uint32_t kind;              /* SPAWN: enum mon_spawn_kind */
	bool pty;
	char term[MON_TERM_MAX + 1];
	struct winsize ws;
	char *command;              /* SPAWN exec: the command */
	char **env;                 /* SPAWN: "NAME=value", NULL-terminated (never NULL after parse) */
	uint32_t sig;               /* SIGNAL */
	uint32_t port;              /* CONNECT, LISTEN */
	uint32_t listen_kind;       /* LISTEN: enum mon_listen_kind */
	uint32_t channel;           /* LISTEN x11: the session channel */
	char *x11_proto, *x11_cookie;   /* LISTEN x11 (cookie: lower-case hex) */
	uint32_t screen;
};

/* Parse one record from the child. 0, or -EBADMSG with err naming what was
 * wrong (an unknown type, a field too long, a bad value, trailing bytes). */
int monproto_parse_request(const void *buf, size_t len, struct mon_request *rq, char *err);
void monproto_request_clear(struct mon_request *rq);

/* The signals a client may send (RFC 4254 6.9): the child maps a name to
 * a number (0: not one), the monitor accepts only those numbers. */
int monproto_signal_number(const char *name);
bool monproto_signal_allowed(int sig);

/* ---- building records ---- */

struct mon_buf {
	unsigned char *p;
	size_t len, cap;
	bool failed;                /* out of memory or over MON_MSG_MAX: do not send */
};

void mon_buf_init(struct mon_buf *b, enum mon_type type);
void mon_put_u32(struct mon_buf *b, uint32_t v);
void mon_put_str(struct mon_buf *b, const char *s);
void mon_put_bytes(struct mon_buf *b, const void *p, size_t len);
void mon_buf_free(struct mon_buf *b);

/* Send one record (and up to 3 fds) on a blocking socket. -errno. */
int mon_send(int sock, struct mon_buf *b, const int *fds, int nfds);
/* Receive one record into buf (MON_MSG_MAX bytes). Fds that came with it go
 * to fds (close-on-exec), their number to *nfds; more than maxfds (the
 * monitor takes none) are all closed and *nfds is -1. Returns the length,
 * 0 at EOF, -EMSGSIZE when the record was cut, -EAGAIN, or another -errno. */
ssize_t mon_recv(int sock, void *buf, int *fds, int maxfds, int *nfds, int flags);
/* The next record on sock, which must be MON_CONNECTION, empty, with one
 * fd (a spare's hand-over, spares.h): the fd; -EPIPE when the sender
 * closed or said MON_CLOSE (the spare is not needed), -EPROTO for
 * anything else. */
int mon_recv_connection(int sock);

/* ---- reading records (the child reads the monitor's with these) ---- */

struct mon_reader {
	const unsigned char *p;
	size_t len, off;
	bool bad;
};

void mon_reader_init(struct mon_reader *r, const void *buf, size_t len);
uint32_t mon_get_u32(struct mon_reader *r);
/* A string of at most max bytes without NUL, copied into a new heap string
 * (NULL and r->bad on a bad or oversized field). */
char *mon_get_str(struct mon_reader *r, size_t max);
/* The whole record was read and nothing was wrong. */
bool mon_reader_done(const struct mon_reader *r);

/* The settings a network child needs, sent in MON_SETUP. */
struct mon_setup {
	uint32_t uid, gid;          /* its unprivileged identity */
	uint32_t monitor_pid;       /* its parent: checked after the parent-death signal is set */
	char *empty_dir;            /* its root */
	char *log_level;
	struct algorithms algo;
	uint32_t login_grace_time, max_auth_tries, max_sessions, max_forwards;
	uint32_t client_alive_interval, client_alive_count_max, rekey_time;
	uint32_t rekey_data_hi, rekey_data_lo;
	uint32_t n_hostkeys;        /* host key fds, from fd 3 on */
	uint32_t max_listeners;
	uint32_t unused_timeout;    /* seconds; 0 = off */
	uint32_t chan_timeout[IDLE_N];   /* seconds per enum chan_idle_kind (config.h); 0 = off */
	char **accept_env;          /* NULL-terminated */
};

void monproto_setup_build(struct mon_buf *b, const struct mon_setup *s);
int monproto_setup_parse(const void *buf, size_t len, struct mon_setup *s, char *err);
void monproto_setup_clear(struct mon_setup *s);

#endif
