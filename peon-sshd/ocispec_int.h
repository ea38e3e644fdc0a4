/* Between ocispec.c (the spec, its process settings) and ociseccomp.c (its
 * linux.seccomp): reading members of the parsed JSON with sentences that
 * name where in the spec a value is wrong ("process.user.uid"). */
#ifndef PEON_OCISPEC_INT_H
#define PEON_OCISPEC_INT_H

#include "jobseccomp.h"

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

/* Room for a member's place in the spec, "linux.seccomp.syscalls[4095].args[5].valueTwo". */
#define OCI_WHERE_MAX 96

/* Member key of o, where o sits at path ("" for the top). Absent or null
 * (Go's decoder, runc's, takes null as absent): 0 and *out NULL. Present
 * and of type want: 1. Of another type: -EINVAL. */
int oci_member(json_object *o, const char *path, const char *key, json_type want, json_object **out, char *err);
/* The same for a member the spec requires: absent is -EINVAL too. */
int oci_required(json_object *o, const char *path, const char *key, json_type want, json_object **out, char *err);

/* Element i of array a (which sits at path), of type want; where gets its
 * place, "path[i]", for the caller's sentences. Null is a wrong type here. */
int oci_elem(json_object *a, const char *path, size_t i, json_type want, json_object **out, char *where, char *err);

/* An integer member's value within a range ("where" names it). */
int oci_u64(json_object *v, const char *where, uint64_t max, uint64_t *out, char *err);
int oci_s64(json_object *v, const char *where, int64_t min, int64_t max, int64_t *out, char *err);
/* A string member with no NUL in it (C strings are made of it). */
int oci_str(json_object *v, const char *where, const char **out, char *err);

/* Write a place ("%s[%zu]") into a buffer of OCI_WHERE_MAX; cut short, it
 * still says enough for a sentence. */
void oci_place(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Spec text for a sentence: at most 64 bytes, control bytes as '?'. */
void oci_quote(const char *s, char *buf, size_t len);

/* linux.seccomp (the object, at "linux.seccomp") into *out (NULL: no
 * filter) and the filter flags it asks for into *flags. */
int oci_seccomp_compile(json_object *sec, struct job_seccomp **out, unsigned *flags, char *err);

#endif
