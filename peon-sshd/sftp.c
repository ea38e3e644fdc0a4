#include "sftp.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

enum {
	FXP_INIT = 1, FXP_VERSION, FXP_OPEN, FXP_CLOSE, FXP_READ, FXP_WRITE, FXP_LSTAT, FXP_FSTAT,
	FXP_SETSTAT, FXP_FSETSTAT, FXP_OPENDIR, FXP_READDIR, FXP_REMOVE, FXP_MKDIR, FXP_RMDIR,
	FXP_REALPATH, FXP_STAT, FXP_RENAME, FXP_READLINK, FXP_SYMLINK,
	FXP_STATUS = 101, FXP_HANDLE, FXP_DATA, FXP_NAME, FXP_ATTRS,
	FXP_EXTENDED = 200, FXP_EXTENDED_REPLY,
};
enum { FX_OK, FX_EOF, FX_NO_SUCH_FILE, FX_PERMISSION_DENIED, FX_FAILURE, FX_BAD_MESSAGE,
       FX_NO_CONNECTION, FX_CONNECTION_LOST, FX_OP_UNSUPPORTED };
enum { ATTR_SIZE = 1, ATTR_UIDGID = 2, ATTR_PERMISSIONS = 4, ATTR_ACMODTIME = 8,
       ATTR_EXTENDED = 0x80000000u };
enum { PF_READ = 1, PF_WRITE = 2, PF_APPEND = 4, PF_CREAT = 8, PF_TRUNC = 0x10, PF_EXCL = 0x20 };

#define READDIR_BATCH 100

/* ---- bounds-checked input ---- */

struct in {
	const uint8_t *p;
	size_t len, off;
	bool bad;
};

static uint32_t get_u32(struct in *m)
{
	uint32_t v;

	if (m->bad || m->len - m->off < 4) {
		m->bad = true;
		return 0;
	}
	v = (uint32_t)m->p[m->off] << 24 | (uint32_t)m->p[m->off + 1] << 16 |
	    (uint32_t)m->p[m->off + 2] << 8 | m->p[m->off + 3];
	m->off += 4;
	return v;
}

static uint64_t get_u64(struct in *m)
{
	uint64_t hi = get_u32(m);

	return hi << 32 | get_u32(m);
}

static const uint8_t *get_bytes(struct in *m, uint32_t *len)
{
	const uint8_t *p;

	*len = get_u32(m);
	if (m->bad || m->len - m->off < *len) {
		m->bad = true;
		return NULL;
	}
	p = m->p + m->off;
	m->off += *len;
	return p;
}

/* A path or name: no embedded NUL, at most PATH_MAX. Heap, or NULL (bad). */
static char *get_str(struct in *m)
{
	uint32_t len;
	const uint8_t *p = get_bytes(m, &len);

	if (!p || len >= PATH_MAX || memchr(p, 0, len)) {
		m->bad = true;
		return NULL;
	}
	return strndup((const char *)p, len);
}

struct attrs {
	uint32_t flags, uid, gid, perm, atime, mtime;
	uint64_t size;
};

static void get_attrs(struct in *m, struct attrs *a)
{
	memset(a, 0, sizeof(*a));
	a->flags = get_u32(m);
	if (a->flags & ATTR_SIZE)
		a->size = get_u64(m);
	if (a->flags & ATTR_UIDGID) {
		a->uid = get_u32(m);
		a->gid = get_u32(m);
	}
	if (a->flags & ATTR_PERMISSIONS)
		a->perm = get_u32(m);
	if (a->flags & ATTR_ACMODTIME) {
		a->atime = get_u32(m);
		a->mtime = get_u32(m);
	}
	if (a->flags & ATTR_EXTENDED) {
		uint32_t n = get_u32(m), l;

		for (uint32_t i = 0; i < n && !m->bad; i++) {
			get_bytes(m, &l);
			get_bytes(m, &l);
		}
	}
}

/* ---- output ---- */

struct out {
	uint8_t *p;
	size_t len, cap;
	bool oom;
};

/* Room for n more bytes; false (and o->oom) when memory ran out. */
static bool reserve(struct out *o, size_t n)
{
	if (o->oom)
		return false;
	if (o->len + n > o->cap) {
		size_t cap = (o->len + n) * 2;
		uint8_t *np = realloc(o->p, cap);
		if (!np) {
			o->oom = true;
			return false;
		}
		o->p = np;
		o->cap = cap;
	}
	return true;
}

