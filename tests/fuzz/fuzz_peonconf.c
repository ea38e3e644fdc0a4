/* /etc/peon.config lines: the file is shared with other worker software. */
#include "peonconf.h"
#include "util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), *save = NULL, err[ERRLEN];

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *key = NULL, *value = NULL;

		peonconf_parse_line(line, &key, &value, err);
		free(key);
		free(value);
	}
	free(text);
	return 0;
}
