#include "authkeys.h"
#include "util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <openssl/bn.h>
#include <openssl/evp.h>

static const char *const accepted_types[] = {
	"ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
	"ssh-rsa", "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
};

static bool type_accepted(const char *t, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(accepted_types); i++)
		if (strlen(accepted_types[i]) == len && strncmp(t, accepted_types[i], len) == 0)
			return true;
	return false;
}

static bool looks_like_type(const char *t, size_t len)
{
	return (len > 4 && strncmp(t, "ssh-", 4) == 0) || (len > 6 && strncmp(t, "ecdsa-", 6) == 0) ||
	       (len > 3 && strncmp(t, "sk-", 3) == 0);
}

/* Comments end up in logs and log files: keep them printable and short. */
static char *sanitize_comment(const char *s)
{
	size_t n = strlen(s);
	char *c;

	if (n > 256)
		n = 256;
	/* After the cut, so that the comment re-parses to itself. */
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	c = strndup(s, n);
	for (size_t i = 0; c && c[i]; i++)
		if (!isprint((unsigned char)c[i]))
			c[i] = '?';
	return c;
}

static bool type_like(const char *t, size_t len)
{
	return (len == 7 && strncmp(t, "ssh-dss", 7) == 0) || looks_like_type(t, len);
}

static int refuse_type(const char *t, size_t len, char *err)
{
	if (len == 7 && strncmp(t, "ssh-dss", 7) == 0)
		return errf(err, -EINVAL, "DSA keys (ssh-dss) are not accepted: they are insecure; use ssh-ed25519");
	if (strstr(t, "-cert-v01@openssh.com") && (size_t)(strstr(t, "-cert") - t) < len)
		return errf(err, -EINVAL, "certificates (%.*s) are not supported; give the plain public key",
			    (int)len, t);
	if (looks_like_type(t, len))
		return errf(err, -EINVAL, "unsupported key type '%.*s'", (int)(len > 64 ? 64 : len), t);
	/* Only reached after an options field: what follows it is no type. */
	return errf(err, -EINVAL, "'%.*s' after the key options is not a key type: give '[options] type base64 [comment]'",
		    (int)(len > 64 ? 64 : len), t);
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Bits of an ssh-rsa blob's modulus (string "ssh-rsa", mpint e, mpint n), or
 * -1. libssh 0.10 exports no key-size call, so read the wire format here. */
static int rsa_bits(const char *b64)
{
	size_t blen = strlen(b64), off = 0;
	unsigned char *blob = malloc(blen / 4 * 3 + 3);
	int n, bits = -1;

	if (!blob)
		return -1;
	n = EVP_DecodeBlock(blob, (const unsigned char *)b64, (int)blen);
	if (n < 0)
		goto out;
	/* EVP_DecodeBlock counts '=' padding as zero bytes: trim them. */
	for (size_t i = blen; i > 0 && b64[i - 1] == '='; i--)
		n--;
	for (int field = 0; field < 3; field++) {
		uint32_t l;

		if ((size_t)n - off < 4)
			goto out;
		l = be32(blob + off);
		off += 4;
		if (l > (size_t)n - off)
			goto out;
		if (field == 2) {
			BIGNUM *bn = BN_bin2bn(blob + off, (int)l, NULL);
			if (bn)
				bits = BN_num_bits(bn);
			BN_free(bn);
		}
		off += l;
	}
out:
	free(blob);
	return bits;
}

static int check_key(const char *type, const char *b64, ssh_key key, char *err)
{
	enum ssh_keytypes_e declared = ssh_key_type_from_name(type);
	enum ssh_keytypes_e actual = ssh_key_type(key);

	/* libssh's name for rsa-sha2 keys is still ssh-rsa: compare base types. */
	if (declared != actual)
		return errf(err, -EINVAL, "key data is a %s key but the line says %s",
			    ssh_key_type_to_char(actual), type);
	if (actual == SSH_KEYTYPE_RSA) {
		int bits = rsa_bits(b64);

		if (bits < 0)
			return errf(err, -EINVAL, "the ssh-rsa key data is malformed");
		if (bits < AUTHKEY_RSA_MIN_BITS)
			return errf(err, -EINVAL, "RSA key of %d bits is too short: at least %d bits are required",
				    bits, AUTHKEY_RSA_MIN_BITS);
	}
	return 0;
}

/* ---- key options (sshd(8), AUTHORIZED_KEYS FILE FORMAT) ---- */

enum opt_kind { OPT_RESTRICT, OPT_FLAG, OPT_COMMAND, OPT_FROM, OPT_EXPIRY, OPT_PERMITOPEN, OPT_PERMITLISTEN };

/* The options we honour, matched without regard to case and written back as
 * spelled here. A flag sets its no_* field to `deny`; restrict sets them all,
 * and a later positive flag lifts its own again, as in OpenSSH. Anything else
 * OpenSSH knows (environment=, tunnel=, cert-authority, principals=, the FIDO
 * flags) is refused: dropping it silently would change what the key may do. */
static const struct key_option {
	const char *name;
	enum opt_kind kind;
	size_t field; /* OPT_FLAG: offset of its bool in struct authkey_opts */
	bool deny;
} key_options[] = {
	{ "restrict", OPT_RESTRICT, 0, true },
	{ "port-forwarding", OPT_FLAG, offsetof(struct authkey_opts, no_port_forwarding), false },
	{ "no-port-forwarding", OPT_FLAG, offsetof(struct authkey_opts, no_port_forwarding), true },
	{ "agent-forwarding", OPT_FLAG, offsetof(struct authkey_opts, no_agent_forwarding), false },
	{ "no-agent-forwarding", OPT_FLAG, offsetof(struct authkey_opts, no_agent_forwarding), true },
	{ "x11-forwarding", OPT_FLAG, offsetof(struct authkey_opts, no_x11_forwarding), false },
	{ "no-x11-forwarding", OPT_FLAG, offsetof(struct authkey_opts, no_x11_forwarding), true },
	{ "pty", OPT_FLAG, offsetof(struct authkey_opts, no_pty), false },
	{ "no-pty", OPT_FLAG, offsetof(struct authkey_opts, no_pty), true },
	/* peon-sshd never runs rc files: kept as a flag, changes nothing. */
	{ "user-rc", OPT_FLAG, offsetof(struct authkey_opts, no_user_rc), false },
	{ "no-user-rc", OPT_FLAG, offsetof(struct authkey_opts, no_user_rc), true },
	{ "command", OPT_COMMAND, 0, false },
	{ "from", OPT_FROM, 0, false },
	{ "expiry-time", OPT_EXPIRY, 0, false },
	{ "permitopen", OPT_PERMITOPEN, 0, false },
	{ "permitlisten", OPT_PERMITLISTEN, 0, false },
};

/* Untrusted text for an error sentence: at most 64 bytes, printable. */
static const char *shown(char buf[72], const char *s, size_t len)
{
	size_t n = len > 64 ? 64 : len;

	for (size_t i = 0; i < n; i++)
		buf[i] = isprint((unsigned char)s[i]) ? s[i] : '?';
	strcpy(buf + n, len > n ? "..." : "");
	return buf;
}

static const struct key_option *find_option(const char *name, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(key_options); i++)
		if (strlen(key_options[i].name) == len && strncasecmp(key_options[i].name, name, len) == 0)
			return &key_options[i];
	return NULL;
}

