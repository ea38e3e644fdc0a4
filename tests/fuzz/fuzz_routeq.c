/* A routing question as the daemon reads it from a session process (which
 * parsed network data before asking: treat every byte as hostile). */
#include "routeq.h"
#include "util.h"

#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct routeq_question q;
	char err[ERRLEN];
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv) < 0)
		return 0;
	if (send(sv[0], data, size, MSG_NOSIGNAL) == (ssize_t)size)
		routeq_read_question(sv[1], &q, err);
	close(sv[0]);
	close(sv[1]);
	return 0;
}
