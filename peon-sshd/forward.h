/* direct-tcpip (ssh -L): connections made from inside the job's network. */
#ifndef PEON_FORWARD_H
#define PEON_FORWARD_H

/* Connect to host:port with a deadline; a non-blocking fd with TCP_NODELAY,
 * or a negative errno with err filled. */
int forward_connect(const char *host, int port, int timeout_ms, char *err);

#endif
