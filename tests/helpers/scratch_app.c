/* The only file of a "scratch" job image (tests): `serve` keeps it
 * running as the job's process; without arguments it greets, so a test can
 * tell the job's own binary ran. Static: the root has no libraries. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "serve") == 0)
		for (;;)
			pause();
	puts("hello from the job's own binary");
	return 0;
}
