/* authorized_keys lines: --key, --key-file and key URLs all end here.
 *
 * The whole input is tried as one line. Then its first line is tried as an
 * options field in front of a valid key, and the lines after it are offered
 * to the option matchers (from=, permitopen=, permitlisten=) as the client's
 * address and the hosts it asks for. Whatever parses must come back the same
 * through authkey_format() and authkey_parse(): that is how the registry
 * persists keys. Last, the whole input as a key URL's answer (keyset.c), each
 * key that parses copied (authkey_copy) and compared. */
#include "authkeys.h"
#include "keyset.h"
#include "util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_KEY "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAII1TDQX34DUl5YO/H8vu00faJvG6/a2wfAuoxZta9Dfs root@vm"

static const char *const probes[] = {
	"10.0.0.1", "::ffff:10.0.0.1", "2001:db8::1", "fe80::1%eth0", "", "localhost", "127.0.0.1", "*",
};

static bool same_strv(char **a, char **b)
{
	size_t i = 0;

	if (!a || !b)
		return a == b;
	for (; a[i] && b[i]; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return !a[i] && !b[i];
}

static bool same_str(const char *a, const char *b)
{
	return a && b ? strcmp(a, b) == 0 : a == b;
}

static void round_trip(const struct authkey *k)
{
	char err[ERRLEN], *line = authkey_format(k), *again;
	struct authkey b;

	if (!line)
		return;
	if (authkey_parse(line, &b, err) != 1)
		abort();
	again = authkey_format(&b);
	if (!again || strcmp(line, again) != 0 || !same_str(k->options, b.options) ||
	    strcmp(k->fingerprint, b.fingerprint) != 0 || k->opts.present != b.opts.present ||
	    k->opts.no_port_forwarding != b.opts.no_port_forwarding ||
	    k->opts.no_agent_forwarding != b.opts.no_agent_forwarding ||
	    k->opts.no_x11_forwarding != b.opts.no_x11_forwarding || k->opts.no_pty != b.opts.no_pty ||
	    k->opts.no_user_rc != b.opts.no_user_rc || k->opts.expiry_ms != b.opts.expiry_ms ||
	    !same_str(k->opts.command, b.opts.command) || !same_str(k->opts.from, b.opts.from) ||
	    !same_strv(k->opts.permitopen, b.opts.permitopen) || !same_strv(k->opts.permitlisten, b.opts.permitlisten))
		abort();
	free(again);
	free(line);
	authkey_free(&b);
}

static void probe(const struct authkey_opts *o, const char *s, int port)
{
	(void)authkey_from_allows(o, s);
	(void)authkey_permits_open(o, s, port);
	(void)authkey_permits_listen(o, s, port);
}

static void exercise(const struct authkey *k, char *rest, int port)
{
	round_trip(k);
	(void)authkey_expired(&k->opts, 0);
	(void)authkey_expired(&k->opts, k->opts.expiry_ms);
	(void)authkey_expired(&k->opts, k->opts.expiry_ms + 1000);
	for (size_t i = 0; i < ARRAY_SIZE(probes); i++)
		probe(&k->opts, probes[i], port);
	for (char *s = rest, *nl; s; s = nl) {
		if ((nl = strchr(s, '\n')))
			*nl++ = '\0';
		probe(&k->opts, s, port);
		probe(&k->opts, s, 0);
	}
}

static void as_url_answer(const uint8_t *data, size_t size)
{
	struct keylist l = { 0 };
	char err[ERRLEN];

	if (keylist_from_text((const char *)data, size, "https://fuzz/keys", 64, &l, err) == 0)
		for (size_t i = 0; i < l.n; i++) {
			struct authkey c;
			char *a, *b;

			if (authkey_copy(&c, &l.v[i]) < 0)
				continue;
			a = authkey_format(&l.v[i]);
			b = authkey_format(&c);
			if (!a || !b || strcmp(a, b) != 0 || strcmp(l.v[i].fingerprint, c.fingerprint) != 0)
				abort();
			round_trip(&c);
			free(a);
			free(b);
			authkey_free(&c);
		}
	keylist_free(&l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = malloc(size + 1), *opts, *rest, err[ERRLEN];
	struct authkey key;
	int port;

	if (!line)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	if (authkey_parse(line, &key, err) > 0) {
		round_trip(&key);
		authkey_free(&key);
	}
	rest = strchr(line, '\n');
	if (rest)
		*rest++ = '\0';
	port = size >= 2 ? data[size - 2] << 8 | data[size - 1] : 22;
	if (asprintf(&opts, "%s %s", line, FUZZ_KEY) >= 0) {
		if (authkey_parse(opts, &key, err) > 0) {
			exercise(&key, rest, port);
			authkey_free(&key);
		}
		free(opts);
	}
	free(line);
	as_url_answer(data, size);
	return 0;
}
