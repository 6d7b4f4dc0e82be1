/*
 * out: what drkit prints. JSON documents (one per command, to stdout), aligned text
 * tables, human sizes and rates, and the one-line TTY progress display on stderr.
 */
#ifndef DRK_CLI_OUT_H
#define DRK_CLI_OUT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

/* Print j to stdout (pretty, 2-space indent) and release it. */
void out_json(json_t *j);
/* A JSON string for bytes that may not be UTF-8: valid UTF-8 as is, else \xNN escapes. */
json_t *out_json_bytes(const char *s, size_t n);

/* Tables: collect rows of cells, then print with columns padded to the widest cell. */
struct out_table;
struct out_table *out_table_new(int ncols);
void out_table_row(struct out_table *t, ...); /* ncols const char* cells */
void out_table_print(struct out_table *t);    /* and free */
void out_table_free(struct out_table *t);     /* without printing */

/* Progress: a thread redraws a line every 200 ms while running. render fills line. */
typedef void (*progress_render_fn)(void *arg, char *line, size_t n, double elapsed);
struct progress;
struct progress *progress_start(bool enabled, progress_render_fn fn, void *arg);
void progress_stop(struct progress *p); /* clears the line; NULL ok */

/* "12.3 MiB/s", and "ETA 1m02s" helpers for render functions. */
void out_rate(char *out, size_t n, uint64_t bytes, double seconds);
void out_eta(char *out, size_t n, uint64_t done, uint64_t total, double seconds);
/* 48131 -> "48,131" */
void out_count(char *out, size_t n, uint64_t v);

#endif
