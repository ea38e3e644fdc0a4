/* A request record as the monitor (root) reads it from its network child,
 * which runs libssh on internet bytes: treat every byte as hostile. Also
 * the setup record the child reads (built by the monitor, parsed anyway). */
#include "monproto.h"
#include "util.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mon_request rq;
	struct mon_setup st;
	char err[ERRLEN];

	if (monproto_parse_request(data, size, &rq, err) == 0)
		monproto_request_clear(&rq);
	if (monproto_setup_parse(data, size, &st, err) == 0)
		monproto_setup_clear(&st);
	return 0;
}
