/* journald with structured fields: the daemon's and peon-sshctl's log
 * destination (log_set_journal). Apart from log.c so that the network
 * child, which logs only through its monitor, does not load libsystemd. */
#include "log.h"

#include <stdio.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>

void log_journal(int prio, const struct log_ctx *ctx, const char *msg)
{
	char f[12][600];
	struct iovec iov[12];
	int n = 0;

#define FIELD(fmt, val) do { \
		int l = snprintf(f[n], sizeof(f[n]), fmt, val); \
		iov[n].iov_base = f[n]; \
		iov[n].iov_len = l < (int)sizeof(f[n]) ? (size_t)l : sizeof(f[n]) - 1; \
		n++; \
	} while (0)
	FIELD("MESSAGE=%s", msg);
	FIELD("PRIORITY=%d", prio);
	FIELD("SYSLOG_IDENTIFIER=%s", log_identity());
	if (ctx && ctx->execution_id)
		FIELD("EXECUTION_ID=%s", ctx->execution_id);
	if (ctx && ctx->remote_addr)
		FIELD("REMOTE_ADDR=%s", ctx->remote_addr);
	if (ctx && ctx->key_fp)
		FIELD("KEY_FINGERPRINT=%s", ctx->key_fp);
	for (int i = 0; ctx && ctx->extra && ctx->extra[i] && n < 12; i++)
		FIELD("%s", ctx->extra[i]);
#undef FIELD
	sd_journal_sendv(iov, n);
}