static void opts_free(struct authkey_opts *o)
{
	free(o->command);
	free(o->from);
	strv_free(o->permitopen);
	strv_free(o->permitlisten);
	memset(o, 0, sizeof(*o));
}

/* A value in double quotes at *pp, where \" stands for a quote and any other
 * backslash for itself (as OpenSSH reads them). Control bytes are refused:
 * values reach logs and, for command=, a shell. */
static int dequote(const char **pp, const char *name, char **out, char *err)
{
	const char *s = *pp;
	char *v;
	size_t n = 0;

	if (*s != '"')
		return errf(err, -EINVAL, "the value of key option \"%s\" must be in double quotes", name);
	if (!(v = malloc(strlen(++s) + 1)))
		return errf(err, -ENOMEM, "out of memory");
	for (; *s && *s != '"'; s++) {
		if (s[0] == '\\' && s[1] == '"')
			s++;
		if ((unsigned char)*s < 0x20 || *s == 0x7f) {
			free(v);
			return errf(err, -EINVAL, "the value of key option \"%s\" contains a control character", name);
		}
		v[n++] = *s;
	}
	if (!*s) {
		free(v);
		return errf(err, -EINVAL, "the value of key option \"%s\" has no closing double quote", name);
	}
	v[n] = '\0';
	*pp = s + 1;
	*out = v;
	return 0;
}

