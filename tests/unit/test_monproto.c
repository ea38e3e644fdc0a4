/* The monitor's parser of its network child's records (monproto.c), and
 * fd passing: what a compromised child could send must be refused. */
#include "test_util.h"
#include "monproto.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>

static int parse(struct mon_buf *b, struct mon_request *rq)
{
	char err[ERRLEN];
	int r;

	assert_false(b->failed);
	r = monproto_parse_request(b->p, b->len, rq, err);
	mon_buf_free(b);
	return r;
}

static void spawn_head(struct mon_buf *b, uint32_t kind, const char *term, uint32_t cols)
{
	mon_buf_init(b, MON_SPAWN);
	mon_put_u32(b, 7);
	mon_put_u32(b, kind);
	mon_put_u32(b, 1);
	mon_put_str(b, term);
	mon_put_u32(b, cols);
	mon_put_u32(b, 24);
	mon_put_u32(b, 0);
	mon_put_u32(b, 0);
}

static void test_spawn_round_trip(void **state)
{
	struct mon_request rq;
	struct mon_buf b;

	(void)state;
	spawn_head(&b, MON_SPAWN_EXEC, "xterm-256color", 132);
	mon_put_u32(&b, 1);
	mon_put_str(&b, "ls -l");
	mon_put_u32(&b, 2);
	mon_put_str(&b, "LANG=C.UTF-8");
	mon_put_str(&b, "LC_X=a=b");
	assert_int_equal(parse(&b, &rq), 0);
	assert_int_equal(rq.type, MON_SPAWN);
	assert_int_equal(rq.id, 7);
	assert_true(rq.pty);
	assert_string_equal(rq.term, "xterm-256color");
	assert_int_equal(rq.ws.ws_col, 132);
	assert_string_equal(rq.command, "ls -l");
	assert_string_equal(rq.env[1], "LC_X=a=b");
	assert_null(rq.env[2]);
	monproto_request_clear(&rq);
}

static void listen_rec(struct mon_buf *b, uint32_t kind, const char *host, uint32_t port, const char *proto,
		       const char *cookie)
{
	mon_buf_init(b, MON_LISTEN);
	mon_put_u32(b, 9);
	mon_put_u32(b, kind);
	mon_put_u32(b, 3);
	mon_put_str(b, host);
	mon_put_u32(b, port);
	mon_put_str(b, proto);
	mon_put_str(b, cookie);
	mon_put_u32(b, 0);
}

/* Listen requests (ssh -R, -A, -X) as a compromised child might word them. */
static void test_listen_requests(void **state)
{
	struct mon_request rq;
	struct mon_buf b;

	(void)state;
	listen_rec(&b, MON_LISTEN_TCP, "localhost", 8080, "", "");
	assert_int_equal(parse(&b, &rq), 0);
	assert_int_equal(rq.type, MON_LISTEN);
	assert_int_equal(rq.listen_kind, MON_LISTEN_TCP);
	assert_string_equal(rq.text, "localhost");
	assert_int_equal(rq.port, 8080);
	monproto_request_clear(&rq);
	listen_rec(&b, MON_LISTEN_X11, "", 0, "MIT-MAGIC-COOKIE-1", "00ff11ee");
	assert_int_equal(parse(&b, &rq), 0);
	assert_string_equal(rq.x11_cookie, "00ff11ee");
	assert_int_equal(rq.channel, 3);
	monproto_request_clear(&rq);
	listen_rec(&b, 3, "", 0, "", "");                       /* no such kind */
	assert_int_equal(parse(&b, &rq), -EBADMSG);
	listen_rec(&b, MON_LISTEN_TCP, "", 65536, "", "");      /* not a port */
	assert_int_equal(parse(&b, &rq), -EBADMSG);
	listen_rec(&b, MON_LISTEN_X11, "", 0, "MIT MAGIC", "00"); /* a protocol name with a blank */
	assert_int_equal(parse(&b, &rq), -EBADMSG);
	listen_rec(&b, MON_LISTEN_X11, "", 0, "MIT-MAGIC-COOKIE-1", "0g"); /* not hex */
	assert_int_equal(parse(&b, &rq), -EBADMSG);
	listen_rec(&b, MON_LISTEN_X11, "", 0, "MIT-MAGIC-COOKIE-1", "abc"); /* odd length */
	assert_int_equal(parse(&b, &rq), -EBADMSG);
	mon_buf_init(&b, MON_UNLISTEN);
	mon_put_u32(&b, 9);
	assert_int_equal(parse(&b, &rq), 0);
	assert_int_equal(rq.type, MON_UNLISTEN);
	monproto_request_clear(&rq);
	/* The connection is about to close: no payload, and none allowed. */
	mon_buf_init(&b, MON_ENDING);
	assert_int_equal(parse(&b, &rq), 0);
	assert_int_equal(rq.type, MON_ENDING);
	monproto_request_clear(&rq);
	mon_buf_init(&b, MON_ENDING);
	mon_put_u32(&b, 1);
	assert_int_equal(parse(&b, &rq), -EBADMSG);
}

