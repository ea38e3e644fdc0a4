/* Test-only hooks of the network child (built with -DPEON_TEST_HOOKS into
 * build/peon-sshd-net-testhooks, never into the shipped image): a client
 * user name makes the child try what its sandbox and its monitor must
 * refuse (tests/integration/test_privsep.py). */
#ifndef PEON_TESTHOOK_H
#define PEON_TESTHOOK_H

struct sess;

#ifdef PEON_TEST_HOOKS
/* At a userauth request: "peon-test-open", "peon-test-socket",
 * "peon-test-spawn-before-auth". */
void testhook_preauth(struct sess *ss, const char *user);
/* At a shell/exec request once logged in: "peon-test-second-claim",
 * "peon-test-unknown-channel", "peon-test-oversized", "peon-test-fd-upward". */
void testhook_postauth(struct sess *ss);
#else
static inline void testhook_preauth(struct sess *ss, const char *user)
{
	(void)ss;
	(void)user;
}
static inline void testhook_postauth(struct sess *ss)
{
	(void)ss;
}
#endif

#endif
