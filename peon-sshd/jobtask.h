/* Short-lived operations inside an execution's job, on the "do it inside
 * the job" primitive (jobenter.h): a process forked from the monitor
 * enters the job (cgroups, namespaces, root, the job user's credentials,
 * capabilities and seccomp filters), does one thing and hands the result
 * back over a socket: a connected socket (direct-tcpip), listening sockets
 * (remote forwarding, X11), the agent socket, or the removal of what those
 * left in the job. Everything it makes is made as the job's user, so it
 * can do no more than the job itself could. */
#ifndef PEON_JOBTASK_H
#define PEON_JOBTASK_H

#include "registry.h"
#include "util.h"

#include <sys/types.h>

enum jobtask_kind { JT_CONNECT, JT_LISTEN_TCP, JT_LISTEN_AGENT, JT_LISTEN_X11, JT_CLEANUP };

struct jobtask {
	enum jobtask_kind kind;
	const char *host;            /* connect: the destination; listen: the bind address as sent */
	int port;                    /* connect, listen (0: any) */
	int gateway_ports;           /* listen: enum gateway_ports */
	int timeout_ms;              /* connect: resolve and connect within */
	int display_offset;          /* x11 */
	const char *x11_proto;       /* x11: "MIT-MAGIC-COOKIE-1" */
	const char *x11_cookie;      /* x11: hex, as the client sent it */
	int screen;
	const char *agent_name;      /* agent: the socket's file name */
	char *const *paths;          /* cleanup: files and sockets, then their directories */
};

struct jobtask_result {
	int fds[2];
	int nfds;
	int port;                    /* listen: the port bound; x11: the display number */
	char text[ERRLEN];           /* the error, or the path made (agent socket, Xauthority file) */
};

/* Start the task; returns at once with *sock readable when the answer is there. */
int jobtask_start(const struct execution *e, const struct jobtask *t, pid_t *pid, int *sock, char *err);
/* The answer: 0 with res filled, -EAGAIN not yet, or -errno with err saying why. */
int jobtask_result(int sock, struct jobtask_result *res, char *err);
/* Start and wait (at most timeout_ms); reaps the helper. For the cleanup. */
int jobtask_run(const struct execution *e, const struct jobtask *t, int timeout_ms, struct jobtask_result *res,
		char *err);

#endif
