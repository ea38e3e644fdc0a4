/* One control request line as peon-sshctl (or any local root client) sends it. */
#include "ctlproto.h"

#include <json-c/json.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_object *o = ctl_parse((const char *)data, size);

	json_object_put(o);
	return 0;
}
