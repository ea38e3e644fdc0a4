/* Lists of authorized keys as an execution holds them: parsed from control
 * requests or authorized_keys text with the same parser and the same error
 * text, without duplicates (the first line of a fingerprint wins). */
#ifndef PEON_KEYSET_H
#define PEON_KEYSET_H

#include "authkeys.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

struct keylist {
	struct authkey *v;
	size_t n, cap;
};

void keylist_free(struct keylist *l);
/* The key of v[0..n) with this fingerprint, or NULL. */
const struct authkey *keys_find(const struct authkey *v, size_t n, const char *fingerprint);
/* Append *k, which is taken either way: 1 appended, 0 its fingerprint was
 * already there (k freed), -ENOMEM (k freed). */
int keylist_take(struct keylist *l, struct authkey *k);
/* Append a copy of k unless its fingerprint is there: 1, 0 or -ENOMEM. */
int keylist_add_copy(struct keylist *l, const struct authkey *k);
/* Request entries, each "line" or {"line": ..., "source": "file:3"}: errors
 * name the source, else "key #N" (N counted from first). */
int keylist_from_json(json_object *arr, size_t first, struct keylist *l, char *err);
/* authorized_keys text: blank and # lines skipped, errors name
 * "<origin>:<line>". More than max key lines: -E2BIG, nothing parsed. */
int keylist_from_text(const char *text, size_t len, const char *origin, size_t max, struct keylist *l, char *err);
/* "SHA256:" and 43 characters of unpadded base64, as ssh-keygen -l prints. */
bool key_fingerprint_valid(const char *s);

#endif