/* ---- from= ---- */

struct from_entry {
	bool neg, net;   /* "!..."; an address or CIDR block, else a wildcard pattern */
	int af;
	unsigned char addr[16];
	unsigned int bits;
	char pat[AUTHKEY_PATTERN_MAX + 1]; /* the entry without its '!' */
};

/* An IPv4-mapped IPv6 address (::ffff:a.b.c.d) stands for the IPv4 one. */
static void unmap(int *af, unsigned char addr[16], unsigned int *bits)
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (*af == AF_INET6 && memcmp(addr, mapped, 12) == 0 && (!bits || *bits >= 96)) {
		memmove(addr, addr + 12, 4);
		*af = AF_INET;
		if (bits)
			*bits -= 96;
	}
}

static bool addr_parse(const char *s, int *af, unsigned char addr[16])
{
	if (inet_pton(AF_INET, s, addr) == 1)
		*af = AF_INET;
	else if (inet_pton(AF_INET6, s, addr) == 1)
		*af = AF_INET6;
	else
		return false;
	return true;
}

/* One entry of a from= list (len bytes at s). An address or address/prefix
 * is compared as numbers; anything else is a wildcard pattern. A '/' makes it
 * a CIDR block, which must be valid (OpenSSH refuses one with bits set past
 * its prefix, and a prefix too long, too). err may be NULL. */
static int from_entry_parse(const char *s, size_t len, struct from_entry *e, char *err)
{
	char b[72], *slash;
	unsigned long bits;

	memset(e, 0, sizeof(*e));
	if (len > 0 && *s == '!') {
		e->neg = true;
		s++;
		len--;
	}
	if (len == 0)
		return errf(err, -EINVAL, "key option from= has an empty entry");
	if (len > AUTHKEY_PATTERN_MAX)
		return errf(err, -EINVAL, "key option from= has an entry longer than %d bytes (\"%s\")",
			    AUTHKEY_PATTERN_MAX, shown(b, s, len));
	memcpy(e->pat, s, len);
	e->pat[len] = '\0';
	/* OpenSSH would keep " 10.0.0.2" as a pattern that never matches. */
	if (strchr(e->pat, ' '))
		return errf(err, -EINVAL, "key option from= entry \"%s\" contains a space", shown(b, s, len));
	if (!(slash = strchr(e->pat, '/'))) {
		if ((e->net = addr_parse(e->pat, &e->af, e->addr))) {
			e->bits = e->af == AF_INET ? 32 : 128;
			unmap(&e->af, e->addr, &e->bits);
		}
		return 0;
	}
	*slash = '\0';
	e->net = addr_parse(e->pat, &e->af, e->addr);
	*slash = '/';
	if (!e->net || strlen(slash + 1) > 3 || parse_ulong(slash + 1, e->af == AF_INET ? 32 : 128, &bits) < 0)
		return errf(err, -EINVAL, "key option from= entry \"%s\" is not a valid CIDR block",
			    shown(b, e->pat, len));
	e->bits = (unsigned int)bits;
	for (unsigned int i = e->bits; i < (e->af == AF_INET ? 32u : 128u); i++)
		if (e->addr[i / 8] & (0x80 >> (i % 8)))
			return errf(err, -EINVAL, "key option from= entry \"%s\" has address bits set past its /%u prefix",
				    shown(b, e->pat, len), e->bits);
	unmap(&e->af, e->addr, &e->bits);
	return 0;
}

static int from_check(const char *list, char *err)
{
	struct from_entry e;
	size_t n = 0;
	int r;

	for (const char *p = list;; p++) {
		size_t len = strcspn(p, ",");

		if (++n > AUTHKEY_FROM_MAX)
			return errf(err, -EINVAL, "key option from= has more than %d entries", AUTHKEY_FROM_MAX);
		if ((r = from_entry_parse(p, len, &e, err)) < 0)
			return r;
		p += len;
		if (!*p)
			return 0;
	}
}

