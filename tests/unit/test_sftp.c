#include "test_util.h"
#include "sftp.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/stat.h>
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

/* ---- exactly one reply per request ---- */

enum { T_OPEN = 3, T_CLOSE, T_READ, T_WRITE, T_LSTAT, T_FSTAT, T_SETSTAT, T_FSETSTAT, T_OPENDIR,
       T_READDIR, T_REMOVE, T_MKDIR, T_RMDIR, T_REALPATH, T_STAT, T_RENAME, T_READLINK, T_SYMLINK,
       T_EXTENDED = 200 };

struct pkt {
	uint8_t b[512];
	size_t n;
};

static void p_u32(struct pkt *p, uint32_t v)
{
	assert_true(p->n + 4 <= sizeof(p->b));
	put32(p->b + p->n, v);
	p->n += 4;
}

static void p_str(struct pkt *p, const char *s)
{
	p_u32(p, (uint32_t)strlen(s));
	assert_true(p->n + strlen(s) <= sizeof(p->b));
	memcpy(p->b + p->n, s, strlen(s));
	p->n += strlen(s);
}

/* A request: type, id, then (for EXTENDED) the extension name. */
static struct pkt req(uint8_t type, uint32_t id, const char *ext)
{
	struct pkt p = { .b = { type }, .n = 1 };

	p_u32(&p, id);
	if (ext)
		p_str(&p, ext);
	return p;
}

/* Read replies until the server closes; count those carrying id. */
static int replies_for(struct peer *p, uint32_t id, int *total, uint32_t *last_status)
{
	uint8_t buf[SFTP_MAX_PACKET];
	uint32_t len;
	int n = 0, type;

	*total = 0;
	while ((type = recv_reply(p, buf, sizeof(buf), &len)) >= 0) {
		(*total)++;
		assert_true(len >= 5);
		if (get32(buf + 1) != id)
			continue;
		n++;
		if (type == 101)
			*last_status = get32(buf + 5);
	}
	return n;
}

/* Start a server with one open file (handle "0", as the first OPEN gets),
 * send one request, close our side; the request must be answered exactly
 * once, with BAD_MESSAGE, and end the session. */
static void expect_one_bad_message(const char *what, const struct pkt *rq, const char *file)
{
	struct peer p = start();
	struct pkt open_rq = req(T_OPEN, 1, NULL);
	uint8_t buf[4096];
	uint32_t code = 999, len;
	int total, n;

	init(&p);
	p_str(&open_rq, file);
	p_u32(&open_rq, 1 | 2);
	p_u32(&open_rq, 0);
	send_raw(&p, open_rq.b, open_rq.n);
	assert_int_equal(recv_reply(&p, buf, sizeof(buf), &len), 102);
	assert_int_equal(get32(buf + 5), 1);
	assert_int_equal(buf[9], '0');
	send_raw(&p, rq->b, rq->n);
	shutdown(p.fd, SHUT_WR);
	n = replies_for(&p, 77, &total, &code);
	if (n != 1 || total != 1 || code != 5)
		fail_msg("%s: %d replies for its id (%d in all), last status %u; want 1, BAD_MESSAGE (5)",
			 what, n, total, (unsigned)code);
	assert_int_equal(finish(&p), 2);
}

static const uint8_t all_types[] = {
	T_OPEN, T_CLOSE, T_READ, T_WRITE, T_LSTAT, T_FSTAT, T_SETSTAT, T_FSETSTAT, T_OPENDIR, T_READDIR,
	T_REMOVE, T_MKDIR, T_RMDIR, T_REALPATH, T_STAT, T_RENAME, T_READLINK, T_SYMLINK, T_EXTENDED,
};

static const char *const extensions[] = {
	"posix-rename@openssh.com", "statvfs@openssh.com", "fstatvfs@openssh.com", "hardlink@openssh.com",
	"fsync@openssh.com", "lsetstat@openssh.com", "expand-path@openssh.com",
};

static const char *const two_args[] = {
	"posix-rename@openssh.com", "hardlink@openssh.com", "lsetstat@openssh.com",
};

