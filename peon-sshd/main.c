/* peon-sshd: the worker-side debug SSH daemon. Always in the foreground. */
#include "config.h"
#include "daemon.h"
#include "log.h"
#include "util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fprintf(f, "usage: peon-sshd [-f CONFIG] [-t] [-T] [-d] [--version]\n"
		   "  -f CONFIG   configuration file (default %s)\n"
		   "  -t          check the configuration and exit\n"
		   "  -T          print the effective configuration and exit\n"
		   "  -d          debug: log to stderr at debug level\n",
		DEFAULT_CONFIG);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "version", no_argument, NULL, 'V' }, { "help", no_argument, NULL, 'h' }, { 0 },
	};
	struct daemon d = { .config_path = DEFAULT_CONFIG };
	bool test = false, print = false, debug = false;
	char err[ERRLEN];
	int c;

	while ((c = getopt_long(argc, argv, "f:tTdh", opts, NULL)) != -1) {
		switch (c) {
		case 'f': d.config_path = optarg; d.config_explicit = true; break;
		case 't': test = true; break;
		case 'T': print = true; break;
		case 'd': debug = true; break;
		case 'V': printf("peon-sshd %s\n", PEON_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "peon-sshd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	log_set_journal(log_journal);
	log_init("peon-sshd", debug || test || print, debug ? LOG_DEBUG : LOG_INFO);
	if (config_load(d.config_path, d.config_explicit, &d.cfg, err) < 0) {
		fprintf(stderr, "peon-sshd: %s\n", err);
		return 1;
	}
	if (!debug)
		log_set_level(log_level_from_name(d.cfg.log_level));
	if (test || print) {
		int r = daemon_check_config(&d.cfg, err);
		if (r < 0)
			fprintf(stderr, "peon-sshd: %s\n", err);
		else if (print)
			config_print(&d.cfg, stdout);
		else
			printf("peon-sshd: configuration OK (%s)\n", d.cfg.path ? d.cfg.path : "built-in defaults");
		config_free(&d.cfg);
		return r < 0 ? 1 : 0;
	}
	/* Checked before anything is created: otherwise the first mkdir of
	 * runtime_dir fails with a bare "Permission denied". */
	if (geteuid() != 0) {
		fprintf(stderr, "peon-sshd: needs root: it enters jobs' namespaces and runs each connection as a uid "
				"of its own (running as uid %u)\n", (unsigned)geteuid());
		config_free(&d.cfg);
		return 1;
	}
	c = daemon_run(&d);
	config_free(&d.cfg);
	return c;
}