static void put(struct out *o, const void *d, size_t n)
{
	if (!reserve(o, n))
		return;
	memcpy(o->p + o->len, d, n);
	o->len += n;
}

static void put_u8(struct out *o, uint8_t v)
{
	put(o, &v, 1);
}

static void put_u32(struct out *o, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };

	put(o, b, 4);
}

static void put_u64(struct out *o, uint64_t v)
{
	put_u32(o, (uint32_t)(v >> 32));
	put_u32(o, (uint32_t)v);
}

static void put_str(struct out *o, const void *s, size_t n)
{
	put_u32(o, (uint32_t)n);
	put(o, s, n);
}

static void put_cstr(struct out *o, const char *s)
{
	put_str(o, s, strlen(s));
}

static void put_attrs(struct out *o, const struct stat *st)
{
	put_u32(o, ATTR_SIZE | ATTR_UIDGID | ATTR_PERMISSIONS | ATTR_ACMODTIME);
	put_u64(o, (uint64_t)st->st_size);
	put_u32(o, (uint32_t)st->st_uid);
	put_u32(o, (uint32_t)st->st_gid);
	put_u32(o, (uint32_t)st->st_mode);
	put_u32(o, (uint32_t)st->st_atime);
	put_u32(o, (uint32_t)st->st_mtime);
}

/* ---- server state ---- */

struct handle {
	int fd;         /* file, or -1 */
	DIR *dir;       /* directory, or NULL */
	char *path;
};

struct server {
	int out_fd;
	struct handle h[SFTP_MAX_HANDLES];
	struct out o;
	uint32_t id;
	bool failed;    /* output broken: stop */
};

/* What a handler answers: a STATUS, or REPLY_BUILT when it composed a whole
 * reply (HANDLE, DATA, NAME, ATTRS, EXTENDED_REPLY, VERSION) in s->o.
 * Handlers never send; dispatch() alone does, so every request is answered
 * exactly once whichever path its handler took. */
struct answer {
	uint32_t code;          /* FX_*, or REPLY_BUILT */
	const char *msg;
};
#define REPLY_BUILT UINT32_MAX

static const struct answer built = { REPLY_BUILT, NULL };
static const struct answer success = { FX_OK, "Success" };
/* Whatever a handler returned, dispatch() answers this when parsing failed;
 * handlers only have to not act on a malformed request. */
static const struct answer malformed = { FX_BAD_MESSAGE, "malformed request" };
static const struct answer invalid_handle = { FX_FAILURE, "invalid handle" };

static struct answer answer_errno(int e)
{
	uint32_t code;

	switch (e) {
	case 0: return success;
	case ENOENT: case ENOTDIR: case EBADF: case ELOOP: code = FX_NO_SUCH_FILE; break;
	case EPERM: case EACCES: case EFAULT: code = FX_PERMISSION_DENIED; break;
	case ENAMETOOLONG: case EINVAL: code = FX_BAD_MESSAGE; break;
	case ENOSYS: code = FX_OP_UNSUPPORTED; break;
	default: code = FX_FAILURE; break;
	}
	return (struct answer){ code, strerror(e) };
}

/* The answer to a syscall's return value (errno read at once). */
static struct answer answer_rc(int r)
{
	return answer_errno(r < 0 ? errno : 0);
}

/* Start a reply: length is patched in send_reply. */
static void begin(struct server *s, uint8_t type)
{
	s->o.len = 0;
	put_u32(&s->o, 0);
	put_u8(&s->o, type);
	if (type != FXP_VERSION)
		put_u32(&s->o, s->id);
}

/* Only dispatch() calls this. */
static void send_reply(struct server *s)
{
	uint32_t n = (uint32_t)(s->o.len - 4);

	if (s->o.oom) {
		s->failed = true;
		return;
	}
	s->o.p[0] = (uint8_t)(n >> 24);
	s->o.p[1] = (uint8_t)(n >> 16);
	s->o.p[2] = (uint8_t)(n >> 8);
	s->o.p[3] = (uint8_t)n;
	if (write_all(s->out_fd, s->o.p, s->o.len) < 0)
		s->failed = true;
}

