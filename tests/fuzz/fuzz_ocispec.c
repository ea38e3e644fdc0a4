/* A container's config.json: written by the runtime from what whoever
 * started the container asked for (options, a seccomp profile of their
 * own), and its seccomp section compiled by libseccomp in the daemon. */
#include "ocispec.h"
#include "util.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct oci_spec *s = NULL;
	char err[ERRLEN];

	/* A refusal always says why; an acceptance always gives a spec. */
	if (ocispec_parse((const char *)data, size, &s, err) < 0) {
		if (s || !err[0] || !memchr(err, '\0', sizeof(err)))
			__builtin_trap();
		return 0;
	}
	if (!s || (s->seccomp && (s->seccomp->n != 1 || s->seccomp->f[0].len == 0)))
		__builtin_trap();
	ocispec_free(s);
	return 0;
}