/* OpenSSH's '*' and '?' wildcards, without regard to case. */
static bool wild_match(const char *s, const char *pat)
{
	const char *star = NULL, *resume = NULL;

	while (*s) {
		if (*pat == '?' || (*pat && *pat != '*' && tolower((unsigned char)*pat) == tolower((unsigned char)*s))) {
			pat++;
			s++;
		} else if (*pat == '*') {
			star = pat++;
			resume = s;
		} else if (star) {
			pat = star + 1;
			s = ++resume;
		} else {
			return false;
		}
	}
	while (*pat == '*')
		pat++;
	return *pat == '\0';
}

static bool prefix_match(const unsigned char *a, const unsigned char *net, unsigned int bits)
{
	unsigned int whole = bits / 8, rest = bits % 8;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));

	return memcmp(a, net, whole) == 0 && (rest == 0 || ((a[whole] ^ net[whole]) & mask) == 0);
}

/* As OpenSSH's match_host_and_ip with UseDNS no: peon-sshd resolves nothing,
 * so the "host name" is the address text and a host-name pattern
 * (*.example.com) can only ever match that text. A negated entry that matches
 * refuses outright; otherwise some positive entry must match. */
bool authkey_from_allows(const struct authkey_opts *o, const char *ip)
{
	char text[INET6_ADDRSTRLEN + 64];
	unsigned char addr[16];
	struct from_entry e;
	bool numeric, allowed = false;
	int af = 0;

	if (!o || !o->from)
		return true;
	if (!ip || !*ip || strlen(ip) >= sizeof(text))
		return false;
	/* As in OpenSSH, an address with a zone ("fe80::1%eth0") is in no block
	 * written without one: only patterns over its text can match it. */
	numeric = !strchr(ip, '%') && addr_parse(ip, &af, addr);
	if (numeric)
		unmap(&af, addr, NULL);
	/* An IPv4-mapped client is the IPv4 address, for patterns too. */
	if (numeric && af == AF_INET && strchr(ip, ':'))
		inet_ntop(AF_INET, addr, text, sizeof(text));
	else
		snprintf(text, sizeof(text), "%s", ip);
	for (const char *p = o->from;; p++) {
		size_t len = strcspn(p, ",");
		bool match;

		if (from_entry_parse(p, len, &e, NULL) < 0)
			return false;
		if (e.net)
			match = numeric && e.af == af && prefix_match(addr, e.addr, e.bits);
		else
			match = wild_match(text, e.pat);
		if (match && e.neg)
			return false;
		allowed |= match;
		p += len;
		if (!*p)
			return allowed;
	}
}

/* ---- expiry-time= ---- */

static int days_in_month(int y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0) ? 29 : days[m - 1];
}

static int digits(const char *s, int n)
{
	int v = 0;

	while (n-- > 0)
		v = v * 10 + (*s++ - '0');
	return v;
}

/* YYYYMMDD or YYYYMMDDHHMM[SS], local time unless it ends in Z (or UTC, which
 * OpenSSH takes too), into unix ms. OpenSSH leaves calendar checks to
 * strptime; here an impossible date (Feb 30) or a time at or before the epoch
 * is refused rather than rolled over. */
static int parse_expiry(const char *v, long long *ms)
{
	size_t l = strlen(v);
	bool utc = false;
	struct tm tm;
	time_t t;

	if (l > 1 && (v[l - 1] == 'Z' || v[l - 1] == 'z')) {
		utc = true;
		l--;
	} else if (l > 3 && strcasecmp(v + l - 3, "UTC") == 0) {
		utc = true;
		l -= 3;
	}
	if (l != 8 && l != 12 && l != 14)
		return -EINVAL;
	for (size_t i = 0; i < l; i++)
		if (!isdigit((unsigned char)v[i]))
			return -EINVAL;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = digits(v, 4) - 1900;
	tm.tm_mon = digits(v + 4, 2) - 1;
	tm.tm_mday = digits(v + 6, 2);
	if (l >= 12) {
		tm.tm_hour = digits(v + 8, 2);
		tm.tm_min = digits(v + 10, 2);
	}
	if (l == 14)
		tm.tm_sec = digits(v + 12, 2);
	if (tm.tm_year < 70 || tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 ||
	    tm.tm_mday > days_in_month(tm.tm_year + 1900, tm.tm_mon + 1) || tm.tm_hour > 23 || tm.tm_min > 59 ||
	    tm.tm_sec > 59)
		return -EINVAL;
	/* Local wall-clock time, daylight saving as it is on that date. */
	tm.tm_isdst = -1;
	t = utc ? timegm(&tm) : mktime(&tm);
	if (t <= 0)
		return -EINVAL;
	*ms = (long long)t * 1000;
	return 0;
}

