/* The monitor's totals for its connection (routeq.h tallies): bytes on the
 * wire as the kernel counts them, and failed job-side starts. The monitor
 * keeps a descriptor of the connection for TCP_INFO alone: it never reads
 * from it, and closes it as soon as the child has ended, so the client
 * sees the connection close when the child closes it. Totals go out every
 * few seconds while they move, without waiting on the daemon: a lost one
 * is made good by the next. */
#include "monitor_int.h"

#include <linux/tcp.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TALLY_INTERVAL_MS 5000

void montally_start(struct mon *m, int fd)
{
	m->conn_fd = fd;
	m->tally_at = mono_ms() + TALLY_INTERVAL_MS;
}

int montally_timeout(const struct mon *m)
{
	long long left = m->tally_at - mono_ms();

	if (m->conn_fd < 0)
		return -1;
	return left < 0 ? 0 : (int)left;
}

static void send_totals(struct mon *m, bool always)
{
	struct routeq_tally t = m->tallied;
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	char err[ERRLEN];

	memset(&ti, 0, sizeof(ti));
	/* tcpi_bytes_received is the later of the two fields (Linux 4.1). */
	if (m->conn_fd >= 0 && getsockopt(m->conn_fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
	    len >= offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(ti.tcpi_bytes_received)) {
		t.bytes_in = ti.tcpi_bytes_received;
		t.bytes_out = ti.tcpi_bytes_acked;
	}
	t.spawn_failures = m->spawn_failures;
	if (!always && memcmp(&t, &m->tallied, sizeof(t)) == 0)
		return;
	if (m->daemon_fd >= 0 && routeq_send_tally(m->daemon_fd, &t, err) == 0)
		m->tallied = t;
}

void montally_tick(struct mon *m)
{
	if (montally_timeout(m) != 0)
		return;
	send_totals(m, false);
	m->tally_at = mono_ms() + TALLY_INTERVAL_MS;
}

void montally_end(struct mon *m)
{
	send_totals(m, false);
	if (m->conn_fd >= 0)
		close(m->conn_fd);
	m->conn_fd = -1;
}