static void test_malformed_requests_answered_once(void **state)
{
	char dir[] = "/tmp/peon-sftp-XXXXXX", file[64], what[96];
	struct pkt rq;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/f", dir);
	assert_int_equal(close(creat(file, 0600)), 0);
	for (size_t i = 0; i < sizeof(all_types); i++) {
		/* Nothing after the id: every request has a first argument. */
		rq = req(all_types[i], 77, NULL);
		snprintf(what, sizeof(what), "type %u, no arguments", all_types[i]);
		expect_one_bad_message(what, &rq, file);
		/* The first string claims more bytes than the packet holds. */
		rq = req(all_types[i], 77, NULL);
		p_u32(&rq, 1000);
		p_u32(&rq, 0x30303030);
		snprintf(what, sizeof(what), "type %u, string past the end", all_types[i]);
		expect_one_bad_message(what, &rq, file);
	}
	/* A valid handle ("0", the open file), then the rest missing. */
	rq = req(T_READ, 77, NULL);
	p_str(&rq, "0");
	p_u32(&rq, 0);
	expect_one_bad_message("READ, length missing", &rq, file);
	rq = req(T_WRITE, 77, NULL);
	p_str(&rq, "0");
	p_u32(&rq, 0);
	p_u32(&rq, 0);
	p_u32(&rq, 10);
	expect_one_bad_message("WRITE, data short", &rq, file);
	rq = req(T_FSETSTAT, 77, NULL);
	p_str(&rq, "0");
	p_u32(&rq, 1);                          /* ATTR_SIZE, but no size */
	expect_one_bad_message("FSETSTAT, attrs short", &rq, file);
	/* A handle that is no handle, then the rest missing. */
	rq = req(T_READ, 77, NULL);
	p_str(&rq, "junk");
	expect_one_bad_message("READ, bad handle, rest missing", &rq, file);
	/* A valid path, then the rest missing. */
	rq = req(T_OPEN, 77, NULL);
	p_str(&rq, file);
	expect_one_bad_message("OPEN, pflags missing", &rq, file);
	rq = req(T_OPEN, 77, NULL);
	p_str(&rq, file);
	p_u32(&rq, 1);
	p_u32(&rq, 4);                          /* ATTR_PERMISSIONS, but no mode */
	expect_one_bad_message("OPEN, attrs short", &rq, file);
	for (uint8_t t = T_SETSTAT; t <= T_SYMLINK; t++) {
		if (t != T_SETSTAT && t != T_MKDIR && t != T_RENAME && t != T_SYMLINK)
			continue;
		rq = req(t, 77, NULL);
		p_str(&rq, file);
		snprintf(what, sizeof(what), "type %u, second argument missing", t);
		expect_one_bad_message(what, &rq, file);
	}
	/* Every extension with arguments: none, or the first past the end. */
	for (size_t i = 0; i < ARRAY_LEN(extensions); i++) {
		rq = req(T_EXTENDED, 77, extensions[i]);
		snprintf(what, sizeof(what), "%s, no arguments", extensions[i]);
		expect_one_bad_message(what, &rq, file);
		rq = req(T_EXTENDED, 77, extensions[i]);
		p_u32(&rq, 1000);
		snprintf(what, sizeof(what), "%s, string past the end", extensions[i]);
		expect_one_bad_message(what, &rq, file);
	}
	/* Those with a second argument: it is missing. */
	for (size_t i = 0; i < ARRAY_LEN(two_args); i++) {
		rq = req(T_EXTENDED, 77, two_args[i]);
		p_str(&rq, file);
		snprintf(what, sizeof(what), "%s, second argument missing", two_args[i]);
		expect_one_bad_message(what, &rq, file);
	}
	unlink(file);
	rmdir(dir);
}

/* Well-formed requests that fail (bad handles, missing files, unknown
 * types and extensions) are each answered once and the session goes on. */
