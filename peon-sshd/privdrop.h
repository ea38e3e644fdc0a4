/* Giving up root for good: what the network children and the key fetcher
 * do before they touch untrusted input. */
#ifndef PEON_PRIVDROP_H
#define PEON_PRIVDROP_H

#include <sys/types.h>

/* No capability in the bounding or ambient set, no supplementary groups,
 * uid and gid (neither may be 0) for real, effective and saved ids, and
 * every capability set empty: each step checked. who names the process in
 * errors ("the network child"). -errno with err. */
int privdrop(uid_t uid, gid_t gid, const char *who, char *err);

#endif