static void test_bad_spawns(void **state)
{
	struct mon_request rq;
	struct mon_buf b;

	(void)state;
	/* A shell with a command, a command without one, a huge window. */
	spawn_head(&b, MON_SPAWN_SHELL, "", 80);
	mon_put_u32(&b, 1);
	mon_put_str(&b, "id");
	mon_put_u32(&b, 0);
	assert_int_equal(parse(&b, &rq), -EBADMSG);
	spawn_head(&b, MON_SPAWN_EXEC, "", 80);
	mon_put_u32(&b, 0);
	mon_put_u32(&b, 0);
	assert_int_equal(parse(&b, &rq), -EBADMSG);
	spawn_head(&b, MON_SPAWN_SHELL, "", 10001);
	mon_put_u32(&b, 0);
	mon_put_u32(&b, 0);
	assert_int_equal(parse(&b, &rq), -EBADMSG);
	/* A control byte in the terminal name, an unknown kind. */
	spawn_head(&b, MON_SPAWN_SHELL, "x\ty", 80);
	mon_put_u32(&b, 0);
	mon_put_u32(&b, 0);
	assert_int_equal(parse(&b, &rq), -EBADMSG);
	spawn_head(&b, MON_SPAWN_TOOLBOX + 1, "", 80);
	mon_put_u32(&b, 0);
	mon_put_u32(&b, 0);
	assert_int_equal(parse(&b, &rq), -EBADMSG);
	/* The toolbox takes no command, like a shell. */
	spawn_head(&b, MON_SPAWN_TOOLBOX, "", 80);
	mon_put_u32(&b, 0);
	mon_put_u32(&b, 0);
	assert_int_equal(parse(&b, &rq), 0);
	monproto_request_clear(&rq);
	spawn_head(&b, MON_SPAWN_TOOLBOX, "", 80);
	mon_put_u32(&b, 1);
	mon_put_str(&b, "ls");
	mon_put_u32(&b, 0);
	assert_int_equal(parse(&b, &rq), -EBADMSG);
	/* Too many env entries, an entry without '='. */
	spawn_head(&b, MON_SPAWN_SHELL, "", 80);
	mon_put_u32(&b, 0);
	mon_put_u32(&b, MON_ENV_MAX + 1);
	assert_int_equal(parse(&b, &rq), -EBADMSG);
	spawn_head(&b, MON_SPAWN_SHELL, "", 80);
	mon_put_u32(&b, 0);
	mon_put_u32(&b, 1);
	mon_put_str(&b, "NOEQUALS");
	assert_int_equal(parse(&b, &rq), -EBADMSG);
}

static void test_auth_key_must_be_base64(void **state)
{
	const char *bad[] = { "", "abc", "ab=c", "a===", "abc!", "=abc" };
	struct mon_request rq;
	struct mon_buf b;

	(void)state;
	mon_buf_init(&b, MON_AUTH_CLAIM);
	mon_put_str(&b, "root");
	mon_put_str(&b, "AAAAC3NzaC1lZDI1NTE5AAAAIA==");
	assert_int_equal(parse(&b, &rq), 0);
	assert_string_equal(rq.text, "root");
	monproto_request_clear(&rq);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		mon_buf_init(&b, MON_AUTH_PROBE);
		mon_put_str(&b, "root");
		mon_put_str(&b, bad[i]);
		assert_int_equal(parse(&b, &rq), -EBADMSG);
	}
}

