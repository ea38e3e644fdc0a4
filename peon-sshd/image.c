#include "image.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef PEON_LIBEXECDIR
#define PEON_LIBEXECDIR "/usr/local/lib/peon-sshd"
#endif
#define IMAGE_MAX (64 * 1024 * 1024)

/* The images run inside every job or as root: only root may have been able to change them. */
static int check_file(int fd, const char *path, char *err)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return errf(err, -errno, "cannot stat %s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > IMAGE_MAX)
		return errf(err, -EINVAL, "%s is not a plausible program file", path);
	if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)))
		return errf(err, -EPERM, "%s must be owned by root and writable only by root", path);
	return (int)st.st_size;
}

static int copy_sealed(int src, size_t size, const char *name, const char *path, char *err)
{
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	off_t off = 0;

	if (fd < 0)
		return errf(err, -errno, "memfd_create: %s", strerror(errno));
	while ((size_t)off < size) {
		ssize_t n = sendfile(fd, src, &off, size - (size_t)off);
		if (n <= 0) {
			int e = n < 0 ? errno : EIO;
			close(fd);
			return errf(err, -e, "cannot copy %s: %s", path, strerror(e));
		}
	}
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
		int e = errno;
		close(fd);
		return errf(err, -e, "cannot seal the copy of %s: %s", path, strerror(e));
	}
	return fd;
}

static int load_from(const char *name, const char *path, char *err)
{
	int src = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), r;

	if (src < 0)
		return errf(err, -errno, "cannot open %s: %s", path, strerror(errno));
	r = check_file(src, path, err);
	if (r > 0)
		r = copy_sealed(src, (size_t)r, name, path, err);
	close(src);
	return r;
}

int image_load(const char *name, char *err)
{
	char self[PATH_MAX], beside[PATH_MAX + 64], lib[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n > 0) {
		self[n] = '\0';
		snprintf(beside, sizeof(beside), "%s/%s", dirname(self), name);
		if (access(beside, F_OK) == 0)
			return load_from(name, beside, err);
	}
	snprintf(lib, sizeof(lib), "%s/%s", PEON_LIBEXECDIR, name);
	return load_from(name, lib, err);
}
