/* SFTP packets as a client inside a job would send them. The server does
 * real file operations, so the harness first confines itself: a private
 * mount namespace, the run directory (made by `make fuzz-smoke`, holding
 * only the corpus and seeds) as its root with /proc for the sanitizers, and
 * the nobody user. Whatever the fuzzer asks to remove or rename lives and
 * dies there; the corpus paths stay valid because the root is the cwd. */
#include "sftp.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static int sink = -1;

static void die(const char *what)
{
	perror(what);
	abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (geteuid() != 0) {
		fprintf(stderr, "fuzz_sftp confines itself with a mount namespace: run it as root\n");
		exit(77);
	}
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		die("private mount namespace");
	if ((mkdir("proc", 0555) < 0 && errno != EEXIST) ||
	    mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		die("/proc in the run directory");
	sink = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (sink < 0 || chroot(".") < 0)
		die("chroot to the run directory");
	if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
		die("drop to nobody");
	unsetenv("HOME");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int p[2];

	/* The whole input fits the pipe: sftp_serve reads it, then EOF. */
	if (size > 1 << 20 || pipe(p) < 0)
		return 0;
	fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
	if (size && write(p[1], data, size) != (ssize_t)size) {
		close(p[0]);
		close(p[1]);
		return 0;
	}
	close(p[1]);
	sftp_serve(p[0], sink);
	close(p[0]);
	return 0;
}
