/* make bench: what any freshly exec'd process that uses libssh with
 * Debian's OpenSSL 3 keeps on its heap, before serving anyone. Every
 * network child is such a process (docs/performance.md, "Idle PSS").
 * Prints the heap in use (bytes) after libssh's set-up and after its first
 * key operation, which makes OpenSSL load its default provider and build
 * its name and method tables. */
#include <libssh/libssh.h>
#include <malloc.h>
#include <stdio.h>

int main(void)
{
	ssh_key key = NULL;
	size_t start = mallinfo2().uordblks, init, first;

	ssh_init();
	init = mallinfo2().uordblks;
	if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key) != SSH_OK) {
		fprintf(stderr, "openssl_floor: cannot generate an ed25519 key\n");
		return 1;
	}
	first = mallinfo2().uordblks;
	printf("%zu %zu\n", init - start, first - start);
	ssh_key_free(key);
	ssh_finalize();
	return 0;
}
