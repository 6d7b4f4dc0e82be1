/* out: JSON, tables and the TTY progress line. */
#include "cli/out.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/buf.h"
#include "util/datetime.h"
#include "util/log.h"
#include "util/size.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

void
out_json(json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        free(s);
    }
    fflush(stdout);
    json_decref(j);
}

json_t *
out_json_bytes(const char *s, size_t n)
{
    struct buf b = BUF_INIT;
    json_t *j;
    if (utf8_valid(s, n))
        return json_stringn(s, n);
    str_escape_display(&b, s, n, false);
    j = json_stringn((const char *)b.data, b.len);
    buf_release(&b);
    return j;
}

struct out_table {
    int ncols;
    char **cells;
    size_t nrows, cap;
};

struct out_table *
out_table_new(int ncols)
{
    struct out_table *t = xcalloc(1, sizeof(*t));
    t->ncols = ncols;
    return t;
}

void
out_table_row(struct out_table *t, ...)
{
    va_list ap;
    if (t->nrows == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->cells = xreallocarray(t->cells, t->cap * (size_t)t->ncols, sizeof(char *));
    }
    va_start(ap, t);
    for (int i = 0; i < t->ncols; i++) {
        const char *c = va_arg(ap, const char *);
        t->cells[t->nrows * (size_t)t->ncols + (size_t)i] = xstrdup(c ? c : "");
    }
    va_end(ap);
    t->nrows++;
}

/* Display width of UTF-8 text: code points, not bytes. */
static size_t
text_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            w++;
    return w;
}

void
out_table_print(struct out_table *t)
{
    size_t *w = xcalloc((size_t)t->ncols, sizeof(*w));
    for (size_t r = 0; r < t->nrows; r++)
        for (int c = 0; c < t->ncols; c++) {
            size_t l = text_width(t->cells[r * (size_t)t->ncols + (size_t)c]);
            if (l > w[c])
                w[c] = l;
        }
    for (size_t r = 0; r < t->nrows; r++) {
        for (int c = 0; c < t->ncols; c++) {
            const char *cell = t->cells[r * (size_t)t->ncols + (size_t)c];
            fputs(cell, stdout);
            if (c + 1 < t->ncols)
                for (size_t k = text_width(cell); k < w[c] + 2; k++)
                    fputc(' ', stdout);
            free((void *)cell);
        }
        fputc('\n', stdout);
    }
    fflush(stdout);
    free(w);
    free(t->cells);
    free(t);
}

void
out_table_free(struct out_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nrows * (size_t)t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t);
}

void
out_rate(char *out, size_t n, uint64_t bytes, double seconds)
{
    char s[SIZE_FMT_MAX];
    size_format(seconds > 0.05 ? (uint64_t)((double)bytes / seconds) : 0, s);
    snprintf(out, n, "%s/s", s);
}

void
out_eta(char *out, size_t n, uint64_t done, uint64_t total, double seconds)
{
    char d[24];
    if (!total || done == 0 || done >= total || seconds < 1) {
        snprintf(out, n, "ETA --");
        return;
    }
    dt_format_duration(seconds * (double)(total - done) / (double)done, d);
    snprintf(out, n, "ETA %s", d);
}

void
out_count(char *out, size_t n, uint64_t v)
{
    char digits[32];
    size_t len, o = 0;
    snprintf(digits, sizeof(digits), "%llu", (unsigned long long)v);
    len = strlen(digits);
    for (size_t i = 0; i < len && o + 2 < n; i++) {
        if (i && (len - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = '\0';
}

struct progress {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool stop;
    progress_render_fn fn;
    void *arg;
    double start;
    bool drawn;
};

static struct progress *active;

static void
draw_locked(void *arg)
{
    struct progress *p = arg;
    char line[256];
    line[0] = '\0';
    p->fn(p->arg, line, sizeof(line), dt_monotonic() - p->start);
    fprintf(stderr, "\r\033[K%s", line);
    fflush(stderr);
    p->drawn = true;
}

/* Log hooks: clear the progress line before a message, redraw after. */
static void
hook_before(void)
{
    if (active && active->drawn) {
        fputs("\r\033[K", stderr);
        active->drawn = false;
    }
}

static void
hook_after(void)
{
}

static void *
progress_main(void *arg)
{
    struct progress *p = arg;
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 200 * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&p->cond, &p->mu, &until);
        if (!p->stop)
            log_locked(draw_locked, p);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

struct progress *
progress_start(bool enabled, progress_render_fn fn, void *arg)
{
    struct progress *p;
    if (!enabled)
        return NULL;
    p = xcalloc(1, sizeof(*p));
    p->fn = fn;
    p->arg = arg;
    p->start = dt_monotonic();
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cond, NULL);
    active = p;
    log_set_hooks(hook_before, hook_after);
    if (pthread_create(&p->thread, NULL, progress_main, p) != 0) {
        active = NULL;
        free(p);
        return NULL;
    }
    return p;
}

void
progress_stop(struct progress *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    log_set_hooks(NULL, NULL);
    active = NULL;
    if (p->drawn)
        fputs("\r\033[K", stderr);
    fflush(stderr);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cond);
    free(p);
}