static void test_failing_requests_answered_once(void **state)
{
	struct peer p = start();
	uint32_t id = 100, code;
	int total;
	struct pkt rq;

	(void)state;
	init(&p);
	for (size_t i = 0; i < sizeof(all_types); i++) {
		uint8_t t = all_types[i];
		bool handle = t == T_CLOSE || t == T_READ || t == T_WRITE || t == T_FSTAT || t == T_FSETSTAT ||
			      t == T_READDIR;

		rq = req(t, id++, t == T_EXTENDED ? "no-such@example.com" : NULL);
		p_str(&rq, handle ? "511" : "/nonexistent/peon/x");
		if (t == T_OPEN)
			p_u32(&rq, 1);
		if (t == T_READ || t == T_WRITE)
			p_u32(&rq, 0), p_u32(&rq, 0), p_u32(&rq, 4);
		if (t == T_WRITE)
			p_u32(&rq, 0x41414141);
		if (t == T_OPEN || t == T_FSETSTAT || t == T_MKDIR)
			p_u32(&rq, 0);
		if (t == T_SETSTAT)
			p_u32(&rq, 4), p_u32(&rq, 0644);    /* permissions: fails, no such file */
		if (t == T_RENAME || t == T_SYMLINK)
			p_str(&rq, "/nonexistent/peon/y");
		send_raw(&p, rq.b, rq.n);
	}
	rq = req(99, id++, NULL);
	send_raw(&p, rq.b, rq.n);
	shutdown(p.fd, SHUT_WR);
	{
		uint8_t buf[4096];
		uint32_t len, seen[64] = { 0 };
		int type;

		total = 0;
		while ((type = recv_reply(&p, buf, sizeof(buf), &len)) >= 0) {
			uint32_t rid = get32(buf + 1);
			assert_true(rid >= 100 && rid < id);
			seen[rid - 100]++;
			total++;
			if (type == 101) {
				code = get32(buf + 5);
				if (code == 0 || code == 5)
					fail_msg("request id %u: status %u", (unsigned)rid, (unsigned)code);
			}
		}
		for (uint32_t i = 100; i < id; i++)
			if (seen[i - 100] != 1)
				fail_msg("request id %u got %u replies", (unsigned)i, (unsigned)seen[i - 100]);
		assert_int_equal(total, (int)(id - 100));
	}
	assert_int_equal(finish(&p), 0);
}

/* ---- where SFTP starts, and ~ ---- */

/* The server as the spawn path leaves it: in cwd, with HOME (NULL: unset). */
static struct peer start_at(const char *home, const char *cwd)
{
	int sv[2];
	struct peer p;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	p.pid = fork();
	if (p.pid == 0) {
		close(sv[0]);
		if (chdir(cwd) < 0 || (home ? setenv("HOME", home, 1) : unsetenv("HOME")) < 0)
			_exit(99);
		_exit(sftp_serve(sv[1], sv[1]));
	}
	close(sv[1]);
	p.fd = sv[0];
	return p;
}

/* Send a REALPATH (ext NULL) or expand-path request for path. Returns the
 * name of a NAME reply in out, or "status N". */
static void resolve(struct peer *p, const char *ext, const char *path, char *out, size_t size)
{
	struct pkt rq = req(ext ? T_EXTENDED : T_REALPATH, 9, ext);
	uint8_t buf[8192];
	uint32_t len;
	int type;

	p_str(&rq, path);
	send_raw(p, rq.b, rq.n);
	type = recv_reply(p, buf, sizeof(buf), &len);
	assert_int_equal(get32(buf + 1), 9);
	if (type == 101) {
		snprintf(out, size, "status %u", (unsigned)get32(buf + 5));
		return;
	}
	assert_int_equal(type, 104);
	assert_int_equal(get32(buf + 5), 1);
	snprintf(out, size, "%.*s", (int)get32(buf + 9), (const char *)buf + 13);
}

static void expect_path(struct peer *p, const char *ext, const char *path, const char *want)
{
	char got[PATH_MAX + 64];

	resolve(p, ext, path, got, sizeof(got));
	if (strcmp(got, want) != 0)
		fail_msg("%s \"%s\": got \"%s\", want \"%s\"", ext ? ext : "realpath", path, got, want);
}

#define EXPAND "expand-path@openssh.com"

struct dirs {
	char base[64], home[80], cwd[80];
};

