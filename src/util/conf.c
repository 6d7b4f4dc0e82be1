/*
 * conf: the git-config style parser, validated against the conf.def schema.
 *
 * The parser reads characters one at a time (CRLF folded to LF, as git's get_next_char
 * does), so lines may be of any length and continuation lines need no special buffer.
 * Parsing stops at the first problem: one clear message beats a list of follow-on errors.
 *
 * Storage: one struct conf_sec per distinct [section "sub"], found through a small
 * open-addressing hash so a file of many sections stays linear; each holds one slot per
 * schema row, filled when the key is set. List words are collected during the parse and
 * joined once at the end, so a key repeated thousands of times is not quadratic.
 */
#include "conf.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "err.h"
#include "fs.h"
#include "size.h"
#include "vec.h"
#include "xalloc.h"
#include "banned.h"

enum conf_type {
    CONF_STRING,
    CONF_PATH,
    CONF_BOOL,
    CONF_INT,
    CONF_SIZE,
    CONF_DURATION,
    CONF_LIST,
};

/* Names of the types for conf_schema(), pasted from the type's enum name. */
#define CONF_STRING_NAME   "string"
#define CONF_PATH_NAME     "path"
#define CONF_BOOL_NAME     "bool"
#define CONF_INT_NAME      "int"
#define CONF_SIZE_NAME     "size"
#define CONF_DURATION_NAME "duration"
#define CONF_LIST_NAME     "list"

enum conf_sub {
    CONF_SUB_NONE,
    CONF_SUB_REQUIRED,
};

#define CONF_F_REQUIRED 1u

/* A validator: NULL when the value is good, else what is expected. */
typedef const char *(*conf_check_fn)(const char *value);

static const char *conf_check_compression(const char *value);
static const char *conf_check_source_type(const char *value);
static const char *conf_check_pg_method(const char *value);
static const char *conf_check_checkpoint(const char *value);

struct conf_section_row {
    const char *name;
    enum conf_sub sub;
};

struct conf_row {
    const char *section;
    const char *key;
    enum conf_type type;
    const char *def;
    int64_t min, max;
    unsigned flags;
    conf_check_fn check;
    const char *help;
};

static const struct conf_section_row conf_sections[] = {
#define CONF_SECTION(name, sub) { name, sub },
#define CONF_KEY(section, key, type, def, min, max, flags, check, help)
#include "conf.def"
#undef CONF_SECTION
#undef CONF_KEY
};

static const struct conf_row conf_rows[] = {
#define CONF_SECTION(name, sub)
#define CONF_KEY(section, key, type, def, min, max, flags, check, help) \
    { section, key, type, def, min, max, flags, check, help },
#include "conf.def"
#undef CONF_SECTION
#undef CONF_KEY
};

static const struct conf_key_info conf_infos[] = {
#define CONF_SECTION(name, sub)
#define CONF_KEY(section, key, type, def, min, max, flags, check, help) \
    { section, key, type##_NAME, def, help },
#include "conf.def"
#undef CONF_SECTION
#undef CONF_KEY
};

#define CONF_NSECTIONS (sizeof(conf_sections) / sizeof(conf_sections[0]))
#define CONF_NROWS     (sizeof(conf_rows) / sizeof(conf_rows[0]))

/* The effective value of one key in one section instance, or a default. */
struct conf_val {
    char *value;       /* for lists: the words joined by single spaces */
    VEC(char *) words; /* LIST only; v[n] is NULL once there is a word */
    char *origin;      /* "file:line" of the last setting, NULL for defaults */
};

/* One distinct [section "sub"] of the file. */
struct conf_sec {
    size_t section; /* index into conf_sections */
    char *sub;      /* NULL when the section takes no subsection */
    unsigned line;  /* line of its first header */
    struct conf_val *vals[CONF_NROWS];
};

struct conf {
    char *name; /* for messages: the path, or conf_load_string's name; NULL when empty */
    char *path; /* conf_path() */
    VEC(struct conf_sec *) secs;
    size_t *slots; /* hash of secs: index + 1, 0 for an empty slot */
    size_t nslots;
    VEC(const char *) subs[CONF_NSECTIONS]; /* v[n] is NULL once there is one */
    struct conf_val defs[CONF_NROWS];
};

struct conf_parser {
    struct conf *c;
    const char *text;
    size_t len, pos;
    size_t line_start; /* offset of the first byte of the current line */
    unsigned line;
    bool pending_nl;
    struct conf_sec *sec; /* current section, NULL before the first header */
};

static const char *const conf_empty_list[1] = { NULL };

static void
conf_bug(const char *what, const char *section, const char *key)
{
    fprintf(stderr, "drkit: BUG: conf: %s [%s] %s\n", what, section ? section : "(null)",
            key ? key : "");
    abort();
}

/* ---- validators named in conf.def ---- */

static const char *
conf_check_compression(const char *value)
{
    const char *level;

    if (!strcmp(value, "off") || !strcmp(value, "auto") || !strcmp(value, "zstd"))
        return NULL;
    if (!strncmp(value, "zstd:", 5)) {
        level = value + 5;
        if (level[0] >= '1' && level[0] <= '9' && level[1] == '\0')
            return NULL;
        if (level[0] == '1' && level[1] >= '0' && level[1] <= '9' && level[2] == '\0')
            return NULL;
    }
    return "expected off, auto, zstd or zstd:1..19";
}

static const char *
conf_check_source_type(const char *value)
{
    if (!strcmp(value, "files") || !strcmp(value, "postgresql"))
        return NULL;
    return "expected files or postgresql";
}

static const char *
conf_check_pg_method(const char *value)
{
    if (!strcmp(value, "logical") || !strcmp(value, "physical") || !strcmp(value, "both"))
        return NULL;
    return "expected logical, physical or both";
}

static const char *
conf_check_checkpoint(const char *value)
{
    if (!strcmp(value, "fast") || !strcmp(value, "spread"))
        return NULL;
    return "expected fast or spread";
}

/* ---- value syntaxes ---- */

int
conf_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = { "true", "yes", "on", "1" };
    static const char *const no[] = { "false", "no", "off", "0" };

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (!strcasecmp(s, yes[i])) {
            *out = true;
            return 0;
        }
        if (!strcasecmp(s, no[i])) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

int
conf_parse_duration(const char *s, uint64_t *seconds_out)
{
    uint64_t total = 0;
    bool bare = true;

    if (!isdigit((unsigned char)*s))
        return -1;
    while (*s) {
        uint64_t n = 0, unit;
        if (!isdigit((unsigned char)*s))
            return -1;
        while (isdigit((unsigned char)*s)) {
            uint64_t d = (uint64_t)(*s++ - '0');
            if (n > (UINT64_MAX - d) / 10)
                return -1;
            n = n * 10 + d;
        }
        switch (*s) {
        case '\0':
            if (!bare)
                return -1; /* "1h30": the unit of 30 is missing */
            *seconds_out = n;
            return 0;
        case 's':
            unit = 1;
            break;
        case 'm':
            unit = 60;
            break;
        case 'h':
            unit = 3600;
            break;
        case 'd':
            unit = 86400;
            break;
        case 'w':
            unit = 604800;
            break;
        default:
            return -1;
        }
        s++;
        bare = false;
        if (n > UINT64_MAX / unit || total > UINT64_MAX - n * unit)
            return -1;
        total += n * unit;
    }
    *seconds_out = total;
    return 0;
}

static int
conf_parse_int(const char *s, int64_t *out)
{
    bool neg = false;
    uint64_t n = 0;

    if (*s == '-') {
        neg = true;
        s++;
    }
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (!isdigit((unsigned char)*s))
            return -1;
        uint64_t d = (uint64_t)(*s - '0');
        if (n > (UINT64_MAX - d) / 10)
            return -1;
        n = n * 10 + d;
    }
    if (neg ? n > (uint64_t)INT64_MAX + 1 : n > (uint64_t)INT64_MAX)
        return -1;
    *out = neg ? (int64_t)(0 - n) : (int64_t)n;
    return 0;
}

