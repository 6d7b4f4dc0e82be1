/*
 * err: error codes and the thread-local error detail (STYLE #1).
 *
 * Functions that can fail return int: 0 on success, a negative DRK_E* code on
 * failure. The failure site records a human message with drk_err_set() and
 * returns its code, so `return drk_err_set(DRK_EIO, "cannot open '%s'", p);`
 * works like git's `return error(...)`. Only cli/ turns codes into exit codes
 * and prints messages. The detail lives in thread-local storage; worker
 * threads hand it to the caller with drk_err_save()/drk_err_restore().
 */
#ifndef DRK_UTIL_ERR_H
#define DRK_UTIL_ERR_H

#include <stddef.h>

enum drk_err {
    DRK_OK = 0,
#define DRK_ERR(name, value, exitc, retry, text) DRK_##name = -(value),
#include "err.def"
#undef DRK_ERR
};

#define DRK_ERR_MSG_MAX  1024
#define DRK_ERR_HINT_MAX 512

/* A saved error, e.g. carried from a worker thread back to the caller. */
struct drk_error {
    int code;
    char msg[DRK_ERR_MSG_MAX];
    char hint[DRK_ERR_HINT_MAX];
};

/* Record the message for `code` (replacing any previous one) and return `code`. */
int drk_err_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Like drk_err_set, appending ": <strerror(errnum)>"; ENOSPC/EACCES map to their own codes
 * when `code` is DRK_EIO. */
int drk_err_errno(int code, int errnum, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prefix the current message with context: "<context>: <message>"; returns `code`. */
int drk_err_wrap(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Attach a hint line the user can act on ("hint: ..."). */
void drk_err_hint(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

const char *drk_err_msg(void); /* message of the last error on this thread ("" if none) */
const char *drk_err_hint_msg(void);
int drk_err_code(void); /* code of the last drk_err_set on this thread */
void drk_err_clear(void);

void drk_err_save(struct drk_error *out);
void drk_err_restore(const struct drk_error *e); /* sets this thread's detail, no return */

const char *drk_err_name(int code); /* "ECORRUPT" */
const char *drk_err_text(int code); /* "integrity error" */
int drk_err_exit_code(int code);    /* 0 for DRK_OK, else the exit class */
int drk_err_retryable(int code);

#endif
