/* Sockets made from inside the job's network: direct-tcpip connects (ssh -L),
 * remote-forward and X11 listeners (ssh -R, ssh -X). */
#ifndef PEON_FORWARD_H
#define PEON_FORWARD_H

/* Connect to host:port with a deadline; a non-blocking fd with TCP_NODELAY,
 * or a negative errno with err filled. */
int forward_connect(const char *host, int port, int timeout_ms, char *err);

/* GatewayPorts: where remote forwards listen (= enum gateway_ports). */
enum { FORWARD_GATEWAY_NO, FORWARD_GATEWAY_YES, FORWARD_GATEWAY_CLIENT };

/* Listen for a remote forward: addr as the client sent it, port 0 for any.
 * One or two non-blocking sockets (IPv4, IPv6) in fds, the port in *bound. */
int forward_listen(const char *addr, int port, int gateway, int fds[2], int *nfds, int *bound, char *err);
/* An X11 display's socket: 127.0.0.1:6000+N, N the first free from offset. */
int forward_listen_x11(int offset, int fds[1], int *display, char *err);

#endif
