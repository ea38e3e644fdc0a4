/* Address/prefix entries of penalties.exempt (operator input), and the
 * formatting of what was parsed back into log text. */
#include "preauth.h"
#include "util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), err[ERRLEN], shown[128];
	struct preauth_net n;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (preauth_net_parse(s, &n, err) == 0) {
		preauth_addr_format(&n.addr, n.prefix, shown, sizeof(shown));
		preauth_net_contains(&n, &n.addr);
	}
	free(s);
	return 0;
}
