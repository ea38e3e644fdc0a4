#include "address.h"
#include "config.h"
#include "log.h"
#include "util.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ANSWER_MAX 256

int address_valid_answer(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* /proc/net/route: Iface Destination Gateway Flags ... Mask: 0.0.0.0/0, up. */
static bool default4(const char *line, char *name)
{
	char dest[16], gw[16], mask[16];
	unsigned flags;

	return sscanf(line, "%16s %15s %15s %x %*s %*s %*s %15s", name, dest, gw, &flags, mask) == 5 &&
	       strcmp(dest, "00000000") == 0 && strcmp(mask, "00000000") == 0 && (flags & 1);
}

/* /proc/net/ipv6_route: dest plen src splen next metric refcnt use flags iface: ::/0. */
static bool default6(const char *line, char *name)
{
	char dest[40], plen[3];

	return sscanf(line, "%39s %2s %*s %*s %*s %*s %*s %*s %*s %16s", dest, plen, name) == 3 &&
	       strspn(dest, "0") == 32 && strcmp(plen, "00") == 0 && strcmp(name, "lo") != 0;
}

static int default_iface(const char *text, bool (*is_default)(const char *, char *), char *iface, size_t len)
{
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		char name[IF_NAMESIZE + 1];

		if (is_default(p, name)) {
			snprintf(iface, len, "%s", name);
			return 0;
		}
	}
	return -ENOENT;
}

int address_default_iface4(const char *text, char *iface, size_t len)
{
	return default_iface(text, default4, iface, len);
}

int address_default_iface6(const char *text, char *iface, size_t len)
{
	return default_iface(text, default6, iface, len);
}

static int iface_address(const char *iface, int family, char *out, size_t len)
{
	struct ifaddrs *ifs, *i;
	int r = -ENOENT;

	if (getifaddrs(&ifs) < 0)
		return -errno;
	for (i = ifs; i; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != family || strcmp(i->ifa_name, iface) != 0)
			continue;
		if (family == AF_INET6) {
			const struct in6_addr *a = &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
			if (IN6_IS_ADDR_LINKLOCAL(a))
				continue;
			inet_ntop(AF_INET6, a, out, (socklen_t)len);
		} else {
			inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, out, (socklen_t)len);
		}
		r = 0;
		break;
	}
	freeifaddrs(ifs);
	return r;
}

static int default_route(struct address *out)
{
	char *text = NULL, iface[IF_NAMESIZE + 1];
	int r = -ENOENT;

	if (read_file("/proc/net/route", 1 << 20, &text, NULL) == 0 &&
	    address_default_iface4(text, iface, sizeof(iface)) == 0 &&
	    iface_address(iface, AF_INET, out->addr, sizeof(out->addr)) == 0)
		r = 0;
	free(text);
	text = NULL;
	if (r < 0 && read_file("/proc/net/ipv6_route", 1 << 20, &text, NULL) == 0 &&
	    address_default_iface6(text, iface, sizeof(iface)) == 0 &&
	    iface_address(iface, AF_INET6, out->addr, sizeof(out->addr)) == 0)
		r = 0;
	free(text);
	if (r == 0)
		snprintf(out->source, sizeof(out->source), "default route (%s)", iface);
	return r;
}

/* ---- metadata services, one short HTTP exchange each ---- */

struct body {
	char buf[ANSWER_MAX];
	size_t len;
	int overflow;
};

static size_t on_body(char *p, size_t sz, size_t n, void *u)
{
	struct body *b = u;
	size_t add = sz * n;

	if (b->len + add >= sizeof(b->buf)) {
		b->overflow = 1;
		return 0;
	}
	memcpy(b->buf + b->len, p, add);
	b->len += add;
	b->buf[b->len] = '\0';
	return add;
}

static int http(const char *method, const char *url, const char *header, long timeout_ms, struct body *b)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = header ? curl_slist_append(NULL, header) : NULL;
	long status = 0;
	CURLcode rc;

	if (!c)
		return -ENOMEM;
	memset(b, 0, sizeof(*b));
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");        /* metadata is link-local: never via a proxy */
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK || status != 200 || b->overflow)
		return -EIO;
	while (b->len && (b->buf[b->len - 1] == '\n' || b->buf[b->len - 1] == '\r' || b->buf[b->len - 1] == ' '))
		b->buf[--b->len] = '\0';
	return 0;
}

/* GET one address with one header; only a literal IPv4/IPv6 answer counts. */
static int get_address(const char *url, const char *header, long t, char *out, size_t len)
{
	struct body b;

	if (http("GET", url, header, t, &b) < 0 || !address_valid_answer(b.buf))
		return -EIO;
	snprintf(out, len, "%s", b.buf);
	return 0;
}

static int aws(const char *base, long t, char *out, size_t len)
{
	char url[512], hdr[ANSWER_MAX + 64];
	struct body token;

	/* IMDSv2: a session token first (PUT), then the address with it. */
	snprintf(url, sizeof(url), "%s/latest/api/token", base);
	if (http("PUT", url, "X-aws-ec2-metadata-token-ttl-seconds: 60", t, &token) < 0 || !token.len)
		return -EIO;
	snprintf(hdr, sizeof(hdr), "X-aws-ec2-metadata-token: %s", token.buf);
	snprintf(url, sizeof(url), "%s/latest/meta-data/public-ipv4", base);
	return get_address(url, hdr, t, out, len);
}

static int gcp(const char *base, long t, char *out, size_t len)
{
	char url[512];

	snprintf(url, sizeof(url), "%s/computeMetadata/v1/instance/network-interfaces/0/access-configs/0/external-ip", base);
	return get_address(url, "Metadata-Flavor: Google", t, out, len);
}

static int azure(const char *base, long t, char *out, size_t len)
{
	char url[512];

	snprintf(url, sizeof(url),
		 "%s/metadata/instance/network/interface/0/ipv4/ipAddress/0/publicIpAddress?api-version=2021-02-01&format=text",
		 base);
	return get_address(url, "Metadata: true", t, out, len);
}

static int metadata(const struct peon_config *cfg, struct address *out)
{
	for (size_t i = 0; i < cfg->report.n_providers; i++) {
		const char *p = cfg->report.providers[i];
		long t = cfg->report.metadata_timeout_ms;
		int r = -EINVAL;

		if (strcmp(p, "aws") == 0)
			r = aws(cfg->report.aws_url, t, out->addr, sizeof(out->addr));
		else if (strcmp(p, "gcp") == 0)
			r = gcp(cfg->report.gcp_url, t, out->addr, sizeof(out->addr));
		else if (strcmp(p, "azure") == 0)
			r = azure(cfg->report.azure_url, t, out->addr, sizeof(out->addr));
		if (r == 0) {
			snprintf(out->source, sizeof(out->source), "%s metadata", p);
			return 0;
		}
		log_info("address: no answer from the %s metadata service", p);
	}
	return -ENOENT;
}

void address_discover(const struct peon_config *cfg, struct address *out)
{
	memset(out, 0, sizeof(*out));
	if (*cfg->advertise_address) {
		snprintf(out->addr, sizeof(out->addr), "%s", cfg->advertise_address);
		snprintf(out->source, sizeof(out->source), "advertise_address");
	} else if (metadata(cfg, out) == 0 || default_route(out) == 0) {
		/* filled */
	} else {
		if (gethostname(out->addr, sizeof(out->addr) - 1) < 0)
			snprintf(out->addr, sizeof(out->addr), "localhost");
		snprintf(out->source, sizeof(out->source), "hostname");
	}
	log_info("advertised address %s (from %s)", out->addr, out->source);
}