static void build_status(struct server *s, struct answer a)
{
	begin(s, FXP_STATUS);
	put_u32(&s->o, a.code);
	put_cstr(&s->o, a.msg);
	put_cstr(&s->o, "");
}

static int handle_new(struct server *s, int fd, DIR *dir, const char *path)
{
	for (int i = 0; i < SFTP_MAX_HANDLES; i++)
		if (s->h[i].fd < 0 && !s->h[i].dir) {
			s->h[i] = (struct handle){ .fd = fd, .dir = dir, .path = strdup(path) };
			return i;
		}
	return -1;
}

/* Keep an open file or directory as a handle and answer with it; when the
 * table is full, close it and answer with a failure. */
static struct answer reply_handle(struct server *s, int fd, DIR *dir, const char *path)
{
	int idx = handle_new(s, fd, dir, path);
	char hs[16];

	if (idx < 0) {
		if (dir)
			closedir(dir);
		else
			close(fd);
		return (struct answer){ FX_FAILURE, "too many open handles" };
	}
	snprintf(hs, sizeof(hs), "%d", idx);
	begin(s, FXP_HANDLE);
	put_cstr(&s->o, hs);
	return built;
}

/* Handles are decimal indexes of an open slot: anything else is refused. */
static struct handle *handle_arg(struct server *s, struct in *m)
{
	uint32_t len;
	const uint8_t *p = get_bytes(m, &len);
	char buf[16];
	unsigned long i;

	if (!p || len == 0 || len >= sizeof(buf))
		return NULL;
	memcpy(buf, p, len);
	buf[len] = '\0';
	if (parse_ulong(buf, SFTP_MAX_HANDLES - 1, &i) < 0 || (s->h[i].fd < 0 && !s->h[i].dir))
		return NULL;
	return &s->h[i];
}

static struct handle *get_handle(struct server *s, struct in *m, bool want_dir)
{
	struct handle *h = handle_arg(s, m);

	if (!h || (want_dir ? !h->dir : h->fd < 0))
		return NULL;
	return h;
}

static void handle_close(struct handle *h)
{
	if (h->fd >= 0)
		close(h->fd);
	if (h->dir)
		closedir(h->dir);
	free(h->path);
	*h = (struct handle){ .fd = -1 };
}

/* ---- requests: each parses all its arguments, then acts unless m->bad ---- */

static struct answer do_open(struct server *s, struct in *m)
{
	char *path = get_str(m);
	uint32_t pf = get_u32(m);
	struct answer ans = malformed;
	struct attrs a;
	int flags, fd;

	get_attrs(m, &a);
	if (m->bad)
		goto out;
	if ((pf & PF_READ) && (pf & PF_WRITE))
		flags = O_RDWR;
	else if (pf & PF_WRITE)
		flags = O_WRONLY;
	else
		flags = O_RDONLY;
	flags |= (pf & PF_APPEND ? O_APPEND : 0) | (pf & PF_CREAT ? O_CREAT : 0) |
		 (pf & PF_TRUNC ? O_TRUNC : 0) | (pf & PF_EXCL ? O_EXCL : 0);
	fd = open(path, flags | O_CLOEXEC | O_NOCTTY,
		  (a.flags & ATTR_PERMISSIONS) ? (mode_t)(a.perm & 07777) : 0666);
	ans = fd < 0 ? answer_errno(errno) : reply_handle(s, fd, NULL, path);
out:
	free(path);
	return ans;
}

static struct answer do_opendir(struct server *s, struct in *m)
{
	char *path = get_str(m);
	struct answer ans = malformed;
	DIR *d;

	if (m->bad)
		goto out;
	d = opendir(path);
	ans = d ? reply_handle(s, -1, d, path) : answer_errno(errno);
out:
	free(path);
	return ans;
}

static struct answer do_close(struct server *s, struct in *m)
{
	struct handle *h = handle_arg(s, m);

	if (m->bad)
		return malformed;
	if (!h)
		return invalid_handle;
	handle_close(h);
	return success;
}

static struct answer do_read(struct server *s, struct in *m)
{
	struct handle *h = get_handle(s, m, false);
	uint64_t off = get_u64(m);
	uint32_t len = get_u32(m);
	ssize_t n;
	size_t hdr;

