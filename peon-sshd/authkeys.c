#include "authkeys.h"
#include "util.h"

#include <ctype.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	if (n > 256)
		n = 256;
	c = strndup(s, n);
	for (size_t i = 0; c && c[i]; i++)
		if (!isprint((unsigned char)c[i]))
			c[i] = '?';
	return c;
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
	/* Not a type at all: most likely authorized_keys options we would not
	 * enforce (from=, command=): silently dropping them would widen access. */
	return errf(err, -EINVAL,
		    "authorized_keys options (from=, command=, ...) are not supported: give only 'type base64 [comment]'");
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

static int fill(struct authkey *out, const char *type, size_t tlen, const char *b64, size_t blen,
		const char *comment, char *err)
{
	ssh_key key = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	out->type = strndup(type, tlen);
	out->b64 = strndup(b64, blen);
	out->comment = sanitize_comment(comment);
	if (!out->type || !out->b64 || !out->comment) {
		r = -ENOMEM;
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

int authkey_parse(const char *line, struct authkey *out, char *err)
{
	const char *p = line, *type, *b64;
	size_t tlen, blen;

	if (strlen(line) > AUTHKEY_LINE_MAX)
		return errf(err, -EINVAL, "key line is longer than %d bytes", AUTHKEY_LINE_MAX);
	while (isspace((unsigned char)*p))
		p++;
	if (*p == '\0' || *p == '#')
		return 0;
	type = p;
	while (*p && !isspace((unsigned char)*p))
		p++;
	tlen = (size_t)(p - type);
	if (!type_accepted(type, tlen))
		return refuse_type(type, tlen, err);
	while (*p == ' ' || *p == '\t')
		p++;
	b64 = p;
	while (*p && !isspace((unsigned char)*p))
		p++;
	blen = (size_t)(p - b64);
	if (blen == 0)
		return errf(err, -EINVAL, "%.*s key has no base64 key data after the type", (int)tlen, type);
	while (*p == ' ' || *p == '\t')
		p++;
	return fill(out, type, tlen, b64, blen, p, err);
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
	memset(k, 0, sizeof(*k));
}

char *authkey_format(const struct authkey *k)
{
	char *s = NULL;

	if (asprintf(&s, "%s %s%s%s", k->type, k->b64, *k->comment ? " " : "", k->comment) < 0)
		return NULL;
	return s;
}
