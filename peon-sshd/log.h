/* Logging: journald with structured fields, or stderr under -d. */
#ifndef PEON_LOG_H
#define PEON_LOG_H

#include <stdbool.h>
#include <syslog.h>

/* Structured context attached to a log line as journald fields. */
struct log_ctx {
	const char *execution_id;   /* EXECUTION_ID */
	const char *remote_addr;    /* REMOTE_ADDR */
	const char *key_fp;         /* KEY_FINGERPRINT */
	const char *const *extra;   /* more "NAME=value" journald fields, NULL-terminated */
};

void log_init(const char *ident, bool to_stderr, int max_prio);
void log_set_level(int max_prio);
/* Where lines go when not to stderr: log_journal (logjournal.c). */
void log_set_journal(void (*fn)(int prio, const struct log_ctx *ctx, const char *msg));
void log_journal(int prio, const struct log_ctx *ctx, const char *msg);
/* The SYSLOG_IDENTIFIER given to log_init. */
const char *log_identity(void);
/* Send every line to fn instead (the network child: to its monitor, which
 * logs it with the connection's fields). */
void log_set_sink(void (*fn)(int prio, const char *msg));
/* Lines go to stderr (-d, or no journal), not to journald. */
bool log_to_stderr(void);
/* Names are syslog's: "debug", "info", "notice", "warning", "err". */
int log_level_from_name(const char *name);
const char *log_level_name(int prio);
void log_full(int prio, const struct log_ctx *ctx, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_debug(...) log_full(LOG_DEBUG, NULL, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, NULL, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, NULL, __VA_ARGS__)
#define log_warn(...) log_full(LOG_WARNING, NULL, __VA_ARGS__)
#define log_err(...) log_full(LOG_ERR, NULL, __VA_ARGS__)

#endif