	if (m->bad)
		return malformed;
	if (!h)
		return invalid_handle;
	if (len > SFTP_MAX_READ)
		len = SFTP_MAX_READ;
	/* Read straight into the reply: DATA header, then the bytes. */
	begin(s, FXP_DATA);
	hdr = s->o.len;
	put_u32(&s->o, 0);
	if (!reserve(&s->o, len))
		return built;           /* out of memory: send_reply ends the session */
	do {
		n = pread(h->fd, s->o.p + hdr + 4, len, (off_t)off);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return answer_errno(errno);
	if (n == 0 && len > 0)
		return (struct answer){ FX_EOF, "End of file" };
	s->o.p[hdr] = (uint8_t)(n >> 24);
	s->o.p[hdr + 1] = (uint8_t)(n >> 16);
	s->o.p[hdr + 2] = (uint8_t)(n >> 8);
	s->o.p[hdr + 3] = (uint8_t)n;
	s->o.len = hdr + 4 + (size_t)n;
	return built;
}

static struct answer do_write(struct server *s, struct in *m)
{
	struct handle *h = get_handle(s, m, false);
	uint64_t off = get_u64(m);
	uint32_t len;
	const uint8_t *data = get_bytes(m, &len);
	size_t done = 0;

	if (m->bad)
		return malformed;
	if (!h)
		return invalid_handle;
	while (done < len) {
		ssize_t n = pwrite(h->fd, data + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return answer_errno(errno);
		done += (size_t)n;
	}
	return success;
}

static struct answer stat_answer(struct server *s, int r, const struct stat *st)
{
	if (r < 0)
		return answer_errno(errno);
	begin(s, FXP_ATTRS);
	put_attrs(&s->o, st);
	return built;
}

static struct answer do_stat(struct server *s, struct in *m, bool follow)
{
	char *path = get_str(m);
	struct answer ans = malformed;
	struct stat st;

	if (!m->bad)
		ans = stat_answer(s, follow ? stat(path, &st) : lstat(path, &st), &st);
	free(path);
	return ans;
}

static struct answer do_fstat(struct server *s, struct in *m)
{
	struct handle *h = get_handle(s, m, false);
	struct stat st;

	if (m->bad)
		return malformed;
	if (!h)
		return invalid_handle;
	return stat_answer(s, fstat(h->fd, &st), &st);
}

/* Apply attributes to a path (fd < 0) or an open file. */
static int apply_attrs(const char *path, int fd, const struct attrs *a, bool follow)
{
	int atflag = follow ? 0 : AT_SYMLINK_NOFOLLOW;

	if ((a->flags & ATTR_SIZE) &&
	    (fd >= 0 ? ftruncate(fd, (off_t)a->size) : truncate(path, (off_t)a->size)) < 0)
		return -1;
	if ((a->flags & ATTR_PERMISSIONS) &&
	    (fd >= 0 ? fchmod(fd, a->perm & 07777) : fchmodat(AT_FDCWD, path, a->perm & 07777, 0)) < 0)
		return -1;
	if (a->flags & ATTR_ACMODTIME) {
		struct timespec ts[2] = { { .tv_sec = a->atime }, { .tv_sec = a->mtime } };
		if ((fd >= 0 ? futimens(fd, ts) : utimensat(AT_FDCWD, path, ts, atflag)) < 0)
			return -1;
	}
	if ((a->flags & ATTR_UIDGID) &&
	    (fd >= 0 ? fchown(fd, a->uid, a->gid) : fchownat(AT_FDCWD, path, a->uid, a->gid, atflag)) < 0)
		return -1;
	return 0;
}

static struct answer do_setstat(struct in *m, bool follow)
{
	char *path = get_str(m);
	struct answer ans = malformed;
	struct attrs a;

	get_attrs(m, &a);
	if (!m->bad)
		ans = answer_rc(apply_attrs(path, -1, &a, follow));
	free(path);
	return ans;
}

static struct answer do_fsetstat(struct server *s, struct in *m)
{
	struct handle *h = get_handle(s, m, false);
	struct attrs a;

