/* Shared by the unit tests: cmocka, temp files. */
#ifndef PEON_TEST_UTIL_H
#define PEON_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Write text to a fresh temp file; returns its heap path. */
static inline char *tmpfile_with(const char *text)
{
	char *path = strdup("/tmp/peon-unit-XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static inline void tmpfile_drop(char *path)
{
	unlink(path);
	free(path);
}

#endif
