#include "routeq.h"
#include "ctlproto.h"
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

static const char *const result_names[] = {
	[ROUTE_OK] = "ok", [ROUTE_NONE] = "none", [ROUTE_AMBIGUOUS] = "ambiguous", [ROUTE_REFUSED] = "refused",
};

/* ---- messages: one JSON object per SOCK_SEQPACKET record ---- */

static int send_json(int fd, json_object *o, size_t max, char *err)
{
	const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	size_t len = strlen(text);
	ssize_t n;

	if (len > max)
		return errf(err, -EMSGSIZE, "message of %zu bytes exceeds %zu", len, max);
	do
		n = send(fd, text, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errf(err, -errno, "cannot send: %s", strerror(errno));
	return 0;
}

/* One record into buf (NUL-terminated): its length, 0 at EOF, or -errno. */
static ssize_t recv_record(int fd, char *buf, size_t max, char *err)
{
	struct iovec iov = { .iov_base = buf, .iov_len = max };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	do
		n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_TRUNC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN ? -EAGAIN : errf(err, -errno, "cannot receive: %s", strerror(errno));
	/* With MSG_TRUNC the kernel reports the record's real length. */
	if ((size_t)n > max || (mh.msg_flags & MSG_TRUNC))
		return errf(err, -EMSGSIZE, "message of %zd bytes exceeds %zu", n, max);
	buf[n] = '\0';
	return n;
}

static json_object *parse_object(const char *buf, size_t len, char *err)
{
	json_object *o = ctl_parse(buf, len);

	if (!o)
		errf(err, -EPROTO, "malformed message: not one JSON object");
	return o;
}

/* A string member, NUL-free, of 1..max bytes (0..max when may_be_empty). */
static const char *str_member(json_object *o, const char *k, size_t max, bool may_be_empty)
{
	json_object *v;
	size_t len;

	if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	len = (size_t)json_object_get_string_len(v);
	if (len > max || (len == 0 && !may_be_empty) || strlen(json_object_get_string(v)) != len)
		return NULL;
	return json_object_get_string(v);
}

/* ---- the session's side ---- */

static int wait_for(int fd, short events, long long deadline, char *err)
{
	struct pollfd p = { .fd = fd, .events = events };

	for (;;) {
		long long left = deadline - mono_ms();
		int r;

		if (left <= 0)
			return errf(err, -ETIMEDOUT, "the daemon did not answer within %d ms", ROUTEQ_TIMEOUT_MS);
		r = poll(&p, 1, (int)left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return errf(err, -errno, "poll: %s", strerror(errno));
	}
}

static int parse_answer(json_object *o, const char *fingerprint, struct route_answer *ans, char *err)
{
	const char *res = str_member(o, "result", 16, false), *s;
	json_object *ex;
	size_t i = 0;

	while (i < ARRAY_SIZE(result_names) && (!res || strcmp(res, result_names[i]) != 0))
		i++;
	if (i == ARRAY_SIZE(result_names))
		return errf(err, -EPROTO, "malformed answer: no valid \"result\"");
	ans->result = (enum route_result)i;
	if ((s = str_member(o, "message", ROUTEQ_MAX_ANSWER, false)) && !(ans->message = strdup(s)))
		return -ENOMEM;
	if ((s = str_member(o, "reason", ROUTEQ_MAX_ANSWER, false)) && !(ans->reason = strdup(s)))
		return -ENOMEM;
	if (ans->result != ROUTE_OK)
		return 0;
	if (!json_object_object_get_ex(o, "execution", &ex) || execution_from_record(ex, &ans->exec, err) < 0)
		return errf(err, -EPROTO, "malformed answer: \"ok\" without a valid execution");
	/* The copy carries the offered key and nothing else. */
	if (ans->exec->n_keys != 1 || !execution_has_key(ans->exec, fingerprint))
		return errf(err, -EPROTO, "malformed answer: the execution does not carry the offered key");
	return 0;
}

static int ask(int fd, enum routeq_kind kind, const char *user, const char *fingerprint, struct route_answer *ans,
	       char *err)
{
	long long deadline = mono_ms() + ROUTEQ_TIMEOUT_MS;
	json_object *q = json_object_new_object(), *a = NULL;
	char *buf = malloc(ROUTEQ_MAX_ANSWER + 1);
	ssize_t n = 0;
	int r;

	if (!q || !buf) {
		r = errf(err, -ENOMEM, "out of memory");
		goto out;
	}
	json_object_object_add(q, "kind", json_object_new_string(kind == ROUTEQ_CLAIM ? "claim" : "probe"));
	json_object_object_add(q, "user", json_object_new_string_len(user, (int)strnlen(user, ROUTEQ_USER_MAX)));
	json_object_object_add(q, "fingerprint", json_object_new_string(fingerprint));
	if ((r = wait_for(fd, POLLOUT, deadline, err)) < 0 ||
	    (r = send_json(fd, q, ROUTEQ_MAX_QUESTION, err)) < 0)
		goto out;
	do {
		if ((r = wait_for(fd, POLLIN, deadline, err)) < 0)
			goto out;
		n = recv_record(fd, buf, ROUTEQ_MAX_ANSWER, err);
	} while (n == -EAGAIN);
	if (n <= 0) {
		r = n == 0 ? errf(err, -EPIPE, "the daemon closed the connection") : (int)n;
		goto out;
	}
	if (!(a = parse_object(buf, (size_t)n, err))) {
		r = -EPROTO;
		goto out;
	}
	r = parse_answer(a, fingerprint, ans, err);
out:
	json_object_put(q);
	json_object_put(a);
	free(buf);
	return r;
}

int routeq_ask(int fd, enum routeq_kind kind, const char *user, const char *fingerprint, struct route_answer *ans,
	       char *err)
{
	int r;

	*ans = (struct route_answer){ .result = ROUTE_NONE };
	if (fd < 0)
		return errf(err, -EBADF, "no connection to the daemon");
	r = ask(fd, kind, user ? user : "", fingerprint, ans, err);
	if (r < 0) {
		route_answer_clear(ans);
		shutdown(fd, SHUT_RDWR);
	}
	return r;
}

void route_answer_clear(struct route_answer *ans)
{
	execution_free(ans->exec);
	free(ans->message);
	free(ans->reason);
	*ans = (struct route_answer){ .result = ROUTE_NONE };
}

int routeq_send_tally(int fd, const struct routeq_tally *t, char *err)
{
	json_object *o = json_object_new_object();
	int r;

	if (!o)
		return errf(err, -ENOMEM, "out of memory");
	json_object_object_add(o, "kind", json_object_new_string("tally"));
	json_object_object_add(o, "bytes_in", json_object_new_uint64(t->bytes_in));
	json_object_object_add(o, "bytes_out", json_object_new_uint64(t->bytes_out));
	json_object_object_add(o, "spawn_failures", json_object_new_uint64(t->spawn_failures));
	r = send_json(fd, o, ROUTEQ_MAX_QUESTION, err);
	json_object_put(o);
	return r;
}

/* ---- the daemon's side ---- */

/* A count: a JSON integer, 0 or more. */
static int count_member(json_object *o, const char *k, uint64_t *out, char *err)
{
	json_object *v;

	if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < 0)
		return errf(err, -EPROTO, "malformed tally: \"%s\" must be a count", k);
	*out = json_object_get_uint64(v);
	return 0;
}

static int parse_tally(json_object *o, struct routeq_question *q, char *err)
{
	static const char *const fields[] = { "kind", "bytes_in", "bytes_out", "spawn_failures", NULL };
	int r = ctl_check_fields(o, fields, "tally", err);

	if (r < 0 || (r = count_member(o, "bytes_in", &q->tally.bytes_in, err)) < 0 ||
	    (r = count_member(o, "bytes_out", &q->tally.bytes_out, err)) < 0 ||
	    (r = count_member(o, "spawn_failures", &q->tally.spawn_failures, err)) < 0)
		return r;
	q->kind = ROUTEQ_TALLY;
	return 0;
}

static int parse_question(json_object *o, struct routeq_question *q, char *err)
{
	static const char *const fields[] = { "kind", "user", "fingerprint", NULL };
	const char *kind = str_member(o, "kind", 8, false);
	const char *user = str_member(o, "user", ROUTEQ_USER_MAX, true);
	const char *fp = str_member(o, "fingerprint", ROUTEQ_FP_MAX, false);
	int r;

	if (kind && strcmp(kind, "tally") == 0)
		return parse_tally(o, q, err);
	if ((r = ctl_check_fields(o, fields, "routing question", err)) < 0)
		return r;
	if (!kind || (strcmp(kind, "probe") != 0 && strcmp(kind, "claim") != 0))
		return errf(err, -EPROTO, "malformed question: \"kind\" must be \"probe\", \"claim\" or \"tally\"");
	if (!user)
		return errf(err, -EPROTO, "malformed question: \"user\" must be a string of at most %d bytes",
			    ROUTEQ_USER_MAX);
	if (!fp || strspn(fp, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=:") != strlen(fp))
		return errf(err, -EPROTO, "malformed question: bad \"fingerprint\"");
	q->kind = strcmp(kind, "claim") == 0 ? ROUTEQ_CLAIM : ROUTEQ_PROBE;
	snprintf(q->user, sizeof(q->user), "%s", user);
	snprintf(q->fingerprint, sizeof(q->fingerprint), "%s", fp);
	return 0;
}

int routeq_read_question(int fd, struct routeq_question *q, char *err)
{
	char buf[ROUTEQ_MAX_QUESTION + 1];
	ssize_t n = recv_record(fd, buf, ROUTEQ_MAX_QUESTION, err);
	json_object *o;
	int r;

	if (n == -EAGAIN)
		return 0;
	if (n == 0)
		return -EPIPE;
	if (n < 0)
		return (int)n;
	if (!(o = parse_object(buf, (size_t)n, err)))
		return -EPROTO;
	r = parse_question(o, q, err);
	json_object_put(o);
	return r < 0 ? r : 1;
}

int routeq_send_answer(int fd, enum route_result result, const struct execution *e, const char *fingerprint,
		       const char *message, const char *reason, char *err)
{
	json_object *o = json_object_new_object();
	int r;

	if (!o)
		return errf(err, -ENOMEM, "out of memory");
	json_object_object_add(o, "result", json_object_new_string(result_names[result]));
	if (message)
		json_object_object_add(o, "message", json_object_new_string(message));
	if (reason)
		json_object_object_add(o, "reason", json_object_new_string(reason));
	if (result == ROUTE_OK && e)
		json_object_object_add(o, "execution", execution_record_one_key(e, fingerprint));
	r = send_json(fd, o, ROUTEQ_MAX_ANSWER, err);
	json_object_put(o);
	return r;
}
