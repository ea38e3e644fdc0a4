/* peon-sshd-net: the network child, one per connection, exec'd by the
 * monitor as a fresh image (its own address-space layout and stack
 * canary). fd 0 is the client's connection, fd 1 the monitor, fd 2
 * /dev/null (or the daemon's stderr under -d), fds 3.. the host private
 * key files, opened by the monitor and read only here.
 *
 * Before it reads a byte from the network it takes its settings from the
 * monitor, loads the host keys and sets up libssh, and then gives up
 * everything (sandbox.c). From then on it serves the whole connection
 * (session.c) and asks the monitor for every privileged act. */
#include "algo.h"
#include "hostkey.h"
#include "log.h"
#include "monclient.h"
#include "monproto.h"
#include "sandbox.h"
#include "session.h"
#include "util.h"

#include <errno.h>
#include <gcrypt.h>
#include <libssh/libssh.h>
#include <libssh/server.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define CLIENT_FD 0
#define MONITOR_FD 1
#define FIRST_KEY_FD 3
#define SETUP_TIMEOUT_MS 10000

static int read_setup(struct mon_setup *s, char *err)
{
	static unsigned char buf[MON_MSG_MAX];
	struct pollfd p = { .fd = MONITOR_FD, .events = POLLIN };
	int nfds;
	ssize_t n;

	if (poll(&p, 1, SETUP_TIMEOUT_MS) <= 0)
		return errf(err, -ETIMEDOUT, "no settings from the monitor");
	n = mon_recv(MONITOR_FD, buf, NULL, 0, &nfds, MSG_DONTWAIT);
	if (n <= 0 || nfds)
		return errf(err, -EPROTO, "cannot read the settings from the monitor");
	return monproto_setup_parse(buf, (size_t)n, s, err);
}

/* Sandboxed, the child waits for its connection (it may be a spare for a
 * while, spares.h). It arrives at fd 0, the lowest free number once the
 * placeholder is closed. The monitor's socket closing (a spare retired)
 * ends it quietly (-EPIPE); anything but the connection is refused. */
static int await_connection(char *err)
{
	struct pollfd p = { .fd = MONITOR_FD, .events = POLLIN };
	int fd;

	close(CLIENT_FD);
	while (poll(&p, 1, -1) < 0)
		if (errno != EINTR)
			return errf(err, -errno, "poll: %s", strerror(errno));
	fd = mon_recv_connection(MONITOR_FD);
	return fd == -EPROTO ? errf(err, fd, "the monitor sent something other than the connection") : fd;
}

/* The key file's bytes are wiped as soon as libssh has parsed them. */
static int import_host_key(ssh_bind b, int fd, char *err)
{
	ssh_key key = NULL;
	size_t len = 0;
	char *text = NULL;
	int r = read_fd(fd, HOSTKEY_FILE_MAX, &text, &len);

	close(fd);
	if (r < 0)
		return errf(err, r, "cannot read host key fd %d: %s", fd, strerror(-r));
	r = ssh_pki_import_privkey_base64(text, NULL, NULL, NULL, &key);
	explicit_bzero(text, len);
	free(text);
	if (r != SSH_OK)
		return errf(err, -EINVAL, "host key fd %d is not a readable private key", fd);
	/* The bind owns the key from here. */
	if (ssh_bind_options_set(b, SSH_BIND_OPTIONS_IMPORT_KEY, key) < 0) {
		ssh_key_free(key);
		return errf(err, -EINVAL, "libssh refuses host key fd %d", fd);
	}
	return 0;
}

static int bind_setup(ssh_bind b, const struct mon_setup *s, char *err)
{
	int r = algorithms_apply(b, &s->algo, err);

	for (uint32_t i = 0; i < s->n_hostkeys && r == 0; i++)
		r = import_host_key(b, FIRST_KEY_FD + (int)i, err);
	return r;
}

/* RekeyLimit: libssh 0.10 honours both on a server session, checked as
 * packets go out and come in (only once authenticated). */
