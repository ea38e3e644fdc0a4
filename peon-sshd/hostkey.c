#include "hostkey.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SEALED (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

/* Each kind of key peon-sshd keeps, and the host-key algorithms
 * (algorithms.host_keys) that sign with it. */
static const struct {
	const char *file;
	enum ssh_keytypes_e type;
	int bits;
	const char *algs[3];
} key_kinds[HOSTKEY_MAX] = {
	{ "ssh_host_ed25519_key", SSH_KEYTYPE_ED25519, 0, { "ssh-ed25519" } },
	{ "ssh_host_rsa_key", SSH_KEYTYPE_RSA, 3072, { "rsa-sha2-512", "rsa-sha2-256", "ssh-rsa" } },
};

static bool kind_offered(int kind, const char *algos)
{
	for (size_t i = 0; i < ARRAY_SIZE(key_kinds[kind].algs) && key_kinds[kind].algs[i]; i++)
		if (list_has(algos, key_kinds[kind].algs[i], strlen(key_kinds[kind].algs[i])))
			return true;
	return false;
}

bool hostkey_offered(ssh_key key, const char *algos)
{
	for (int i = 0; i < HOSTKEY_MAX; i++)
		if (key && ssh_key_type(key) == key_kinds[i].type)
			return kind_offered(i, algos);
	return false;
}

int hostkeys_check_offered(const char *algos, char *err)
{
	for (int i = 0; i < HOSTKEY_MAX; i++)
		if (kind_offered(i, algos))
			return 0;
	return errf(err, -EINVAL,
		    "algorithms.host_keys \"%s\" offers none of the host keys peon-sshd has "
		    "(ssh-ed25519, rsa-sha2-512, rsa-sha2-256)", algos);
}

ssh_key hostkeys_first_offered(const struct hostkeys *hk, const char *algos, int *index)
{
	for (int i = 0; i < hk->n; i++)
		if (hostkey_offered(hk->keys[i], algos)) {
			if (index)
				*index = i;
			return hk->keys[i];
		}
	return NULL;
}

static int check_dir(const char *dir, bool create, char *err)
{
	struct stat st;

	if (stat(dir, &st) < 0) {
		if (errno != ENOENT || !create)
			return errf(err, -errno, "host key directory %s: %s", dir, strerror(errno));
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			return errf(err, -errno, "cannot create host key directory %s: %s", dir, strerror(errno));
		if (stat(dir, &st) < 0)
			return errf(err, -errno, "host key directory %s: %s", dir, strerror(errno));
	}
	if (!S_ISDIR(st.st_mode))
		return errf(err, -ENOTDIR, "host key directory %s is not a directory", dir);
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return errf(err, -EPERM,
			    "host key directory %s is writable by group or others (mode %04o); run: chmod go-w %s",
			    dir, (unsigned)(st.st_mode & 07777), dir);
	if (st.st_uid != geteuid())
		return errf(err, -EPERM, "host key directory %s is owned by uid %u, not by uid %u", dir,
			    (unsigned)st.st_uid, (unsigned)geteuid());
	return 0;
}

static int check_stat(const struct stat *st, const char *path, char *err)
{
	if (!S_ISREG(st->st_mode))
		return errf(err, -EPERM, "host key %s is not a regular file", path);
	if (st->st_mode & (S_IRWXG | S_IRWXO))
		return errf(err, -EPERM, "host key %s is accessible by group or others (mode %04o); run: chmod 600 %s",
			    path, (unsigned)(st->st_mode & 07777), path);
	if (st->st_uid != geteuid())
		return errf(err, -EPERM, "host key %s is owned by uid %u, not by uid %u", path,
			    (unsigned)st->st_uid, (unsigned)geteuid());
	return 0;
}

static int check_file(const char *path, char *err)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return -errno;
	return check_stat(&st, path, err);
}

/* The file as it is now, held by an O_PATH descriptor (no read access is
 * taken, no byte read) and checked through it: a file swapped in after
 * check_file is checked all the same. */
