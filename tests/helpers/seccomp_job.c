/* A job process under a seccomp filter of the tests' own: unshare and
 * keyctl fail with EPERM, everything else is allowed. Installs the filter
 * (with no_new_privs only when the job asked for it: without, it needs
 * CAP_SYS_ADMIN, as a runtime has) and execs the rest of its arguments.
 * Linked statically: it runs inside a busybox root. */
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);

	if (argc < 2 || !ctx) {
		fprintf(stderr, "usage: seccomp-job COMMAND [ARG]...\n");
		return 2;
	}
	if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(unshare), 0) < 0 ||
	    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(keyctl), 0) < 0 ||
	    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0) < 0 || seccomp_load(ctx) < 0) {
		fprintf(stderr, "seccomp-job: cannot install the filter\n");
		return 1;
	}
	seccomp_release(ctx);
	execv(argv[1], argv + 1);
	perror(argv[1]);
	return 127;
}
