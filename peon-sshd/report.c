#include "report.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void report_connect_command(const char *addr, int port, const char *shell, char *out, size_t len)
{
	snprintf(out, len, "ssh -i <path-to-private-key> -p %d -t %s%s%s", port, addr, *shell ? " " : "", shell);
}

int report_known_hosts_line(const char *addr, int port, const struct hostkey_info *hk, char *out, size_t len)
{
	/* known_hosts names non-22 ports as [host]:port, IPv6 included. */
	int n = snprintf(out, len, "[%s]:%d %s %s", addr, port, hk->type, hk->b64);

	return n < 0 || (size_t)n >= len ? -E2BIG : 0;
}

int report_activation_lines(const char *addr, int port, const char *shell, const struct hostkey_info *hk,
			    char lines[3][REPORT_LINE_MAX])
{
	char cmd[512], known[REPORT_LINE_MAX];
	json_object *a = json_object_new_string(addr);
	int n;

	if (!a)
		return -ENOMEM;
	report_connect_command(addr, port, shell, cmd, sizeof(cmd));
	snprintf(lines[0], REPORT_LINE_MAX, "SSH debug access ready. Connect with: %s", cmd);
	if (report_known_hosts_line(addr, port, hk, known, sizeof(known)) < 0) {
		json_object_put(a);
		return -E2BIG;
	}
	n = snprintf(lines[1], REPORT_LINE_MAX, "SSH host key: %s %s (known_hosts line: %s)", hk->type,
		     hk->fingerprint, known);
	/* The status event `vh exec ssh` parses: "::ssh::" then JSON. */
	snprintf(lines[2], REPORT_LINE_MAX, "::ssh::{\"address\": %s, \"port\": %d}",
		 json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE), port);
	json_object_put(a);
	return n >= REPORT_LINE_MAX ? -E2BIG : 0;
}

int report_open_log(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0640);
}

static void to_file(const struct execution *e, const char *line)
{
	struct log_ctx ctx = { .execution_id = e->id };
	size_t len = strlen(line);
	char *buf = malloc(len + 2);
	int fd = report_open_log(e->log_file);

	if (fd < 0 || !buf) {
		log_full(LOG_WARNING, &ctx, "cannot append to log file %s: %s", e->log_file, strerror(errno));
		if (fd >= 0)
			close(fd);
		free(buf);
		return;
	}
	memcpy(buf, line, len);
	buf[len] = '\n';
	/* One write: concurrent writers (daemon, sessions) do not interleave. */
	if (write_all(fd, buf, len + 1) < 0)
		log_full(LOG_WARNING, &ctx, "cannot append to log file %s: %s", e->log_file, strerror(errno));
	close(fd);
	free(buf);
}

static void to_spool(const struct peon_config *cfg, const struct execution *e, const char *line)
{
	static unsigned seq;
	char dir[PATH_MAX], path[PATH_MAX + 128];
	struct timespec ts;
	json_object *o = json_object_new_object();
	const char *text;

	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(dir, sizeof(dir), "%s/spool", cfg->runtime_dir);
	mkdir(dir, 0700);
	/* Names sort in creation order: the reporter delivers in that order. */
	snprintf(path, sizeof(path), "%s/%020lld-%09ld-%d-%u.json", dir, (long long)ts.tv_sec, ts.tv_nsec,
		 (int)getpid(), seq++);
	json_object_object_add(o, "url", json_object_new_string(e->log_url));
	json_object_object_add(o, "execution", json_object_new_string(e->id));
	json_object_object_add(o, "message", json_object_new_string(line));
	json_object_object_add(o, "created", json_object_new_int64((int64_t)ts.tv_sec));
	text = json_object_to_json_string(o);
	if (write_file_atomic(path, text, strlen(text), 0600, DURABLE) < 0) {
		struct log_ctx ctx = { .execution_id = e->id };
		log_full(LOG_WARNING, &ctx, "cannot queue a line for %s in %s", e->log_url, dir);
	}
	json_object_put(o);
}

void report_line(const struct peon_config *cfg, const struct execution *e, const char *line,
		 const char *const *extra)
{
	struct log_ctx ctx = { .execution_id = e->id, .extra = extra };

	log_full(LOG_NOTICE, &ctx, "%s", line);
	if (e->log_file)
		to_file(e, line);
	if (e->log_url)
		to_spool(cfg, e, line);
}