/* "16MiB" for 16777216: the largest binary unit that divides the value exactly. */
static void
conf_format_size(uint64_t v, char *out, size_t n)
{
    static const char *const units[] = { "", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
    size_t u = 0;
    while (v && v % 1024 == 0 && u + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1024;
        u++;
    }
    snprintf(out, n, "%" PRIu64 "%s", v, units[u]);
}

/* "90s", "5m", "1d": the largest unit that divides the value exactly. */
static void
conf_format_duration(uint64_t v, char *out, size_t n)
{
    static const struct {
        uint64_t secs;
        char unit;
    } units[] = { { 604800, 'w' }, { 86400, 'd' }, { 3600, 'h' }, { 60, 'm' } };
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (v && v % units[i].secs == 0) {
            snprintf(out, n, "%" PRIu64 "%c", v / units[i].secs, units[i].unit);
            return;
        }
    }
    snprintf(out, n, "%" PRIu64 "s", v);
}

/* ---- schema lookups ---- */

static int
schema_section(const char *name)
{
    for (size_t i = 0; i < CONF_NSECTIONS; i++)
        if (!strcmp(conf_sections[i].name, name))
            return (int)i;
    return -1;
}

static int
schema_row(size_t section, const char *key)
{
    for (size_t i = 0; i < CONF_NROWS; i++)
        if (!strcmp(conf_rows[i].section, conf_sections[section].name) &&
            !strcmp(conf_rows[i].key, key))
            return (int)i;
    return -1;
}

/* Optimal string alignment distance (Levenshtein plus adjacent transpositions). */
static size_t
edit_distance(const char *a, const char *b)
{
    size_t d[33][33];
    size_t n = strlen(a), m = strlen(b);

    if (n > 32 || m > 32)
        return SIZE_MAX;
    for (size_t i = 0; i <= n; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= m; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= n; i++) {
        for (size_t j = 1; j <= m; j++) {
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v)
                v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    }
    return d[n][m];
}

/* Is `candidate` close enough to `typed` to suggest? Allows more typos in longer words. */
static bool
is_close(const char *typed, const char *candidate, size_t *best)
{
    size_t len = strlen(typed), limit = 1 + len / 5, dist = edit_distance(typed, candidate);
    if (limit > 3)
        limit = 3;
    if (dist > limit || dist >= *best)
        return false;
    *best = dist;
    return true;
}

/* "[repository \"NAME\"]" style display of a schema section, for hints. */
static void
section_template(struct buf *out, size_t section)
{
    if (conf_sections[section].sub == CONF_SUB_REQUIRED)
        buf_addf(out, "[%s \"NAME\"]", conf_sections[section].name);
    else
        buf_addf(out, "[%s]", conf_sections[section].name);
}

/*
 * "[name]" or "[name \"sub\"]" for messages: the subsection escaped as it would be written,
 * control characters as '?', cut after 60 bytes.
 */
