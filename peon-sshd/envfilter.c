#include "envfilter.h"

#include <ctype.h>
#include <fnmatch.h>
#include <string.h>

/* Never from a client: loader and interpreter hooks, search paths, and the
 * variables peon-sshd itself sets for the session. */
static const char *const denied[] = {
	"LD_*", "PATH", "IFS", "ENV", "BASH_ENV", "BASH_FUNC_*", "SHELLOPTS", "BASHOPTS",
	"PS4", "PROMPT_COMMAND", "GCONV_PATH", "GLIBC_TUNABLES", "MALLOC_*", "HOSTALIASES",
	"LOCALDOMAIN", "RES_OPTIONS", "NLSPATH", "TMPDIR", "PYTHON*", "PERL*", "RUBY*",
	"NODE_OPTIONS", "JAVA_TOOL_OPTIONS", "HOME", "USER", "LOGNAME", "SHELL", "MAIL",
	"SSH_*", "PEON_*", "LOCPATH",
};

static bool name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > ENV_NAME_MAX || isdigit((unsigned char)name[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '_')
			return false;
	return true;
}

static bool value_valid(const char *v)
{
	size_t n = strlen(v);

	if (n > ENV_VALUE_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
			return false;
	return true;
}

static bool matches(const char *name, const char *const *pats, size_t n)
{
	for (size_t i = 0; i < n && pats[i]; i++)
		if (fnmatch(pats[i], name, 0) == 0)
			return true;
	return false;
}

bool envfilter_accept(const char *name, const char *value, char *const *patterns)
{
	size_t np = 0;

	if (!name_valid(name) || !value || !value_valid(value))
		return false;
	if (matches(name, denied, sizeof(denied) / sizeof(denied[0])))
		return false;
	while (patterns && patterns[np])
		np++;
	return matches(name, (const char *const *)patterns, np);
}
