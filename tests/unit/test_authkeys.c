#include "test_util.h"
#include "authkeys.h"
#include "fixtures.h"
#include "util.h"

#include <errno.h>
#include <time.h>

static void ok(const char *line, const char *type, const char *fp, const char *comment)
{
	struct authkey k;
	char err[ERRLEN] = "";
	int r = authkey_parse(line, &k, err);

	if (r != 1)
		fail_msg("refused %.40s: %s", line, err);
	assert_string_equal(k.type, type);
	assert_string_equal(k.fingerprint, fp);
	assert_string_equal(k.comment, comment);
	authkey_free(&k);
}

static void refused(const char *line, const char *needle)
{
	struct authkey k;
	char err[ERRLEN] = "";

	assert_int_equal(authkey_parse(line, &k, err), -EINVAL);
	if (!strstr(err, needle))
		fail_msg("error \"%s\" does not contain \"%s\"", err, needle);
}

static void test_accepted(void **state)
{
	(void)state;
	ok(KEY_ED, "ssh-ed25519", FP_ED, "alice@laptop");
	ok(KEY_R2048, "ssh-rsa", FP_R2048, "rsa2048");
	ok(KEY_EC, "ecdsa-sha2-nistp256", FP_EC, "ec");
	ok("   " KEY_ED2 "   ", "ssh-ed25519", FP_ED2, "bob");
}

static void test_comment(void **state)
{
	struct authkey k;
	char line[1024], err[ERRLEN];
	const char *b64 = strchr(KEY_ED, ' ') + 1;

	(void)state;
	/* Comments reach logs: control bytes are neutralised. */
	snprintf(line, sizeof(line), "ssh-ed25519 %.68s evil\x1b[31m name", b64);
	assert_int_equal(authkey_parse(line, &k, err), 1);
	assert_string_equal(k.comment, "evil?[31m name");
	authkey_free(&k);
}

static void test_blank(void **state)
{
	struct authkey k;
	char err[ERRLEN];

	(void)state;
	assert_int_equal(authkey_parse("", &k, err), 0);
	assert_int_equal(authkey_parse("   # a comment", &k, err), 0);
}