static void
section_display(struct buf *out, const char *name, const char *sub)
{
    buf_addf(out, "[%s", name);
    if (sub) {
        buf_addstr(out, " \"");
        for (size_t i = 0; sub[i]; i++) {
            unsigned char ch = (unsigned char)sub[i];
            if (i == 60) {
                buf_addstr(out, "...");
                break;
            }
            if (ch == '"' || ch == '\\')
                buf_addch(out, '\\');
            buf_addch(out, ch < 0x20 || ch == 0x7f ? '?' : ch);
        }
        buf_addch(out, '"');
    }
    buf_addch(out, ']');
}

/* ---- section instances ---- */

static uint64_t
sec_hash(size_t section, const char *sub)
{
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)section;
    h *= 1099511628211ULL;
    if (sub) {
        for (const unsigned char *s = (const unsigned char *)sub; *s; s++) {
            h ^= *s;
            h *= 1099511628211ULL;
        }
        h ^= 0xff; /* "" differs from no subsection */
        h *= 1099511628211ULL;
    }
    return h;
}

static bool
sec_matches(const struct conf_sec *s, size_t section, const char *sub)
{
    if (s->section != section)
        return false;
    if (!s->sub || !sub)
        return !s->sub && !sub;
    return !strcmp(s->sub, sub);
}

static struct conf_sec *
conf_find_sec(const struct conf *c, size_t section, const char *sub)
{
    size_t i;

    if (!c->nslots)
        return NULL;
    for (i = sec_hash(section, sub) & (c->nslots - 1); c->slots[i]; i = (i + 1) & (c->nslots - 1))
        if (sec_matches(c->secs.v[c->slots[i] - 1], section, sub))
            return c->secs.v[c->slots[i] - 1];
    return NULL;
}

static void
conf_rehash(struct conf *c, size_t nslots)
{
    free(c->slots);
    c->slots = xcalloc(nslots, sizeof(*c->slots));
    c->nslots = nslots;
    for (size_t k = 0; k < c->secs.n; k++) {
        const struct conf_sec *s = c->secs.v[k];
        size_t i = sec_hash(s->section, s->sub) & (nslots - 1);
        while (c->slots[i])
            i = (i + 1) & (nslots - 1);
        c->slots[i] = k + 1;
    }
}

/* The instance for [section "sub"], created (and remembered in file order) if new. */
static struct conf_sec *
conf_add_sec(struct conf *c, size_t section, const char *sub, unsigned line)
{
    struct conf_sec *s = conf_find_sec(c, section, sub);

    if (s)
        return s;
    s = xcalloc(1, sizeof(*s));
    s->section = section;
    s->sub = sub ? xstrdup(sub) : NULL;
    s->line = line;
    vec_push(&c->secs, s);
    if (c->secs.n * 2 > c->nslots)
        conf_rehash(c, c->nslots ? c->nslots * 2 : 16);
    else {
        size_t i = sec_hash(section, sub) & (c->nslots - 1);
        while (c->slots[i])
            i = (i + 1) & (c->nslots - 1);
        c->slots[i] = c->secs.n;
    }
    if (sub) {
        vec_reserve(&c->subs[section], c->subs[section].n + 2);
        c->subs[section].v[c->subs[section].n++] = s->sub;
        c->subs[section].v[c->subs[section].n] = NULL;
    }
    return s;
}

static void
conf_val_release(struct conf_val *v)
{
    free(v->value);
    free(v->origin);
    for (size_t i = 0; i < v->words.n; i++)
        free(v->words.v[i]);
    vec_free(&v->words);
}

static void
conf_val_push_word(struct conf_val *v, const char *word)
{
    vec_reserve(&v->words, v->words.n + 2);
    v->words.v[v->words.n++] = xstrdup(word);
    v->words.v[v->words.n] = NULL;
}

static void
conf_val_join(struct conf_val *v)
{
    struct buf b = BUF_INIT;
    for (size_t i = 0; i < v->words.n; i++) {
        if (i)
            buf_addch(&b, ' ');
        buf_addstr(&b, v->words.v[i]);
    }
    free(v->value);
    v->value = buf_detach(&b, NULL);
}

/* ---- the parser ---- */

static int
parser_next(struct conf_parser *p)
{
    int c;

    if (p->pending_nl) {
        p->line++;
        p->line_start = p->pos;
        p->pending_nl = false;
    }
    if (p->pos >= p->len)
        return EOF;
    c = (unsigned char)p->text[p->pos++];
    if (c == '\r' && p->pos < p->len && p->text[p->pos] == '\n') {
        p->pos++;
        c = '\n';
    }
    if (c == '\n')
        p->pending_nl = true;
    return c;
}

/* Blank within a line: space, tab, a lone CR, vertical tab, form feed. */
static bool
is_blank(int c)
{
    return c != '\n' && c != EOF && isspace(c);
}

static bool
is_comment(int c)
{
    return c == '#' || c == ';';
}

static void
skip_line(struct conf_parser *p)
{
    int c;
    do
        c = parser_next(p);
    while (c != '\n' && c != EOF);
}

/* Up to 60 printable bytes of text from `from` to the end of its line, for messages. */
static void
excerpt(struct buf *out, const char *text, size_t len, size_t from)
{
    size_t n = 0;
    for (size_t i = from; i < len && text[i] != '\n'; i++) {
        unsigned char ch = (unsigned char)text[i];
        if (ch == '\r' && (i + 1 == len || text[i + 1] == '\n'))
            break;
        if (n++ == 60) {
            buf_addstr(out, "...");
            return;
        }
        buf_addch(out, ch < 0x20 || ch == 0x7f ? '?' : ch);
    }
}

