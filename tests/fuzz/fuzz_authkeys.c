/* authorized_keys lines: --key, --key-file and key URLs all end here. */
#include "authkeys.h"
#include "util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = malloc(size + 1), err[ERRLEN];
	struct authkey key;

	if (!line)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	if (authkey_parse(line, &key, err) > 0)
		authkey_free(&key);
	free(line);
	return 0;
}
