/*
 * log: leveled messages to stderr (never standard output: that belongs to cli/).
 * Levels: error, warn, info, detail, debug. The console level is set once by the CLI
 * (--quiet lowers it to error, -v raises it). Messages are lowercase, no full stop,
 * subject in quotes (git CodingGuidelines). Never log secrets.
 */
#ifndef DRK_UTIL_LOG_H
#define DRK_UTIL_LOG_H

enum log_level {
    LOG_LEVEL_ERROR = 0,
    LOG_LEVEL_WARN,
    LOG_LEVEL_INFO,
    LOG_LEVEL_DETAIL,
    LOG_LEVEL_DEBUG,
};

void log_set_level(enum log_level lvl);
enum log_level log_get_level(void);
void log_msg(enum log_level lvl, const char *func, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_error(...)  log_msg(LOG_LEVEL_ERROR, __func__, __VA_ARGS__)
#define log_warn(...)   log_msg(LOG_LEVEL_WARN, __func__, __VA_ARGS__)
#define log_info(...)   log_msg(LOG_LEVEL_INFO, __func__, __VA_ARGS__)
#define log_detail(...) log_msg(LOG_LEVEL_DETAIL, __func__, __VA_ARGS__)
#define log_debug(...)  log_msg(LOG_LEVEL_DEBUG, __func__, __VA_ARGS__)

/* Called before a log line is written and after, so a TTY progress line can be cleared
 * and redrawn around it. */
void log_set_hooks(void (*before)(void), void (*after)(void));
/* Run fn while holding the log's lock, so a progress line and a message never interleave. */
void log_locked(void (*fn)(void *), void *arg);

#endif
