#include "test_util.h"
#include "sftp.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/wait.h>

/* The server runs in a child over a socketpair, as in production over a pipe. */
struct peer {
	int fd;
	pid_t pid;
};

static struct peer start(void)
{
	int sv[2];
	struct peer p;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	p.pid = fork();
	if (p.pid == 0) {
		close(sv[0]);
		_exit(sftp_serve(sv[1], sv[1]));
	}
	close(sv[1]);
	p.fd = sv[0];
	return p;
}

static int finish(struct peer *p)
{
	int st;

	close(p->fd);
	waitpid(p->pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void put32(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)(v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static void send_raw(struct peer *p, const void *body, size_t len)
{
	uint8_t hdr[4];

	put32(hdr, (uint32_t)len);
	assert_int_equal(write(p->fd, hdr, 4), 4);
	assert_int_equal(write(p->fd, body, len), (ssize_t)len);
}

/* Read one reply; returns its type, body (after type) in buf. */
static int recv_reply(struct peer *p, uint8_t *buf, size_t cap, uint32_t *len)
{
	uint8_t hdr[4];
	size_t got = 0;

	if (read(p->fd, hdr, 4) != 4)
		return -1;
	*len = get32(hdr);
	assert_true(*len <= cap);
	while (got < *len) {
		ssize_t n = read(p->fd, buf + got, *len - got);
		assert_true(n > 0);
		got += (size_t)n;
	}
	return buf[0];
}

static uint32_t status_of(struct peer *p)
{
	uint8_t buf[4096];
	uint32_t len;

	assert_int_equal(recv_reply(p, buf, sizeof(buf), &len), 101);
	return get32(buf + 5);
}

static void init(struct peer *p)
{
	uint8_t pkt[5] = { 1 }, buf[4096];
	uint32_t len;

	put32(pkt + 1, 3);
	send_raw(p, pkt, sizeof(pkt));
	assert_int_equal(recv_reply(p, buf, sizeof(buf), &len), 2);
	assert_int_equal(get32(buf + 1), 3);
	assert_non_null(memmem(buf, len, "limits@openssh.com", 18));
}

static void test_version(void **state)
{
	struct peer p = start();

	(void)state;
	init(&p);
	assert_int_equal(finish(&p), 0);
}

static void test_bad_handle_and_unknown(void **state)
{
	struct peer p = start();
	uint8_t close_bad[] = { 4, 0, 0, 0, 7, 0, 0, 0, 3, '9', '9', '9' };
	uint8_t close_junk[] = { 4, 0, 0, 0, 8, 0, 0, 0, 2, 'x', 'y' };
	uint8_t unknown[] = { 99, 0, 0, 0, 9 };

	(void)state;
	init(&p);
	send_raw(&p, close_bad, sizeof(close_bad));
	assert_int_equal(status_of(&p), 4);    /* FAILURE: handle 999 out of range */
	send_raw(&p, close_junk, sizeof(close_junk));
	assert_int_equal(status_of(&p), 4);
	send_raw(&p, unknown, sizeof(unknown));
	assert_int_equal(status_of(&p), 8);    /* OP_UNSUPPORTED */
	assert_int_equal(finish(&p), 0);
}

static void test_string_past_packet_end(void **state)
{
	struct peer p = start();
	/* STAT id=1, path length 1000 but only 3 bytes follow. */
	uint8_t pkt[] = { 17, 0, 0, 0, 1, 0, 0, 3, 0xe8, 'a', 'b', 'c' };

	(void)state;
	init(&p);
	send_raw(&p, pkt, sizeof(pkt));
	assert_int_equal(status_of(&p), 5);    /* BAD_MESSAGE, then the session ends */
	assert_int_equal(finish(&p), 2);
}

static void test_embedded_nul_in_path(void **state)
{
	struct peer p = start();
	uint8_t pkt[] = { 17, 0, 0, 0, 1, 0, 0, 0, 5, '/', 'e', 0, 't', 'c' };

	(void)state;
	init(&p);
	send_raw(&p, pkt, sizeof(pkt));
	assert_int_equal(status_of(&p), 5);
	assert_int_equal(finish(&p), 2);
}

static void test_oversized_packet(void **state)
{
	struct peer p = start();
	uint8_t hdr[4];

	(void)state;
	init(&p);
	put32(hdr, SFTP_MAX_PACKET + 1);
	assert_int_equal(write(p.fd, hdr, 4), 4);
	assert_int_equal(finish(&p), 2);
}

static void test_truncated_packet(void **state)
{
	struct peer p = start();
	uint8_t hdr[4] = { 0, 0, 0, 50 }, part[10] = { 17 };

	(void)state;
	init(&p);
	assert_int_equal(write(p.fd, hdr, 4), 4);
	assert_int_equal(write(p.fd, part, sizeof(part)), (ssize_t)sizeof(part));
	assert_int_equal(finish(&p), 2);
}

static void test_write_read_roundtrip(void **state)
{
	char dir[] = "/tmp/peon-sftp-XXXXXX", path[64];
	struct peer p;
	uint8_t pkt[256], buf[4096], handle[16];
	uint32_t len, hl;
	size_t n;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/f", dir);
	p = start();
	init(&p);
	/* OPEN id=2 path pflags=READ|WRITE|CREAT|TRUNC attrs=0 */
	n = 0;
	pkt[n++] = 3;
	put32(pkt + n, 2), n += 4;
	put32(pkt + n, (uint32_t)strlen(path)), n += 4;
	memcpy(pkt + n, path, strlen(path)), n += strlen(path);
	put32(pkt + n, 1 | 2 | 8 | 0x10), n += 4;
	put32(pkt + n, 0), n += 4;
	send_raw(&p, pkt, n);
	assert_int_equal(recv_reply(&p, buf, sizeof(buf), &len), 102);
	hl = get32(buf + 5);
	assert_true(hl < sizeof(handle));
	memcpy(handle, buf + 9, hl);
	/* WRITE id=3 handle offset=0 data="hello" */
	n = 0;
	pkt[n++] = 6;
	put32(pkt + n, 3), n += 4;
	put32(pkt + n, hl), n += 4;
	memcpy(pkt + n, handle, hl), n += hl;
	put32(pkt + n, 0), put32(pkt + n + 4, 0), n += 8;
	put32(pkt + n, 5), n += 4;
	memcpy(pkt + n, "hello", 5), n += 5;
	send_raw(&p, pkt, n);
	assert_int_equal(status_of(&p), 0);
	/* READ with a length far above the limit is capped, not trusted. */
	n = 0;
	pkt[n++] = 5;
	put32(pkt + n, 4), n += 4;
	put32(pkt + n, hl), n += 4;
	memcpy(pkt + n, handle, hl), n += hl;
	put32(pkt + n, 0), put32(pkt + n + 4, 0), n += 8;
	put32(pkt + n, 0xffffffffu), n += 4;
	send_raw(&p, pkt, n);
	assert_int_equal(recv_reply(&p, buf, sizeof(buf), &len), 103);
	assert_int_equal(get32(buf + 5), 5);
	assert_memory_equal(buf + 9, "hello", 5);
	assert_int_equal(finish(&p), 0);
	/* The write reached the file. */
	{
		FILE *f = fopen(path, "r");
		char got[16] = "";
		assert_non_null(f);
		assert_non_null(fgets(got, sizeof(got), f));
		fclose(f);
		assert_string_equal(got, "hello");
	}
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_bad_handle_and_unknown),
		cmocka_unit_test(test_string_past_packet_end),
		cmocka_unit_test(test_embedded_nul_in_path),
		cmocka_unit_test(test_oversized_packet),
		cmocka_unit_test(test_truncated_packet),
		cmocka_unit_test(test_write_read_roundtrip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