	get_attrs(m, &a);
	if (m->bad)
		return malformed;
	if (!h)
		return invalid_handle;
	return answer_rc(apply_attrs(h->path, h->fd, &a, true));
}

/* "ls -l" style line, as OpenSSH clients show for `ls -l`. */
static void longname(char *buf, size_t len, const char *name, const struct stat *st)
{
	char mode[11] = "----------", date[16];
	struct tm tm;
	time_t now = time(NULL);

	if (S_ISDIR(st->st_mode)) mode[0] = 'd';
	else if (S_ISLNK(st->st_mode)) mode[0] = 'l';
	else if (S_ISCHR(st->st_mode)) mode[0] = 'c';
	else if (S_ISBLK(st->st_mode)) mode[0] = 'b';
	else if (S_ISFIFO(st->st_mode)) mode[0] = 'p';
	else if (S_ISSOCK(st->st_mode)) mode[0] = 's';
	for (int i = 0; i < 9; i++)
		if (st->st_mode & (0400 >> i))
			mode[1 + i] = "rwxrwxrwx"[i];
	if (st->st_mode & S_ISUID) mode[3] = (st->st_mode & S_IXUSR) ? 's' : 'S';
	if (st->st_mode & S_ISGID) mode[6] = (st->st_mode & S_IXGRP) ? 's' : 'S';
	if (st->st_mode & S_ISVTX) mode[9] = (st->st_mode & S_IXOTH) ? 't' : 'T';
	localtime_r(&st->st_mtime, &tm);
	strftime(date, sizeof(date), (now - st->st_mtime < 182 * 86400) ? "%b %e %H:%M" : "%b %e  %Y", &tm);
	snprintf(buf, len, "%s %4lu %-8u %-8u %8lld %s %s", mode, (unsigned long)st->st_nlink,
		 (unsigned)st->st_uid, (unsigned)st->st_gid, (long long)st->st_size, date, name);
}

static struct answer do_readdir(struct server *s, struct in *m)
{
	struct handle *h = get_handle(s, m, true);
	struct out names = { 0 };
	uint32_t count = 0;
	struct dirent *de;

	if (m->bad)
		return malformed;
	if (!h)
		return invalid_handle;
	/* Bounded so a reply stays well below the client's packet limit. */
	while (count < READDIR_BATCH && names.len < SFTP_MAX_READ / 2 && (de = readdir(h->dir))) {
		struct stat st;
		char ln[PATH_MAX + 128];

		if (fstatat(dirfd(h->dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		longname(ln, sizeof(ln), de->d_name, &st);
		put_cstr(&names, de->d_name);
		put_cstr(&names, ln);
		put_attrs(&names, &st);
		count++;
	}
	if (count == 0) {
		free(names.p);
		return (struct answer){ FX_EOF, "End of directory" };
	}
	begin(s, FXP_NAME);
	put_u32(&s->o, count);
	put(&s->o, names.p, names.len);
	s->o.oom |= names.oom;
	free(names.p);
	return built;
}

static struct answer name_answer(struct server *s, const char *path)
{
	struct stat st = { 0 };

	begin(s, FXP_NAME);
	put_u32(&s->o, 1);
	put_cstr(&s->o, path);
	put_cstr(&s->o, path);
	if (lstat(path, &st) == 0)
		put_attrs(&s->o, &st);
	else
		put_u32(&s->o, 0);
	return built;
}

/* Lexical clean-up for paths that do not exist (yet): no symlinks resolved. */
static void normalize(char *p)
{
	char *out = p, *seg = p;

	while (*seg) {
		char *end = strchr(seg, '/');
		size_t l = end ? (size_t)(end - seg) : strlen(seg);

		if (l == 0 || (l == 1 && seg[0] == '.')) {
			/* skip */
		} else if (l == 2 && seg[0] == '.' && seg[1] == '.') {
			while (out > p && *--out != '/')
				;
		} else {
			*out++ = '/';
			memmove(out, seg, l);
			out += l;
		}
		seg += l + (end ? 1 : 0);
	}
	if (out == p)
		*out++ = '/';
	*out = '\0';
}

static struct answer realpath_answer(struct server *s, const char *path)
{
	char resolved[PATH_MAX], joined[PATH_MAX * 2];

	if (realpath(*path ? path : ".", resolved))
		return name_answer(s, resolved);
	if (path[0] == '/') {
		snprintf(joined, sizeof(joined), "%s", path);
	} else {
		char cwd[PATH_MAX];
		if (!getcwd(cwd, sizeof(cwd)))
			snprintf(cwd, sizeof(cwd), "/");
		snprintf(joined, sizeof(joined), "%s/%s", cwd, path);
	}
	normalize(joined);
	return name_answer(s, joined);
}

static struct answer do_realpath(struct server *s, struct in *m)
{
	char *path = get_str(m);
	struct answer ans = malformed;

	if (!m->bad)
		ans = realpath_answer(s, path);
	free(path);
	return ans;
}

static struct answer do_readlink(struct server *s, struct in *m)
{
	char *path = get_str(m), target[PATH_MAX];
	struct answer ans = malformed;
	ssize_t n;

	if (m->bad)
		goto out;
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0) {
		ans = answer_errno(errno);
		goto out;
	}
	target[n] = '\0';
	begin(s, FXP_NAME);
	put_u32(&s->o, 1);
	put_cstr(&s->o, target);
	put_cstr(&s->o, target);
	put_u32(&s->o, 0);
	ans = built;
out:
	free(path);
	return ans;
}

/* One or two path arguments, one syscall. */
typedef int (*path1_fn)(const char *);
typedef int (*path2_fn)(const char *, const char *);

static struct answer do_path1(struct in *m, path1_fn fn)
{
	char *path = get_str(m);
	struct answer ans = malformed;

	if (!m->bad)
		ans = answer_rc(fn(path));
	free(path);
	return ans;
}

static struct answer do_path2(struct in *m, path2_fn fn)
{
	char *a = get_str(m), *b = get_str(m);
	struct answer ans = malformed;

	if (!m->bad)
		ans = answer_rc(fn(a, b));
	free(a);
	free(b);
	return ans;
}

static int rmdir_fn(const char *p) { return rmdir(p); }
static int unlink_fn(const char *p) { return unlink(p); }
static int link_fn(const char *a, const char *b) { return link(a, b); }
static int rename_posix(const char *a, const char *b) { return rename(a, b); }
/* SFTP v3 rename must not replace an existing target. */
static int rename_noreplace(const char *a, const char *b) { return renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_NOREPLACE); }
/* OpenSSH's order, which its clients and paramiko send: target, then link. */
static int symlink_fn(const char *target, const char *linkpath) { return symlink(target, linkpath); }

static struct answer do_mkdir(struct in *m)
{
	char *path = get_str(m);
	struct answer ans = malformed;
	struct attrs a;

