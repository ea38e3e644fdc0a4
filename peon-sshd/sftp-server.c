/* peon-sftp-server: the built-in SFTP server as an image of its own.
 *
 * The spawn path enters the job (cgroups, namespaces, root, the job user's
 * credentials) and then executes this program from a sealed memfd the
 * daemon filled at start (image.c). So the process serving SFTP inside
 * a job is a fresh address space: none of the daemon's or the session's
 * memory (host private keys included) is in it, and /proc/PID/exe names no
 * file of the host that a job process could open (the CVE-2019-5736
 * class). Statically linked: the job's root has none of our libraries. */
#include "sftp.h"

#include <sys/prctl.h>

int main(void)
{
	/* An fd-executed image is named after its fd number otherwise. */
	prctl(PR_SET_NAME, "peon-sftp");
	return sftp_serve(0, 1);
}