/* A spare's hand-over: only an empty MON_CONNECTION with one fd is a
 * connection. */
static void test_recv_connection(void **state)
{
	struct mon_buf b;
	int sp[2], fd;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp), 0);
	mon_buf_init(&b, MON_CONNECTION);
	assert_int_equal(mon_send(sp[0], &b, &sp[0], 1), 0);
	mon_buf_free(&b);
	fd = mon_recv_connection(sp[1]);
	assert_true(fd >= 0);
	close(fd);
	mon_buf_init(&b, MON_CONNECTION);           /* without its fd */
	assert_int_equal(mon_send(sp[0], &b, NULL, 0), 0);
	mon_buf_free(&b);
	assert_int_equal(mon_recv_connection(sp[1]), -EPROTO);
	mon_buf_init(&b, MON_CONNECTION);           /* trailing bytes */
	mon_put_u32(&b, 0);
	assert_int_equal(mon_send(sp[0], &b, &sp[0], 1), 0);
	mon_buf_free(&b);
	assert_int_equal(mon_recv_connection(sp[1]), -EPROTO);
	mon_buf_init(&b, MON_SETUP);                /* another record, with an fd */
	mon_put_u32(&b, 0);
	assert_int_equal(mon_send(sp[0], &b, &sp[0], 1), 0);
	mon_buf_free(&b);
	assert_int_equal(mon_recv_connection(sp[1]), -EPROTO);
	mon_buf_init(&b, MON_CLOSE);
	assert_int_equal(mon_send(sp[0], &b, NULL, 0), 0);
	mon_buf_free(&b);
	assert_int_equal(mon_recv_connection(sp[1]), -EPIPE);
	close(sp[0]);
	assert_int_equal(mon_recv_connection(sp[1]), -EPIPE);
	close(sp[1]);
}

static void test_truncated_trailing_unknown(void **state)
{
	struct mon_request rq;
	struct mon_buf b;
	char err[ERRLEN];

	(void)state;
	mon_buf_init(&b, MON_SIGNAL);
	mon_put_u32(&b, 1);
	mon_put_u32(&b, 15);
	mon_put_u32(&b, 0);            /* trailing */
	assert_int_equal(parse(&b, &rq), -EBADMSG);
	mon_buf_init(&b, MON_SIGNAL);
	mon_put_u32(&b, 1);            /* no signal */
	assert_int_equal(parse(&b, &rq), -EBADMSG);
	mon_buf_init(&b, MON_SIGNAL);
	mon_put_u32(&b, 1);
	mon_put_u32(&b, 65);           /* no such signal */
	assert_int_equal(parse(&b, &rq), -EBADMSG);
	mon_buf_init(&b, MON_SETUP);   /* a monitor->child type */
	assert_int_equal(parse(&b, &rq), -EBADMSG);
	mon_buf_init(&b, MON_CONNECT);
	mon_put_u32(&b, 1);
	mon_put_str(&b, "host");
	mon_put_u32(&b, 65536);
	assert_int_equal(parse(&b, &rq), -EBADMSG);
	mon_buf_init(&b, MON_LOG);
	mon_put_u32(&b, 6);
	mon_put_bytes(&b, "a\0b", 3);  /* NUL inside a string */
	assert_int_equal(parse(&b, &rq), -EBADMSG);
	/* A length that points past the end. */
	mon_buf_init(&b, MON_LOG);
	mon_put_u32(&b, 6);
	mon_put_u32(&b, 1000);
	assert_int_equal(parse(&b, &rq), -EBADMSG);
	assert_int_equal(monproto_parse_request("", 0, &rq, err), -EBADMSG);
}

