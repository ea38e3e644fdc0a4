/* Program images held in sealed memfds: the SFTP server (executed inside
 * jobs without any host path) and the network child (executed by every
 * monitor: a package upgrade never mixes a new child with an old daemon). */
#ifndef PEON_IMAGE_H
#define PEON_IMAGE_H

/* Load the program called name. Where the daemon looks, first match wins:
 * next to its own executable, then PEON_LIBEXECDIR. Returns a sealed,
 * close-on-exec memfd, or -errno with err saying which file was wrong and
 * why (it must be owned by root and writable only by root). */
int image_load(const char *name, char *err);
/* The same for a program at a fixed path (busybox-static's /bin/busybox),
 * which must also be statically linked: it runs in roots without the
 * host's libraries. */
int image_load_static(const char *name, const char *path, char *err);

#endif