/* A value quoted for a message: at most 60 bytes, control characters as '?'. */
static void
value_excerpt(struct buf *out, const char *v)
{
    excerpt(out, v, strlen(v), 0);
}

static int parser_error(struct conf_parser *p, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
parser_error(struct conf_parser *p, unsigned line, const char *fmt, ...)
{
    char msg[DRK_ERR_MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return drk_err_set(DRK_ECONFIG, "%s:%u: %s", p->c->name, line, msg);
}

/* Display of the current section for messages. Caller releases `out`. */
static void
current_section(struct conf_parser *p, struct buf *out)
{
    if (!p->sec)
        buf_addstr(out, "(schema default)");
    else
        section_display(out, conf_sections[p->sec->section].name, p->sec->sub);
}

static int
err_unknown_key(struct conf_parser *p, unsigned line, const char *key, const char *what)
{
    struct buf sec = BUF_INIT, hint = BUF_INIT;
    size_t section = p->sec->section, best = SIZE_MAX;
    int near = -1, elsewhere = -1, r;

    current_section(p, &sec);
    r = parser_error(p, line, "%s '%s' in %s", what, key, buf_cstr(&sec));
    for (size_t i = 0; i < CONF_NROWS; i++) {
        if (strcmp(conf_rows[i].section, conf_sections[section].name) != 0) {
            if (elsewhere < 0 && !strcmp(conf_rows[i].key, key))
                elsewhere = (int)i;
            continue;
        }
        if (is_close(key, conf_rows[i].key, &best))
            near = (int)i;
    }
    if (near >= 0) {
        drk_err_hint("did you mean '%s'?", conf_rows[near].key);
    } else if (elsewhere >= 0) {
        section_template(&hint, (size_t)schema_section(conf_rows[elsewhere].section));
        drk_err_hint("'%s' belongs in %s", key, buf_cstr(&hint));
    } else {
        buf_addf(&hint, "keys of [%s]:", conf_sections[section].name);
        for (size_t i = 0, n = 0; i < CONF_NROWS; i++)
            if (!strcmp(conf_rows[i].section, conf_sections[section].name))
                buf_addf(&hint, "%s %s", n++ ? "," : "", conf_rows[i].key);
        drk_err_hint("%s", buf_cstr(&hint));
    }
    buf_release(&hint);
    buf_release(&sec);
    return r;
}

/* The rest of a section header, after its '['. */
static int
parse_header(struct conf_parser *p)
{
    struct buf name = BUF_INIT, sub = BUF_INIT, disp = BUF_INIT, hint = BUF_INIT;
    unsigned line = p->line;
    size_t ls = p->line_start, best = SIZE_MAX;
    bool has_sub = false;
    int c, r = 0, section, near = -1;

    while ((c = parser_next(p)) != EOF && (isalnum(c) || c == '-'))
        buf_addch(&name, tolower(c));
    if (is_blank(c) && name.len) {
        while (is_blank(c = parser_next(p)))
            ;
        if (c != '"')
            goto bad;
        has_sub = true;
        for (;;) {
            c = parser_next(p);
            if (c == '\\') {
                c = parser_next(p);
                if (c != '"' && c != '\\' && c != '\n' && c != EOF) {
                    r = parser_error(p, line, "unknown escape '\\%c' in section header",
                                     isprint(c) ? c : '?');
                    drk_err_hint("only \\\" and \\\\ may be escaped in a subsection name");
                    goto out;
                }
            } else if (c == '"') {
                break;
            }
            if (c == '\n' || c == EOF) {
                r = parser_error(p, line, "unterminated quote in section header");
                goto out;
            }
            buf_addch(&sub, c);
        }
        c = parser_next(p);
    }
    if (c != ']' || !name.len)
        goto bad;

    /* only blanks and a comment may follow */
    while (is_blank(c = parser_next(p)))
        ;
    if (c != '\n' && c != EOF && !is_comment(c)) {
        struct buf rest = BUF_INIT;
        excerpt(&rest, p->text, p->len, p->pos - 1);
        section_display(&disp, buf_cstr(&name), has_sub ? buf_cstr(&sub) : NULL);
        r = parser_error(p, line, "unexpected '%s' after section header %s", buf_cstr(&rest),
                         buf_cstr(&disp));
        drk_err_hint("put each key = value on a line of its own below the header");
        buf_release(&rest);
        goto out;
    }
    if (is_comment(c))
        skip_line(p);

    section_display(&disp, buf_cstr(&name), has_sub ? buf_cstr(&sub) : NULL);
    if ((section = schema_section(buf_cstr(&name))) < 0) {
        r = parser_error(p, line, "unknown section %s", buf_cstr(&disp));
        for (size_t i = 0; i < CONF_NSECTIONS; i++)
            if (is_close(buf_cstr(&name), conf_sections[i].name, &best))
                near = (int)i;
        if (near >= 0) {
            buf_addstr(&hint, "did you mean ");
            section_template(&hint, (size_t)near);
            buf_addstr(&hint, "? ");
        }
        buf_addstr(&hint, "known sections:");
        for (size_t i = 0; i < CONF_NSECTIONS; i++) {
            buf_addstr(&hint, i ? ", " : " ");
            section_template(&hint, i);
        }
        drk_err_hint("%s", buf_cstr(&hint));
        goto out;
    }
    if (conf_sections[section].sub == CONF_SUB_REQUIRED && (!has_sub || !sub.len)) {
        r = parser_error(p, line, "section [%s] needs a name, as in [%s \"NAME\"]", buf_cstr(&name),
                         buf_cstr(&name));
        goto out;
    }
    if (conf_sections[section].sub == CONF_SUB_NONE && has_sub) {
        r = parser_error(p, line, "section [%s] takes no name, found %s", buf_cstr(&name),
                         buf_cstr(&disp));
        goto out;
    }
    p->sec = conf_add_sec(p->c, (size_t)section, has_sub ? buf_cstr(&sub) : NULL, line);
    goto out;

bad:
    excerpt(&disp, p->text, p->len, ls);
    r = parser_error(p, line, "invalid section header '%s'", buf_cstr(&disp));
    drk_err_hint("write [section] or [section \"name\"]");
out:
    buf_release(&hint);
    buf_release(&disp);
    buf_release(&sub);
    buf_release(&name);
    return r;
}

/*
 * The value after '=' up to the end of the line (or of its continuation lines). For a LIST
 * key the words go to `words`, else the text goes to `out`. git rules: blanks around the
 * value are dropped, blanks inside kept; '#' and ';' outside quotes start a comment.
 */
static int
parse_value(struct conf_parser *p, unsigned line, const struct conf_row *row, struct buf *out,
            struct conf_val *words)
{
    struct buf blanks = BUF_INIT, sec = BUF_INIT;
    bool list = row->type == CONF_LIST, quote = false, comment = false, started = false;
    bool in_word = false, toggle;
    size_t total = 0;
    int c, r = 0;

    for (;;) {
        c = parser_next(p);
        if (c == '\n' || c == EOF) {
            if (quote && !comment) {
                current_section(p, &sec);
                r = parser_error(p, p->line, "unterminated quote in value of key '%s' in %s",
                                 row->key, buf_cstr(&sec));
                drk_err_hint("close the quote, or end the line with \\ to continue the value");
                goto out;
            }
            break;
        }
        if (comment)
            continue;
        if (!quote && is_blank(c)) {
            if (list) {
                if (in_word)
                    conf_val_push_word(words, buf_cstr(out));
                buf_reset(out);
                in_word = false;
            } else if (started) {
                buf_addch(&blanks, c);
            }
            continue;
        }
        if (!quote && is_comment(c)) {
            comment = true;
            continue;
        }
        toggle = false;
        if (c == '\\') {
            switch (c = parser_next(p)) {
            case '\n':
            case EOF:
                continue; /* continuation line: nothing added, blanks stay pending */
            case '"':
            case '\\':
                break;
            case 'n':
                c = '\n';
                break;
            case 't':
                c = '\t';
                break;
            case 'b':
                c = '\b';
                break;
            default:
                current_section(p, &sec);
                r = parser_error(p, p->line, "unknown escape '\\%c' in value of key '%s' in %s",
                                 isprint(c) ? c : '?', row->key, buf_cstr(&sec));
                drk_err_hint("write \\\\ for a backslash; escapes are \\\" \\\\ \\n \\t \\b");
                goto out;
            }
        } else if (c == '"') {
            quote = !quote;
            toggle = true;
        }
        /* content follows, so pending blanks are inside the value */
        total += blanks.len + !toggle;
        if (total > CONF_VALUE_MAX) {
            current_section(p, &sec);
            r = parser_error(p, line, "value of key '%s' in %s is longer than %d bytes", row->key,
                             buf_cstr(&sec), CONF_VALUE_MAX);
            goto out;
        }
        buf_add(out, blanks.data, blanks.len);
        buf_reset(&blanks);
        if (!toggle)
            buf_addch(out, c);
        started = in_word = true;
    }
    if (list && in_word)
        conf_val_push_word(words, buf_cstr(out));
out:
    buf_release(&sec);
    buf_release(&blanks);
    return r;
}

/* Check a single (non-list) value or list word against its row; 0 or DRK_ECONFIG. */
static int
check_value(struct conf_parser *p, unsigned line, const struct conf_row *row, const char *v)
{
    struct buf sec = BUF_INIT, shown = BUF_INIT;
    const char *what = NULL, *expect = NULL;
    char lo[32] = "", hi[32] = "";
    bool range = false, b;
    int64_t i;
    uint64_t u;
    int r = 0;

    switch (row->type) {
    case CONF_BOOL:
        if (conf_parse_bool(v, &b) != 0) {
            what = "boolean";
            expect = "expected true/false, yes/no, on/off or 1/0";
        }
        break;
    case CONF_INT:
        if (conf_parse_int(v, &i) != 0) {
            what = "integer";
            expect = "expected a whole number";
        } else if (i < row->min || i > row->max) {
            range = true;
            snprintf(lo, sizeof(lo), "%" PRId64, row->min);
            snprintf(hi, sizeof(hi), "%" PRId64, row->max);
        }
        break;
    case CONF_SIZE:
        if (size_parse(v, &u) != 0) {
            what = "size";
            expect = "expected a number of bytes with an optional unit, as in 512k, 16MiB, 1.5G";
        } else if (u < (uint64_t)row->min || u > (uint64_t)row->max) {
            range = true;
            conf_format_size((uint64_t)row->min, lo, sizeof(lo));
            conf_format_size((uint64_t)row->max, hi, sizeof(hi));
        }
        break;
    case CONF_DURATION:
        if (conf_parse_duration(v, &u) != 0) {
            what = "duration";
            expect = "expected a number with a unit, as in 30s, 5m, 2h, 1d, 1w";
        } else if (u < (uint64_t)row->min || u > (uint64_t)row->max) {
            range = true;
            conf_format_duration((uint64_t)row->min, lo, sizeof(lo));
            conf_format_duration((uint64_t)row->max, hi, sizeof(hi));
        }
        break;
    case CONF_STRING:
    case CONF_PATH:
    case CONF_LIST:
        break;
    }
    if (!what && !range && row->check && (expect = row->check(v)) != NULL)
        what = "value";
    if (!what && !range)
        return 0;

    current_section(p, &sec);
    value_excerpt(&shown, v);
    if (range)
        r = parser_error(p, line, "value '%s' of key '%s' in %s is out of range %s..%s",
                         buf_cstr(&shown), row->key, buf_cstr(&sec), lo, hi);
    else
        r = parser_error(p, line, "invalid %s '%s' for key '%s' in %s: %s", what, buf_cstr(&shown),
                         row->key, buf_cstr(&sec), expect);
    buf_release(&shown);
    buf_release(&sec);
    return r;
}

/* "~" and "~/rest" become $HOME and $HOME/rest; *out is NULL when nothing changes. */
static int
expand_home(const char *v, char **out)
{
    const char *home;

    *out = NULL;
    if (v[0] != '~' || (v[1] != '\0' && v[1] != '/'))
        return 0;
    home = getenv("HOME");
    if (!home || !*home)
        return -1;
    *out = v[1] && v[2] ? fs_join(home, v + 2) : xstrdup(home);
    return 0;
}

/* A key line; `first` is its first character, already read. */
static int
parse_key_line(struct conf_parser *p, int first)
{
    struct buf key = BUF_INIT, val = BUF_INIT, sec = BUF_INIT;
    struct conf_val words = { 0 }, *slot;
    const struct conf_row *row;
    unsigned line = p->line;
    char *expanded = NULL;
    int c, r = 0, rowi;

    buf_addch(&key, tolower(first));
    while ((c = parser_next(p)) != EOF && (isalnum(c) || c == '-'))
        buf_addch(&key, tolower(c));
    if (c != '=' && c != '\n' && c != EOF && !is_blank(c) && !is_comment(c)) {
        /* a character no key may contain: report the whole word */
        do
            buf_addch(&key, tolower(c));
        while ((c = parser_next(p)) != '=' && c != '\n' && c != EOF && !is_blank(c) &&
               !is_comment(c));
        if (!p->sec) {
            r = parser_error(p, line, "invalid key name '%s'", buf_cstr(&key));
            drk_err_hint("keys use letters, digits and '-', and start with a letter");
        } else {
            r = err_unknown_key(p, line, buf_cstr(&key), "invalid key name");
        }
        goto out;
    }
    if (!p->sec) {
        r = parser_error(p, line, "key '%s' outside of any section", buf_cstr(&key));
        drk_err_hint("put it below a section header such as [core]");
        goto out;
    }
    if ((rowi = schema_row(p->sec->section, buf_cstr(&key))) < 0) {
        r = err_unknown_key(p, line, buf_cstr(&key), "unknown key");
        goto out;
    }
    row = &conf_rows[rowi];
    while (is_blank(c))
        c = parser_next(p);
    current_section(p, &sec);
    if (c == '=') {
        if ((r = parse_value(p, line, row, &val, &words)) != 0)
            goto out;
    } else if (c == '\n' || c == EOF || is_comment(c)) {
        if (is_comment(c))
            skip_line(p);
        if (row->type != CONF_BOOL) {
            r = parser_error(p, line, "key '%s' in %s needs a value", row->key, buf_cstr(&sec));
            drk_err_hint("write %s = VALUE", row->key);
            goto out;
        }
        buf_addstr(&val, "true");
    } else {
        r = parser_error(p, line, "missing '=' after key '%s' in %s", row->key, buf_cstr(&sec));
        drk_err_hint("write %s = VALUE", row->key);
        goto out;
    }

    if (row->type == CONF_LIST) {
        for (size_t i = 0; i < words.words.n; i++)
            if ((r = check_value(p, line, row, words.words.v[i])) != 0)
                goto out;
    } else if ((r = check_value(p, line, row, buf_cstr(&val))) != 0) {
        goto out;
    }
    if (row->type == CONF_PATH && expand_home(buf_cstr(&val), &expanded) != 0) {
        r = parser_error(p, line, "cannot expand '~' in key '%s' in %s: HOME is not set", row->key,
                         buf_cstr(&sec));
        goto out;
    }

    if (!(slot = p->sec->vals[rowi]))
        slot = p->sec->vals[rowi] = xcalloc(1, sizeof(*slot));
    if (row->type == CONF_LIST) {
        for (size_t i = 0; i < words.words.n; i++)
            conf_val_push_word(slot, words.words.v[i]);
    } else {
        free(slot->value);
        slot->value = expanded ? expanded : buf_detach(&val, NULL);
        expanded = NULL;
    }
    free(slot->origin);
    slot->origin = xasprintf("%s:%u", p->c->name, line);
out:
    free(expanded);
    conf_val_release(&words);
    buf_release(&sec);
    buf_release(&val);
    buf_release(&key);
    return r;
}

/* Every instance of a section has its CONF_F_REQUIRED keys. */
static int
check_required(struct conf_parser *p)
{
    for (size_t k = 0; k < p->c->secs.n; k++) {
        const struct conf_sec *s = p->c->secs.v[k];
        for (size_t i = 0; i < CONF_NROWS; i++) {
            struct buf disp = BUF_INIT;
            int r;
            if (!(conf_rows[i].flags & CONF_F_REQUIRED) || s->vals[i] ||
                strcmp(conf_rows[i].section, conf_sections[s->section].name) != 0)
                continue;
            section_display(&disp, conf_sections[s->section].name, s->sub);
            r = parser_error(p, s->line, "missing key '%s' in %s", conf_rows[i].key,
                             buf_cstr(&disp));
            drk_err_hint("add '%s = ...' to it: %s", conf_rows[i].key, conf_rows[i].help);
            buf_release(&disp);
            return r;
        }
    }
    return 0;
}

static int
conf_parse(struct conf *c, const char *text, size_t len)
{
    struct conf_parser p = { c, text, len, 0, 0, 1, false, NULL };
    int ch, r;

    if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3))
        p.pos = 3;
    for (;;) {
        ch = parser_next(&p);
        if (ch == EOF)
            break;
        if (ch == '\n' || is_blank(ch))
            continue;
        if (is_comment(ch)) {
            skip_line(&p);
            continue;
        }
        if (ch == '[') {
            if ((r = parse_header(&p)) != 0)
                return r;
            continue;
        }
        if (isalpha(ch)) {
            if ((r = parse_key_line(&p, ch)) != 0)
                return r;
            continue;
        }
        if (ch == '=')
            return parser_error(&p, p.line, "missing key name before '='");
        {
            struct buf word = BUF_INIT;
            do
                buf_addch(&word, ch);
            while ((ch = parser_next(&p)) != '=' && ch != '\n' && ch != EOF && !is_blank(ch) &&
                   !is_comment(ch));
            r = parser_error(&p, p.line, "invalid key name '%s'", buf_cstr(&word));
            drk_err_hint("keys use letters, digits and '-', and start with a letter");
            buf_release(&word);
            return r;
        }
    }
    if ((r = check_required(&p)) != 0)
        return r;
    for (size_t k = 0; k < c->secs.n; k++)
        for (size_t i = 0; i < CONF_NROWS; i++)
            if (conf_rows[i].type == CONF_LIST && c->secs.v[k]->vals[i])
                conf_val_join(c->secs.v[k]->vals[i]);
    return 0;
}

