/* The monitor's totals for its connection (routeq.h tallies): bytes on the
 * wire as the kernel counts them, and failed job-side starts. The monitor
 * never holds the client's socket (privilege separation: only the network
 * child does), so it asks the kernel about it by its addresses through
 * sock_diag (NETLINK_SOCK_DIAG, what ss(8) uses), pinned to the socket's
 * cookie after the first answer. Totals go out every few seconds while they
 * move, when a channel ends and at the end, without waiting on the daemon:
 * a lost one is made good by the next. */
#include "monitor_int.h"

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TALLY_INTERVAL_MS 5000

/* The inet_diag id of the connection fd as the kernel files it (src is
 * our end). */
void montally_start(struct mon *m, int fd)
{
	struct sockaddr_storage l, r;
	socklen_t ll = sizeof(l), rl = sizeof(r);
	struct inet_diag_sockid *id = &m->diag_id;

	memset(id, 0, sizeof(*id));
	m->diag_family = 0;
	m->tally_at = mono_ms() + TALLY_INTERVAL_MS;
	if (getsockname(fd, (struct sockaddr *)&l, &ll) < 0 || getpeername(fd, (struct sockaddr *)&r, &rl) < 0 ||
	    l.ss_family != r.ss_family)
		return;
	if (l.ss_family == AF_INET) {
		id->idiag_sport = ((struct sockaddr_in *)&l)->sin_port;
		id->idiag_dport = ((struct sockaddr_in *)&r)->sin_port;
		memcpy(id->idiag_src, &((struct sockaddr_in *)&l)->sin_addr, 4);
		memcpy(id->idiag_dst, &((struct sockaddr_in *)&r)->sin_addr, 4);
	} else if (l.ss_family == AF_INET6) {
		id->idiag_sport = ((struct sockaddr_in6 *)&l)->sin6_port;
		id->idiag_dport = ((struct sockaddr_in6 *)&r)->sin6_port;
		memcpy(id->idiag_src, &((struct sockaddr_in6 *)&l)->sin6_addr, 16);
		memcpy(id->idiag_dst, &((struct sockaddr_in6 *)&r)->sin6_addr, 16);
	} else {
		return;
	}
	id->idiag_cookie[0] = id->idiag_cookie[1] = INET_DIAG_NOCOOKIE;
	m->diag_family = l.ss_family;
}

int montally_timeout(const struct mon *m)
{
	long long left = m->tally_at - mono_ms();

	return left < 0 ? 0 : (int)left;
}

static bool parse_answer(struct mon *m, const char *buf, ssize_t n, struct tcp_info *ti)
{
	const struct nlmsghdr *nh = (const struct nlmsghdr *)buf;
	const struct inet_diag_msg *msg;
	const struct rtattr *a;
	int len;

	if (n < (ssize_t)NLMSG_LENGTH(sizeof(*msg)) || !NLMSG_OK(nh, (size_t)n) ||
	    nh->nlmsg_type != SOCK_DIAG_BY_FAMILY)
		return false;
	msg = NLMSG_DATA(nh);
	/* From now on only this very socket answers, not a later one on the same addresses. */
	memcpy(m->diag_id.idiag_cookie, msg->id.idiag_cookie, sizeof(m->diag_id.idiag_cookie));
	len = (int)(nh->nlmsg_len - NLMSG_LENGTH(sizeof(*msg)));
	for (a = (const struct rtattr *)(msg + 1); RTA_OK(a, len); a = RTA_NEXT(a, len))
		if (a->rta_type == INET_DIAG_INFO) {
			size_t got = RTA_PAYLOAD(a);

			memcpy(ti, RTA_DATA(a), got < sizeof(*ti) ? got : sizeof(*ti));
			/* tcpi_bytes_received is the later of the two fields (Linux 4.1). */
			return got >= offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(ti->tcpi_bytes_received);
		}
	return false;
}

/* The connection's tcp_info from the kernel; false when it has none (gone). */
static bool ask_kernel(struct mon *m, struct tcp_info *ti)
{
	struct {
		struct nlmsghdr nh;
		struct inet_diag_req_v2 r;
	} req = {
		.nh = { .nlmsg_len = sizeof(req), .nlmsg_type = SOCK_DIAG_BY_FAMILY, .nlmsg_flags = NLM_F_REQUEST },
		.r = { .sdiag_family = (__u8)m->diag_family, .sdiag_protocol = IPPROTO_TCP,
		       .idiag_ext = 1 << (INET_DIAG_INFO - 1), .idiag_states = ~0U, .id = m->diag_id },
	};
	char buf[8192] __attribute__((aligned(NLMSG_ALIGNTO)));
	struct timeval tv = { .tv_sec = 1 };
	bool ok = false;
	ssize_t n;
	int fd;

	if (!m->diag_family)
		return false;
	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return false;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	memset(ti, 0, sizeof(*ti));
	if (send(fd, &req, sizeof(req), 0) == (ssize_t)sizeof(req) && (n = recv(fd, buf, sizeof(buf), 0)) > 0)
		ok = parse_answer(m, buf, n, ti);
	close(fd);
	return ok;
}

void montally_send(struct mon *m)
{
	struct routeq_tally t = m->tallied;
	struct tcp_info ti;
	char err[ERRLEN];

	if (ask_kernel(m, &ti)) {
		t.bytes_in = ti.tcpi_bytes_received;
		t.bytes_out = ti.tcpi_bytes_acked;
	}
	t.spawn_failures = m->spawn_failures;
	m->tally_at = mono_ms() + TALLY_INTERVAL_MS;
	if (memcmp(&t, &m->tallied, sizeof(t)) == 0)
		return;
	if (m->daemon_fd >= 0 && routeq_send_tally(m->daemon_fd, &t, err) == 0)
		m->tallied = t;
}

void montally_tick(struct mon *m)
{
	if (montally_timeout(m) == 0)
		montally_send(m);
}