	get_attrs(m, &a);
	if (!m->bad)
		ans = answer_rc(mkdir(path, (a.flags & ATTR_PERMISSIONS) ? (mode_t)(a.perm & 07777) : 0777));
	free(path);
	return ans;
}

/* ---- extensions ---- */

static struct answer statvfs_answer(struct server *s, int r, const struct statvfs *v)
{
	if (r < 0)
		return answer_errno(errno);
	begin(s, FXP_EXTENDED_REPLY);
	put_u64(&s->o, v->f_bsize);
	put_u64(&s->o, v->f_frsize);
	put_u64(&s->o, v->f_blocks);
	put_u64(&s->o, v->f_bfree);
	put_u64(&s->o, v->f_bavail);
	put_u64(&s->o, v->f_files);
	put_u64(&s->o, v->f_ffree);
	put_u64(&s->o, v->f_favail);
	put_u64(&s->o, v->f_fsid);
	put_u64(&s->o, (v->f_flag & ST_RDONLY ? 1 : 0) | (v->f_flag & ST_NOSUID ? 2 : 0));
	put_u64(&s->o, v->f_namemax);
	return built;
}

static struct answer ext_posix_rename(struct server *s, struct in *m)
{
	(void)s;
	return do_path2(m, rename_posix);
}

static struct answer ext_hardlink(struct server *s, struct in *m)
{
	(void)s;
	return do_path2(m, link_fn);
}

static struct answer ext_statvfs(struct server *s, struct in *m)
{
	char *path = get_str(m);
	struct answer ans = malformed;
	struct statvfs v;

	if (!m->bad)
		ans = statvfs_answer(s, statvfs(path, &v), &v);
	free(path);
	return ans;
}

static struct answer ext_fstatvfs(struct server *s, struct in *m)
{
	struct handle *h = get_handle(s, m, false);
	struct statvfs v;