/* ---- public API ---- */

struct conf *
conf_new_empty(void)
{
    struct conf *c = xcalloc(1, sizeof(*c));

    /* Defaults as the file would give them: split lists, expand "~/" paths. */
    for (size_t i = 0; i < CONF_NROWS; i++) {
        const struct conf_row *row = &conf_rows[i];
        struct conf_val *d = &c->defs[i];
        char *expanded = NULL;
        if (!row->def)
            continue;
        if (row->type == CONF_LIST) {
            struct conf_parser p = { c, row->def, strlen(row->def), 0, 0, 1, false, NULL };
            struct buf word = BUF_INIT;
            if (parse_value(&p, 1, row, &word, d) != 0)
                conf_bug("bad default", row->section, row->key);
            buf_release(&word);
            conf_val_join(d);
        } else if (row->type == CONF_PATH && expand_home(row->def, &expanded) == 0 && expanded) {
            d->value = expanded;
        } else {
            d->value = xstrdup(row->def);
        }
    }
    return c;
}

void
conf_free(struct conf *c)
{
    if (!c)
        return;
    for (size_t k = 0; k < c->secs.n; k++) {
        struct conf_sec *s = c->secs.v[k];
        for (size_t i = 0; i < CONF_NROWS; i++) {
            if (s->vals[i]) {
                conf_val_release(s->vals[i]);
                free(s->vals[i]);
            }
        }
        free(s->sub);
        free(s);
    }
    vec_free(&c->secs);
    free(c->slots);
    for (size_t i = 0; i < CONF_NSECTIONS; i++)
        vec_free(&c->subs[i]);
    for (size_t i = 0; i < CONF_NROWS; i++)
        conf_val_release(&c->defs[i]);
    free(c->name);
    free(c->path);
    free(c);
}

