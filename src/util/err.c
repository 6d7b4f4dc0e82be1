/* err: error table lookups and the thread-local error detail. */
#include "err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "banned.h"

static _Thread_local struct drk_error tls_err;

struct err_row {
    int code;
    int exit_class;
    int retryable;
    const char *name;
    const char *text;
};

static const struct err_row err_rows[] = {
#define DRK_ERR(name, value, exitc, retry, text) { -(value), exitc, retry, #name, text },
#include "err.def"
#undef DRK_ERR
};

static const struct err_row *
err_row(int code)
{
    for (size_t i = 0; i < sizeof(err_rows) / sizeof(err_rows[0]); i++)
        if (err_rows[i].code == code)
            return &err_rows[i];
    return &err_rows[0]; /* EINTERNAL */
}

static void err_vset(int code, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void
err_vset(int code, const char *fmt, va_list ap)
{
    tls_err.code = code;
    tls_err.hint[0] = '\0';
    vsnprintf(tls_err.msg, sizeof(tls_err.msg), fmt, ap);
}

int
drk_err_set(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(code, fmt, ap);
    va_end(ap);
    return code;
}

int
drk_err_errno(int code, int errnum, const char *fmt, ...)
{
    va_list ap;
    size_t n;

    if (code == DRK_EIO) {
        if (errnum == ENOSPC || errnum == EDQUOT)
            code = DRK_ENOSPC;
        else if (errnum == EACCES || errnum == EPERM)
            code = DRK_EPERM;
        else if (errnum == ENOENT)
            code = DRK_ENOTFOUND;
        else if (errnum == ENOMEM)
            code = DRK_ENOMEM;
    }
    va_start(ap, fmt);
    err_vset(code, fmt, ap);
    va_end(ap);
    n = strlen(tls_err.msg);
    if (n < sizeof(tls_err.msg) - 2)
        snprintf(tls_err.msg + n, sizeof(tls_err.msg) - n, ": %s", strerror(errnum));
    return code;
}

int
drk_err_wrap(int code, const char *fmt, ...)
{
    char prefix[DRK_ERR_MSG_MAX], old[DRK_ERR_MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, tls_err.msg, sizeof(old));
    if (old[0])
        snprintf(tls_err.msg, sizeof(tls_err.msg), "%s: %s", prefix, old);
    else
        snprintf(tls_err.msg, sizeof(tls_err.msg), "%s", prefix);
    tls_err.code = code;
    return code;
}

void
drk_err_hint(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tls_err.hint, sizeof(tls_err.hint), fmt, ap);
    va_end(ap);
}

const char *
drk_err_msg(void)
{
    return tls_err.msg;
}

const char *
drk_err_hint_msg(void)
{
    return tls_err.hint;
}

int
drk_err_code(void)
{
    return tls_err.code;
}

void
drk_err_clear(void)
{
    tls_err.code = 0;
    tls_err.msg[0] = '\0';
    tls_err.hint[0] = '\0';
}

void
drk_err_save(struct drk_error *out)
{
    *out = tls_err;
}

void
drk_err_restore(const struct drk_error *e)
{
    tls_err = *e;
}

const char *
drk_err_name(int code)
{
    return code == 0 ? "OK" : err_row(code)->name;
}

const char *
drk_err_text(int code)
{
    return code == 0 ? "ok" : err_row(code)->text;
}

int
drk_err_exit_code(int code)
{
    return code == 0 ? 0 : err_row(code)->exit_class;
}

int
drk_err_retryable(int code)
{
    return code == 0 ? 0 : err_row(code)->retryable;
}
