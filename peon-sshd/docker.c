/* The Docker Engine API over its unix socket (docker.h). */
#include "docker.h"
#include "util.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

bool docker_ref_valid(const char *ref)
{
	size_t n = strlen(ref);

	/* Docker's own rule for names, which also covers hex ids: no '/', no
	 * '%', nothing a URL path would read differently. */
	if (n == 0 || n > DOCKER_REF_MAX || !isalnum((unsigned char)ref[0]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!isalnum((unsigned char)ref[i]) && !strchr("_.-", ref[i]))
			return false;
	return true;
}

/* The engine's own sentence from an error answer ({"message": "..."}). */
static void engine_message(const struct bounded_body *a, char *out, size_t len)
{
	json_object *o = a->buf ? json_tokener_parse(a->buf) : NULL, *m;

	snprintf(out, len, "no message");
	if (o && json_object_object_get_ex(o, "message", &m) && json_object_is_type(m, json_type_string))
		snprintf(out, len, "%s", json_object_get_string(m));
	json_object_put(o);
}

static int get(const char *socket_path, const char *path, struct bounded_body *a, long *status, char *err)
{
	char url[256 + DOCKER_REF_MAX];
	CURL *c = curl_easy_init();
	CURLcode rc;

	if (!c)
		return errf(err, -ENOMEM, "out of memory");
	/* The host part is never resolved: the unix socket is the connection. */
	snprintf(url, sizeof(url), "http://docker%s", path);
	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, socket_path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)DOCKER_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)DOCKER_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, bounded_body_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	curl_easy_cleanup(c);
	if (a->too_big)
		return errf(err, -EFBIG, "the Docker engine at %s answered with more than %d bytes", socket_path,
			    DOCKER_ANSWER_MAX);
	if (rc == CURLE_OPERATION_TIMEDOUT)
		return errf(err, -ETIMEDOUT, "the Docker engine at %s did not answer within %d s", socket_path,
			    DOCKER_TIMEOUT_MS / 1000);
	if (rc != CURLE_OK)
		return errf(err, rc == CURLE_COULDNT_CONNECT ? -ECONNREFUSED : -EIO,
			    "cannot reach the Docker engine at %s: %s", socket_path, curl_easy_strerror(rc));
	return 0;
}

int docker_inspect(const char *socket_path, const char *ref, struct docker_container *c, char *err)
{
	struct bounded_body a = { .max = DOCKER_ANSWER_MAX };
	char path[64 + DOCKER_REF_MAX], msg[256];
	long status = 0;
	int r;

	if (!docker_ref_valid(ref))
		return errf(err, -EINVAL, "'%.*s' is not a container name or id", DOCKER_REF_MAX, ref);
	snprintf(path, sizeof(path), "/containers/%s/json", ref);
	if ((r = get(socket_path, path, &a, &status, err)) < 0)
		goto out;
	if (status == 404) {
		r = errf(err, -ENOENT, "there is no container '%s' (the Docker engine says so)", ref);
	} else if (status != 200) {
		engine_message(&a, msg, sizeof(msg));
		r = errf(err, -EIO, "the Docker engine answered %ld for container '%s': %s", status, ref, msg);
	} else {
		r = docker_parse_inspect(a.buf ? a.buf : "", a.len, c, err);
	}
out:
	free(a.buf);
	return r;
}

/* ---- the answer ---- */

static int member(json_object *o, const char *k, json_type t, json_object **v, char *err)
{
	if (!json_object_object_get_ex(o, k, v) || !json_object_is_type(*v, t))
		return errf(err, -EINVAL, "the Docker engine's answer has no valid \"%s\"", k);
	return 0;
}

static int copy_str(json_object *o, const char *k, char *out, size_t len, char *err)
{
	json_object *v;
	int r = member(o, k, json_type_string, &v, err);

	if (r < 0)
		return r;
	if ((size_t)json_object_get_string_len(v) >= len)
		return errf(err, -EINVAL, "the Docker engine's \"%s\" is longer than %zu bytes", k, len - 1);
	memcpy(out, json_object_get_string(v), (size_t)json_object_get_string_len(v) + 1);
	return 0;
}

static int get_bool(json_object *o, const char *k, bool *out, char *err)
{
	json_object *v;
	int r = member(o, k, json_type_boolean, &v, err);

	if (r == 0)
		*out = json_object_get_boolean(v);
	return r;
}

static int get_int(json_object *o, const char *k, long long lo, long long hi, long long *out, char *err)
{
	json_object *v;
	int r = member(o, k, json_type_int, &v, err);

	if (r < 0)
		return r;
	errno = 0;
	*out = json_object_get_int64(v);
	if (errno || *out < lo || *out > hi)
		return errf(err, -ERANGE, "the Docker engine's \"%s\" is out of range", k);
	return 0;
}

static int parse_state(json_object *st, struct docker_container *c, char *err)
{
	long long pid, code;
	int r;

	if ((r = copy_str(st, "Status", c->status, sizeof(c->status), err)) < 0 ||
	    (r = get_bool(st, "Running", &c->running, err)) < 0 || (r = get_bool(st, "Paused", &c->paused, err)) < 0 ||
	    (r = get_bool(st, "Restarting", &c->restarting, err)) < 0 ||
	    (r = get_int(st, "Pid", 0, 4194304, &pid, err)) < 0 ||
	    (r = get_int(st, "ExitCode", INT_MIN, INT_MAX, &code, err)) < 0)
		return r;
	c->pid = (pid_t)pid;
	c->exit_code = (int)code;
	if (c->running && c->pid <= 0)
		return errf(err, -EINVAL, "the Docker engine says the container runs but gives no pid");
	return 0;
}

static bool hex_id(const char *s)
{
	if (strlen(s) != DOCKER_ID_LEN)
		return false;
	for (; *s; s++)
		if (!strchr("0123456789abcdef", *s))
			return false;
	return true;
}

int docker_parse_inspect(const char *json, size_t len, struct docker_container *c, char *err)
{
	struct json_tokener *tok = json_tokener_new();
	json_object *o = NULL, *st, *cfg;
	int r;

	memset(c, 0, sizeof(*c));
	if (!tok)
		return errf(err, -ENOMEM, "out of memory");
	if (len > DOCKER_ANSWER_MAX || len > INT_MAX) {
		r = errf(err, -EFBIG, "the Docker engine's answer is too large");
		goto out;
	}
	o = json_tokener_parse_ex(tok, json, (int)len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success || json_tokener_get_parse_end(tok) != len ||
	    !json_object_is_type(o, json_type_object)) {
		r = errf(err, -EINVAL, "the Docker engine's answer is not a JSON object");
		goto out;
	}
	if ((r = copy_str(o, "Id", c->id, sizeof(c->id), err)) < 0 ||
	    (r = copy_str(o, "Name", c->name, sizeof(c->name), err)) < 0 ||
	    (r = member(o, "State", json_type_object, &st, err)) < 0 || (r = parse_state(st, c, err)) < 0 ||
	    (r = member(o, "Config", json_type_object, &cfg, err)) < 0)
		goto out;
	if (!hex_id(c->id)) {
		r = errf(err, -EINVAL, "the Docker engine's container id is not 64 hex digits");
		goto out;
	}
	/* Config.User is absent or "" for the image's default user. */
	if (json_object_object_get_ex(cfg, "User", &st) && !json_object_is_type(st, json_type_null))
		r = copy_str(cfg, "User", c->user, sizeof(c->user), err);
out:
	json_object_put(o);
	json_tokener_free(tok);
	return r;
}