static int
conf_load(struct conf **out, const char *name, const char *path, const char *text, size_t len)
{
    struct conf *c = conf_new_empty();
    const char *nul;
    int r;

    c->name = xstrdup(name);
    c->path = path ? xstrdup(path) : NULL;
    if ((nul = memchr(text, '\0', len)) != NULL) {
        unsigned line = 1;
        for (const char *s = text; s < nul; s++)
            line += *s == '\n';
        r = drk_err_set(DRK_ECONFIG, "%s:%u: NUL byte in configuration file", name, line);
        drk_err_hint("this does not look like a text file");
        conf_free(c);
        return r;
    }
    if ((r = conf_parse(c, text, len)) != 0) {
        conf_free(c);
        return r;
    }
    *out = c;
    return 0;
}

int
conf_load_file(struct conf **out, const char *path)
{
    struct buf b = BUF_INIT;
    int r;

    if ((r = fs_read_file(path, &b, CONF_FILE_MAX)) == 0)
        r = conf_load(out, path, path, buf_cstr(&b), b.len);
    buf_release(&b);
    return r;
}

int
conf_load_string(struct conf **out, const char *name, const char *text)
{
    size_t len = strlen(text);

    if (len > CONF_FILE_MAX)
        return drk_err_set(DRK_ETOOBIG, "'%s' is larger than %d bytes", name, CONF_FILE_MAX);
    return conf_load(out, name, NULL, text, len);
}

