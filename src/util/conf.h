/*
 * conf: the drkit configuration file, git-config style (DESIGN §8, STYLE #8).
 *
 *     # comment                          ; also a comment
 *     [core]
 *         threads = 4
 *     [repository "local"]               # section names are case-insensitive,
 *         url = /srv/backup              # subsection names are not
 *         pack-size = 32MiB
 *     [source "www"]
 *         type = files
 *         path = /var/www "/srv/with space"     # LIST: words, quotes keep spaces
 *         path = /etc/nginx                       # a repeated LIST key adds words
 *         one-file-system                         # a bare key is boolean true
 *
 * Values: surrounding whitespace is trimmed, `#` and `;` start a comment outside double
 * quotes, quoted parts keep whitespace, escapes are \" \\ \n \t \b, and a backslash at the
 * end of a line continues the value on the next one. CRLF line ends and a leading UTF-8 BOM
 * are accepted. For keys that are not lists a later occurrence overrides an earlier one.
 *
 * Every section and key is declared once in conf.def (type, default, bounds, validator,
 * help). Everything is validated at load: the first problem fails the load with DRK_ECONFIG
 * and a message that names the file, the line and the key, e.g.
 *     drkit.conf:12: unknown key 'pasword-file' in [repository "local"]
 * with a hint (drk_err_hint_msg()) where one helps: "did you mean 'password-file'?".
 *
 * A loaded struct conf is immutable, so it can be read from several threads at once.
 * Strings returned by getters belong to the struct conf and live until conf_free().
 *
 * Asking for a section or key that conf.def does not declare, a subsection of a section
 * that takes none, no subsection of one that needs one, or a typed getter that does not
 * match the key's type, is a programming error and asserts.
 */
#ifndef DRK_UTIL_CONF_H
#define DRK_UTIL_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONF_FILE_MAX  (1024 * 1024) /* bytes; a larger file is DRK_ETOOBIG */
#define CONF_VALUE_MAX (64 * 1024)   /* bytes of one value after unquoting */

struct conf;

/*
 * Read and validate the file at `path`. On success *out is a new conf (free it with
 * conf_free). DRK_ENOTFOUND if the file does not exist, DRK_ETOOBIG past CONF_FILE_MAX,
 * DRK_EIO if it cannot be read, DRK_ECONFIG on bad content. *out is untouched on failure.
 */
int conf_load_file(struct conf **out, const char *path);

/*
 * Same as conf_load_file for text already in memory; `name` stands for the file name in
 * messages and origins. conf_path() of the result is NULL.
 */
int conf_load_string(struct conf **out, const char *name, const char *text);

/* A configuration with nothing set: every getter yields the schema default. Never NULL. */
struct conf *conf_new_empty(void);

/* NULL is fine. */
void conf_free(struct conf *c);

/* The path given to conf_load_file, or NULL (conf_load_string, conf_new_empty). */
const char *conf_path(const struct conf *c);

/*
 * Value of key in [section "sub"] (sub NULL for sections without subsections): the last
 * one set, else the schema default, else NULL. PATH values have "~/" already expanded;
 * BOOL keys written without "= value" read "true"; LIST keys give their words joined by
 * single spaces (use conf_get_list to keep words containing spaces apart).
 */
const char *conf_get(const struct conf *c, const char *section, const char *sub, const char *key);

/*
 * Typed getters: 0 and *out set, or DRK_ENOTFOUND (with a message naming the file,
 * section and key) when the key is unset and has no default; *out is then untouched.
 * The value was validated at load, so they cannot fail otherwise.
 */
int conf_get_bool(const struct conf *c, const char *section, const char *sub, const char *key,
                  bool *out);
int conf_get_int(const struct conf *c, const char *section, const char *sub, const char *key,
                 int64_t *out);
int conf_get_size(const struct conf *c, const char *section, const char *sub, const char *key,
                  uint64_t *out);
int conf_get_duration(const struct conf *c, const char *section, const char *sub, const char *key,
                      uint64_t *seconds_out);

/*
 * Words of a LIST key in file order, across every occurrence (else the default's words).
 * Returns the count; *out points at an array of that many strings followed by NULL, owned
 * by c (an empty array, never NULL, when there are none).
 */
size_t conf_get_list(const struct conf *c, const char *section, const char *sub, const char *key,
                     const char *const **out);

/*
 * Did the file have a [section "sub"] header (even with no keys under it)? For a section
 * that needs a subsection, sub NULL asks whether there is any.
 */
bool conf_has_section(const struct conf *c, const char *section, const char *sub);

/*
 * Subsection names of `section` in the order they first appear, each once. Returns the
 * count; *out as for conf_get_list. Always 0 for sections that take no subsection.
 */
size_t conf_subsections(const struct conf *c, const char *section, const char *const **out);

/*
 * "drkit.conf:12" for the line that set the effective value (the last occurrence, for
 * lists), or NULL when the value is the default or unset. For messages about a value that
 * parses but is wrong for the situation ("drkit.conf:12: repository 'x' is not reachable").
 */
const char *conf_origin(const struct conf *c, const char *section, const char *sub,
                        const char *key);

/*
 * The schema, for `drkit config` documentation and --help: *out points at a static array
 * of rows in conf.def order; returns the count. type is one of "string", "path", "bool",
 * "int", "size", "duration", "list"; def is the default as written in a file, or NULL.
 */
struct conf_key_info {
    const char *section;
    const char *key;
    const char *type;
    const char *def;
    const char *help;
};
size_t conf_schema(const struct conf_key_info **out);

/*
 * The value syntaxes of the file, for command-line flags and environment variables that
 * must accept the same text. 0, or -1 when `s` is not valid (nothing recorded).
 * Booleans: true/false, yes/no, on/off, 1/0 (any case). Durations: a whole number of
 * seconds ("90"), or numbers with units s, m, h, d, w, in any combination ("30s", "1h30m",
 * "2d"), no spaces.
 */
int conf_parse_bool(const char *s, bool *out);
int conf_parse_duration(const char *s, uint64_t *seconds_out);

#endif