static int pin_file(const char *path, char *err)
{
	int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC), r;
	struct stat st;

	if (fd < 0)
		return errf(err, -errno, "cannot open host key %s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0)
		r = errf(err, -errno, "host key %s: %s", path, strerror(errno));
	else
		r = check_stat(&st, path, err);
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

int hostkey_open_private(const struct hostkeys *hk, int i, char *err)
{
	char proc[64];
	int fd, seals;

	if (i < 0 || i >= hk->n || hk->fds[i] < 0)
		return errf(err, -EBADF, "host key %d is not loaded", i);
	/* A new open file description of the sealed copy, not a dup: each
	 * network child reads from offset 0 on its own. */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", hk->fds[i]);
	fd = open(proc, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errf(err, -errno, "cannot open host key %s: %s", hk->paths[i], strerror(errno));
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || (seals & SEALED) != SEALED) {
		close(fd);
		return errf(err, -EPERM, "the loaded copy of host key %s is not sealed", hk->paths[i]);
	}
	return fd;
}

/* Private key bytes never enter the daemon (or, through fork, a monitor):
 * generating a key, deriving its public half and making the network
 * child's copy run in a short-lived child, which writes the files (and the
 * copy, into a memfd the daemon made) and says only whether it worked. */
struct key_job {
	const char *path;
	int kind;
	int pin;         /* O_PATH descriptor of path, or -1 (peon-sshd -t) */
	int out;         /* memfd for the network child's copy, or -1 */
};

static int in_helper(int (*fn)(const struct key_job *job, char *err), const struct key_job *job, char *err)
{
	int p[2], st = 0;
	ssize_t n;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return errf(err, -errno, "pipe: %s", strerror(errno));
	pid = fork();
	if (pid == 0) {
		char e[ERRLEN] = "";
		int r = fn(job, e);

		if (r < 0)
			write_all(p[1], e, strlen(e));
		_exit(r < 0 ? 1 : 0);
	}
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		return errf(err, -errno, "fork: %s", strerror(errno));
	}
	n = read(p[0], err, ERRLEN - 1);
	close(p[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	if (n <= 0)
		snprintf(err, ERRLEN, "the host key helper for %s failed", job->path);
	else
		err[n] = '\0';
	return -EIO;
}

static int generate(const struct key_job *job, char *err)
{
	const char *path = job->path;
	char tmp[PATH_MAX + 16];
	ssh_key key = NULL;
	mode_t old;
	int r = 0;

	if (ssh_pki_generate(key_kinds[job->kind].type, key_kinds[job->kind].bits, &key) != SSH_OK)
		return errf(err, -EIO, "cannot generate %s", path);
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	unlink(tmp);
	old = umask(077);
	if (ssh_pki_export_privkey_file(key, NULL, NULL, NULL, tmp) != SSH_OK ||
	    chmod(tmp, 0600) < 0 || rename(tmp, path) < 0)
		r = errf(err, -EIO, "cannot write host key %s", path);
	umask(old);
	unlink(tmp);
	ssh_key_free(key);
	return r;
}

#define OPENSSH_BEGIN "-----BEGIN OPENSSH PRIVATE KEY-----"

/* RSA as PKCS#1 PEM ("BEGIN RSA PRIVATE KEY"), from any PEM form OpenSSL
 * reads (PKCS#8 is what libssh 0.10 writes with OpenSSL 3). */
static int rsa_pkcs1(const char *path, const char *text, size_t len, char **out, char *err)
{
	BIO *in = BIO_new_mem_buf(text, (int)len), *mem = BIO_new(BIO_s_mem());
	EVP_PKEY *pkey = in ? PEM_read_bio_PrivateKey(in, NULL, NULL, NULL) : NULL;
	char *data;
	long n;
	int r = 0;

	if (!pkey || !mem || !PEM_write_bio_PrivateKey_traditional(mem, pkey, NULL, NULL, 0, NULL, NULL) ||
	    (n = BIO_get_mem_data(mem, &data)) <= 0 || !(*out = strndup(data, (size_t)n)))
		r = errf(err, -EINVAL, "host key %s: cannot rewrite it as PKCS#1 for the network child", path);
	EVP_PKEY_free(pkey);
	BIO_free(in);
	BIO_free(mem);
	return r;
}

/* The network child's libssh is built on libgcrypt, whose own reader knows
 * OpenSSH's format and PKCS#1 but no PKCS#8: a key in OpenSSH's format goes
 * to it as it is, an RSA key in any PEM form is rewritten as PKCS#1. An
 * ed25519 key in PKCS#8 (openssl genpkey) cannot be rewritten: libssh 0.10
 * exports only the ed25519 keys it parsed from OpenSSH's format, and
 * OpenSSH's own ssh-keygen does not read that form either. */
static int child_form(const char *path, ssh_key key, const char *text, size_t len, char **out, char *err)
{
	*out = NULL;
	if (strstr(text, OPENSSH_BEGIN))
		return (*out = strndup(text, len)) ? 0 : errf(err, -ENOMEM, "out of memory");
	switch (ssh_key_type(key)) {
	case SSH_KEYTYPE_RSA:
		return rsa_pkcs1(path, text, len, out, err);
	case SSH_KEYTYPE_ED25519:
		return errf(err, -EINVAL,
			    "host key %s is an ed25519 key in PEM (PKCS#8) form, which the network child cannot read; "
			    "replace it with one in OpenSSH's format (ssh-keygen -t ed25519 -N '' -f %s)", path, path);
	default:
		return errf(err, -EINVAL, "host key %s is of a kind peon-sshd does not serve", path);
	}
}

/* <path>.pub holds the public half of <path>: written when missing or
 * different, so the daemon can read it without touching the private key.
 * The key is read through the pin (so both halves are those of the pinned
 * file) and its network child's form written to job->out; for peon-sshd -t
 * (no pin, no out) only checked: both readable, nothing written. */
static int sync_public(const struct key_job *job, char *err)
{
	const char *path = job->path;
	char pub[PATH_MAX + 8], src[64];
	ssh_key key = NULL, have = NULL;
	char *text = NULL, *form = NULL;
	size_t len = 0;
	mode_t old;
	int r = 0;

	snprintf(pub, sizeof(pub), "%s.pub", path);
	snprintf(src, sizeof(src), "/proc/self/fd/%d", job->pin);
	if (read_file(job->pin >= 0 ? src : path, HOSTKEY_FILE_MAX, &text, &len) < 0 ||
	    ssh_pki_import_privkey_base64(text, NULL, NULL, NULL, &key) != SSH_OK) {
		r = errf(err, -EINVAL, "host key %s is not a readable private key", path);
		goto out;
	}
	if ((r = child_form(path, key, text, len, &form, err)) < 0)
		goto out;
	if (job->out >= 0 && write_all(job->out, form, strlen(form)) < 0) {
		r = errf(err, -EIO, "cannot copy host key %s for the network children: %s", path, strerror(errno));
		goto out;
	}
	if (job->pin >= 0 && (ssh_pki_import_pubkey_file(pub, &have) != SSH_OK ||
			      ssh_key_cmp(key, have, SSH_KEY_CMP_PUBLIC) != 0)) {
		unlink(pub);
		old = umask(022);
		if (ssh_pki_export_pubkey_file(key, pub) != SSH_OK)
			r = errf(err, -EIO, "cannot write %s", pub);
		umask(old);
	}
out:
	if (text)
		explicit_bzero(text, len);
	if (form)
		explicit_bzero(form, strlen(form));
	free(text);
	free(form);
	ssh_key_free(have);
	ssh_key_free(key);
	return r;
}

/* The copy network children read: a memfd written by the helper, sealed
 * once it is complete, so nothing can change it until the next load. */
static int child_copy(const struct key_job *job, char *err)
{
	struct key_job j = *job;
	int r;

	j.out = memfd_create("peon-hostkey", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (j.out < 0)
		return errf(err, -errno, "memfd_create: %s", strerror(errno));
	if ((r = in_helper(sync_public, &j, err)) == 0 && fcntl(j.out, F_ADD_SEALS, SEALED) < 0)
		r = errf(err, -errno, "cannot seal the copy of host key %s: %s", job->path, strerror(errno));
	if (r < 0) {
		close(j.out);
		return r;
	}
	return j.out;
}

/* Key kind i at path: checked, generated when missing (create), its
 * public half synced and, with create, loaded, with the network child's
 * copy in *copy (or -1). */
static int load_one(const char *path, int i, bool create, ssh_key *pubkey, int *copy, char *err)
{
	struct key_job job = { .path = path, .kind = i, .pin = -1, .out = -1 };
	char pub[PATH_MAX + 8];
	int r = check_file(path, err);

	*copy = -1;
	if (r == -ENOENT && create) {
		r = in_helper(generate, &job, err);
		if (r == 0)
			log_notice("generated host key %s", path);
	} else if (r == -ENOENT) {
		r = errf(err, r, "host key %s does not exist (it is created when peon-sshd starts)", path);
	}
	if (r < 0)
		return r;
	if (!create)
		return in_helper(sync_public, &job, err);
	if ((job.pin = pin_file(path, err)) < 0)
		return job.pin;
	r = child_copy(&job, err);
	close(job.pin);
	if (r < 0)
		return r;
	*copy = r;
	snprintf(pub, sizeof(pub), "%s.pub", path);
	if (ssh_pki_import_pubkey_file(pub, pubkey) != SSH_OK) {
		close(*copy);
		*copy = -1;
		return errf(err, -EINVAL, "cannot read the public host key %s", pub);
	}
	return 0;
}

int hostkeys_load(const char *dir, bool create, struct hostkeys *hk, char *err)
{
	int r;

	memset(hk, 0, sizeof(*hk));
	for (int i = 0; i < HOSTKEY_MAX; i++)
		hk->fds[i] = -1;
	if ((r = check_dir(dir, create, err)) < 0)
		return r;
	for (int i = 0; i < HOSTKEY_MAX; i++) {
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "%s/%s", dir, key_kinds[i].file);
		if ((r = load_one(path, i, create, &hk->keys[i], &hk->fds[i], err)) < 0)
			goto fail;
		hk->paths[i] = strdup(path);
		hk->n++;
	}
	return 0;
fail:
	hostkeys_free(hk);
	return r;
}

void hostkeys_free(struct hostkeys *hk)
{
	for (int i = 0; i < HOSTKEY_MAX; i++) {
		ssh_key_free(hk->keys[i]);
		free(hk->paths[i]);
		/* Only loaded kinds have a copy: a zeroed struct closes nothing. */
		if (i < hk->n && hk->fds[i] >= 0)
			close(hk->fds[i]);
	}
	memset(hk, 0, sizeof(*hk));
}
