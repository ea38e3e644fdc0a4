/* The Docker engine's inspect answer as docker.c parses it: the engine is
 * root's, but its answer is bounded and type-checked all the same. */
#include "docker.h"
#include "util.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct docker_container c;
	char err[ERRLEN];

	docker_parse_inspect((const char *)data, size, &c, err);
	return 0;
}
