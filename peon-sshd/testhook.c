/* Test-only: see testhook.h. Compiled to nothing without PEON_TEST_HOOKS. */
#ifdef PEON_TEST_HOOKS
#include "monclient.h"
#include "monproto.h"
#include "session_int.h"
#include "testhook.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void send_rec(struct mon_buf *b, int fd)
{
	monc_raw(b->p, b->len, fd);
	mon_buf_free(b);
}

void testhook_preauth(struct sess *ss, const char *user)
{
	struct mon_buf b;

	if (!user)
		return;
	if (strcmp(user, "peon-test-open") == 0) {
		int fd = open("/etc/hostname", O_RDONLY);

		log_full(LOG_NOTICE, &ss->lctx, "test hook: open /etc/hostname: %s", fd < 0 ? strerror(errno) : "opened");
		if (fd >= 0)
			close(fd);
	} else if (strcmp(user, "peon-test-socket") == 0) {
		log_full(LOG_NOTICE, &ss->lctx, "test hook: socket()");
		socket(AF_INET, SOCK_STREAM, 0);
		log_full(LOG_NOTICE, &ss->lctx, "test hook: socket() was allowed");
	} else if (strcmp(user, "peon-test-spawn-before-auth") == 0) {
		mon_buf_init(&b, MON_SPAWN);
		mon_put_u32(&b, 1);
		mon_put_u32(&b, MON_SPAWN_SHELL);
		mon_put_u32(&b, 0);
		mon_put_str(&b, "");
		for (int i = 0; i < 5; i++)
			mon_put_u32(&b, 0);
		mon_put_u32(&b, 0);
		send_rec(&b, -1);
	}
}

void testhook_postauth(struct sess *ss)
{
	const char *user = ss->user;
	struct mon_buf b;

	if (!user)
		return;
	if (strcmp(user, "peon-test-second-claim") == 0) {
		mon_buf_init(&b, MON_AUTH_CLAIM);
		mon_put_str(&b, user);
		mon_put_str(&b, "AAAAC3NzaC1lZDI1NTE5AAAAIA==");
		send_rec(&b, -1);
	} else if (strcmp(user, "peon-test-unknown-channel") == 0) {
		mon_buf_init(&b, MON_SIGNAL);
		mon_put_u32(&b, 999999);
		mon_put_u32(&b, 15);
		send_rec(&b, -1);
	} else if (strcmp(user, "peon-test-oversized") == 0) {
		unsigned char *big = calloc(1, MON_MSG_MAX + 1000);

		if (big) {
			big[0] = MON_LOG;
			monc_raw(big, MON_MSG_MAX + 1000, -1);
			free(big);
		}
	} else if (strcmp(user, "peon-test-fd-upward") == 0) {
		mon_buf_init(&b, MON_HANGUP);
		mon_put_u32(&b, 1);
		send_rec(&b, 0);
	}
}
#else
typedef int testhook_empty_unit;   /* ISO C: a translation unit is not empty */
#endif