/* As OpenSSH, by whole seconds: the key still works during the second named. */
bool authkey_expired(const struct authkey_opts *o, long long now_ms)
{
	return o && o->expiry_ms > 0 && now_ms / 1000 > o->expiry_ms / 1000;
}

/* ---- permitopen= and permitlisten= ---- */

/* "host:port" or "[v6]:port", and for permitlisten a bare "port", which
 * OpenSSH reads as "*:port" (any bind address). The host goes to host[]
 * without brackets; the port to *port, 0 for "*". err may be NULL. */
static int permit_parse(const char *v, bool listen, char host[AUTHKEY_PATTERN_MAX + 1], int *port, char *err)
{
	const char *name = listen ? "permitlisten" : "permitopen", *h = v, *ps, *c;
	unsigned long p;
	size_t hlen;
	char b[72];

	if (*v == '[') {
		if (!(c = strchr(v, ']')))
			return errf(err, -EINVAL, "key option %s=\"%s\" opens a '[' it does not close", name,
				    shown(b, v, strlen(v)));
		h = v + 1;
		hlen = (size_t)(c - h);
		if (c[1] != ':')
			return errf(err, -EINVAL, "key option %s=\"%s\" needs a :port after the ']'", name,
				    shown(b, v, strlen(v)));
		ps = c + 2;
	} else if ((c = strchr(v, ':'))) {
		hlen = (size_t)(c - v);
		ps = c + 1;
		if (strchr(ps, ':'))
			return errf(err, -EINVAL, "key option %s=\"%s\" has more than one ':': write IPv6 addresses in [brackets]",
				    name, shown(b, v, strlen(v)));
	} else if (listen) {
		h = "*";
		hlen = 1;
		ps = v;
	} else {
		return errf(err, -EINVAL, "key option permitopen=\"%s\" has no port: write host:port",
			    shown(b, v, strlen(v)));
	}
	if (hlen == 0)
		return errf(err, -EINVAL, "key option %s=\"%s\" has an empty host", name, shown(b, v, strlen(v)));
	if (hlen > AUTHKEY_PATTERN_MAX)
		return errf(err, -EINVAL, "key option %s= has a host longer than %d bytes", name, AUTHKEY_PATTERN_MAX);
	if (strcmp(ps, "*") == 0)
		p = 0;
	else if (strlen(ps) > 5 || parse_ulong(ps, 65535, &p) < 0 || p == 0)
		return errf(err, -EINVAL, "key option %s=\"%s\" has an invalid port: give 1-65535 or *", name,
			    shown(b, v, strlen(v)));
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	*port = (int)p;
	return 0;
}

/* As OpenSSH: the host as the client sent it, compared as text (never
 * resolved), "*" for any host; the port, "*" for any. OpenSSH compares the
 * host case-sensitively; host names are not, so neither is this. */
bool authkey_permits_open(const struct authkey_opts *o, const char *host, int port)
{
	char h[AUTHKEY_PATTERN_MAX + 1];
	int p;

	if (!o || !o->permitopen)
		return true;
	if (!host || port < 0 || port > 65535)
		return false;
	for (char **v = o->permitopen; *v; v++)
		if (permit_parse(*v, false, h, &p, NULL) == 0 && (p == 0 || p == port) &&
		    (strcmp(h, "*") == 0 || strcasecmp(h, host) == 0))
			return true;
	return false;
}

/* As OpenSSH's check for remote forwards: the permitted host is a wildcard
 * pattern over the bind address exactly as the client sent it. ssh -R without
 * an address sends "localhost", which only "localhost" (or a pattern matching
 * it) permits, not 127.0.0.1 or ::1; an empty address ("*" or ":" on ssh's
 * command line) only a pattern that matches "", such as "*" or a bare port.
 * A request for port 0 (any free port) only a "*" port. */