static void make_dirs(struct dirs *d)
{
	snprintf(d->base, sizeof(d->base), "/tmp/peon-sftp-XXXXXX");
	assert_non_null(mkdtemp(d->base));
	snprintf(d->home, sizeof(d->home), "%s/home", d->base);
	snprintf(d->cwd, sizeof(d->cwd), "%s/cwd", d->base);
	assert_int_equal(mkdir(d->home, 0755), 0);
	assert_int_equal(mkdir(d->cwd, 0755), 0);
}

static void drop_dirs(struct dirs *d)
{
	rmdir(d->home);
	rmdir(d->cwd);
	rmdir(d->base);
}

/* As OpenSSH's sftp-server: relative paths, `~` and `~/` start in the home
 * (scp sends `~/x` as the relative `x`; sftp expands `~` with expand-path). */
static void test_starts_in_home(void **state)
{
	struct dirs d;
	struct peer p;
	char want[128];

	(void)state;
	make_dirs(&d);
	p = start_at(d.home, d.cwd);
	init(&p);
	expect_path(&p, NULL, ".", d.home);
	expect_path(&p, NULL, "", d.home);
	snprintf(want, sizeof(want), "%s/new-file", d.home);
	expect_path(&p, NULL, "new-file", want);
	expect_path(&p, EXPAND, "~", d.home);
	expect_path(&p, EXPAND, "~/", d.home);
	expect_path(&p, EXPAND, "~/new-file", want);
	expect_path(&p, EXPAND, "~/a/../new-file", want);
	expect_path(&p, EXPAND, "new-file", want);
	expect_path(&p, EXPAND, "/etc/../etc", "/etc");
	assert_int_equal(finish(&p), 0);
	drop_dirs(&d);
}

/* No usable home: stay where the spawn path left us, the job's working
 * directory, and `~` means that directory too, so scp's `~/x` (sent as `x`)
 * and sftp's `~/x` (expanded) still agree. "/" is what a uid without a
 * passwd entry gets: no home either. */
static void test_no_home_stays_in_cwd(void **state)
{
	const char *homes[] = { "missing", "/", "", "relative/dir", NULL };
	struct dirs d;
	char missing[128], want[160];

	(void)state;
	make_dirs(&d);
	snprintf(missing, sizeof(missing), "%s/missing", d.base);
	homes[0] = missing;
	snprintf(want, sizeof(want), "%s/x", d.cwd);
	for (size_t i = 0; i < ARRAY_LEN(homes); i++) {
		struct peer p = start_at(homes[i], d.cwd);

		init(&p);
		expect_path(&p, NULL, ".", d.cwd);
		expect_path(&p, EXPAND, "~", d.cwd);
		expect_path(&p, EXPAND, "~/x", want);
		assert_int_equal(finish(&p), 0);
	}
	drop_dirs(&d);
}

/* ~user from /etc/passwd (inside a job: the job's, read as a file). */
static void test_expand_other_user(void **state)
{
	struct dirs d;
	struct peer p;

	(void)state;
	make_dirs(&d);
	p = start_at(d.home, d.cwd);
	init(&p);
	expect_path(&p, EXPAND, "~root", "/root");
	expect_path(&p, EXPAND, "~root/", "/root");
	expect_path(&p, EXPAND, "~root/no/such/../file", "/root/no/file");
	expect_path(&p, EXPAND, "~daemon", "/usr/sbin");
	expect_path(&p, EXPAND, "~no-such-user-peon/x", "status 2");    /* NO_SUCH_FILE */
	expect_path(&p, EXPAND, "~no-such-user-peon", "status 2");
	/* The session goes on. */
	expect_path(&p, NULL, ".", d.home);
	assert_int_equal(finish(&p), 0);
	drop_dirs(&d);
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
		cmocka_unit_test(test_malformed_requests_answered_once),
		cmocka_unit_test(test_failing_requests_answered_once),
		cmocka_unit_test(test_starts_in_home),
		cmocka_unit_test(test_no_home_stays_in_cwd),
		cmocka_unit_test(test_expand_other_user),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