static int session_setup(ssh_session s, const struct mon_setup *st, char *err)
{
	uint64_t data = (uint64_t)st->rekey_data_hi << 32 | st->rekey_data_lo;
	uint32_t secs = st->rekey_time;

	if ((data && ssh_options_set(s, SSH_OPTIONS_REKEY_DATA, &data) < 0) ||
	    (secs && ssh_options_set(s, SSH_OPTIONS_REKEY_TIME, &secs) < 0))
		return errf(err, -EINVAL, "cannot set the rekey limits: %s", ssh_get_error(s));
	return 0;
}

static void config_from_setup(struct peon_config *cfg, const struct mon_setup *s)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->log_level = s->log_level;
	cfg->accept_env = s->accept_env;
	cfg->limits.login_grace_time = (int)s->login_grace_time;
	cfg->limits.max_auth_tries = (int)s->max_auth_tries;
	cfg->limits.max_sessions = (int)s->max_sessions;
	cfg->limits.max_forwards = (int)s->max_forwards;
	cfg->limits.client_alive_interval = (int)s->client_alive_interval;
	cfg->limits.client_alive_count_max = (int)s->client_alive_count_max;
	cfg->limits.unused_connection_timeout = (int)s->unused_timeout;
	for (size_t i = 0; i < IDLE_N; i++)
		cfg->limits.channel_timeout[i] = (int)s->chan_timeout[i];
	cfg->fwd.max_listeners = (int)s->max_listeners;
}

/* Enough for every channel's fds and forward sockets, and no more. */
static int max_fds(const struct mon_setup *s)
{
	return 16 + 3 * (int)s->max_sessions + 2 * (int)s->max_forwards + 2 * (int)s->max_listeners;
}

/* Random bytes straight from the kernel (getrandom) instead of libgcrypt's
 * own pool, which stirs itself with SHA-1 and getrusage on every request:
 * libssh asks for random padding for every packet it sends, and the pool
 * cost a third of a download's throughput. The choice must be made before
 * libgcrypt's first initialisation, which libssh's own constructor runs
 * before main: a pre-init function of the executable runs before any
 * shared library's constructor. */
static void prefer_kernel_rng(int argc, char **argv, char **envp)
{
	(void)argc, (void)argv, (void)envp;
	gcry_control(GCRYCTL_SET_PREFERRED_RNG_TYPE, GCRY_RNG_TYPE_SYSTEM);
}
__attribute__((section(".preinit_array"), used)) static void (*const preinit_rng)(int, char **, char **) =
	prefer_kernel_rng;

int main(void)
{
	struct mon_setup st;
	struct peon_config cfg;
	ssh_bind bind = NULL;
	ssh_session s = NULL;
	char err[ERRLEN];
	int level, code = SESSION_EXIT_INTERNAL, fd;

	prctl(PR_SET_NAME, "peon-sshd-net");
	log_init("peon-sshd", true, LOG_INFO);
	monc_init(MONITOR_FD);
	log_set_sink(monc_log);
	if (read_setup(&st, err) < 0) {
		log_err("%s", err);
		_exit(SESSION_EXIT_INTERNAL);
	}
	level = log_level_from_name(st.log_level ? st.log_level : "info");
	log_set_level(level < 0 ? LOG_INFO : level);
	config_from_setup(&cfg, &st);
	ssh_init();
	bind = ssh_bind_new();
	s = ssh_new();
	if (!bind || !s) {
		log_err("out of memory setting up the SSH session");
		goto out;
	}
	if (bind_setup(bind, &st, err) < 0 || session_setup(s, &st, err) < 0 ||
	    sandbox_enter(&(struct sandbox_spec){ .uid = st.uid, .gid = st.gid, .root = st.empty_dir,
						   .parent = (pid_t)st.monitor_pid, .max_fds = max_fds(&st) },
			  err) < 0) {
		log_err("%s", err);
		goto out;
	}
	if ((fd = await_connection(err)) < 0) {
		if (fd != -EPIPE)
			log_err("%s", err);
		goto out;
	}
	code = session_run(&(struct session_args){ .cfg = &cfg, .bind = bind, .s = s, .fd = fd,
						   .mon_fd = MONITOR_FD });
out:
	if (s)
		ssh_free(s);
	if (bind)
		ssh_bind_free(bind);
	monproto_setup_clear(&st);
	/* No atexit handlers, no leak check (sanitizer builds): just go. */
	_exit(code);
}
