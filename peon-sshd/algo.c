#include "algo.h"
#include "util.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

int algorithms_apply(ssh_bind b, const struct algorithms *a, char *err)
{
	static const struct {
		enum ssh_bind_options_e opt;
		size_t off;
		const char *name;
	} lists[] = {
		{ SSH_BIND_OPTIONS_KEY_EXCHANGE, offsetof(struct algorithms, kex), "kex" },
		{ SSH_BIND_OPTIONS_CIPHERS_C_S, offsetof(struct algorithms, ciphers), "ciphers" },
		{ SSH_BIND_OPTIONS_CIPHERS_S_C, offsetof(struct algorithms, ciphers), "ciphers" },
		{ SSH_BIND_OPTIONS_HMAC_C_S, offsetof(struct algorithms, macs), "macs" },
		{ SSH_BIND_OPTIONS_HMAC_S_C, offsetof(struct algorithms, macs), "macs" },
		{ SSH_BIND_OPTIONS_HOSTKEY_ALGORITHMS, offsetof(struct algorithms, host_keys), "host_keys" },
		{ SSH_BIND_OPTIONS_PUBKEY_ACCEPTED_KEY_TYPES, offsetof(struct algorithms, pubkeys), "pubkeys" },
	};
	bool no = false;

	/* Never read /etc/ssh/libssh_server_config behind our back. */
	ssh_bind_options_set(b, SSH_BIND_OPTIONS_PROCESS_CONFIG, &no);
	for (size_t i = 0; i < ARRAY_SIZE(lists); i++) {
		const char *v = *(char *const *)((const char *)a + lists[i].off);

		if (ssh_bind_options_set(b, lists[i].opt, v) < 0)
			return errf(err, -EINVAL, "algorithms.%s: libssh rejects \"%s\": %s", lists[i].name, v,
				    ssh_get_error(b));
	}
	return 0;
}
