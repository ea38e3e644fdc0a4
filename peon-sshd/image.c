#include "image.h"
#include "util.h"

#include <elf.h>
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

/* An ELF program with no PT_INTERP needs no dynamic loader or libraries. */
static int check_static(int fd, const char *path, char *err)
{
	Elf64_Ehdr eh;

	if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum > 256)
		return errf(err, -ENOEXEC, "%s is not a 64-bit ELF program", path);
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + i * sizeof(ph))) != (ssize_t)sizeof(ph))
			return errf(err, -ENOEXEC, "%s is not a 64-bit ELF program", path);
		if (ph.p_type == PT_INTERP)
			return errf(err, -ENOEXEC, "%s is dynamically linked; install busybox-static", path);
	}
	return 0;
}

int image_load_static(const char *name, const char *path, char *err)
{
	int src = open(path, O_RDONLY | O_CLOEXEC), r;

	if (src < 0)
		return errf(err, -errno, "cannot open %s: %s", path, strerror(errno));
	r = check_file(src, path, err);
	if (r > 0 && check_static(src, path, err) < 0)
		r = -ENOEXEC;
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
