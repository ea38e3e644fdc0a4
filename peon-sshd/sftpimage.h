/* The SFTP server image (peon-sftp-server) held in a sealed memfd, so that
 * it can be executed inside a job without any host path. */
#ifndef PEON_SFTPIMAGE_H
#define PEON_SFTPIMAGE_H

/* Where the daemon looks, first match wins: next to its own executable,
 * then PEON_LIBEXECDIR. Returns a sealed, close-on-exec memfd, or -errno
 * with err saying which file was wrong and why. */
int sftpimage_load(char *err);

#endif
