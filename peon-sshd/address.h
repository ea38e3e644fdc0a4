/* The worker address written into connect lines: advertise_address, else a
 * cloud's public address from its metadata service (opt-in), else the
 * address of the interface holding the default route, else the hostname. */
#ifndef PEON_ADDRESS_H
#define PEON_ADDRESS_H

#include <stddef.h>

struct peon_config;

struct address {
	char addr[256];
	char source[128];   /* "advertise_address", "aws metadata", "default route (eth0)", ... */
};

void address_discover(const struct peon_config *cfg, struct address *out);

/* Parsers, exposed for tests. Interface name of the IPv4 default route in
 * /proc/net/route text, or of ::/0 in /proc/net/ipv6_route text. */
int address_default_iface4(const char *route_text, char *iface, size_t len);
int address_default_iface6(const char *route_text, char *iface, size_t len);
/* Is s a plausible address answer from a metadata service? */
int address_valid_answer(const char *s);

#endif