const char *
conf_path(const struct conf *c)
{
    return c->path;
}

/* Schema row of section/key, checking the call against the schema (programming errors). */
static size_t
lookup_row(const char *section, const char *sub, const char *key, size_t *section_out)
{
    int s = schema_section(section), row;

    if (s < 0)
        conf_bug("unknown section", section, key);
    if ((conf_sections[s].sub == CONF_SUB_REQUIRED) != (sub != NULL))
        conf_bug(sub ? "section takes no subsection" : "section needs a subsection", section, key);
    if ((row = schema_row((size_t)s, key)) < 0)
        conf_bug("unknown key", section, key);
    *section_out = (size_t)s;
    return (size_t)row;
}

/* The effective value: set, else default, else NULL. */
static const struct conf_val *
lookup(const struct conf *c, const char *section, const char *sub, const char *key, size_t *row_out)
{
    size_t s, row = lookup_row(section, sub, key, &s);
    const struct conf_sec *sec = conf_find_sec(c, s, sub);

    if (row_out)
        *row_out = row;
    if (sec && sec->vals[row])
        return sec->vals[row];
    if (c->defs[row].value)
        return &c->defs[row];
    return NULL;
}

/* The effective value of a typed key, or DRK_ENOTFOUND with a message. */
static int
lookup_typed(const struct conf *c, const char *section, const char *sub, const char *key,
             enum conf_type type, const char **out)
{
    size_t row;
    const struct conf_val *v = lookup(c, section, sub, key, &row);
    const struct conf_sec *sec;
    struct buf disp = BUF_INIT;
    int r;

