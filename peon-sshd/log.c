#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *log_ident = "peon-sshd";
static bool log_stderr = true;
static int log_max = LOG_INFO;
static void (*log_sink)(int prio, const char *msg);
static void (*log_journal_fn)(int prio, const struct log_ctx *ctx, const char *msg);

static const char *const level_names[] = {
	[LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",
	[LOG_ERR] = "err", [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
	[LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

void log_init(const char *ident, bool to_stderr, int max_prio)
{
	log_ident = ident;
	/* Without a journal socket (containers, CI) journald would swallow
	 * everything silently: fall back to stderr. */
	log_stderr = to_stderr || access("/run/systemd/journal/socket", W_OK) != 0;
	log_max = max_prio;
}

void log_set_level(int max_prio)
{
	log_max = max_prio;
}

void log_set_journal(void (*fn)(int prio, const struct log_ctx *ctx, const char *msg))
{
	log_journal_fn = fn;
}

void log_set_sink(void (*fn)(int prio, const char *msg))
{
	log_sink = fn;
}

const char *log_identity(void)
{
	return log_ident;
}

bool log_to_stderr(void)
{
	return log_stderr;
}

int log_level_from_name(const char *name)
{
	for (int i = 0; i <= LOG_DEBUG; i++)
		if (strcmp(name, level_names[i]) == 0)
			return i;
	if (strcmp(name, "error") == 0)
		return LOG_ERR;
	if (strcmp(name, "warn") == 0)
		return LOG_WARNING;
	return -1;
}

const char *log_level_name(int prio)
{
	return prio >= 0 && prio <= LOG_DEBUG ? level_names[prio] : "info";
}

static void write_stderr(int prio, const struct log_ctx *ctx, const char *msg)
{
	char ts[32];
	struct timespec now;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &now);
	localtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ld %s[%d] %s: %s", ts, now.tv_nsec / 1000000, log_ident,
		(int)getpid(), log_level_name(prio), msg);
	if (ctx && ctx->execution_id)
		fprintf(stderr, " [execution=%s]", ctx->execution_id);
	if (ctx && ctx->remote_addr)
		fprintf(stderr, " [from=%s]", ctx->remote_addr);
	if (ctx && ctx->key_fp)
		fprintf(stderr, " [key=%s]", ctx->key_fp);
	for (int i = 0; ctx && ctx->extra && ctx->extra[i]; i++)
		fprintf(stderr, " [%s]", ctx->extra[i]);
	fputc('\n', stderr);
}

void log_full(int prio, const struct log_ctx *ctx, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (prio > log_max)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (log_sink)
		log_sink(prio, msg);
	else if (log_stderr || !log_journal_fn)
		write_stderr(prio, ctx, msg);
	else
		log_journal_fn(prio, ctx, msg);
}
