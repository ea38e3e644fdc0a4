#include "test_util.h"
#include "address.h"
#include "report.h"

#include <errno.h>

static const struct hostkey_info hk = {
	.type = "ssh-ed25519", .fingerprint = "SHA256:abc", .b64 = "AAAAC3NzaC1lZDI1NTE5AAAAIExample",
};

static void test_lines_ipv4(void **state)
{
	char l[3][REPORT_LINE_MAX];

	(void)state;
	assert_int_equal(report_activation_lines("203.0.113.7", 2222, "/bin/bash", &hk, l), 0);
	assert_string_equal(l[0], "SSH debug access ready. Connect with: ssh -i <path-to-private-key> -p 2222 -t 203.0.113.7 /bin/bash");
	assert_string_equal(l[1], "SSH host key: ssh-ed25519 SHA256:abc (known_hosts line: [203.0.113.7]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample)");
	assert_string_equal(l[2], "::ssh::{\"address\": \"203.0.113.7\", \"port\": 2222}");
}

static void test_lines_ipv6_and_names(void **state)
{
	char l[3][REPORT_LINE_MAX];

	(void)state;
	assert_int_equal(report_activation_lines("2001:db8::1", 3022, "/bin/bash", &hk, l), 0);
	assert_non_null(strstr(l[0], "-p 3022 -t 2001:db8::1 /bin/bash"));
	assert_non_null(strstr(l[1], "known_hosts line: [2001:db8::1]:3022 ssh-ed25519 "));
	assert_string_equal(l[2], "::ssh::{\"address\": \"2001:db8::1\", \"port\": 3022}");
	/* A hostname with characters JSON must escape stays valid JSON. */
	assert_int_equal(report_activation_lines("we\"ird", 2222, "/bin/bash", &hk, l), 0);
	assert_string_equal(l[2], "::ssh::{\"address\": \"we\\\"ird\", \"port\": 2222}");
}

static void test_default_route(void **state)
{
	const char *r4 = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
			 "eth1\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
			 "eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n";
	const char *r6 = "00000000000000000000000000000001 80 00000000000000000000000000000000 00 "
			 "00000000000000000000000000000000 00000000 00000001 00000000 00200001 lo\n"
			 "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
			 "fe800000000000000000000000000001 00000400 00000001 00000000 00000003 ens5\n";
	char iface[32];

	(void)state;
	assert_int_equal(address_default_iface4(r4, iface, sizeof(iface)), 0);
	assert_string_equal(iface, "eth0");
	assert_int_equal(address_default_iface4("Iface\tDestination\n", iface, sizeof(iface)), -ENOENT);
	assert_int_equal(address_default_iface6(r6, iface, sizeof(iface)), 0);
	assert_string_equal(iface, "ens5");
}

static void test_answers(void **state)
{
	(void)state;
	assert_true(address_valid_answer("198.51.100.20"));
	assert_true(address_valid_answer("2001:db8::5"));
	assert_false(address_valid_answer("<html>error</html>"));
	assert_false(address_valid_answer(""));
	assert_false(address_valid_answer("10.0.0.1 extra"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines_ipv4),
		cmocka_unit_test(test_lines_ipv6_and_names),
		cmocka_unit_test(test_default_route),
		cmocka_unit_test(test_answers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