static void test_setup_round_trip(void **state)
{
	char *env[] = { "LANG", "LC_*", NULL };
	struct mon_setup in = {
		.uid = 2147418113, .gid = 2147418113, .monitor_pid = 42, .empty_dir = "/run/x/empty",
		.log_level = "info", 
		.algo = { .kex = "k", .ciphers = "c", .macs = "m", .host_keys = "h", .pubkeys = "p" },
		.max_sessions = 16, .rekey_data_hi = 1, .rekey_data_lo = 2, .n_hostkeys = 2, .accept_env = env,
	}, out;
	struct mon_buf b;
	char err[ERRLEN];

	(void)state;
	monproto_setup_build(&b, &in);
	assert_int_equal(monproto_setup_parse(b.p, b.len, &out, err), 0);
	assert_int_equal(out.uid, 2147418113u);
	assert_string_equal(out.empty_dir, "/run/x/empty");
	assert_int_equal(out.rekey_data_lo, 2);
	assert_string_equal(out.accept_env[1], "LC_*");
	assert_null(out.accept_env[2]);
	monproto_setup_clear(&out);
	assert_int_equal(monproto_setup_parse(b.p, b.len - 1, &out, err), -EBADMSG);
	mon_buf_free(&b);
}

/* The monitor takes no fds: any that come are closed and reported. */
static void test_fds_upward_are_refused(void **state)
{
	static unsigned char buf[MON_MSG_MAX];
	int sp[2], fd = open("/dev/null", O_RDONLY), nfds = 0, got[3];
	struct mon_buf b;
	ssize_t n;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp), 0);
	mon_buf_init(&b, MON_HANGUP);
	mon_put_u32(&b, 1);
	assert_int_equal(mon_send(sp[1], &b, &fd, 1), 0);
	n = mon_recv(sp[0], buf, NULL, 0, &nfds, 0);
	assert_true(n > 0);
	assert_int_equal(nfds, -1);
	/* The child takes up to three. */
	assert_int_equal(mon_send(sp[1], &b, &fd, 1), 0);
	n = mon_recv(sp[0], buf, got, 3, &nfds, 0);
	assert_int_equal(nfds, 1);
	close(got[0]);
	mon_buf_free(&b);
	close(fd);
	close(sp[0]);
	close(sp[1]);
}

static void test_oversized_record_is_cut(void **state)
{
	static unsigned char buf[MON_MSG_MAX];
	unsigned char *big = calloc(1, MON_MSG_MAX + 16);
	int sp[2], nfds, sz = 4 * MON_MSG_MAX;
	struct mon_buf b = { .p = big, .len = MON_MSG_MAX + 16, .cap = MON_MSG_MAX + 16 };

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp), 0);
	setsockopt(sp[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	big[0] = MON_LOG;
	assert_int_equal(mon_send(sp[1], &b, NULL, 0), 0);
	assert_int_equal(mon_recv(sp[0], buf, NULL, 0, &nfds, 0), -EMSGSIZE);
	/* Building one refuses to go past the limit. */
	mon_buf_init(&b, MON_LOG);
	mon_put_u32(&b, 6);
	mon_put_bytes(&b, big, MON_MSG_MAX);
	assert_true(b.failed);
	mon_buf_free(&b);
	free(big);
	close(sp[0]);
	close(sp[1]);
}

static void test_client_signals(void **state)
{
	(void)state;
	assert_int_equal(monproto_signal_number("TERM"), SIGTERM);
	assert_int_equal(monproto_signal_number("USR2"), SIGUSR2);
	assert_int_equal(monproto_signal_number("STOP"), 0);
	assert_int_equal(monproto_signal_number(NULL), 0);
	assert_true(monproto_signal_allowed(SIGKILL));
	assert_false(monproto_signal_allowed(SIGSTOP));
	assert_false(monproto_signal_allowed(0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spawn_round_trip),
		cmocka_unit_test(test_bad_spawns),
		cmocka_unit_test(test_listen_requests),
		cmocka_unit_test(test_auth_key_must_be_base64),
		cmocka_unit_test(test_truncated_trailing_unknown),
		cmocka_unit_test(test_recv_connection),
		cmocka_unit_test(test_setup_round_trip),
		cmocka_unit_test(test_fds_upward_are_refused),
		cmocka_unit_test(test_oversized_record_is_cut),
		cmocka_unit_test(test_client_signals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
