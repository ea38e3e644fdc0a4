#include "keyurl.h"
#include "util.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* host as libcurl normalises it ("127.1" and "2130706433" become 127.0.0.1). */
static bool loopback_host(const char *host)
{
	struct in_addr a;

	if (strcasecmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0)
		return true;
	return inet_pton(AF_INET, host, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

int keyurl_check(const char *url, char *err)
{
	char *scheme = NULL, *host = NULL;
	CURLU *u;
	int r = 0;

	if (strlen(url) > KEYURL_MAX_LEN)
		return errf(err, -EINVAL, "--key-url is longer than %d bytes", KEYURL_MAX_LEN);
	if (!(u = curl_url()))
		return errf(err, -ENOMEM, "out of memory");
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK || curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host) {
		r = errf(err, -EINVAL, "--key-url %.256s: not a valid URL", url);
		goto out;
	}
	if (strcmp(scheme, "https") != 0 && !(strcmp(scheme, "http") == 0 && loopback_host(host)))
		r = errf(err, -EINVAL, "--key-url %.256s: only https URLs (or http on this machine's loopback) are accepted",
			 url);
out:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return r;
}

void keyurl_redact(const char *url, char *out, size_t len)
{
	CURLU *u = curl_url();
	char *s = NULL;

	snprintf(out, len, "(an invalid URL)");
	if (!u)
		return;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK && curl_url_set(u, CURLUPART_USER, NULL, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_PASSWORD, NULL, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_QUERY, NULL, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0) == CURLUE_OK && curl_url_get(u, CURLUPART_URL, &s, 0) == CURLUE_OK)
		snprintf(out, len, "%s", s);
	curl_free(s);
	curl_url_cleanup(u);
}