	if (m->bad)
		return malformed;
	if (!h)
		return invalid_handle;
	return statvfs_answer(s, fstatvfs(h->fd, &v), &v);
}

static struct answer ext_fsync(struct server *s, struct in *m)
{
	struct handle *h = get_handle(s, m, false);

	if (m->bad)
		return malformed;
	if (!h)
		return invalid_handle;
	return answer_rc(fsync(h->fd));
}

static struct answer ext_lsetstat(struct server *s, struct in *m)
{
	(void)s;
	return do_setstat(m, false);
}

static struct answer ext_limits(struct server *s, struct in *m)
{
	(void)m;
	begin(s, FXP_EXTENDED_REPLY);
	put_u64(&s->o, SFTP_MAX_PACKET);
	put_u64(&s->o, SFTP_MAX_READ);
	put_u64(&s->o, SFTP_MAX_READ);
	put_u64(&s->o, SFTP_MAX_HANDLES);
	return built;
}

/* The home of `user` (len bytes) from /etc/passwd: inside a job that is the
 * job's file, read as a file, never through NSS modules of its image. */
static int passwd_home(const char *user, size_t len, char *home, size_t size)
{
	FILE *f = fopen("/etc/passwd", "re");
	struct passwd *pw;
	int r = -ENOENT;

	if (!f)
		return -errno;
	while ((pw = fgetpwent(f)))
		if (strlen(pw->pw_name) == len && memcmp(pw->pw_name, user, len) == 0) {
			/* An empty home field means "/", as for the shell. */
			const char *dir = pw->pw_dir && *pw->pw_dir ? pw->pw_dir : "/";

			r = (size_t)snprintf(home, size, "%s", dir) < size ? 0 : -ENAMETOOLONG;
			break;
		}
	fclose(f);
	return r;
}

/* As OpenSSH's sftp-server: `~` and `~/x` are relative to where SFTP started
 * (the home, see enter_home), the way scp sends `~/x` anyway: as `x`;
 * `~user/x` is that user's home from the passwd file. */
static struct answer ext_expand_path(struct server *s, struct in *m)
{
	char *path = get_str(m), home[PATH_MAX], buf[PATH_MAX * 2];
	struct answer ans = malformed;
	size_t ulen;
	int r;

	if (m->bad)
		goto out;
	if (path[0] != '~') {
		ans = realpath_answer(s, path);
		goto out;
	}
	ulen = strcspn(path + 1, "/");
	if (ulen == 0) {
		ans = realpath_answer(s, path[1] ? path + 2 : "");
		goto out;
	}
	r = passwd_home(path + 1, ulen, home, sizeof(home));
	if (r < 0) {
		ans = r == -ENOENT ? (struct answer){ FX_NO_SUCH_FILE, "no such user" } : answer_errno(-r);
		goto out;
	}
	snprintf(buf, sizeof(buf), "%s%s", home, path + 1 + ulen);
	ans = realpath_answer(s, buf);
out:
	free(path);
	return ans;
}

typedef struct answer (*handler_fn)(struct server *, struct in *);

/* Offered in VERSION and served by do_extended, from this one list. */
static const struct extension {
	const char *name, *version;
	handler_fn fn;
} extensions[] = {
	{ "posix-rename@openssh.com", "1", ext_posix_rename },
	{ "statvfs@openssh.com", "2", ext_statvfs },
	{ "fstatvfs@openssh.com", "2", ext_fstatvfs },
	{ "hardlink@openssh.com", "1", ext_hardlink },
	{ "fsync@openssh.com", "1", ext_fsync },
	{ "lsetstat@openssh.com", "1", ext_lsetstat },
	{ "limits@openssh.com", "1", ext_limits },
	{ "expand-path@openssh.com", "1", ext_expand_path },
};

static struct answer do_extended(struct server *s, struct in *m)
{
	char *name = get_str(m);
	struct answer ans = malformed;

