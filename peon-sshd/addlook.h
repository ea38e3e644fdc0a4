/* `add --docker` / `--containerd` without waiting in the loop.
 *
 * An add must know the container exists and runs, and which process it
 * runs, before it registers anything; only the runtime knows, and the
 * Docker engine may take seconds to say. The add's question goes to a
 * look (look.h); its control client waits for the answer
 * (control_answer), while the loop serves every other client, connection
 * and login. At most one add per control client is waiting, so there are
 * at most CTL_MAX_CLIENTS. An execution id being looked up is refused to
 * a second add until the first is answered. */
#ifndef PEON_ADDLOOK_H
#define PEON_ADDLOOK_H

#include "daemon.h"

/* Start e's look (e is kept until the answer). NULL: the answer comes
 * later; otherwise the error reply (e freed). */
json_object *addlook_begin(struct daemon *d, struct execution *e, long long ttl_ms);
bool addlook_pending(const struct daemon *d, const char *id);
/* Slot i's answer fd, -1 when the slot is free (for the poll set). */
int addlook_fd(const struct daemon *d, size_t i);
/* Slot i's answer is readable: finish its add and answer its client. */
void addlook_answer(struct daemon *d, size_t i);
void addlook_free(struct daemon *d);

#endif