bool authkey_permits_listen(const struct authkey_opts *o, const char *addr, int port)
{
	char h[AUTHKEY_PATTERN_MAX + 1];
	int p;

	if (!o || !o->permitlisten)
		return true;
	if (!addr || port < 0 || port > 65535)
		return false;
	for (char **v = o->permitlisten; *v; v++)
		if (permit_parse(*v, true, h, &p, NULL) == 0 && (p == 0 || p == port) && wild_match(addr, h))
			return true;
	return false;
}

/* ---- the options field ---- */

struct optparse {
	struct authkey_opts *o;
	char *canon; /* the options re-written: names as in key_options, values re-quoted */
	size_t clen, ccap;
	size_t nopen, nlisten;
};

static bool canon_add(struct optparse *ps, const char *name, const char *value)
{
	size_t need = (ps->clen ? 1 : 0) + strlen(name) + 1;

	if (value) {
		need += strlen(value) + 3;
		for (const char *c = value; (c = strchr(c, '"')); c++)
			need++;
	}
	if (ps->clen + need > ps->ccap)
		return false;
	if (ps->clen)
		ps->canon[ps->clen++] = ',';
	ps->clen += (size_t)sprintf(ps->canon + ps->clen, "%s", name);
	if (value) {
		ps->canon[ps->clen++] = '=';
		ps->canon[ps->clen++] = '"';
		for (const char *c = value; *c; c++) {
			if (*c == '"')
				ps->canon[ps->clen++] = '\\';
			ps->canon[ps->clen++] = *c;
		}
		ps->canon[ps->clen++] = '"';
	}
	ps->canon[ps->clen] = '\0';
	return true;
}

/* One option's value (taken over by *o, or freed). */
static int take_value(struct optparse *ps, const struct key_option *ko, char *v, char *err)
{
	struct authkey_opts *o = ps->o;
	char h[AUTHKEY_PATTERN_MAX + 1], b[72];
	int port, r = 0;

	switch (ko->kind) {
	case OPT_COMMAND:
		if (o->command)
			break;
		o->command = v;
		return 0;
	case OPT_FROM:
		if (o->from)
			break;
		if ((r = from_check(v, err)) == 0)
			o->from = v;
		else
			free(v);
		return r;
	case OPT_EXPIRY:
		/* OpenSSH keeps the earliest of several; one is enough to say when. */
		if (o->expiry_ms)
			break;
		if (parse_expiry(v, &o->expiry_ms) < 0)
			r = errf(err, -EINVAL, "key option expiry-time=\"%s\" is not a valid time: write YYYYMMDD[Z] or YYYYMMDDHHMM[SS][Z]",
				 shown(b, v, strlen(v)));
		free(v);
		return r;
	case OPT_PERMITOPEN:
	case OPT_PERMITLISTEN: {
		bool listen = ko->kind == OPT_PERMITLISTEN;
		size_t *n = listen ? &ps->nlisten : &ps->nopen;

		if (*n >= AUTHKEY_PERMITS_MAX)
			r = errf(err, -EINVAL, "more than %d %s options are given", AUTHKEY_PERMITS_MAX, ko->name);
		else if ((r = permit_parse(v, listen, h, &port, err)) == 0 &&
			 strv_push(listen ? &o->permitlisten : &o->permitopen, n, v) < 0)
			r = errf(err, -ENOMEM, "out of memory");
		free(v);
		return r;
	}
	default:
		free(v);
		return -EINVAL;
	}
	free(v);
	return errf(err, -EINVAL, "key option \"%s\" is given more than once", ko->name);
}

static void take_flag(struct authkey_opts *o, const struct key_option *ko)
{
	if (ko->kind == OPT_RESTRICT)
		o->no_port_forwarding = o->no_agent_forwarding = o->no_x11_forwarding = o->no_pty = o->no_user_rc = true;
	else
		*(bool *)((char *)o + ko->field) = ko->deny;
}

static bool option_name_like(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_')
			return false;
	return true;
}

/* The options field at *pp (comma-separated, ending at the first space or tab
 * outside double quotes) into *o and its canonical text; *pp moves past it. */
