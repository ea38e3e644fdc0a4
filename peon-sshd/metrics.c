/* The daemon's counters, as `peon-sshctl status --json` shows them and as a
 * Prometheus text file for node_exporter's textfile collector
 * (metrics.textfile). What only monitors know (bytes, failed starts)
 * arrives as their tallies (routeq.h); the rest is the daemon's own.
 *
 * The file is rewritten at most once a second while counters move and
 * every metrics.interval seconds regardless (gauges such as penalised
 * sources change with time alone), always through a temporary file and
 * rename(2) (write_file_atomic), so the collector never reads half a
 * file. There is no fsync:
 * metrics lost in a crash are rebuilt by the next write, and an fsync
 * could hold up the loop on a busy disk. No C client library for the
 * exposition format is packaged for Debian (prometheus-cpp is C++); the
 * format is a handful of lines, written here. */
#include "daemon.h"
#include "log.h"
#include "sessfile.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define METRICS_MIN_GAP_MS 1000

static const char *const drop_names[DROP_REASONS] = {
	[DROP_PENALISED] = "penalised", [DROP_PER_SOURCE] = "per_source", [DROP_MAX_STARTUPS] = "max_startups",
};

void metrics_changed(struct daemon *d)
{
	d->met.dirty = true;
}

/* Totals only grow; a smaller one (a monitor restarted its count, which
 * ours never do) adds nothing rather than wrapping. */
static uint64_t grown(uint64_t now, uint64_t before)
{
	return now > before ? now - before : 0;
}

void metrics_tally(struct daemon *d, struct conn *c, const struct routeq_tally *t)
{
	d->met.bytes_in += grown(t->bytes_in, c->tally.bytes_in);
	d->met.bytes_out += grown(t->bytes_out, c->tally.bytes_out);
	d->met.spawn_failures += grown(t->spawn_failures, c->tally.spawn_failures);
	c->tally = *t;
	metrics_changed(d);
}

void metrics_status(struct daemon *d, json_object *o)
{
	const struct metrics *m = &d->met;

	json_object_object_add(o, "auth_failures", json_object_new_uint64(m->auth_failures));
	json_object_object_add(o, "spawn_failures", json_object_new_uint64(m->spawn_failures));
	json_object_object_add(o, "bytes_from_clients", json_object_new_uint64(m->bytes_in));
	json_object_object_add(o, "bytes_to_clients", json_object_new_uint64(m->bytes_out));
	json_object_object_add(o, "metrics_textfile", json_object_new_string(d->cfg.metrics.textfile));
	if (*m->error)
		json_object_object_add(o, "metrics_textfile_error", json_object_new_string(m->error));
}

/* A label value as the exposition format quotes it. */
static void label(FILE *f, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', f);
		if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
}

static void metric(FILE *f, const char *name, const char *type, const char *help, unsigned long long v)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name, v);
}

static void write_text(struct daemon *d, FILE *f)
{
	const struct metrics *m = &d->met;

	metric(f, "peon_sshd_connections_accepted_total", "counter", "Connections let through the gate to a monitor.",
	       d->accepted);
	fputs("# HELP peon_sshd_connections_refused_total Connections refused at accept, by reason.\n"
	      "# TYPE peon_sshd_connections_refused_total counter\n", f);
	for (int i = 0; i < DROP_REASONS; i++)
		fprintf(f, "peon_sshd_connections_refused_total{reason=\"%s\"} %llu\n", drop_names[i], d->dropped_by[i]);
	metric(f, "peon_sshd_auth_failures_total", "counter", "Connections that ended after failed authentication.",
	       m->auth_failures);
	metric(f, "peon_sshd_spawn_failures_total", "counter", "Shells, commands and SFTP servers that could not be "
	       "started in the job.", m->spawn_failures);
	metric(f, "peon_sshd_received_bytes_total", "counter", "Bytes received from clients on the wire.", m->bytes_in);
	metric(f, "peon_sshd_sent_bytes_total", "counter", "Bytes sent to clients and acknowledged.", m->bytes_out);
	metric(f, "peon_sshd_penalised_sources", "gauge", "Sources refused now by a penalty.",
	       daemon_penalised_sources(d));
	metric(f, "peon_sshd_unauthenticated_connections", "gauge", "Connections not yet authenticated.",
	       daemon_unauthenticated(d));
	metric(f, "peon_sshd_sessions", "gauge", "Authenticated connections (live sessions).",
	       (unsigned long long)sessfile_count(d->cfg.runtime_dir, NULL));
	metric(f, "peon_sshd_executions", "gauge", "Executions registered.", d->reg.n);
	metric(f, "peon_sshd_start_time_seconds", "gauge", "When the daemon started, in seconds since the epoch.",
	       (unsigned long long)d->started);
	fputs("# HELP peon_sshd_host_key_info The host key the connect lines announce.\n"
	      "# TYPE peon_sshd_host_key_info gauge\npeon_sshd_host_key_info{type=\"", f);
	label(f, d->hki.type);
	fputs("\",fingerprint=\"", f);
	label(f, d->hki.fingerprint);
	fputs("\"} 1\n", f);
}

static int write_file(struct daemon *d, char *err)
{
	const char *path = d->cfg.metrics.textfile;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int r;

	if (!f)
		return errf(err, -ENOMEM, "out of memory");
	write_text(d, f);
	if (fclose(f) != 0) {
		free(text);
		return errf(err, -ENOMEM, "out of memory");
	}
	r = write_file_atomic(path, text, len, 0644, VOLATILE);
	if (r < 0)
		errf(err, r, "cannot write the metrics file %s: %s", path, strerror(-r));
	free(text);
	return r;
}

int metrics_timeout(struct daemon *d)
{
	const struct metrics *m = &d->met;
	long long due, now = mono_ms();

	if (!*d->cfg.metrics.textfile)
		return -1;
	due = m->written_ms + (m->dirty ? METRICS_MIN_GAP_MS : d->cfg.metrics.interval * 1000LL);
	if (!m->written_ms || due <= now)
		return 0;
	return (int)(due - now);
}

void metrics_tick(struct daemon *d)
{
	struct metrics *m = &d->met;
	char err[ERRLEN];

	if (metrics_timeout(d) != 0)
		return;
	m->written_ms = mono_ms();
	m->dirty = false;
	if (write_file(d, err) < 0) {
		/* Once per distinct failure: a full disk must not fill the journal. */
		if (strcmp(err, m->error) != 0)
			log_err("%s; trying again every %d s", err, d->cfg.metrics.interval);
		snprintf(m->error, sizeof(m->error), "%s", err);
	} else if (*m->error) {
		log_info("the metrics file %s is written again", d->cfg.metrics.textfile);
		m->error[0] = '\0';
	}
}

void metrics_reconfigure(struct daemon *d, const char *old_path)
{
	/* A new path is written at once; the old file would go stale, so it goes. */
	if (*old_path && strcmp(old_path, d->cfg.metrics.textfile) != 0)
		unlink(old_path);
	d->met.written_ms = 0;
	d->met.error[0] = '\0';
}