	if (m->bad)
		goto out;
	ans = (struct answer){ FX_OP_UNSUPPORTED, "unsupported extension" };
	for (size_t i = 0; i < ARRAY_SIZE(extensions); i++)
		if (strcmp(name, extensions[i].name) == 0) {
			ans = extensions[i].fn(s, m);
			break;
		}
out:
	free(name);
	return ans;
}

static struct answer version_answer(struct server *s)
{
	begin(s, FXP_VERSION);
	put_u32(&s->o, 3);
	for (size_t i = 0; i < ARRAY_SIZE(extensions); i++) {
		put_cstr(&s->o, extensions[i].name);
		put_cstr(&s->o, extensions[i].version);
	}
	return built;
}

static struct answer handle_request(struct server *s, uint8_t type, struct in *m)
{
	switch (type) {
	case FXP_OPEN: return do_open(s, m);
	case FXP_CLOSE: return do_close(s, m);
	case FXP_READ: return do_read(s, m);
	case FXP_WRITE: return do_write(s, m);
	case FXP_LSTAT: return do_stat(s, m, false);
	case FXP_STAT: return do_stat(s, m, true);
	case FXP_FSTAT: return do_fstat(s, m);
	case FXP_SETSTAT: return do_setstat(m, true);
	case FXP_FSETSTAT: return do_fsetstat(s, m);
	case FXP_OPENDIR: return do_opendir(s, m);
	case FXP_READDIR: return do_readdir(s, m);
	case FXP_REMOVE: return do_path1(m, unlink_fn);
	case FXP_MKDIR: return do_mkdir(m);
	case FXP_RMDIR: return do_path1(m, rmdir_fn);
	case FXP_REALPATH: return do_realpath(s, m);
	case FXP_RENAME: return do_path2(m, rename_noreplace);
	case FXP_READLINK: return do_readlink(s, m);
	case FXP_SYMLINK: return do_path2(m, symlink_fn);
	case FXP_EXTENDED: return do_extended(s, m);
	default: return (struct answer){ FX_OP_UNSUPPORTED, "unsupported request" };
	}
}

/* One packet, one reply: handlers compose, only this sends. Returns false
 * when the session must end (malformed input). */
static bool dispatch(struct server *s, uint8_t type, struct in *m)
{
	struct answer a;

	s->o.len = 0;
	if (type == FXP_INIT) {
		get_u32(m);
		a = version_answer(s);
	} else {
		s->id = get_u32(m);
		if (m->bad)
			return false;   /* not even an id to answer */
		a = handle_request(s, type, m);
		if (m->bad)
			a = malformed;
	}
	/* A handler that claims a reply it never began would resend the last one. */
	if (a.code == REPLY_BUILT && s->o.len == 0)
		a = (struct answer){ FX_FAILURE, "internal error: no reply" };
	if (a.code != REPLY_BUILT)
		build_status(s, a);
	send_reply(s);
	return !m->bad;
}

static ssize_t read_full(int fd, uint8_t *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return got ? -1 : 0;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* Start where OpenSSH's sftp-server starts: the user's home, which the spawn
 * path put in HOME from the job's passwd. scp sends `~/x` as the relative
 * `x`, so this is what makes it land where the shell's `~` is. Without a
 * home to enter (missing, or not ours), stay in the job's working directory
 * where the spawn path left us. "/" counts as no home: a uid the job's
 * passwd does not name gets it, and the job's directory serves such users
 * better than the root. Returns whether SFTP starts in the home. */
static bool enter_home(void)
{
	const char *home = getenv("HOME");

	if (!home || home[0] != '/' || strcmp(home, "/") == 0)
		return false;
	return chdir(home) == 0;
}

int sftp_serve(int in_fd, int out_fd)
{
	static struct server s;
	uint8_t hdr[4], *pkt = malloc(SFTP_MAX_PACKET);
	int code = 0;

	if (!pkt)
		return 1;
	enter_home();
	s = (struct server){ .out_fd = out_fd };
	for (int i = 0; i < SFTP_MAX_HANDLES; i++)
		s.h[i].fd = -1;
	for (;;) {
		uint32_t len;
		struct in m;

		if (read_full(in_fd, hdr, 4) != 4)
			break;
		len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
		if (len < 1 || len > SFTP_MAX_PACKET || read_full(in_fd, pkt, len) != (ssize_t)len) {
			code = 2;
			break;
		}
		m = (struct in){ .p = pkt + 1, .len = len - 1 };
		if (!dispatch(&s, pkt[0], &m) || s.failed) {
			code = 2;
			break;
		}
	}
	for (int i = 0; i < SFTP_MAX_HANDLES; i++)
		if (s.h[i].fd >= 0 || s.h[i].dir)
			handle_close(&s.h[i]);
	free(s.o.p);
	free(pkt);
	return code;
}