static int parse_options(const char **pp, struct authkey_opts *o, char **canon, char *err)
{
	const char *start = *pp, *p = start;
	struct optparse ps = { .o = o };
	int r = 0;

	memset(o, 0, sizeof(*o));
	o->present = true;
	/* The canonical text is never longer than the field it comes from. */
	ps.ccap = strlen(start) + 1;
	if (!(ps.canon = malloc(ps.ccap)))
		return errf(err, -ENOMEM, "out of memory");
	ps.canon[0] = '\0';
	for (;;) {
		size_t nlen = strcspn(p, "=, \t");
		const struct key_option *ko = find_option(p, nlen);
		char name[72], *v = NULL;

		shown(name, p, nlen);
		if (nlen == 0 && *p == '=') {
			r = errf(err, -EINVAL, "a key option has no name before its '='");
		} else if (nlen == 0) {
			r = errf(err, -EINVAL, "the key options have an empty entry (a comma too many)");
		} else if (!ko && !option_name_like(p, nlen)) {
			r = errf(err, -EINVAL, "\"%s\" is neither a key type nor a key option", name);
		} else if (!ko) {
			r = errf(err, -EINVAL, "key option \"%s\" is not supported", name);
		} else if (ko->kind == OPT_RESTRICT || ko->kind == OPT_FLAG) {
			if (p[nlen] == '=')
				r = errf(err, -EINVAL, "key option \"%s\" takes no value", name);
			else if (!canon_add(&ps, ko->name, NULL))
				r = errf(err, -EINVAL, "the key options could not be re-written");
			else
				take_flag(o, ko);
			p += nlen;
		} else if (p[nlen] != '=') {
			r = errf(err, -EINVAL, "key option \"%s\" needs a value: %s=\"...\"", name, ko->name);
		} else {
			p += nlen + 1;
			if ((r = dequote(&p, ko->name, &v, err)) == 0 && !canon_add(&ps, ko->name, v)) {
				free(v);
				r = errf(err, -EINVAL, "the key options could not be re-written");
			} else if (r == 0) {
				r = take_value(&ps, ko, v, err);
			}
		}
		if (r == 0 && p - start > AUTHKEY_OPTIONS_MAX)
			r = errf(err, -EINVAL, "the key options are longer than %d bytes", AUTHKEY_OPTIONS_MAX);
		if (r < 0)
			break;
		if (*p == '\0' || *p == ' ' || *p == '\t')
			break;
		if (*p != ',') {
			r = errf(err, -EINVAL, "unexpected \"%s\" after key option \"%s\"", shown(name, p, strcspn(p, ", \t")),
				 ko->name);
			break;
		}
		if (*++p == '\0' || *p == ' ' || *p == '\t') {
			r = errf(err, -EINVAL, "the key options end with a comma");
			break;
		}
	}
	if (r < 0) {
		free(ps.canon);
		opts_free(o);
		return r;
	}
	*canon = ps.canon;
	*pp = p;
	return 0;
}

/* ---- lines ---- */

/* Takes over options and *opts whatever the outcome. */
static int fill(struct authkey *out, const char *type, size_t tlen, const char *b64, size_t blen,
		const char *comment, char *options, struct authkey_opts *opts, char *err)
{
	ssh_key key = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	out->options = options;
	out->opts = *opts;
	memset(opts, 0, sizeof(*opts));
	out->type = strndup(type, tlen);
	out->b64 = strndup(b64, blen);
	out->comment = sanitize_comment(comment);
	if (!out->type || !out->b64 || !out->comment) {
		r = errf(err, -ENOMEM, "out of memory");
		goto fail;
	}
	if (ssh_pki_import_pubkey_base64(out->b64, ssh_key_type_from_name(out->type), &key) != SSH_OK) {
		r = errf(err, -EINVAL, "the base64 key data is not a valid %s key", out->type);
		goto fail;
	}
	r = check_key(out->type, out->b64, key, err);
	if (r < 0)
		goto fail;
	out->fingerprint = authkey_fingerprint(key);
	if (!out->fingerprint) {
		r = errf(err, -EINVAL, "cannot compute the fingerprint of this %s key", out->type);
		goto fail;
	}
	ssh_key_free(key);
	return 1;
fail:
	ssh_key_free(key);
	authkey_free(out);
	return r;
}

