#include "duration.h"

#include <ctype.h>
#include <errno.h>

static long unit_seconds(char u)
{
	switch (u) {
	case 's': return 1;
	case 'm': return 60;
	case 'h': return 3600;
	case 'd': return 86400;
	case 'w': return 7 * 86400;
	default: return 0;
	}
}

int duration_parse(const char *s, long *out)
{
	long total = 0;

	if (!s || !*s)
		return -EINVAL;
	while (*s) {
		long v = 0, mul;

		if (!isdigit((unsigned char)*s))
			return -EINVAL;
		while (isdigit((unsigned char)*s)) {
			v = v * 10 + (*s++ - '0');
			if (v > DURATION_MAX)
				return -ERANGE;
		}
		mul = *s ? unit_seconds(*s++) : 1;
		if (mul == 0)
			return -EINVAL;
		if (v > DURATION_MAX / mul || total + v * mul > DURATION_MAX)
			return -ERANGE;
		total += v * mul;
	}
	if (total == 0)
		return -EINVAL;
	*out = total;
	return 0;
}