static void test_refused(void **state)
{
	char line[2048];

	(void)state;
	refused(KEY_DSA, "DSA keys (ssh-dss) are not accepted");
	refused(KEY_R1024, "RSA key of 1024 bits is too short: at least 2048 bits are required");
	refused("environment=\"A=B\" " KEY_ED, "key option \"environment\" is not supported");
	refused("tunnel=\"0\" " KEY_ED, "key option \"tunnel\" is not supported");
	refused("ssh-ed25519-cert-v01@openssh.com AAAA", "certificates");
	refused("ssh-foo AAAA", "unsupported key type 'ssh-foo'");
	refused("ssh-ed25519", "has no base64 key data");
	refused("ssh-ed25519 !!!notbase64!!!", "not a valid ssh-ed25519 key");
	/* An ed25519 blob labelled as RSA. */
	snprintf(line, sizeof(line), "ssh-rsa %s", strchr(KEY_ED, ' ') + 1);
	refused(line, "not a valid ssh-rsa key");
	memset(line, 'A', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	memcpy(line, "ssh-ed25519 ", 12);
	refused(line, "not a valid ssh-ed25519 key");
}

static void test_too_long(void **state)
{
	char *line = malloc(AUTHKEY_LINE_MAX + 10);

	(void)state;
	memset(line, 'A', AUTHKEY_LINE_MAX + 9);
	line[AUTHKEY_LINE_MAX + 9] = '\0';
	refused(line, "longer than");
	free(line);
}

static void test_format(void **state)
{
	struct authkey k;
	char err[ERRLEN], *s;

	(void)state;
	assert_int_equal(authkey_parse(KEY_ED, &k, err), 1);
	s = authkey_format(&k);
	assert_string_equal(s, KEY_ED);
	free(s);
	authkey_free(&k);
}

/* ---- key options ---- */

/* Parse a line that must be accepted; the caller frees k. */
static void parse_ok(const char *line, struct authkey *k)
{
	char err[ERRLEN] = "";
	int r = authkey_parse(line, k, err);

	if (r != 1)
		fail_msg("refused %.80s: %s", line, err);
}

static void test_options_each(void **state)
{
	struct authkey k;

	(void)state;
	parse_ok(KEY_ED, &k);
	assert_false(k.opts.present);
	assert_null(k.options);
	assert_false(k.opts.no_pty);
	assert_null(k.opts.command);
	assert_null(k.opts.from);
	assert_null(k.opts.permitopen);
	assert_null(k.opts.permitlisten);
	assert_int_equal(k.opts.expiry_ms, 0);
	authkey_free(&k);

	parse_ok("no-port-forwarding,no-agent-forwarding,no-X11-forwarding,no-pty,no-user-rc " KEY_ED, &k);
	assert_true(k.opts.present);
	assert_true(k.opts.no_port_forwarding);
	assert_true(k.opts.no_agent_forwarding);
	assert_true(k.opts.no_x11_forwarding);
	assert_true(k.opts.no_pty);
	assert_true(k.opts.no_user_rc);
	assert_string_equal(k.options, "no-port-forwarding,no-agent-forwarding,no-x11-forwarding,no-pty,no-user-rc");
	assert_string_equal(k.fingerprint, FP_ED);
	assert_string_equal(k.comment, "alice@laptop");
	authkey_free(&k);

	parse_ok("no-pty " KEY_ED, &k);
	assert_true(k.opts.no_pty);
	assert_false(k.opts.no_port_forwarding);
	assert_false(k.opts.no_agent_forwarding);
	assert_false(k.opts.no_x11_forwarding);
	assert_false(k.opts.no_user_rc);
	authkey_free(&k);

	/* Names without regard to case; written back in lower case. */
	parse_ok("COMMAND=\"ls -l /\",No-Pty " KEY_EC, &k);
	assert_string_equal(k.opts.command, "ls -l /");
	assert_true(k.opts.no_pty);
	assert_string_equal(k.options, "command=\"ls -l /\",no-pty");
	assert_string_equal(k.fingerprint, FP_EC);
	authkey_free(&k);

	parse_ok("from=\"10.0.0.0/8,!10.0.0.1\" " KEY_R2048, &k);
	assert_string_equal(k.opts.from, "10.0.0.0/8,!10.0.0.1");
	assert_string_equal(k.fingerprint, FP_R2048);
	authkey_free(&k);

	parse_ok("expiry-time=\"20300101Z\" " KEY_ED, &k);
	assert_int_equal(k.opts.expiry_ms, 1893456000000LL);
	authkey_free(&k);

	parse_ok("permitopen=\"db:5432\",permitopen=\"[2001:db8::1]:*\",permitlisten=\"8080\","
		 "permitlisten=\"localhost:9000\" " KEY_ED, &k);
	assert_int_equal(strv_len(k.opts.permitopen), 2);
	assert_string_equal(k.opts.permitopen[0], "db:5432");
	assert_string_equal(k.opts.permitopen[1], "[2001:db8::1]:*");
	assert_int_equal(strv_len(k.opts.permitlisten), 2);
	assert_string_equal(k.opts.permitlisten[0], "8080");
	assert_string_equal(k.opts.permitlisten[1], "localhost:9000");
	authkey_free(&k);

	/* Blanks around the options field, none in it; no comment. */
	parse_ok("  restrict\t ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILxWzrLSSE3LrEjUf082QBoY0dQjwqjyrE0Sb2vhXgZ9", &k);
	assert_string_equal(k.options, "restrict");
	assert_string_equal(k.comment, "");
	authkey_free(&k);
}

static void test_options_restrict(void **state)
{
	struct authkey k;

	(void)state;
	parse_ok("restrict " KEY_ED, &k);
	assert_true(k.opts.no_port_forwarding && k.opts.no_agent_forwarding && k.opts.no_x11_forwarding &&
		    k.opts.no_pty && k.opts.no_user_rc);
	authkey_free(&k);

	/* Later positive options lift what restrict took. */
	parse_ok("restrict,pty,port-forwarding " KEY_ED, &k);
	assert_false(k.opts.no_pty);
	assert_false(k.opts.no_port_forwarding);
	assert_true(k.opts.no_agent_forwarding);
	assert_true(k.opts.no_x11_forwarding);
	assert_true(k.opts.no_user_rc);
	authkey_free(&k);

	parse_ok("restrict,agent-forwarding,X11-forwarding,user-rc " KEY_ED, &k);
	assert_false(k.opts.no_agent_forwarding);
	assert_false(k.opts.no_x11_forwarding);
	assert_false(k.opts.no_user_rc);
	assert_true(k.opts.no_pty);
	assert_true(k.opts.no_port_forwarding);
	authkey_free(&k);

	/* Order matters: restrict after pty takes it again. */
	parse_ok("pty,restrict " KEY_ED, &k);
	assert_true(k.opts.no_pty);
	authkey_free(&k);

	parse_ok("no-pty,pty,restrict,pty,no-pty " KEY_ED, &k);
	assert_true(k.opts.no_pty);
	assert_true(k.opts.no_port_forwarding);
	authkey_free(&k);
}

static void test_options_quoting(void **state)
{
	struct authkey k;

	(void)state;
	/* \" is a quote; a comma or a blank inside quotes is part of the value. */
	parse_ok("command=\"echo \\\"a,b\\\" c\",no-pty " KEY_ED, &k);
	assert_string_equal(k.opts.command, "echo \"a,b\" c");
	assert_true(k.opts.no_pty);
	assert_string_equal(k.options, "command=\"echo \\\"a,b\\\" c\",no-pty");
	authkey_free(&k);

	/* Any other backslash stands for itself, as in OpenSSH. */
	parse_ok("command=\"printf 'a\\nb' \\\\\\\"x\" " KEY_ED, &k);
	assert_string_equal(k.opts.command, "printf 'a\\nb' \\\\\"x");
	authkey_free(&k);

	parse_ok("from=\"192.168.1.0/24,10.0.0.1\",restrict " KEY_ED, &k);
	assert_string_equal(k.opts.from, "192.168.1.0/24,10.0.0.1");
	assert_true(k.opts.no_pty);
	authkey_free(&k);

	/* An empty command is a command. */
	parse_ok("command=\"\" " KEY_ED, &k);
	assert_non_null(k.opts.command);
	assert_string_equal(k.opts.command, "");
	authkey_free(&k);
}

static void test_options_refused(void **state)
{
	char *line;
	size_t n;

	(void)state;
	/* Everything sshd knows that we do not honour, and misspellings, by name. */
	refused("tunnel=\"0\" " KEY_ED, "key option \"tunnel\" is not supported");
	refused("cert-authority " KEY_ED, "key option \"cert-authority\" is not supported");
	refused("principals=\"a\" " KEY_ED, "key option \"principals\" is not supported");
	refused("no-touch-required " KEY_ED, "key option \"no-touch-required\" is not supported");
	refused("verify-required " KEY_ED, "key option \"verify-required\" is not supported");
	refused("restrict,no-ptty " KEY_ED, "key option \"no-ptty\" is not supported");
	refused("no-restrict " KEY_ED, "key option \"no-restrict\" is not supported");
	refused("restrict,environment=\"PATH=/x\" " KEY_ED, "key option \"environment\" is not supported");
	refused("AAAAC3NzaC1lZDI1NTE5AAAAILxWzrLSSE3L+rEjUf082QBoY0dQjwqjyrE0Sb2vhXgZ9",
		"is neither a key type nor a key option");
	/* Single-valued options given twice. */
	refused("command=\"a\",command=\"b\" " KEY_ED, "key option \"command\" is given more than once");
	refused("from=\"10.0.0.1\",FROM=\"10.0.0.2\" " KEY_ED, "key option \"from\" is given more than once");
	refused("expiry-time=\"20300101\",expiry-time=\"20310101\" " KEY_ED,
		"key option \"expiry-time\" is given more than once");
	/* Syntax. */
	refused("command=\"ls " KEY_ED, "the value of key option \"command\" has no closing double quote");
	refused("command=\"ls\\\" " KEY_ED, "the value of key option \"command\" has no closing double quote");
	refused("command=ls " KEY_ED, "the value of key option \"command\" must be in double quotes");
	refused("command " KEY_ED, "key option \"command\" needs a value");
	refused("no-pty=\"1\" " KEY_ED, "key option \"no-pty\" takes no value");
	refused("restrict, " KEY_ED, "the key options end with a comma");
	refused("restrict,,no-pty " KEY_ED, "the key options have an empty entry");
	refused(",restrict " KEY_ED, "the key options have an empty entry");
	refused("=\"x\" " KEY_ED, "a key option has no name before its '='");
	refused("command=\"ls\"x " KEY_ED, "unexpected \"x\" after key option \"command\"");
	refused("command=\"a\tb\" " KEY_ED, "the value of key option \"command\" contains a control character");
	refused("restrict", "the key options are not followed by a key type and key data");
	refused("restrict   ", "the key options are not followed by a key type and key data");
	refused("restrict ssh-foo AAAA", "unsupported key type 'ssh-foo'");
	refused("restrict bogus AAAA", "'bogus' after the key options is not a key type");
	refused("restrict ssh-ed25519", "has no base64 key data");
	/* The key checks apply behind options too. */
	refused("restrict " KEY_DSA, "DSA keys (ssh-dss) are not accepted");
	refused("no-pty " KEY_R1024, "RSA key of 1024 bits is too short");
	/* expiry-time. */
	refused("expiry-time=\"2030\" " KEY_ED, "key option expiry-time=\"2030\" is not a valid time");
	refused("expiry-time=\"20301301\" " KEY_ED, "is not a valid time");
	refused("expiry-time=\"20300230\" " KEY_ED, "is not a valid time");
	refused("expiry-time=\"2030010112\" " KEY_ED, "is not a valid time");
	refused("expiry-time=\"203001012460\" " KEY_ED, "is not a valid time");
	refused("expiry-time=\"2030-01-01\" " KEY_ED, "is not a valid time");
	refused("expiry-time=\"20300101X\" " KEY_ED, "is not a valid time");
	refused("expiry-time=\"19700101Z\" " KEY_ED, "is not a valid time");
	refused("expiry-time=\"\" " KEY_ED, "is not a valid time");
	/* from=. */
	refused("from=\"10.0.0.0/33\" " KEY_ED, "key option from= entry \"10.0.0.0/33\" is not a valid CIDR block");
	refused("from=\"10.0.0.0/\" " KEY_ED, "entry \"10.0.0.0/\" is not a valid CIDR block");
	refused("from=\"10.0.0.0/x\" " KEY_ED, "entry \"10.0.0.0/x\" is not a valid CIDR block");
	refused("from=\"10.0.*/8\" " KEY_ED, "entry \"10.0.*/8\" is not a valid CIDR block");
	refused("from=\"2001:db8::/129\" " KEY_ED, "entry \"2001:db8::/129\" is not a valid CIDR block");
	refused("from=\"example.com,!10.1.0.0/-1\" " KEY_ED, "entry \"10.1.0.0/-1\" is not a valid CIDR block");
	refused("from=\"10.0.0.1/8\" " KEY_ED, "entry \"10.0.0.1/8\" has address bits set past its /8 prefix");
	refused("from=\"2001:db8::1/32\" " KEY_ED, "entry \"2001:db8::1/32\" has address bits set past its /32 prefix");
	refused("from=\"10.0.0.1,,10.0.0.2\" " KEY_ED, "key option from= has an empty entry");
	refused("from=\"10.0.0.1,\" " KEY_ED, "key option from= has an empty entry");
	refused("from=\"!\" " KEY_ED, "key option from= has an empty entry");
	refused("from=\"\" " KEY_ED, "key option from= has an empty entry");
	refused("from=\"10.0.0.1, 10.0.0.2\" " KEY_ED, "entry \" 10.0.0.2\" contains a space");
	/* permitopen= and permitlisten=. */
	refused("permitopen=\"db\" " KEY_ED, "key option permitopen=\"db\" has no port: write host:port");
	refused("permitopen=\"db:0\" " KEY_ED, "key option permitopen=\"db:0\" has an invalid port");
	refused("permitopen=\"db:65536\" " KEY_ED, "has an invalid port");
	refused("permitopen=\"db:ssh\" " KEY_ED, "has an invalid port");
	refused("permitopen=\"db:\" " KEY_ED, "has an invalid port");
	refused("permitopen=\":22\" " KEY_ED, "key option permitopen=\":22\" has an empty host");
	refused("permitopen=\"2001:db8::1:22\" " KEY_ED, "write IPv6 addresses in [brackets]");
	refused("permitopen=\"[2001:db8::1:22\" " KEY_ED, "opens a '[' it does not close");
	refused("permitopen=\"[2001:db8::1]\" " KEY_ED, "needs a :port after the ']'");
	refused("permitlisten=\"[::1]\" " KEY_ED, "key option permitlisten=\"[::1]\" needs a :port after the ']'");
	refused("permitlisten=\"0\" " KEY_ED, "key option permitlisten=\"0\" has an invalid port");
	refused("permitlisten=\"\" " KEY_ED, "has an invalid port");

	/* Bounds: 64 permitopen options pass, 65 do not; from= entries; the field. */
	line = malloc(AUTHKEY_LINE_MAX + 1);
	n = 0;
	for (int i = 0; i < 65; i++)
		n += (size_t)sprintf(line + n, "permitopen=\"h%d:%d\",", i, 1000 + i);
	sprintf(line + n - 1, " %s", KEY_ED);
	refused(line, "more than 64 permitopen options are given");
	n = 0;
	for (int i = 0; i < 65; i++)
		n += (size_t)sprintf(line + n, "permitlisten=\"%d\",", 1000 + i);
	sprintf(line + n - 1, " %s", KEY_ED);
	refused(line, "more than 64 permitlisten options are given");
	n = (size_t)sprintf(line, "from=\"");
	for (int i = 0; i < 257; i++)
		n += (size_t)sprintf(line + n, "10.0.%d.%d,", i / 256, i % 256);
	sprintf(line + n - 1, "\" %s", KEY_ED);
	refused(line, "key option from= has more than 256 entries");
	n = (size_t)sprintf(line, "from=\"");
	memset(line + n, 'a', 300);
	sprintf(line + n + 300, "\" %s", KEY_ED);
	refused(line, "key option from= has an entry longer than 255 bytes");
	n = (size_t)sprintf(line, "command=\"");
	memset(line + n, 'x', AUTHKEY_OPTIONS_MAX);
	sprintf(line + n + AUTHKEY_OPTIONS_MAX, "\" %s", KEY_ED);
	refused(line, "the key options are longer than 8192 bytes");
	n = 0;
	while (n < AUTHKEY_OPTIONS_MAX + 10)
		n += (size_t)sprintf(line + n, "no-pty,");
	sprintf(line + n - 1, " %s", KEY_ED);
	refused(line, "the key options are longer than 8192 bytes");
	free(line);
}

static void test_options_at_bounds(void **state)
{
	struct authkey k;
	char *line = malloc(AUTHKEY_LINE_MAX + 1);
	size_t n = 0;

	(void)state;
	for (int i = 0; i < 64; i++)
		n += (size_t)sprintf(line + n, "permitopen=\"h%d:%d\",permitlisten=\"%d\",", i, 1000 + i, 2000 + i);
	sprintf(line + n - 1, " %s", KEY_ED);
	parse_ok(line, &k);
	assert_int_equal(strv_len(k.opts.permitopen), 64);
	assert_int_equal(strv_len(k.opts.permitlisten), 64);
	assert_true(authkey_permits_open(&k.opts, "h63", 1063));
	assert_true(authkey_permits_listen(&k.opts, "", 2063));
	authkey_free(&k);
	n = (size_t)sprintf(line, "from=\"");
	for (int i = 0; i < 256; i++)
		n += (size_t)sprintf(line + n, "10.0.%d.%d,", i / 256, i % 256);
	sprintf(line + n - 1, "\" %s", KEY_ED);
	parse_ok(line, &k);
	assert_true(authkey_from_allows(&k.opts, "10.0.0.255"));
	assert_false(authkey_from_allows(&k.opts, "10.0.1.0"));
	authkey_free(&k);
	free(line);
}

/* from= against an address, through a parsed line. */
static bool from_allows(const char *from, const char *ip)
{
	struct authkey k;
	char line[1024];
	bool r;

	snprintf(line, sizeof(line), "from=\"%s\" %s", from, KEY_ED);
	parse_ok(line, &k);
	r = authkey_from_allows(&k.opts, ip);
	authkey_free(&k);
	return r;
}

static void test_from(void **state)
{
	struct authkey k;

	(void)state;
	parse_ok(KEY_ED, &k);
	assert_true(authkey_from_allows(&k.opts, "203.0.113.9"));
	authkey_free(&k);
	parse_ok("no-pty " KEY_ED, &k);
	assert_true(authkey_from_allows(&k.opts, "203.0.113.9"));
	authkey_free(&k);

	/* IPv4: exact, CIDR. */
	assert_true(from_allows("10.1.2.3", "10.1.2.3"));
	assert_false(from_allows("10.1.2.3", "10.1.2.4"));
	assert_true(from_allows("10.0.0.0/8", "10.255.0.1"));
	assert_false(from_allows("10.0.0.0/8", "11.0.0.1"));
	assert_true(from_allows("192.168.4.0/22", "192.168.7.255"));
	assert_false(from_allows("192.168.4.0/22", "192.168.8.0"));
	assert_true(from_allows("0.0.0.0/0", "198.51.100.1"));
	assert_true(from_allows("10.0.0.1/32", "10.0.0.1"));
	/* IPv6: numbers, whatever the spelling. */
	assert_true(from_allows("2001:db8::/32", "2001:db8:1::5"));
	assert_true(from_allows("2001:db8::/32", "2001:DB8::1"));
	assert_false(from_allows("2001:db8::/32", "2001:db9::1"));
	assert_true(from_allows("::1", "0:0:0:0:0:0:0:1"));
	assert_true(from_allows("2001:db8:0:8000::/49", "2001:db8:0:ffff::1"));
	assert_false(from_allows("2001:db8:0:8000::/49", "2001:db8:0:7fff::1"));
	/* Families never mix. */
	assert_false(from_allows("0.0.0.0/0", "2001:db8::1"));
	assert_false(from_allows("::/0", "10.0.0.1"));
	/* Wildcards over the address text, without regard to case. */
	assert_true(from_allows("192.168.1.*", "192.168.1.77"));
	assert_false(from_allows("192.168.1.*", "192.168.2.1"));
	assert_true(from_allows("10.0.0.?", "10.0.0.5"));
	assert_false(from_allows("10.0.0.?", "10.0.0.15"));
	assert_true(from_allows("FE80::*", "fe80::1"));
	assert_true(from_allows("fe80::*", "fe80::1%eth0"));
	/* A zoned address is in no block (OpenSSH compares the zone too). */
	assert_false(from_allows("fe80::/10", "fe80::1%eth0"));
	assert_true(from_allows("fe80::/10", "fe80::1"));
	assert_true(from_allows("fe80::1%eth0", "fe80::1%eth0"));
	assert_true(from_allows("*", "203.0.113.9"));
	assert_true(from_allows("*1*", "10.0.0.1"));
	/* No DNS: a host-name pattern only ever meets the address text. */
	assert_false(from_allows("*.example.com", "10.0.0.1"));
	assert_false(from_allows("localhost", "127.0.0.1"));
	/* Negation: a matching negated entry refuses, wherever it stands. */
	assert_false(from_allows("!10.0.0.5,10.0.0.0/8", "10.0.0.5"));
	assert_true(from_allows("!10.0.0.5,10.0.0.0/8", "10.0.0.6"));
	assert_false(from_allows("10.0.0.0/8,!10.0.0.5", "10.0.0.5"));
	assert_false(from_allows("*,!10.0.0.*", "10.0.0.9"));
	assert_true(from_allows("*,!10.0.0.*", "10.0.1.9"));
	assert_false(from_allows("10.0.0.0/8,!10.0.0.0/24", "10.0.0.200"));
	/* Only negated entries: nothing positive matches, so no. */
	assert_false(from_allows("!10.0.0.5", "10.0.0.6"));
	assert_false(from_allows("!10.0.0.5", "10.0.0.5"));
	/* IPv4-mapped clients are their IPv4 address, for patterns too. */
	assert_true(from_allows("10.0.0.0/8", "::ffff:10.1.2.3"));
	assert_true(from_allows("10.1.2.*", "::ffff:10.1.2.3"));
	assert_true(from_allows("10.1.2.3", "::FFFF:10.1.2.3"));
	assert_false(from_allows("!10.1.2.3,*", "::ffff:10.1.2.3"));
	assert_false(from_allows("::ffff:*", "::ffff:10.1.2.3"));
	assert_true(from_allows("::ffff:10.0.0.0/104", "10.9.9.9"));
	assert_false(from_allows("10.0.0.0/8", "::10.1.2.3"));
	/* What is not an address only meets patterns; no address at all never passes. */
	assert_false(from_allows("10.0.0.0/8", "not-an-address"));
	assert_true(from_allows("*", "not-an-address"));
	assert_false(from_allows("*", NULL));
	assert_false(from_allows("*", ""));
}

static void set_tz(const char *tz)
{
	if (tz)
		setenv("TZ", tz, 1);
	else
		unsetenv("TZ");
	tzset();
}

static long long expiry_of(const char *when)
{
	struct authkey k;
	char line[512];
	long long ms;

	snprintf(line, sizeof(line), "expiry-time=\"%s\" %s", when, KEY_ED);
	parse_ok(line, &k);
	ms = k.opts.expiry_ms;
	authkey_free(&k);
	return ms;
}

static void test_expiry(void **state)
{
	struct authkey k;
	const char *tz = getenv("TZ");
	char *saved = tz ? strdup(tz) : NULL;

	(void)state;
	parse_ok(KEY_ED, &k);
	assert_false(authkey_expired(&k.opts, 0));
	assert_false(authkey_expired(&k.opts, 4102444800000LL));
	authkey_free(&k);

	/* Z: UTC, whatever the local zone. */
	set_tz("XST-2");
	assert_int_equal(expiry_of("20300101Z"), 1893456000000LL);
	assert_int_equal(expiry_of("20300101z"), 1893456000000LL);
	assert_int_equal(expiry_of("20300101UTC"), 1893456000000LL);
	assert_int_equal(expiry_of("203001011230Z"), 1893501000000LL);
	assert_int_equal(expiry_of("20300101123045Z"), 1893501045000LL);
	assert_int_equal(expiry_of("20240229Z"), 1709164800000LL);
	/* No Z: the local zone (here UTC+2). */
	assert_int_equal(expiry_of("20300101"), 1893456000000LL - 7200000);
	/* ... with its daylight saving time on that date. */
	set_tz("EST5EDT,M3.2.0,M11.1.0");
	assert_int_equal(expiry_of("203007011200"), 1909152000000LL);
	assert_int_equal(expiry_of("203001011200"), 1893517200000LL);
	set_tz(saved);
	free(saved);

	/* As OpenSSH (seconds): valid through the second named, expired after it. */
	parse_ok("expiry-time=\"20300101000000Z\" " KEY_ED, &k);
	assert_false(authkey_expired(&k.opts, 1893455999999LL));
	assert_false(authkey_expired(&k.opts, 1893456000000LL));
	assert_false(authkey_expired(&k.opts, 1893456000999LL));
	assert_true(authkey_expired(&k.opts, 1893456001000LL));
	assert_true(authkey_expired(&k.opts, 4102444800000LL));
	authkey_free(&k);
}

static void test_permitopen(void **state)
{
	struct authkey k;

	(void)state;
	parse_ok(KEY_ED, &k);
	assert_true(authkey_permits_open(&k.opts, "anything", 1));
	authkey_free(&k);

	parse_ok("permitopen=\"db.internal:5432\",permitopen=\"[2001:db8::1]:443\",permitopen=\"10.0.0.1:*\","
		 "permitopen=\"*:22\" " KEY_ED, &k);
	assert_true(authkey_permits_open(&k.opts, "db.internal", 5432));
	assert_true(authkey_permits_open(&k.opts, "DB.Internal", 5432));
	assert_false(authkey_permits_open(&k.opts, "db.internal", 5433));
	assert_false(authkey_permits_open(&k.opts, "db", 5432));
	/* The host as sent: no resolution, no numeric comparison. */
	assert_false(authkey_permits_open(&k.opts, "db.internal.", 5432));
	assert_true(authkey_permits_open(&k.opts, "2001:db8::1", 443));
	assert_false(authkey_permits_open(&k.opts, "[2001:db8::1]", 443));
	assert_false(authkey_permits_open(&k.opts, "2001:db8:0::1", 443));
	/* "*" ports and hosts. */
	assert_true(authkey_permits_open(&k.opts, "10.0.0.1", 1));
	assert_true(authkey_permits_open(&k.opts, "10.0.0.1", 65535));
	assert_true(authkey_permits_open(&k.opts, "10.0.0.1", 0));
	assert_false(authkey_permits_open(&k.opts, "10.0.0.2", 80));
	assert_true(authkey_permits_open(&k.opts, "anything", 22));
	assert_false(authkey_permits_open(&k.opts, "anything", 23));
	assert_false(authkey_permits_open(&k.opts, NULL, 22));
	assert_false(authkey_permits_open(&k.opts, "10.0.0.1", -1));
	assert_false(authkey_permits_open(&k.opts, "10.0.0.1", 65536));
	authkey_free(&k);

	/* "*" is no pattern: "db*" is a host name like any other. */
	parse_ok("permitopen=\"db*:5432\" " KEY_ED, &k);
	assert_false(authkey_permits_open(&k.opts, "db1", 5432));
	assert_true(authkey_permits_open(&k.opts, "db*", 5432));
	authkey_free(&k);
}

static void test_permitlisten(void **state)
{
	struct authkey k;

	(void)state;
	parse_ok(KEY_ED, &k);
	assert_true(authkey_permits_listen(&k.opts, "", 0));
	authkey_free(&k);

	/* ssh -R without an address sends "localhost": only that permits it. */
	parse_ok("permitlisten=\"localhost:8080\",permitlisten=\"[::1]:9000\" " KEY_ED, &k);
	assert_true(authkey_permits_listen(&k.opts, "localhost", 8080));
	assert_true(authkey_permits_listen(&k.opts, "LOCALHOST", 8080));
	assert_false(authkey_permits_listen(&k.opts, "127.0.0.1", 8080));
	assert_false(authkey_permits_listen(&k.opts, "", 8080));
	assert_false(authkey_permits_listen(&k.opts, "0.0.0.0", 8080));
	assert_false(authkey_permits_listen(&k.opts, "localhost", 8081));
	assert_true(authkey_permits_listen(&k.opts, "::1", 9000));
	assert_false(authkey_permits_listen(&k.opts, "localhost", 9000));
	/* Port 0 (any free port) needs a "*" port. */
	assert_false(authkey_permits_listen(&k.opts, "localhost", 0));
	assert_false(authkey_permits_listen(&k.opts, NULL, 8080));
	assert_false(authkey_permits_listen(&k.opts, "localhost", -1));
	authkey_free(&k);

	/* A bare port is "*:port", as OpenSSH: any bind address, "" included. */
	parse_ok("permitlisten=\"2222\" " KEY_ED, &k);
	assert_true(authkey_permits_listen(&k.opts, "", 2222));
	assert_true(authkey_permits_listen(&k.opts, "0.0.0.0", 2222));
	assert_true(authkey_permits_listen(&k.opts, "localhost", 2222));
	assert_false(authkey_permits_listen(&k.opts, "localhost", 2223));
	assert_false(authkey_permits_listen(&k.opts, "", 0));
	authkey_free(&k);

	parse_ok("permitlisten=\"localhost:*\" " KEY_ED, &k);
	assert_true(authkey_permits_listen(&k.opts, "localhost", 0));
	assert_true(authkey_permits_listen(&k.opts, "localhost", 5555));
	assert_false(authkey_permits_listen(&k.opts, "", 0));
	authkey_free(&k);

	parse_ok("permitlisten=\"*\" " KEY_ED, &k);
	assert_true(authkey_permits_listen(&k.opts, "", 0));
	assert_true(authkey_permits_listen(&k.opts, "203.0.113.1", 65535));
	authkey_free(&k);

	/* The permitted host is a wildcard pattern over the address as sent. */
	parse_ok("permitlisten=\"127.0.0.?:8000\",permitlisten=\"*.local:*\" " KEY_ED, &k);
	assert_true(authkey_permits_listen(&k.opts, "127.0.0.1", 8000));
	assert_false(authkey_permits_listen(&k.opts, "127.0.0.10", 8000));
	assert_false(authkey_permits_listen(&k.opts, "localhost", 8000));
	assert_true(authkey_permits_listen(&k.opts, "box.LOCAL", 0));
	assert_false(authkey_permits_listen(&k.opts, "", 0));
	authkey_free(&k);
}

static void assert_same_opts(const struct authkey_opts *a, const struct authkey_opts *b)
{
	assert_int_equal(a->present, b->present);
	assert_int_equal(a->no_port_forwarding, b->no_port_forwarding);
	assert_int_equal(a->no_agent_forwarding, b->no_agent_forwarding);
	assert_int_equal(a->no_x11_forwarding, b->no_x11_forwarding);
	assert_int_equal(a->no_pty, b->no_pty);
	assert_int_equal(a->no_user_rc, b->no_user_rc);
	assert_int_equal(a->expiry_ms, b->expiry_ms);
	if (a->command || b->command)
		assert_string_equal(a->command, b->command);
	if (a->from || b->from)
		assert_string_equal(a->from, b->from);
	assert_int_equal(strv_len(a->permitopen), strv_len(b->permitopen));
	for (size_t i = 0; a->permitopen && a->permitopen[i]; i++)
		assert_string_equal(a->permitopen[i], b->permitopen[i]);
	assert_int_equal(strv_len(a->permitlisten), strv_len(b->permitlisten));
	for (size_t i = 0; a->permitlisten && a->permitlisten[i]; i++)
		assert_string_equal(a->permitlisten[i], b->permitlisten[i]);
}

/* The registry stores authkey_format()'s line and parses it again at restart. */
static void round_trip(const char *line, const char *expect)
{
	struct authkey a, b;
	char *s1, *s2;

	parse_ok(line, &a);
	s1 = authkey_format(&a);
	assert_non_null(s1);
	assert_string_equal(s1, expect);
	parse_ok(s1, &b);
	s2 = authkey_format(&b);
	assert_string_equal(s2, s1);
	assert_string_equal(a.fingerprint, b.fingerprint);
	assert_string_equal(a.comment, b.comment);
	if (a.options || b.options)
		assert_string_equal(a.options, b.options);
	assert_same_opts(&a.opts, &b.opts);
	free(s1);
	free(s2);
	authkey_free(&a);
	authkey_free(&b);
}

static void test_options_round_trip(void **state)
{
	(void)state;
	round_trip(KEY_ED, KEY_ED);
	round_trip("restrict " KEY_ED, "restrict " KEY_ED);
	round_trip("Restrict,PTY,No-X11-Forwarding\t " KEY_EC, "restrict,pty,no-x11-forwarding " KEY_EC);
	round_trip("command=\"echo \\\"hi, there\\\" \\\\ \\\\\\\" end\",from=\"10.0.0.0/8,!10.0.0.1,*.example.com\","
		   "EXPIRY-TIME=\"20300101z\",permitopen=\"h:1\",permitopen=\"[::1]:*\",permitlisten=\"2222\","
		   "permitlisten=\"localhost:*\",no-user-rc " KEY_R2048,
		   "command=\"echo \\\"hi, there\\\" \\\\ \\\\\\\" end\",from=\"10.0.0.0/8,!10.0.0.1,*.example.com\","
		   "expiry-time=\"20300101z\",permitopen=\"h:1\",permitopen=\"[::1]:*\",permitlisten=\"2222\","
		   "permitlisten=\"localhost:*\",no-user-rc " KEY_R2048);
	/* The value as read comes back quoted the same way. */
	round_trip("command=\"a\\b\\\\\\\"c\" " KEY_ED, "command=\"a\\b\\\\\\\"c\" " KEY_ED);
	round_trip("command=\"\" " KEY_ED2, "command=\"\" " KEY_ED2);
}

/* A comment is cut at 256 bytes; what the cut leaves must re-parse to itself. */
static void test_long_comment_round_trip(void **state)
{
	char line[1024], expect[1024];
	const char *b64 = strchr(KEY_ED, ' ') + 1;
	int n = (int)strcspn(b64, " ");

	(void)state;
	snprintf(line, sizeof(line), "restrict ssh-ed25519 %.*s %0255d   and more", n, b64, 0);
	snprintf(expect, sizeof(expect), "restrict ssh-ed25519 %.*s %0255d", n, b64, 0);
	round_trip(line, expect);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepted), cmocka_unit_test(test_comment),
		cmocka_unit_test(test_blank),    cmocka_unit_test(test_refused),
		cmocka_unit_test(test_too_long), cmocka_unit_test(test_format),
		cmocka_unit_test(test_options_each), cmocka_unit_test(test_options_restrict),
		cmocka_unit_test(test_options_quoting), cmocka_unit_test(test_options_refused),
		cmocka_unit_test(test_options_at_bounds), cmocka_unit_test(test_from),
		cmocka_unit_test(test_expiry), cmocka_unit_test(test_permitopen),
		cmocka_unit_test(test_permitlisten), cmocka_unit_test(test_options_round_trip),
		cmocka_unit_test(test_long_comment_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
