/* ClientAliveInterval/CountMax with OpenSSH's semantics: after an interval
 * in which the client sent nothing, ask it for an answer (a keepalive
 * global request); after count_max unanswered intervals, close.
 *
 * "Sent nothing" is the kernel's count of bytes received on the connection
 * (TCP_INFO), not whether our poll saw the socket readable: libssh reads
 * the socket inside many calls (ssh_send_keepalive itself, channel writes,
 * flushes), and an answer consumed there never woke our poll, so a client
 * that answered every probe was closed about one time in five
 * (test_client_alive.py). The poll remains the fallback where the kernel
 * cannot say. */
#include "session_int.h"

#include <linux/tcp.h>
#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>

/* Bytes received from the client so far; false when the kernel cannot say. */
static bool bytes_received(int fd, unsigned long long *n)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 ||
	    len < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(ti.tcpi_bytes_received))
		return false;
	*n = ti.tcpi_bytes_received;
	return true;
}

int client_alive(struct sess *ss, long long now)
{
	long long iv = (long long)ss->cfg->limits.client_alive_interval * 1000;
	unsigned long long rx;
	long long due;

	if (iv <= 0)
		return -1;
	if (bytes_received(ss->fd, &rx) && rx != ss->rx_bytes) {
		ss->rx_bytes = rx;
		ss->last_rx_ms = now;
		ss->alive_probes = 0;
	}
	due = ss->last_rx_ms + iv * (ss->alive_probes + 1);
	if (now < due)
		return (int)(due - now);
	if (ss->alive_probes >= ss->cfg->limits.client_alive_count_max) {
		log_full(LOG_NOTICE, &ss->lctx, "closing: the client did not answer %d keepalives",
			 ss->alive_probes);
		ss->quit = true;
		return 0;
	}
	/* libssh 0.10 collects the answer to one keepalive at the next call,
	 * so two calls leave exactly one probe outstanding. */
	ssh_send_keepalive(ss->s);
	ssh_send_keepalive(ss->s);
	ss->alive_probes++;
	return (int)iv;
}
