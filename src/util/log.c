/* log: leveled stderr messages, serialized across threads. */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

#include "banned.h"

static enum log_level cur_level = LOG_LEVEL_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static void (*hook_before)(void);
static void (*hook_after)(void);

void
log_set_level(enum log_level lvl)
{
    cur_level = lvl;
}

enum log_level
log_get_level(void)
{
    return cur_level;
}

void
log_set_hooks(void (*before)(void), void (*after)(void))
{
    pthread_mutex_lock(&log_lock);
    hook_before = before;
    hook_after = after;
    pthread_mutex_unlock(&log_lock);
}

void
log_msg(enum log_level lvl, const char *func, const char *fmt, ...)
{
    static const char *prefix[] = { "error: ", "warning: ", "", "", "debug: " };
    va_list ap;

    if (lvl > cur_level)
        return;
    pthread_mutex_lock(&log_lock);
    if (hook_before)
        hook_before();
    fputs(prefix[lvl], stderr);
    if (lvl == LOG_LEVEL_DEBUG)
        fprintf(stderr, "%s: ", func);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    if (hook_after)
        hook_after();
    pthread_mutex_unlock(&log_lock);
}

void
log_locked(void (*fn)(void *), void *arg)
{
    pthread_mutex_lock(&log_lock);
    fn(arg);
    pthread_mutex_unlock(&log_lock);
}