    if (conf_rows[row].type != type)
        conf_bug("getter does not match the type of", section, key);
    if (v) {
        *out = v->value;
        return 0;
    }
    section_display(&disp, section, sub);
    sec = conf_find_sec(c, (size_t)schema_section(section), sub);
    if (sec)
        r = drk_err_set(DRK_ENOTFOUND, "%s:%u: missing key '%s' in %s", c->name, sec->line, key,
                        buf_cstr(&disp));
    else if (c->name)
        r = drk_err_set(DRK_ENOTFOUND, "%s: missing key '%s' in %s", c->name, key, buf_cstr(&disp));
    else
        r = drk_err_set(DRK_ENOTFOUND, "missing key '%s' in %s", key, buf_cstr(&disp));
    buf_release(&disp);
    return r;
}

static int
bad_default(const char *section, const char *key)
{
    /* a value that passed check_value always parses; only a broken conf.def default can
     * get here */
    return drk_err_set(DRK_EINTERNAL, "bad value of key '%s' in [%s]", key, section);
}

const char *
conf_get(const struct conf *c, const char *section, const char *sub, const char *key)
{
    const struct conf_val *v = lookup(c, section, sub, key, NULL);
    return v ? v->value : NULL;
}

int
conf_get_bool(const struct conf *c, const char *section, const char *sub, const char *key,
              bool *out)
{
    const char *v = NULL;
    int r = lookup_typed(c, section, sub, key, CONF_BOOL, &v);
    if (r != 0)
        return r;
    return conf_parse_bool(v, out) == 0 ? 0 : bad_default(section, key);
}

int
conf_get_int(const struct conf *c, const char *section, const char *sub, const char *key,
             int64_t *out)
{
    const char *v = NULL;
    int r = lookup_typed(c, section, sub, key, CONF_INT, &v);
    if (r != 0)
        return r;
    return conf_parse_int(v, out) == 0 ? 0 : bad_default(section, key);
}

int
conf_get_size(const struct conf *c, const char *section, const char *sub, const char *key,
              uint64_t *out)
{
    const char *v = NULL;
    int r = lookup_typed(c, section, sub, key, CONF_SIZE, &v);
    if (r != 0)
        return r;
    return size_parse(v, out) == 0 ? 0 : bad_default(section, key);
}

int
conf_get_duration(const struct conf *c, const char *section, const char *sub, const char *key,
                  uint64_t *seconds_out)
{
    const char *v = NULL;
    int r = lookup_typed(c, section, sub, key, CONF_DURATION, &v);
    if (r != 0)
        return r;
    return conf_parse_duration(v, seconds_out) == 0 ? 0 : bad_default(section, key);
}

size_t
conf_get_list(const struct conf *c, const char *section, const char *sub, const char *key,
              const char *const **out)
{
    size_t row;
    const struct conf_val *v = lookup(c, section, sub, key, &row);

    if (conf_rows[row].type != CONF_LIST)
        conf_bug("conf_get_list on a key that is not a list:", section, key);
    if (!v || !v->words.n) {
        *out = conf_empty_list;
        return 0;
    }
    *out = (const char *const *)v->words.v;
    return v->words.n;
}

bool
conf_has_section(const struct conf *c, const char *section, const char *sub)
{
    int s = schema_section(section);

    if (s < 0)
        conf_bug("unknown section", section, NULL);
    if (conf_sections[s].sub == CONF_SUB_NONE && sub)
        conf_bug("section takes no subsection", section, NULL);
    if (conf_sections[s].sub == CONF_SUB_REQUIRED && !sub)
        return c->subs[s].n > 0;
    return conf_find_sec(c, (size_t)s, sub) != NULL;
}

size_t
conf_subsections(const struct conf *c, const char *section, const char *const **out)
{
    int s = schema_section(section);

    if (s < 0)
        conf_bug("unknown section", section, NULL);
    if (!c->subs[s].n) {
        *out = conf_empty_list;
        return 0;
    }
    *out = (const char *const *)c->subs[s].v;
    return c->subs[s].n;
}

const char *
conf_origin(const struct conf *c, const char *section, const char *sub, const char *key)
{
    const struct conf_val *v = lookup(c, section, sub, key, NULL);
    return v ? v->origin : NULL;
}

size_t
conf_schema(const struct conf_key_info **out)
{
    *out = conf_infos;
    return CONF_NROWS;
}