/* The token at *pp, up to white space; *pp moves past it. */
static size_t token(const char **pp)
{
	const char *s = *pp;

	while (**pp && !isspace((unsigned char)**pp))
		(*pp)++;
	return (size_t)(*pp - s);
}

int authkey_parse(const char *line, struct authkey *out, char *err)
{
	const char *p = line, *type, *b64;
	struct authkey_opts opts = { .present = false };
	char *options = NULL;
	size_t tlen, blen;
	int r;

	if (strlen(line) > AUTHKEY_LINE_MAX)
		return errf(err, -EINVAL, "key line is longer than %d bytes", AUTHKEY_LINE_MAX);
	while (isspace((unsigned char)*p))
		p++;
	if (*p == '\0' || *p == '#')
		return 0;
	type = p;
	tlen = token(&p);
	if (!type_accepted(type, tlen) && !type_like(type, tlen)) {
		/* Not a key type: an options field (no option's name looks like one). */
		p = type;
		if ((r = parse_options(&p, &opts, &options, err)) < 0)
			return r;
		while (*p == ' ' || *p == '\t')
			p++;
		type = p;
		if ((tlen = token(&p)) == 0) {
			r = errf(err, -EINVAL, "the key options are not followed by a key type and key data");
			goto fail;
		}
	}
	if (!type_accepted(type, tlen)) {
		r = refuse_type(type, tlen, err);
		goto fail;
	}
	while (*p == ' ' || *p == '\t')
		p++;
	b64 = p;
	if ((blen = token(&p)) == 0) {
		r = errf(err, -EINVAL, "%.*s key has no base64 key data after the type", (int)tlen, type);
		goto fail;
	}
	while (*p == ' ' || *p == '\t')
		p++;
	return fill(out, type, tlen, b64, blen, p, options, &opts, err);
fail:
	free(options);
	opts_free(&opts);
	return r;
}

void authkey_free(struct authkey *k)
{
	if (!k)
		return;
	free(k->type);
	free(k->b64);
	free(k->comment);
	if (k->fingerprint)
		ssh_string_free_char(k->fingerprint);
	free(k->options);
	opts_free(&k->opts);
	memset(k, 0, sizeof(*k));
}

static int dup_str(const char *s, char **out)
{
	*out = NULL;
	if (!s)
		return 0;
	*out = strdup(s);
	return *out ? 0 : -ENOMEM;
}

/* NULL stays NULL (no restriction); a list, even an empty one, stays a list. */
static int dup_strv(char *const *v, char ***out)
{
	size_t n = 0;

	*out = v ? calloc(1, sizeof(char *)) : NULL;
	if (v && !*out)
		return -ENOMEM;
	for (size_t i = 0; v && v[i]; i++)
		if (strv_push(out, &n, v[i]) < 0)
			return -ENOMEM;
	return 0;
}

int authkey_copy(struct authkey *dst, const struct authkey *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->opts = src->opts;
	dst->opts.command = dst->opts.from = NULL;
	dst->opts.permitopen = dst->opts.permitlisten = NULL;
	if (dup_str(src->type, &dst->type) < 0 || dup_str(src->b64, &dst->b64) < 0 ||
	    dup_str(src->comment, &dst->comment) < 0 || dup_str(src->fingerprint, &dst->fingerprint) < 0 ||
	    dup_str(src->options, &dst->options) < 0 || dup_str(src->opts.command, &dst->opts.command) < 0 ||
	    dup_str(src->opts.from, &dst->opts.from) < 0 ||
	    dup_strv(src->opts.permitopen, &dst->opts.permitopen) < 0 ||
	    dup_strv(src->opts.permitlisten, &dst->opts.permitlisten) < 0) {
		authkey_free(dst);
		return -ENOMEM;
	}
	return 0;
}

char *authkey_format(const struct authkey *k)
{
	char *s = NULL;

	if (asprintf(&s, "%s%s%s %s%s%s", k->options ? k->options : "", k->options ? " " : "", k->type, k->b64,
		     *k->comment ? " " : "", k->comment) < 0)
		return NULL;
	return s;
}
