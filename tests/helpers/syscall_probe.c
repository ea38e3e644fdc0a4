/* Prints how a few syscalls are answered, by errno name, for the
 * side-by-side test (test_runtimes.py): one newer than Docker 20.10's
 * seccomp profile (cachestat, x86_64 451), a number no kernel has, and an
 * old one the profile leaves out (syslog). Under runc's filter the first
 * two answer ENOSYS and the last EPERM. Static: it runs in a busybox
 * image. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static void probe(const char *what, long nr, long a, long b)
{
	long r;

	errno = 0;
	r = syscall(nr, a, b, 0L, 0L);
	printf("syscall %s %s\n", what, r == -1 ? strerrorname_np(errno) : "ok");
}

int main(void)
{
	probe("cachestat", 451, -1, 0);
	probe("1000", 1000, 0, 0);
	probe("syslog", SYS_syslog, 10, 0);
	return 0;
}
