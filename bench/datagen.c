/*
 * datagen: deterministic, shop-like data sets for the drkit benchmark suite.
 *
 *   datagen generate   --out DIR --size-mib N --seed S [--files N]
 *   datagen mutate     --dir DIR --seed S --percent P
 *   datagen smallfiles --out DIR --count N --seed S
 *
 * The same arguments always give a byte-identical tree (contents, names, modes and mtimes).
 * Build: cc -O2 -std=c17 -D_GNU_SOURCE -Wall -Wextra -Werror -o datagen datagen.c
 * No libm: the few transcendental functions needed are approximated below.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define KIB      1024ull
#define MIB      (1024ull * 1024ull)
#define SINK_CAP (1024u * 1024u)
#ifndef IDENT_UNIFORM
#define IDENT_UNIFORM 33
#endif
#ifndef CSS_RANDOM_COLOR
#define CSS_RANDOM_COLOR 33
#endif
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* 2024-06-01 00:00:00 UTC: the "now" of a generated tree. */
static const int64_t base_time = 1717200000;
static const int64_t day = 86400;

/* ------------------------------------------------------------------------------------------ */
/* Errors and small helpers */

static void
die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("datagen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void *
xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die("out of memory (%zu bytes)", n);
    return p;
}

static void *
xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        die("out of memory (%zu bytes)", n);
    return p;
}

static char *
xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = xmalloc(n);
    memcpy(p, s, n);
    return p;
}

static void
write_all(int fd, const void *buf, size_t len, const char *what)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            die("write %s: %s", what, strerror(errno));
        }
        p += w;
        len -= (size_t)w;
    }
}

static uint64_t
fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    while (*s) {
        h ^= (unsigned char)*s++;
        h *= 0x100000001b3ull;
    }
    return h;
}

/* ------------------------------------------------------------------------------------------ */
/* PRNG: splitmix64 for seeding, xoshiro256** for the streams. */

struct rng {
    uint64_t s[4];
    uint64_t bits;
    unsigned nbits;
};

static uint64_t
splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Independent stream `stream` of seed `seed`. */
static void
rng_seed(struct rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03ull) ^ 0x6a09e667f3bcc909ull;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
    r->bits = 0;
    r->nbits = 0;
}

static inline uint64_t
rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t
rng_next(struct rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in [0, n). */
static inline uint64_t
rng_below(struct rng *r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)rng_next(r) * n) >> 64);
}

/* Uniform in [lo, hi]. */
static inline int64_t
rng_range(struct rng *r, int64_t lo, int64_t hi)
{
    return lo + (int64_t)rng_below(r, (uint64_t)(hi - lo) + 1);
}

static inline uint16_t
rng_u16(struct rng *r)
{
    if (r->nbits < 16) {
        r->bits = rng_next(r);
        r->nbits = 64;
    }
    uint16_t v = (uint16_t)r->bits;
    r->bits >>= 16;
    r->nbits -= 16;
    return v;
}

static inline double
rng_unit(struct rng *r)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

/* True with probability num/den. */
static inline bool
rng_chance(struct rng *r, unsigned num, unsigned den)
{
    return rng_below(r, den) < num;
}

static void
rng_fill(struct rng *r, unsigned char *p, size_t n)
{
    while (n >= 8) {
        uint64_t v = rng_next(r);
        memcpy(p, &v, 8);
        p += 8;
        n -= 8;
    }
    if (n) {
        uint64_t v = rng_next(r);
        memcpy(p, &v, n);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Math without libm */

static double
exp2_approx(double x)
{
    double r = 1.0;
    while (x >= 1.0) {
        r *= 2.0;
        x -= 1.0;
    }
    while (x < 0.0) {
        r *= 0.5;
        x += 1.0;
    }
    double t = x * 0.69314718055994531, term = 1.0, sum = 1.0;
    for (int i = 1; i < 18; i++) {
        term *= t / i;
        sum += term;
    }
    return r * sum;
}

static double
log2_approx(double x)
{
    double e = 0.0;
    if (x <= 0.0)
        return -1e300;
    while (x >= 2.0) {
        x /= 2.0;
        e += 1.0;
    }
    while (x < 1.0) {
        x *= 2.0;
        e -= 1.0;
    }
    double y = (x - 1.0) / (x + 1.0), y2 = y * y, term = y, sum = 0.0;
    for (int i = 1; i < 41; i += 2) {
        sum += term / i;
        term *= y2;
    }
    return e + 2.0 * sum / 0.69314718055994531;
}

/* Approximately standard normal (Irwin-Hall with 4 terms, rescaled). */
static double
rng_gauss(struct rng *r)
{
    double s = rng_unit(r) + rng_unit(r) + rng_unit(r) + rng_unit(r);
    return (s - 2.0) * 1.7320508075688772;
}

/* Log-normal-ish size: median * 2^(sigma2 * N(0,1)), clamped to [lo, hi]. */
static uint64_t
rng_lognormal(struct rng *r, double median, double sigma2, uint64_t lo, uint64_t hi)
{
    double v = median * exp2_approx(sigma2 * rng_gauss(r));
    if (v < (double)lo)
        return lo;
    if (v > (double)hi)
        return hi;
    return (uint64_t)v;
}

/* ------------------------------------------------------------------------------------------ */
/* Output sink: buffered writes with large write() calls. */

struct sink {
    int fd;
    const char *what;
    char *buf;
    size_t len;
    uint64_t flushed;
};

static char *g_sink_buf;

static void
sink_open_fd(struct sink *s, int fd, const char *what)
{
    if (!g_sink_buf)
        g_sink_buf = xmalloc(SINK_CAP);
    s->fd = fd;
    s->what = what;
    s->buf = g_sink_buf;
    s->len = 0;
    s->flushed = 0;
}

static void
sink_flush(struct sink *s)
{
    if (s->len) {
        write_all(s->fd, s->buf, s->len, s->what);
        s->flushed += s->len;
        s->len = 0;
    }
}

static inline uint64_t
sink_total(const struct sink *s)
{
    return s->flushed + s->len;
}

static inline void
sink_put(struct sink *s, const void *p, size_t n)
{
    if (s->len + n > SINK_CAP) {
        sink_flush(s);
        if (n > SINK_CAP / 2) {
            write_all(s->fd, p, n, s->what);
            s->flushed += n;
            return;
        }
    }
    memcpy(s->buf + s->len, p, n);
    s->len += n;
}

static inline void
sink_str(struct sink *s, const char *str)
{
    sink_put(s, str, strlen(str));
}

static inline void
sink_ch(struct sink *s, char c)
{
    if (s->len + 1 > SINK_CAP)
        sink_flush(s);
    s->buf[s->len++] = c;
}

static void
sink_u64(struct sink *s, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    char out[24];
    for (int i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    sink_put(s, out, (size_t)n);
}

/* Zero-padded decimal with `width` digits. */
static void
sink_u64w(struct sink *s, uint64_t v, int width)
{
    char out[24];
    for (int i = width - 1; i >= 0; i--) {
        out[i] = (char)('0' + v % 10);
        v /= 10;
    }
    sink_put(s, out, (size_t)width);
}

/* Fixed point: v / 10^decimals. */
static void
sink_fixed(struct sink *s, uint64_t v, int decimals)
{
    uint64_t div = 1;
    for (int i = 0; i < decimals; i++)
        div *= 10;
    sink_u64(s, v / div);
    sink_ch(s, '.');
    sink_u64w(s, v % div, decimals);
}

static void
sink_hex(struct sink *s, struct rng *r, int n)
{
    static const char hexd[] = "0123456789abcdef";
    char out[64];
    for (int i = 0; i < n && i < 64; i++)
        out[i] = hexd[rng_below(r, 16)];
    sink_put(s, out, (size_t)(n < 64 ? n : 64));
}

/* n random hex digits and a NUL into out[n + 1] */
static void
rand_hex(struct rng *r, char *out, int n)
{
    static const char hexd[] = "0123456789abcdef";
    for (int i = 0; i < n; i++)
        out[i] = hexd[rng_below(r, 16)];
    out[n] = '\0';
}

static void
sink_alnum(struct sink *s, struct rng *r, int n)
{
    static const char set[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    char out[64];
    for (int i = 0; i < n && i < 64; i++)
        out[i] = set[rng_below(r, 62)];
    sink_put(s, out, (size_t)(n < 64 ? n : 64));
}

static void
sink_indent(struct sink *s, int level)
{
    static const char sp[] = "                                        ";
    size_t n = (size_t)level * 4;
    if (n > sizeof(sp) - 1)
        n = sizeof(sp) - 1;
    sink_put(s, sp, n);
}

/* ------------------------------------------------------------------------------------------ */
/* Time formatting (UTC, no libc time zone machinery). */

struct civil {
    int y, mo, d, h, mi, s;
};

static struct civil
to_civil(int64_t t)
{
    struct civil c;
    int64_t days = t / 86400, rem = t % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    c.h = (int)(rem / 3600);
    c.mi = (int)(rem / 60 % 60);
    c.s = (int)(rem % 60);
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    unsigned doe = (unsigned)(days - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    unsigned dd = doy - (153 * mp + 2) / 5 + 1;
    unsigned mm = mp < 10 ? mp + 3 : mp - 9;
    c.y = (int)(yy + (mm <= 2));
    c.mo = (int)mm;
    c.d = (int)dd;
    return c;
}

/* 2024-05-31 12:34:56 */
static void
sink_ts_sql(struct sink *s, int64_t t)
{
    struct civil c = to_civil(t);
    sink_u64w(s, (uint64_t)c.y, 4);
    sink_ch(s, '-');
    sink_u64w(s, (uint64_t)c.mo, 2);
    sink_ch(s, '-');
    sink_u64w(s, (uint64_t)c.d, 2);
    sink_ch(s, ' ');
    sink_u64w(s, (uint64_t)c.h, 2);
    sink_ch(s, ':');
    sink_u64w(s, (uint64_t)c.mi, 2);
    sink_ch(s, ':');
    sink_u64w(s, (uint64_t)c.s, 2);
}

/* 2024-05-31T12:34:56.123456+00:00 */
static void
sink_ts_iso(struct sink *s, int64_t t, uint64_t usec)
{
    struct civil c = to_civil(t);
    sink_u64w(s, (uint64_t)c.y, 4);
    sink_ch(s, '-');
    sink_u64w(s, (uint64_t)c.mo, 2);
    sink_ch(s, '-');
    sink_u64w(s, (uint64_t)c.d, 2);
    sink_ch(s, 'T');
    sink_u64w(s, (uint64_t)c.h, 2);
    sink_ch(s, ':');
    sink_u64w(s, (uint64_t)c.mi, 2);
    sink_ch(s, ':');
    sink_u64w(s, (uint64_t)c.s, 2);
    sink_ch(s, '.');
    sink_u64w(s, usec % 1000000, 6);
    sink_str(s, "+00:00");
}

/* 31/May/2024:12:34:56 +0000 */
static void
sink_ts_clf(struct sink *s, int64_t t)
{
    static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
    struct civil c = to_civil(t);
    sink_u64w(s, (uint64_t)c.d, 2);
    sink_ch(s, '/');
    sink_str(s, mon[c.mo - 1]);
    sink_ch(s, '/');
    sink_u64w(s, (uint64_t)c.y, 4);
    sink_ch(s, ':');
    sink_u64w(s, (uint64_t)c.h, 2);
    sink_ch(s, ':');
    sink_u64w(s, (uint64_t)c.mi, 2);
    sink_ch(s, ':');
    sink_u64w(s, (uint64_t)c.s, 2);
    sink_str(s, " +0000");
}

/* ------------------------------------------------------------------------------------------ */
/* Vocabularies */

static const char *const en_words[] = {
    "the",        "and",       "with",        "for",         "a",          "of",
    "in",         "to",        "is",          "this",        "our",        "your",
    "on",         "it",        "that",        "made",        "from",       "perfect",
    "quality",    "design",    "comfort",     "style",       "classic",    "modern",
    "soft",       "durable",   "lightweight", "premium",     "everyday",   "easy",
    "care",       "fit",       "regular",     "slim",        "relaxed",    "fabric",
    "cotton",     "organic",   "recycled",    "wool",        "linen",      "leather",
    "stainless",  "steel",     "wood",        "oak",         "bamboo",     "ceramic",
    "glass",      "water",     "resistant",   "breathable",  "machine",    "washable",
    "hand",       "wash",      "only",        "dry",         "clean",      "size",
    "small",      "medium",    "large",       "extra",       "colour",     "color",
    "black",      "white",     "blue",        "navy",        "red",        "green",
    "grey",       "beige",     "brown",       "pink",        "yellow",     "orange",
    "purple",     "available", "in",          "several",     "sizes",      "shipping",
    "free",       "delivery",  "within",      "days",        "return",     "policy",
    "warranty",   "year",      "years",       "includes",    "included",   "set",
    "pack",       "pieces",    "piece",       "pair",        "ideal",      "gift",
    "home",       "kitchen",   "garden",      "office",      "outdoor",    "indoor",
    "travel",     "sports",    "running",     "hiking",      "yoga",       "fitness",
    "kids",       "women",     "men",         "unisex",      "collection", "season",
    "summer",     "winter",    "spring",      "autumn",      "new",        "sale",
    "limited",    "edition",   "handmade",    "crafted",     "natural",    "finish",
    "matte",      "glossy",    "smooth",      "textured",    "pattern",    "striped",
    "solid",      "printed",   "logo",        "embroidered", "pocket",     "pockets",
    "zipper",     "button",    "buttons",     "collar",      "sleeve",     "sleeves",
    "long",       "short",     "high",        "low",         "waist",      "length",
    "width",      "height",    "weight",      "capacity",    "ml",         "cm",
    "mm",         "kg",        "g",           "inch",        "compatible", "device",
    "battery",    "charging",  "usb",         "wireless",    "bluetooth",  "power",
    "cable",      "adapter",   "screen",      "display",     "sound",      "noise",
    "cancelling", "speaker",   "headphones",  "case",        "cover",      "protection",
    "protective", "strong",    "stable",      "safe",        "non",        "toxic",
    "free",       "bpa",       "dishwasher",  "microwave",   "oven",       "use",
    "used",       "using",     "designed",    "keeps",       "keep",       "warm",
    "cool",       "fresh",     "hours",       "all",         "day",        "long",
    "lasting",    "simple",    "elegant",     "minimalist",  "timeless",   "versatile",
    "wear",       "layer",     "under",       "over",        "jacket",     "shirt",
    "dress",      "trousers",  "jeans",       "shoes",       "boots",      "sneakers",
    "bag",        "backpack",  "wallet",      "watch",       "lamp",       "chair",
    "table",      "mug",       "bottle",      "towel",       "blanket",    "pillow",
    "candle",     "vase",      "plant",       "pot",         "knife",      "pan",
    "bowl",       "plate",     "tea",         "coffee",      "chocolate",  "snack",
    "bar",        "oil",       "soap",        "shampoo",     "cream",      "lotion",
    "skin",       "hair",      "body",        "face",        "gentle",     "sensitive",
    "vegan",      "certified", "tested",      "approved",    "standard",   "customers",
    "love",       "best",      "seller",      "bestseller",  "favourite",  "note",
    "please",     "may",       "vary",        "slightly",    "colours",    "images",
    "shown",      "details",   "features",    "material",    "materials",  "contents",
    "dimensions", "approx",    "total",       "each",
};

static const char *const ident_words[] = {
    "get",       "set",       "is",         "has",        "load",     "save",      "process",
    "resolve",   "build",     "create",     "update",     "delete",   "validate",  "render",
    "execute",   "collect",   "fetch",      "apply",      "init",     "handle",    "add",
    "remove",    "find",      "filter",     "sort",       "map",      "convert",   "format",
    "parse",     "prepare",   "product",    "price",      "customer", "order",     "item",
    "cart",      "quote",     "store",      "website",    "category", "attribute", "option",
    "config",    "data",      "collection", "repository", "factory",  "resource",  "model",
    "block",     "helper",    "observer",   "plugin",     "request",  "response",  "result",
    "value",     "type",      "status",     "total",      "amount",   "qty",       "sku",
    "name",      "url",       "path",       "image",      "media",    "cache",     "session",
    "token",     "key",       "id",         "entity",     "final",    "special",   "base",
    "tax",       "shipping",  "payment",    "method",     "address",  "region",    "country",
    "currency",  "rate",      "rule",       "discount",   "coupon",   "stock",     "source",
    "inventory", "index",     "search",     "criteria",   "page",     "size",      "limit",
    "offset",    "field",     "label",      "title",      "content",  "template",  "layout",
    "element",   "container", "widget",     "component",  "view",     "list",      "grid",
    "form",      "button",    "action",     "event",      "manager",  "service",   "provider",
    "context",   "scope",     "default",    "current",    "parent",   "child",     "children",
    "count",     "position",  "visible",    "enabled",    "active",   "new",
};

static const char *const css_words[] = {
    "product",   "info",     "main",     "price",     "box",          "action",    "primary",
    "secondary", "tocart",   "wishlist", "compare",   "block",        "title",     "content",
    "header",    "footer",   "nav",      "menu",      "item",         "link",      "list",
    "grid",      "minicart", "wrapper",  "container", "column",       "left",      "right",
    "top",       "bottom",   "field",    "label",     "input",        "control",   "message",
    "error",     "success",  "notice",   "swatch",    "option",       "attribute", "gallery",
    "image",     "thumb",    "photo",    "details",   "media",        "page",      "layout",
    "sidebar",   "toolbar",  "pager",    "sorter",    "limiter",      "filter",    "counter",
    "badge",     "qty",      "checkout", "cart",      "summary",      "totals",    "table",
    "row",       "cell",     "form",     "fieldset",  "legend",       "modal",     "popup",
    "slide",     "inner",    "outer",    "search",    "autocomplete", "account",   "customer",
    "login",     "register", "logo",     "panel",     "switcher",     "dropdown",  "tab",
    "tabs",      "trigger",  "active",   "disabled",  "hidden",       "visible",
};

static const char *const shop_adj[] = {
    "classic",   "modern", "vintage",  "slim",      "relaxed",  "organic", "premium",
    "essential", "urban",  "coastal",  "alpine",    "nordic",   "soft",    "warm",
    "light",     "heavy",  "mini",     "maxi",      "deluxe",   "basic",   "active",
    "comfort",   "travel", "everyday", "signature", "heritage",
};
static const char *const shop_color[] = {
    "black", "white", "navy", "red",    "green",   "olive",  "grey",   "charcoal", "beige", "sand",
    "brown", "pink",  "rose", "yellow", "mustard", "orange", "purple", "teal",     "sky",   "ivory",
};
static const char *const shop_noun[] = {
    "shirt",    "tee",      "hoodie",   "sweater",  "jacket", "coat",     "dress",   "skirt",
    "trousers", "jeans",    "shorts",   "socks",    "scarf",  "hat",      "cap",     "gloves",
    "shoes",    "sneakers", "boots",    "sandals",  "bag",    "backpack", "tote",    "wallet",
    "belt",     "watch",    "bracelet", "necklace", "ring",   "earrings", "mug",     "bottle",
    "lamp",     "chair",    "stool",    "table",    "shelf",  "rug",      "towel",   "blanket",
    "pillow",   "candle",   "vase",     "planter",  "knife",  "pan",      "bowl",    "plate",
    "kettle",   "teapot",   "notebook", "pen",      "case",   "charger",  "speaker", "headphones",
    "mat",      "tent",
};

static const char *const first_names[] = {
    "Anna",  "Ben",   "Clara",  "David", "Emma",  "Felix", "Greta",   "Hannah", "Ivan",  "Julia",
    "Karl",  "Lena",  "Max",    "Nina",  "Oskar", "Paula", "Quentin", "Rosa",   "Simon", "Tina",
    "Uwe",   "Vera",  "Walter", "Xenia", "Yusuf", "Zoe",   "Lukas",   "Mia",    "Noah",  "Sophie",
    "Elias", "Marie", "Paul",   "Lea",   "Jonas", "Laura", "Leon",    "Sarah",  "Finn",  "Lisa",
};
static const char *const last_names[] = {
    "Mueller", "Schmidt",  "Schneider", "Fischer",    "Weber",   "Meyer",    "Wagner",
    "Becker",  "Schulz",   "Hoffmann",  "Koch",       "Richter", "Klein",    "Wolf",
    "Neumann", "Schwarz",  "Braun",     "Zimmermann", "Krueger", "Hartmann", "Lange",
    "Werner",  "Krause",   "Lehmann",   "Schmitt",    "Smith",   "Jones",    "Taylor",
    "Brown",   "Williams", "Wilson",    "Martin",     "Garcia",  "Rossi",
};
static const char *const cities[] = {
    "Berlin",  "Hamburg",  "Munich",    "Cologne",    "Frankfurt", "Stuttgart", "Dusseldorf",
    "Leipzig", "Dortmund", "Essen",     "Bremen",     "Dresden",   "Hanover",   "Nuremberg",
    "Vienna",  "Zurich",   "Amsterdam", "Paris",      "Lyon",      "Milan",     "Madrid",
    "Lisbon",  "Prague",   "Warsaw",    "Copenhagen",
};
static const char *const countries[] = { "DE", "DE", "DE", "AT", "CH", "NL", "FR", "IT", "ES" };
static const char *const domains[] = {
    "example.com", "mail.example.org", "example.net", "shopper.example", "post.example.de",
};
static const char *const modules[] = {
    "Magento_Catalog",
    "Magento_Checkout",
    "Magento_Customer",
    "Magento_Sales",
    "Magento_Cms",
    "Magento_Theme",
    "Magento_Search",
    "Magento_Wishlist",
    "Magento_Review",
    "Magento_Swatches",
    "Magento_ConfigurableProduct",
    "Magento_Newsletter",
    "Magento_Payment",
    "Magento_Tax",
    "Magento_Shipping",
    "Magento_SalesRule",
    "Magento_Store",
    "Magento_Ui",
    "Magento_Bundle",
    "Magento_GiftMessage",
    "Magento_Multishipping",
    "Magento_Paypal",
    "Magento_Contact",
    "Magento_LayeredNavigation",
    "Magento_ProductVideo",
    "Magento_Captcha",
    "Magento_Backend",
    "Magento_Directory",
    "Magento_Email",
    "Magento_CatalogSearch",
};
static const char *const themes[] = {
    "Luma", "Blank", "Hyva", "Porto", "Ultimo", "Athlete", "Fastest", "Claue", "Market", "Venedor",
};
static const char *const vendors[] = {
    "Acme",    "Shopware", "Northwind", "Contoso", "Fabrikam", "Globex",
    "Initech", "Umbrella", "Stark",     "Wayne",   "Hooli",    "Vandelay",
};
static const char *const code_subdirs[] = {
    "Model",
    "Model/ResourceModel",
    "Controller/Index",
    "Controller/Adminhtml",
    "Block",
    "Block/Adminhtml",
    "Helper",
    "Observer",
    "Plugin",
    "Setup/Patch",
    "Api",
    "Api/Data",
    "Console/Command",
    "Cron",
    "ViewModel",
};
static const char *const template_subdirs[] = {
    "",         "product",          "product/view",     "product/list", "cart",   "cart/item",
    "checkout", "checkout/onepage", "customer/account", "html",         "widget",
};
static const char *const asset_subdirs[] = { "", "source", "source/module", "view", "model" };
static const char *const locales[] = { "en_US", "de_DE", "fr_FR", "nl_NL" };
static const char *const user_agents[] = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "curl/7.88.1",
};
static const char *const css_colors[] = {
    "#333333", "#1979c3", "#006bb4", "#ffffff", "#000000",     "#f5f5f5", "#e02b27",      "#757575",
    "#cccccc", "#ff5501", "#eb5202", "#41362f", "#514943",     "#fafafa", "#c2c2c2",      "#8f8f8f",
    "#e3e3e3", "#1a1a1a", "#6d6d6d", "#d1d1d1", "transparent", "inherit", "currentColor",
};
/* CSS properties: value kind 'c' colour, 'l' 1-4 lengths, '1' one length, 'b' border,
 * 'k' one of the '|'-separated keywords. */
struct css_prop {
    const char *name;
    char kind;
    const char *keywords;
};
static const struct css_prop css_props[] = {
    { "color", 'c', NULL },
    { "background-color", 'c', NULL },
    { "border-color", 'c', NULL },
    { "margin", 'l', NULL },
    { "padding", 'l', NULL },
    { "margin-bottom", '1', NULL },
    { "padding-left", '1', NULL },
    { "font-size", '1', NULL },
    { "line-height", '1', NULL },
    { "width", '1', NULL },
    { "max-width", '1', NULL },
    { "height", '1', NULL },
    { "border-radius", '1', NULL },
    { "border", 'b', NULL },
    { "font-weight", 'k', "400|600|700|bold|normal" },
    { "display", 'k', "block|inline-block|flex|none|grid|inline" },
    { "position", 'k', "relative|absolute|static|sticky" },
    { "text-align", 'k', "left|right|center" },
    { "z-index", 'k', "1|2|10|100|999" },
    { "opacity", 'k', "0|0.5|0.8|1" },
    { "transition", 'k', "all 0.2s ease|opacity 0.3s linear|none" },
    { "overflow", 'k', "hidden|auto|visible" },
    { "vertical-align", 'k', "middle|top|baseline" },
    { "text-transform", 'k', "uppercase|none|capitalize" },
    { "float", 'k', "left|right|none" },
    { "cursor", 'k', "pointer|default" },
};

static const char *const js_deps[] = {
    "jquery",
    "underscore",
    "ko",
    "uiComponent",
    "mage/url",
    "mage/translate",
    "Magento_Customer/js/customer-data",
    "Magento_Catalog/js/price-utils",
    "mage/storage",
    "Magento_Checkout/js/model/quote",
    "Magento_Ui/js/modal/modal",
    "domReady!",
    "Magento_Checkout/js/action/get-totals",
    "mage/cookies",
    "jquery-ui-modules/widget",
};
static const char *const html_tags[] = { "div", "span", "p", "li", "section", "a", "strong" };

struct vocab {
    char **w;
    uint8_t *len;
    size_t n;
    uint16_t zipf[65536];
};

static struct vocab *v_text, *v_ident, *v_css;

/* Syllable-built pseudo words enlarge a base list into a realistic long tail. */
static const char *const syllables[] = {
    "ka",  "lo", "mi", "ne", "ra",  "to",  "vi",  "sa",  "de",  "po",  "ri",  "an",  "el",  "or",
    "us",  "ta", "ge", "li", "mo",  "nu",  "ber", "gen", "tal", "ven", "dor", "mar", "lin", "ster",
    "ton", "ia", "ex", "al", "con", "pre", "tri", "sol", "var", "nor", "pel", "kin",
};

static struct vocab *
vocab_build(const char *const *base, size_t nbase, size_t npseudo, double s, uint64_t vseed)
{
    struct vocab *v = xmalloc(sizeof(*v));
    struct rng r;
    rng_seed(&r, vseed, 0);
    v->n = nbase + npseudo;
    v->w = xmalloc(v->n * sizeof(char *));
    v->len = xmalloc(v->n);
    for (size_t i = 0; i < nbase; i++)
        v->w[i] = xstrdup(base[i]);
    for (size_t i = nbase; i < v->n; i++) {
        char tmp[32] = "";
        int k = 2 + (int)rng_below(&r, 2);
        for (int j = 0; j < k; j++)
            strcat(tmp, syllables[rng_below(&r, ARRAY_LEN(syllables))]);
        v->w[i] = xstrdup(tmp);
    }
    for (size_t i = 0; i < v->n; i++)
        v->len[i] = (uint8_t)strlen(v->w[i]);
    /* Zipf(s) rank weights, sampled through a 65536-slot table. */
    double *cum = xmalloc(v->n * sizeof(double));
    double total = 0.0;
    for (size_t i = 0; i < v->n; i++) {
        total += exp2_approx(-s * log2_approx((double)i + 2.0));
        cum[i] = total;
    }
    size_t i = 0;
    for (size_t slot = 0; slot < 65536; slot++) {
        double u = ((double)slot + 0.5) / 65536.0 * total;
        while (i + 1 < v->n && cum[i] < u)
            i++;
        v->zipf[slot] = (uint16_t)i;
    }
    /* Real words keep the top ranks (in list order); pseudo words form the shuffled tail. */
    for (size_t k = v->n - 1; k > nbase; k--) {
        size_t j = nbase + (size_t)rng_below(&r, k - nbase + 1);
        char *tw = v->w[k];
        uint8_t tl = v->len[k];
        v->w[k] = v->w[j];
        v->len[k] = v->len[j];
        v->w[j] = tw;
        v->len[j] = tl;
    }
    free(cum);
    return v;
}

static void
vocab_init(void)
{
    /* Sizes and Zipf exponents tuned so that zstd -3 compresses the SQL dump ~4.6x and the
     * theme and application code ~4.2x. */
    v_text = vocab_build(en_words, ARRAY_LEN(en_words), 3000, 1.0, 11);
    v_ident = vocab_build(ident_words, ARRAY_LEN(ident_words), 3000, 0.9, 12);
    v_css = vocab_build(css_words, ARRAY_LEN(css_words), 1500, 0.9, 13);
}

static inline size_t
vocab_pick(const struct vocab *v, struct rng *r)
{
    return v->zipf[rng_u16(r)];
}

static inline void
sink_word(struct sink *s, struct rng *r, const struct vocab *v)
{
    size_t i = vocab_pick(v, r);
    sink_put(s, v->w[i], v->len[i]);
}

/* Word i of v, with its first letter upper-cased if cap. */
static void
sink_word_idx(struct sink *s, const struct vocab *v, size_t i, bool cap)
{
    char tmp[64];
    size_t n = v->len[i] < sizeof(tmp) ? v->len[i] : sizeof(tmp);
    memcpy(tmp, v->w[i], n);
    if (cap && tmp[0] >= 'a' && tmp[0] <= 'z')
        tmp[0] = (char)(tmp[0] - 'a' + 'A');
    sink_put(s, tmp, n);
}

/* A word with its first letter upper-cased. */
static void
sink_word_cap(struct sink *s, struct rng *r, const struct vocab *v)
{
    sink_word_idx(s, v, vocab_pick(v, r), true);
}

static void
sink_words(struct sink *s, struct rng *r, const struct vocab *v, int n, char sep)
{
    for (int i = 0; i < n; i++) {
        if (i)
            sink_ch(s, sep);
        sink_word(s, r, v);
    }
}

/* "Capitalised words, some, more." */
static void
sink_sentence(struct sink *s, struct rng *r, const struct vocab *v, int lo, int hi)
{
    int n = (int)rng_range(r, lo, hi);
    sink_word_cap(s, r, v);
    for (int i = 1; i < n; i++) {
        sink_ch(s, rng_chance(r, 1, 14) ? ',' : ' ');
        if (s->buf[s->len - 1] == ',')
            sink_ch(s, ' ');
        sink_word(s, r, v);
    }
    sink_ch(s, '.');
}

/* camelCase identifier from `parts` identifier words. */
static void
sink_ident(struct sink *s, struct rng *r, int parts, bool upper_first)
{
    if (parts == 2)
        parts = 2 + (int)rng_below(r, 2);
    for (int i = 0; i < parts; i++) {
        /* code names are less skewed than prose: a third come from the whole vocabulary */
        size_t w = rng_chance(r, IDENT_UNIFORM, 100) ? (size_t)rng_below(r, v_ident->n)
                                                     : vocab_pick(v_ident, r);
        sink_word_idx(s, v_ident, w, i || upper_first);
    }
}

static void
sink_css_class(struct sink *s, struct rng *r)
{
    sink_words(s, r, v_css, (int)rng_range(r, 1, 3), '-');
}

static void
sink_css_color(struct sink *s, struct rng *r)
{
    if (rng_chance(r, CSS_RANDOM_COLOR, 100)) {
        sink_ch(s, '#');
        sink_hex(s, r, 6);
    } else {
        sink_str(s, css_colors[rng_below(r, sizeof(css_colors) / sizeof(css_colors[0]))]);
    }
}

static const char *
pick(struct rng *r, const char *const *arr, size_t n)
{
    return arr[rng_below(r, n)];
}
#define PICK(r, arr) pick((r), (arr), ARRAY_LEN(arr))

static void
sink_ip(struct sink *s, struct rng *r)
{
    static const char *const nets[] = { "203.0.113.", "198.51.100.", "192.0.2.", "10.20.",
                                        "172.16.5." };
    const char *net = PICK(r, nets);
    sink_str(s, net);
    if (strcmp(net, "10.20.") == 0) {
        sink_u64(s, rng_below(r, 256));
        sink_ch(s, '.');
    }
    sink_u64(s, 1 + rng_below(r, 254));
}

/* ------------------------------------------------------------------------------------------ */
/* Directory bookkeeping: a set of relative directory paths (created or touched). */

struct dirset {
    char **list;
    size_t n, cap_list;
    size_t *table; /* indices + 1, 0 = empty */
    size_t cap_table;
};

static struct dirset g_dirs;
static char g_root[PATH_MAX];

static bool
dirset_has_or_add(struct dirset *d, const char *rel)
{
    if (d->n * 2 + 2 > d->cap_table) {
        size_t ncap = d->cap_table ? d->cap_table * 2 : 1024;
        size_t *nt = calloc(ncap, sizeof(size_t));
        if (!nt)
            die("out of memory");
        for (size_t i = 0; i < d->n; i++) {
            size_t h = (size_t)fnv1a(d->list[i]) & (ncap - 1);
            while (nt[h])
                h = (h + 1) & (ncap - 1);
            nt[h] = i + 1;
        }
        free(d->table);
        d->table = nt;
        d->cap_table = ncap;
    }
    size_t h = (size_t)fnv1a(rel) & (d->cap_table - 1);
    while (d->table[h]) {
        if (strcmp(d->list[d->table[h] - 1], rel) == 0)
            return true;
        h = (h + 1) & (d->cap_table - 1);
    }
    if (d->n == d->cap_list) {
        d->cap_list = d->cap_list ? d->cap_list * 2 : 1024;
        d->list = xrealloc(d->list, d->cap_list * sizeof(char *));
    }
    d->list[d->n] = xstrdup(rel);
    d->table[h] = ++d->n;
    return false;
}

static void
full_path(char *out, size_t cap, const char *rel)
{
    int n = rel[0] ? snprintf(out, cap, "%s/%s", g_root, rel) : snprintf(out, cap, "%s", g_root);
    if (n < 0 || (size_t)n >= cap)
        die("path too long: %s/%s", g_root, rel);
}

/* mkdir -p for a path relative to the root; records every directory on the way. */
static void
mkdir_rel(const char *rel)
{
    if (dirset_has_or_add(&g_dirs, rel))
        return;
    if (!rel[0])
        return;
    char parent[PATH_MAX];
    snprintf(parent, sizeof(parent), "%s", rel);
    char *slash = strrchr(parent, '/');
    if (slash)
        *slash = '\0';
    else
        parent[0] = '\0';
    mkdir_rel(parent);
    char path[PATH_MAX];
    full_path(path, sizeof(path), rel);
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        die("mkdir %s: %s", path, strerror(errno));
}

static void
parent_of(const char *rel, char *out, size_t cap)
{
    snprintf(out, cap, "%s", rel);
    char *slash = strrchr(out, '/');
    if (slash)
        *slash = '\0';
    else
        out[0] = '\0';
}

/* Set every recorded directory's mtime to a value derived from `t0` and its path. */
static void
dirs_set_times(int64_t t0, int64_t spread)
{
    for (size_t i = 0; i < g_dirs.n; i++) {
        char path[PATH_MAX];
        full_path(path, sizeof(path), g_dirs.list[i]);
        uint64_t h = fnv1a(g_dirs.list[i]);
        struct timespec ts[2];
        ts[0].tv_sec = t0 - (spread > 0 ? (int64_t)(h % (uint64_t)spread) : 0);
        ts[0].tv_nsec = (long)((h >> 32) % 1000000000ull);
        ts[1] = ts[0];
        if (utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) != 0)
            die("utimensat %s: %s", path, strerror(errno));
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Files */

struct out_file {
    struct sink s;
    char path[PATH_MAX];
};

/* Create `rel` (its directory must exist or is created). mode: 'c' new, 'a' append, 't' trunc */
static void
file_open(struct out_file *f, const char *rel, char mode)
{
    char dir[PATH_MAX];
    parent_of(rel, dir, sizeof(dir));
    mkdir_rel(dir);
    full_path(f->path, sizeof(f->path), rel);
    int flags = O_WRONLY | O_CLOEXEC;
    if (mode == 'c')
        flags |= O_CREAT | O_EXCL;
    else if (mode == 'a')
        flags |= O_APPEND;
    else
        flags |= O_CREAT | O_TRUNC;
    int fd = open(f->path, flags, 0644);
    if (fd < 0)
        die("open %s: %s", f->path, strerror(errno));
    if (mode != 'a' && fchmod(fd, 0644) != 0)
        die("chmod %s: %s", f->path, strerror(errno));
    sink_open_fd(&f->s, fd, f->path);
}

/* Flush, set mtime (seconds, nanoseconds) and close; returns the bytes written. */
static uint64_t
file_close(struct out_file *f, int64_t mtime, long nsec)
{
    sink_flush(&f->s);
    struct timespec ts[2];
    ts[0].tv_sec = mtime;
    ts[0].tv_nsec = nsec;
    ts[1] = ts[0];
    if (futimens(f->s.fd, ts) != 0)
        die("futimens %s: %s", f->path, strerror(errno));
    if (close(f->s.fd) != 0)
        die("close %s: %s", f->path, strerror(errno));
    return f->s.flushed;
}

static int64_t
rand_mtime(struct rng *r, int64_t newest, int64_t span)
{
    return newest - (int64_t)rng_below(r, (uint64_t)span + 1);
}

static long
rand_nsec(struct rng *r)
{
    return (long)rng_below(r, 1000000000ull);
}

/* ------------------------------------------------------------------------------------------ */
/* Product images: a real header, then incompressible bytes. */

static unsigned char *g_img_buf;

static void
put_le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static void
put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static const uint64_t img_min = 20 * KIB, img_max = 600 * KIB;

static uint64_t
image_size(struct rng *r)
{
    return rng_lognormal(r, 78.0 * KIB, 1.05, img_min, img_max);
}

/* Builds the relative path of a new product image; returns its extension index. */
static void
image_name(struct rng *r, char *rel, size_t cap, uint64_t serial, const char *tag)
{
    static const char *const ext[] = { "jpg", "jpg", "jpg", "jpg", "png", "png", "webp" };
    char name[160];
    /* brand (uniform over the vocabulary, mostly pseudo words) - adjective - noun - colour */
    snprintf(name, sizeof(name), "%s-%s-%s-%s%s-%" PRIu64 "%s", v_text->w[rng_below(r, v_text->n)],
             PICK(r, shop_adj), PICK(r, shop_noun), PICK(r, shop_color),
             rng_chance(r, 1, 4) ? "_1" : "", serial, tag);
    snprintf(rel, cap, "public/media/catalog/product/%c/%c/%s.%s", name[0], name[1], name,
             PICK(r, ext));
}

static uint64_t
write_image(struct rng *r, const char *rel, uint64_t size, int64_t mtime, long nsec, char mode)
{
    if (!g_img_buf)
        g_img_buf = xmalloc(img_max + 64);
    unsigned char *b = g_img_buf;
    rng_fill(r, b, size);
    const char *ext = strrchr(rel, '.') + 1;
    if (strcmp(ext, "jpg") == 0) {
        static const unsigned char jfif[] = { 0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 'J',  'F',
                                              'I',  'F',  0x00, 0x01, 0x01, 0x00, 0x00, 0x48,
                                              0x00, 0x48, 0x00, 0x00, 0xff, 0xdb, 0x00, 0x43 };
        memcpy(b, jfif, sizeof(jfif));
        b[size - 2] = 0xff;
        b[size - 1] = 0xd9;
    } else if (strcmp(ext, "png") == 0) {
        static const unsigned char png[] = { 0x89, 'P',  'N',  'G',  0x0d, 0x0a, 0x1a, 0x0a,
                                             0x00, 0x00, 0x00, 0x0d, 'I',  'H',  'D',  'R' };
        memcpy(b, png, sizeof(png));
        put_be32(b + 16, (uint32_t)rng_range(r, 400, 2400));
        put_be32(b + 20, (uint32_t)rng_range(r, 400, 2400));
        b[24] = 8;
        b[25] = 2;
        b[26] = b[27] = b[28] = 0;
    } else {
        memcpy(b, "RIFF", 4);
        put_le32(b + 4, (uint32_t)(size - 8));
        memcpy(b + 8, "WEBPVP8 ", 8);
        put_le32(b + 16, (uint32_t)(size - 20));
    }
    struct out_file f;
    file_open(&f, rel, mode);
    sink_put(&f.s, b, size);
    return file_close(&f, mtime, nsec);
}

/* ------------------------------------------------------------------------------------------ */
/* SQL dump */

static void
sql_product_row(struct sink *s, struct rng *r, uint64_t id)
{
    sink_str(s,
             "INSERT INTO public.catalog_product (entity_id, sku, name, description, price, "
             "special_price, qty, weight, status, category_id, created_at, updated_at) VALUES (");
    sink_u64(s, id);
    sink_str(s, ", 'SKU-");
    sink_u64w(s, 100000 + id * 7 % 900000, 6);
    sink_str(s, "', '");
    const char *adj = PICK(r, shop_adj), *noun = PICK(r, shop_noun), *col = PICK(r, shop_color);
    sink_ch(s, (char)(adj[0] - 'a' + 'A'));
    sink_str(s, adj + 1);
    sink_ch(s, ' ');
    sink_ch(s, (char)(col[0] - 'a' + 'A'));
    sink_str(s, col + 1);
    sink_ch(s, ' ');
    sink_ch(s, (char)(noun[0] - 'a' + 'A'));
    sink_str(s, noun + 1);
    sink_str(s, "', '");
    int nsent = (int)rng_range(r, 2, 5);
    for (int i = 0; i < nsent; i++) {
        if (i)
            sink_ch(s, ' ');
        sink_sentence(s, r, v_text, 6, 18);
    }
    sink_str(s, "', ");
    uint64_t price = (uint64_t)rng_range(r, 3, 400) * 100 + (rng_chance(r, 2, 3) ? 99 : 0);
    sink_fixed(s, price, 2);
    sink_str(s, ", ");
    if (rng_chance(r, 1, 5))
        sink_fixed(s, price * 8 / 10, 2);
    else
        sink_str(s, "NULL");
    sink_str(s, ", ");
    sink_u64(s, rng_below(r, 500));
    sink_str(s, ", ");
    sink_fixed(s, (uint64_t)rng_range(r, 50, 5000), 3);
    sink_str(s, rng_chance(r, 9, 10) ? ", 1, " : ", 2, ");
    sink_u64(s, (uint64_t)rng_range(r, 3, 180));
    int64_t created = base_time - (int64_t)rng_below(r, 1000 * (uint64_t)day);
    sink_str(s, ", '");
    sink_ts_sql(s, created);
    sink_str(s, "', '");
    sink_ts_sql(s, created + (int64_t)rng_below(r, (uint64_t)(base_time - created) + 1));
    sink_str(s, "');\n");
}

static void
sql_customer_row(struct sink *s, struct rng *r, uint64_t id)
{
    const char *fn = PICK(r, first_names), *ln = PICK(r, last_names);
    sink_str(s,
             "INSERT INTO public.customer_entity (entity_id, email, firstname, lastname, "
             "password_hash, street, city, postcode, country_id, telephone, group_id, created_at) "
             "VALUES (");
    sink_u64(s, id);
    sink_str(s, ", '");
    for (const char *p = fn; *p; p++)
        sink_ch(s, (char)(*p | 0x20));
    sink_ch(s, '.');
    for (const char *p = ln; *p; p++)
        sink_ch(s, (char)(*p | 0x20));
    sink_u64(s, rng_below(r, 100));
    sink_ch(s, '@');
    sink_str(s, PICK(r, domains));
    sink_str(s, "', '");
    sink_str(s, fn);
    sink_str(s, "', '");
    sink_str(s, ln);
    sink_str(s, "', '");
    sink_hex(s, r, 64);
    sink_ch(s, ':');
    sink_alnum(s, r, 32);
    sink_str(s, ":3_32_2_67', '");
    sink_word_cap(s, r, v_text);
    sink_str(s, rng_chance(r, 1, 2) ? "strasse " : " Street ");
    sink_u64(s, (uint64_t)rng_range(r, 1, 180));
    sink_str(s, "', '");
    sink_str(s, PICK(r, cities));
    sink_str(s, "', '");
    sink_u64w(s, rng_below(r, 100000), 5);
    sink_str(s, "', '");
    sink_str(s, PICK(r, countries));
    sink_str(s, "', '+49 ");
    sink_u64(s, (uint64_t)rng_range(r, 150, 179));
    sink_ch(s, ' ');
    sink_u64w(s, rng_below(r, 10000000), 7);
    sink_str(s, "', 1, '");
    sink_ts_sql(s, base_time - (int64_t)rng_below(r, 1500 * (uint64_t)day));
    sink_str(s, "');\n");
}

static void
sql_order_row(struct sink *s, struct rng *r, uint64_t id, int64_t created)
{
    static const char *const states[] = { "complete", "complete", "complete", "processing",
                                          "canceled", "closed",   "new" };
    sink_str(s,
             "INSERT INTO public.sales_order (entity_id, increment_id, customer_id, state, "
             "status, grand_total, subtotal, tax_amount, shipping_amount, total_qty_ordered, "
             "order_currency_code, remote_ip, protect_code, customer_note, created_at, updated_at) "
             "VALUES (");
    sink_u64(s, id);
    sink_str(s, ", '");
    sink_u64w(s, 100000000 + id, 9);
    sink_str(s, "', ");
    sink_u64(s, 1 + rng_below(r, 60000));
    const char *st = PICK(r, states);
    sink_str(s, ", '");
    sink_str(s, st);
    sink_str(s, "', '");
    sink_str(s, st);
    sink_str(s, "', ");
    uint64_t sub = (uint64_t)rng_range(r, 500, 60000);
    uint64_t tax = sub * 19 / 100, ship = rng_chance(r, 1, 3) ? 0 : 495;
    sink_fixed(s, sub + tax + ship, 2);
    sink_str(s, ", ");
    sink_fixed(s, sub, 2);
    sink_str(s, ", ");
    sink_fixed(s, tax, 2);
    sink_str(s, ", ");
    sink_fixed(s, ship, 2);
    sink_str(s, ", ");
    sink_fixed(s, (uint64_t)rng_range(r, 1, 8) * 10000, 4);
    sink_str(s, ", 'EUR', '");
    sink_ip(s, r);
    sink_str(s, "', '");
    sink_hex(s, r, 6);
    sink_str(s, "', ");
    if (rng_chance(r, 1, 4)) {
        sink_ch(s, '\'');
        sink_sentence(s, r, v_text, 3, 12);
        sink_ch(s, '\'');
    } else {
        sink_str(s, "NULL");
    }
    sink_str(s, ", '");
    sink_ts_sql(s, created);
    sink_str(s, "', '");
    sink_ts_sql(s, created + (int64_t)rng_below(r, 5 * (uint64_t)day));
    sink_str(s, "');\n");
}

static const char sql_header[] = "--\n"
                                 "-- PostgreSQL database dump\n"
                                 "--\n"
                                 "\n"
                                 "-- Dumped from database version 15.6 (Debian 15.6-0+deb12u1)\n"
                                 "-- Dumped by pg_dump version 15.6 (Debian 15.6-0+deb12u1)\n"
                                 "\n"
                                 "SET statement_timeout = 0;\n"
                                 "SET lock_timeout = 0;\n"
                                 "SET idle_in_transaction_session_timeout = 0;\n"
                                 "SET client_encoding = 'UTF8';\n"
                                 "SET standard_conforming_strings = on;\n"
                                 "SELECT pg_catalog.set_config('search_path', '', false);\n"
                                 "SET check_function_bodies = false;\n"
                                 "SET xmloption = content;\n"
                                 "SET client_min_messages = warning;\n"
                                 "SET row_security = off;\n"
                                 "\n"
                                 "CREATE TABLE public.catalog_product (\n"
                                 "    entity_id integer NOT NULL,\n"
                                 "    sku character varying(64) NOT NULL,\n"
                                 "    name text,\n"
                                 "    description text,\n"
                                 "    price numeric(20,6),\n"
                                 "    special_price numeric(20,6),\n"
                                 "    qty integer,\n"
                                 "    weight numeric(12,4),\n"
                                 "    status smallint,\n"
                                 "    category_id integer,\n"
                                 "    created_at timestamp without time zone,\n"
                                 "    updated_at timestamp without time zone\n"
                                 ");\n"
                                 "\n"
                                 "CREATE TABLE public.customer_entity (\n"
                                 "    entity_id integer NOT NULL,\n"
                                 "    email text,\n"
                                 "    firstname text,\n"
                                 "    lastname text,\n"
                                 "    password_hash text,\n"
                                 "    street text,\n"
                                 "    city text,\n"
                                 "    postcode character varying(16),\n"
                                 "    country_id character(2),\n"
                                 "    telephone text,\n"
                                 "    group_id smallint,\n"
                                 "    created_at timestamp without time zone\n"
                                 ");\n"
                                 "\n"
                                 "CREATE TABLE public.sales_order (\n"
                                 "    entity_id integer NOT NULL,\n"
                                 "    increment_id character varying(32),\n"
                                 "    customer_id integer,\n"
                                 "    state text,\n"
                                 "    status text,\n"
                                 "    grand_total numeric(20,4),\n"
                                 "    subtotal numeric(20,4),\n"
                                 "    tax_amount numeric(20,4),\n"
                                 "    shipping_amount numeric(20,4),\n"
                                 "    total_qty_ordered numeric(12,4),\n"
                                 "    order_currency_code character(3),\n"
                                 "    remote_ip text,\n"
                                 "    protect_code text,\n"
                                 "    customer_note text,\n"
                                 "    created_at timestamp without time zone,\n"
                                 "    updated_at timestamp without time zone\n"
                                 ");\n"
                                 "\n";

/* Order rows resume from here in `mutate` (entity ids are far above any generated one). */
static const uint64_t mutate_order_id_base = 50000000;

static uint64_t
gen_sql(struct rng *r, uint64_t budget)
{
    struct out_file f;
    file_open(&f, "database/shop-dump.sql", 'c');
    struct sink *s = &f.s;
    sink_str(s, sql_header);
    uint64_t products_end = budget * 40 / 100, customers_end = budget * 65 / 100;
    sink_str(s, "--\n-- Data for Name: catalog_product; Type: TABLE DATA; Schema: public\n--\n\n");
    for (uint64_t id = 1; sink_total(s) < products_end; id++)
        sql_product_row(s, r, id);
    sink_str(s,
             "\n--\n-- Data for Name: customer_entity; Type: TABLE DATA; Schema: public\n--\n\n");
    for (uint64_t id = 1; sink_total(s) < customers_end; id++)
        sql_customer_row(s, r, id);
    sink_str(s, "\n--\n-- Data for Name: sales_order; Type: TABLE DATA; Schema: public\n--\n\n");
    int64_t t = base_time - 700 * day;
    for (uint64_t id = 1; sink_total(s) < budget; id++) {
        t += (int64_t)rng_below(r, 300);
        sql_order_row(s, r, id, t);
    }
    return file_close(&f, base_time - 2 * 3600, rand_nsec(r));
}

/* ------------------------------------------------------------------------------------------ */
/* Logs */

enum log_kind { LOG_SYSTEM, LOG_EXCEPTION, LOG_ACCESS };
static const char *const log_paths[] = { "var/log/system.log", "var/log/exception.log",
                                         "var/log/access.log" };

static void
log_entry(struct sink *s, struct rng *r, enum log_kind kind, int64_t t)
{
    if (kind == LOG_ACCESS) {
        static const char *const methods[] = { "GET", "GET", "GET", "GET", "POST", "HEAD" };
        static const int codes[] = { 200, 200, 200, 200, 200, 200, 304, 302, 301, 404, 500 };
        sink_ip(s, r);
        sink_str(s, " - - [");
        sink_ts_clf(s, t);
        sink_str(s, "] \"");
        sink_str(s, PICK(r, methods));
        sink_ch(s, ' ');
        switch (rng_below(r, 6)) {
        case 0:
            sink_str(s, "/catalog/product/view/id/");
            sink_u64(s, 1 + rng_below(r, 40000));
            break;
        case 1:
            sink_str(s, "/static/version1717");
            sink_u64w(s, rng_below(r, 1000000), 6);
            sink_str(s, "/frontend/Vendor/");
            sink_str(s, PICK(r, themes));
            sink_str(s, "/en_US/");
            sink_str(s, PICK(r, modules));
            sink_ch(s, '/');
            sink_css_class(s, r);
            sink_str(s, rng_chance(r, 1, 2) ? ".js" : ".css");
            break;
        case 2:
            sink_str(s, "/media/catalog/product/cache/");
            sink_hex(s, r, 32);
            sink_ch(s, '/');
            sink_str(s, PICK(r, shop_adj));
            sink_ch(s, '-');
            sink_str(s, PICK(r, shop_noun));
            sink_str(s, ".jpg");
            break;
        case 3:
            sink_str(s, "/checkout/cart/add/uenc/");
            sink_alnum(s, r, 24);
            sink_str(s, "/product/");
            sink_u64(s, 1 + rng_below(r, 40000));
            break;
        default:
            sink_ch(s, '/');
            sink_str(s, PICK(r, shop_adj));
            sink_ch(s, '-');
            sink_str(s, PICK(r, shop_color));
            sink_ch(s, '-');
            sink_str(s, PICK(r, shop_noun));
            sink_str(s, ".html");
            if (rng_chance(r, 1, 3)) {
                sink_str(s, "?p=");
                sink_u64(s, 1 + rng_below(r, 20));
            }
            break;
        }
        sink_str(s, " HTTP/");
        sink_str(s, rng_chance(r, 2, 3) ? "2.0\" " : "1.1\" ");
        sink_u64(s, (uint64_t)codes[rng_below(r, ARRAY_LEN(codes))]);
        sink_ch(s, ' ');
        sink_u64(s, (uint64_t)rng_range(r, 300, 90000));
        sink_str(s, rng_chance(r, 1, 2) ? " \"-\" \"" : " \"https://shop.example.com/\" \"");
        sink_str(s, PICK(r, user_agents));
        sink_str(s, "\" rt=");
        sink_fixed(s, rng_below(r, rng_chance(r, 1, 10) ? 9000 : 900), 3);
        sink_str(s, " rid=");
        sink_hex(s, r, 16);
        sink_ch(s, '\n');
        return;
    }
    sink_ch(s, '[');
    sink_ts_iso(s, t, rng_below(r, 1000000));
    if (kind == LOG_SYSTEM) {
        static const char *const levels[] = {
            "INFO", "INFO", "INFO", "DEBUG", "WARNING", "NOTICE"
        };
        sink_str(s, "] main.");
        sink_str(s, PICK(r, levels));
        sink_str(s, ": ");
        switch (rng_below(r, 6)) {
        case 0:
            sink_str(s, "Cron Job ");
            sink_words(s, r, v_ident, 3, '_');
            sink_str(s, " is successfully finished. Statistics: {\"sum\":");
            sink_fixed(s, rng_below(r, 9000000), 6);
            sink_str(s, ",\"count\":1}");
            break;
        case 1:
            sink_str(s, "Broken reference: the '");
            sink_css_class(s, r);
            sink_str(s, "' element cannot be added as child to '");
            sink_css_class(s, r);
            sink_str(s, "', because the latter doesn't exist");
            break;
        case 2:
            sink_str(s, "Consumer \"");
            sink_words(s, r, v_ident, 2, '.');
            sink_str(s, "\" skipped as required connection \"amqp\" is not configured.");
            break;
        case 3:
            sink_str(s, "Cache invalidated: ");
            sink_words(s, r, v_ident, (int)rng_range(r, 1, 4), ',');
            break;
        case 4:
            sink_str(s, "Indexer ");
            sink_words(s, r, v_ident, 2, '_');
            sink_str(s, " reindexed ");
            sink_u64(s, rng_below(r, 5000));
            sink_str(s, " rows in ");
            sink_u64(s, rng_below(r, 90000));
            sink_str(s, " ms");
            break;
        default:
            sink_sentence(s, r, v_text, 5, 14);
            break;
        }
        sink_str(s, " [] []\n");
        return;
    }
    /* LOG_EXCEPTION: message plus a stack trace */
    static const char *const ex[] = {
        "Magento\\Framework\\Exception\\NoSuchEntityException",
        "Magento\\Framework\\Exception\\LocalizedException",
        "Magento\\Framework\\Exception\\InputException",
        "TypeError",
        "Exception",
        "Magento\\Framework\\Exception\\CouldNotSaveException",
    };
    sink_str(s, "] main.CRITICAL: ");
    sink_str(s, PICK(r, ex));
    sink_str(s, ": ");
    sink_sentence(s, r, v_text, 4, 12);
    sink_str(s, " in /var/www/html/vendor/magento/module-");
    sink_words(s, r, v_ident, 2, '-');
    sink_ch(s, '/');
    sink_ident(s, r, 1, true);
    sink_ch(s, '/');
    sink_ident(s, r, 2, true);
    sink_str(s, ".php:");
    sink_u64(s, (uint64_t)rng_range(r, 20, 900));
    sink_str(s, "\nStack trace:\n");
    int depth = (int)rng_range(r, 6, 24);
    for (int i = 0; i < depth; i++) {
        sink_ch(s, '#');
        sink_u64(s, (uint64_t)i);
        sink_str(s, " /var/www/html/vendor/magento/");
        if (rng_chance(r, 1, 2)) {
            sink_str(s, "framework/Interception/Interceptor.php(58): ");
        } else {
            sink_str(s, "module-");
            sink_words(s, r, v_ident, 2, '-');
            sink_ch(s, '/');
            sink_ident(s, r, 2, true);
            sink_str(s, ".php(");
            sink_u64(s, (uint64_t)rng_range(r, 20, 900));
            sink_str(s, "): ");
        }
        sink_str(s, "Magento\\");
        sink_ident(s, r, 1, true);
        sink_str(s, "\\Model\\");
        sink_ident(s, r, 2, true);
        sink_str(s, "->");
        sink_ident(s, r, 2, false);
        sink_str(s, "(Object(Magento\\Framework\\App\\Request\\Http))\n");
    }
    sink_ch(s, '#');
    sink_u64(s, (uint64_t)depth);
    sink_str(s, " {main} [] []\n");
}

/* Appends log entries until about `budget` bytes; times advance with the bytes written, from
 * t_start to t_end. */
static void
log_fill(struct sink *s, struct rng *r, enum log_kind kind, uint64_t budget, int64_t t_start,
         int64_t t_end)
{
    uint64_t start = sink_total(s);
    double span = (double)(t_end - t_start);
    for (uint64_t done = 0; done < budget; done = sink_total(s) - start)
        log_entry(s, r, kind, t_start + (int64_t)(span * (double)done / (double)budget));
}

static uint64_t
gen_logs(struct rng *r, uint64_t budget)
{
    static const unsigned share[] = { 25, 15, 60 };
    uint64_t total = 0;
    for (int k = 0; k < 3; k++) {
        struct out_file f;
        file_open(&f, log_paths[k], 'c');
        log_fill(&f.s, r, (enum log_kind)k, budget * share[k] / 100, base_time - 60 * day,
                 base_time - 60);
        total += file_close(&f, base_time - (int64_t)rng_below(r, 60), rand_nsec(r));
    }
    return total;
}

/* ------------------------------------------------------------------------------------------ */
/* Theme and application code text */

static void
css_rule(struct sink *s, struct rng *r, int indent)
{
    if (rng_chance(r, 1, 6)) {
        sink_indent(s, indent);
        sink_str(s, "/* ");
        sink_sentence(s, r, v_text, 3, 10);
        sink_str(s, " */\n");
    }
    sink_indent(s, indent);
    int nsel = (int)rng_range(r, 1, 3);
    for (int i = 0; i < nsel; i++) {
        if (i)
            sink_str(s, rng_chance(r, 1, 3) ? ",\n" : " ");
        if (i && s->buf[s->len - 1] == '\n')
            sink_indent(s, indent);
        sink_ch(s, '.');
        sink_css_class(s, r);
        if (rng_chance(r, 1, 8))
            sink_str(s, rng_chance(r, 1, 2) ? ":hover" : ":focus");
    }
    sink_str(s, " {\n");
    int ndecl = (int)rng_range(r, 2, 7);
    for (int i = 0; i < ndecl; i++) {
        sink_indent(s, indent + 1);
        const struct css_prop *p = &css_props[rng_below(r, ARRAY_LEN(css_props))];
        sink_str(s, p->name);
        sink_str(s, ": ");
        if (p->kind == 'c') {
            sink_css_color(s, r);
        } else if (p->kind == 'l' || p->kind == '1') {
            int nv = p->kind == 'l' ? (int)rng_range(r, 1, 4) : 1;
            for (int k = 0; k < nv; k++) {
                if (k)
                    sink_ch(s, ' ');
                uint64_t v = rng_below(r, 5) == 0 ? 0 : (uint64_t)rng_range(r, 1, 40);
                sink_u64(s, v);
                if (v)
                    sink_str(s, rng_chance(r, 3, 4) ? "px" : "rem");
            }
        } else if (p->kind == 'b') {
            sink_str(s, "1px solid ");
            sink_css_color(s, r);
        } else {
            /* the n-th of the '|'-separated keywords */
            const char *k = p->keywords;
            size_t nk = 1;
            for (const char *q = k; *q; q++)
                nk += *q == '|';
            for (size_t want = rng_below(r, nk); want > 0; want--)
                k = strchr(k, '|') + 1;
            const char *end = strchr(k, '|');
            sink_put(s, k, end ? (size_t)(end - k) : strlen(k));
        }
        sink_str(s, ";\n");
    }
    sink_indent(s, indent);
    sink_str(s, "}\n\n");
}

static void
gen_css(struct sink *s, struct rng *r, uint64_t target)
{
    sink_str(s, "/**\n * Copyright (c) Vendor. All rights reserved.\n */\n\n");
    while (sink_total(s) < target) {
        if (rng_chance(r, 1, 12)) {
            sink_str(s, "@media (max-width: ");
            sink_u64(s, rng_chance(r, 1, 2) ? 767 : 1023);
            sink_str(s, "px) {\n");
            int n = (int)rng_range(r, 1, 4);
            for (int i = 0; i < n; i++)
                css_rule(s, r, 1);
            sink_str(s, "}\n\n");
        } else {
            css_rule(s, r, 0);
        }
    }
}

static void
js_statement(struct sink *s, struct rng *r, int indent)
{
    sink_indent(s, indent);
    switch (rng_below(r, 8)) {
    case 0:
        sink_str(s, "var ");
        sink_ident(s, r, 2, false);
        sink_str(s, " = ");
        sink_ident(s, r, 1, false);
        sink_ch(s, '.');
        sink_ident(s, r, 2, false);
        sink_str(s, " || ");
        sink_u64(s, rng_below(r, 10));
        sink_str(s, ";\n");
        break;
    case 1:
        sink_str(s, "$(this.element).find('.");
        sink_css_class(s, r);
        sink_str(s, "').");
        sink_str(s, rng_chance(r, 1, 2) ? "addClass('" : "toggleClass('");
        sink_css_class(s, r);
        sink_str(s, "');\n");
        break;
    case 2:
        sink_str(s, "if (!this.options.");
        sink_ident(s, r, 2, false);
        sink_str(s, ") {\n");
        sink_indent(s, indent + 1);
        sink_str(s, "return false;\n");
        sink_indent(s, indent);
        sink_str(s, "}\n");
        break;
    case 3:
        sink_str(s, "this.");
        sink_ident(s, r, 2, false);
        sink_str(s, "($t('");
        sink_sentence(s, r, v_text, 2, 7);
        sink_str(s, "'));\n");
        break;
    case 4:
        sink_str(s, "customerData.get('");
        sink_word(s, r, v_ident);
        sink_str(s, "').subscribe(function (");
        sink_ident(s, r, 1, false);
        sink_str(s, ") {\n");
        js_statement(s, r, indent + 1);
        sink_indent(s, indent);
        sink_str(s, "}, this);\n");
        break;
    case 5:
        sink_str(s, "_.each(");
        sink_ident(s, r, 2, false);
        sink_str(s, ", function (item, index) {\n");
        js_statement(s, r, indent + 1);
        sink_indent(s, indent);
        sink_str(s, "});\n");
        break;
    case 6:
        sink_str(s, "// ");
        sink_sentence(s, r, v_text, 3, 12);
        sink_ch(s, '\n');
        break;
    default:
        sink_str(s, "return ");
        sink_ident(s, r, 1, false);
        sink_str(s, " ? ");
        sink_ident(s, r, 2, false);
        sink_str(s, " : null;\n");
        break;
    }
}

static void
gen_js(struct sink *s, struct rng *r, uint64_t target)
{
    sink_str(s, "/**\n * Copyright (c) Vendor. All rights reserved.\n */\n\ndefine([\n");
    int ndeps = (int)rng_range(r, 1, 5);
    for (int i = 0; i < ndeps; i++) {
        sink_str(s, "    '");
        sink_str(s, PICK(r, js_deps));
        sink_str(s, i + 1 < ndeps ? "',\n" : "'\n");
    }
    sink_str(s, "], function ($, _) {\n    'use strict';\n\n    return {\n");
    while (sink_total(s) < target) {
        sink_indent(s, 2);
        sink_ident(s, r, 2, false);
        sink_str(s, ": function (");
        sink_ident(s, r, 1, false);
        sink_str(s, ") {\n");
        int n = (int)rng_range(r, 2, 9);
        for (int i = 0; i < n; i++)
            js_statement(s, r, 3);
        sink_indent(s, 2);
        sink_str(s, "},\n\n");
    }
    sink_str(s, "        _noop: function () {}\n    };\n});\n");
}

static void
twig_block(struct sink *s, struct rng *r, int indent)
{
    const char *tag = PICK(r, html_tags);
    sink_indent(s, indent);
    switch (rng_below(r, 5)) {
    case 0:
        sink_str(s, "{% if ");
        sink_word(s, r, v_ident);
        sink_ch(s, '.');
        sink_ident(s, r, 2, false);
        sink_str(s, " %}\n");
        twig_block(s, r, indent + 1);
        sink_indent(s, indent);
        sink_str(s, "{% endif %}\n");
        break;
    case 1:
        sink_str(s, "{% for item in ");
        sink_word(s, r, v_ident);
        sink_str(s, ".items %}\n");
        sink_indent(s, indent + 1);
        sink_str(s, "<li class=\"");
        sink_css_class(s, r);
        sink_str(s, "\">{{ item.");
        sink_word(s, r, v_ident);
        sink_str(s, "|escape }}</li>\n");
        sink_indent(s, indent);
        sink_str(s, "{% endfor %}\n");
        break;
    case 2:
        sink_ch(s, '<');
        sink_str(s, tag);
        sink_str(s, " class=\"");
        sink_css_class(s, r);
        sink_str(s, "\">{{ '");
        sink_sentence(s, r, v_text, 2, 8);
        sink_str(s, "'|trans }}</");
        sink_str(s, tag);
        sink_str(s, ">\n");
        break;
    default:
        sink_ch(s, '<');
        sink_str(s, tag);
        sink_str(s, " class=\"");
        sink_css_class(s, r);
        sink_str(s, "\" data-role=\"");
        sink_css_class(s, r);
        sink_str(s, "\">\n");
        sink_indent(s, indent + 1);
        sink_sentence(s, r, v_text, 6, 20);
        sink_str(s, " {{ ");
        sink_word(s, r, v_ident);
        sink_ch(s, '.');
        sink_ident(s, r, 2, false);
        sink_str(s, " }}\n");
        sink_indent(s, indent);
        sink_str(s, "</");
        sink_str(s, tag);
        sink_str(s, ">\n");
        break;
    }
}

static void
gen_twig(struct sink *s, struct rng *r, uint64_t target)
{
    sink_str(s, "{% extends 'base.html.twig' %}\n\n{% block content %}\n");
    while (sink_total(s) < target)
        twig_block(s, r, 1);
    sink_str(s, "{% endblock %}\n");
}

static void
php_statement(struct sink *s, struct rng *r, int indent)
{
    sink_indent(s, indent);
    switch (rng_below(r, 7)) {
    case 0:
        sink_ch(s, '$');
        sink_ident(s, r, 2, false);
        sink_str(s, " = $this->");
        sink_ident(s, r, 1, false);
        sink_str(s, "->");
        sink_ident(s, r, 2, false);
        sink_str(s, "($");
        sink_ident(s, r, 1, false);
        sink_str(s, ");\n");
        break;
    case 1:
        sink_str(s, "if ($");
        sink_ident(s, r, 1, false);
        sink_str(s, " === null) {\n");
        sink_indent(s, indent + 1);
        sink_str(s, "throw new LocalizedException(__('");
        sink_sentence(s, r, v_text, 3, 9);
        sink_str(s, "'));\n");
        sink_indent(s, indent);
        sink_str(s, "}\n");
        break;
    case 2:
        sink_str(s, "foreach ($this->");
        sink_ident(s, r, 2, false);
        sink_str(s, "() as $");
        sink_ident(s, r, 1, false);
        sink_str(s, ") {\n");
        php_statement(s, r, indent + 1);
        sink_indent(s, indent);
        sink_str(s, "}\n");
        break;
    case 3:
        sink_str(s, "// ");
        sink_sentence(s, r, v_text, 3, 12);
        sink_ch(s, '\n');
        break;
    case 4:
        sink_str(s, "$result['");
        sink_ident(s, r, 1, false);
        sink_str(s, "'] = (float) $");
        sink_ident(s, r, 1, false);
        sink_str(s, "->get");
        sink_ident(s, r, 1, true);
        sink_str(s, "();\n");
        break;
    default:
        sink_str(s, "return $this->");
        sink_ident(s, r, 2, false);
        sink_ch(s, '(');
        sink_u64(s, rng_below(r, 100));
        sink_str(s, ");\n");
        break;
    }
}

static void
gen_php(struct sink *s, struct rng *r, uint64_t target, const char *ns)
{
    sink_str(s, "<?php\n/**\n * Copyright (c) Vendor. All rights reserved.\n */\n"
                "declare(strict_types=1);\n\nnamespace ");
    sink_str(s, ns);
    sink_str(s, ";\n\nuse Magento\\Framework\\Exception\\LocalizedException;\n");
    int nuse = (int)rng_range(r, 1, 5);
    for (int i = 0; i < nuse; i++) {
        sink_str(s, "use Magento\\");
        sink_ident(s, r, 1, true);
        sink_str(s, "\\Api\\");
        sink_ident(s, r, 2, true);
        sink_str(s, "Interface;\n");
    }
    sink_str(s, "\n/**\n * ");
    sink_sentence(s, r, v_text, 5, 16);
    sink_str(s, "\n */\nclass ");
    sink_ident(s, r, 2, true);
    sink_str(s, "\n{\n");
    while (sink_total(s) < target) {
        sink_str(s, "    /**\n     * ");
        sink_sentence(s, r, v_text, 4, 14);
        sink_str(s, "\n     */\n    public function ");
        sink_ident(s, r, 2, false);
        sink_str(s, "(int $");
        sink_ident(s, r, 1, false);
        sink_str(s, ", ?string $");
        sink_ident(s, r, 1, false);
        sink_str(s, " = null): ");
        sink_str(s, rng_chance(r, 1, 2) ? "array" : "float");
        sink_str(s, "\n    {\n");
        int n = (int)rng_range(r, 2, 8);
        for (int i = 0; i < n; i++)
            php_statement(s, r, 2);
        sink_str(s, "    }\n\n");
    }
    sink_str(s, "}\n");
}

/* File kinds of the "text" part of the tree. */
enum text_kind { TXT_CSS, TXT_JS, TXT_TWIG, TXT_PHP };

static void
gen_text_content(struct sink *s, struct rng *r, enum text_kind kind, uint64_t target,
                 const char *ns)
{
    switch (kind) {
    case TXT_CSS:
        gen_css(s, r, target);
        break;
    case TXT_JS:
        gen_js(s, r, target);
        break;
    case TXT_TWIG:
        gen_twig(s, r, target);
        break;
    default:
        gen_php(s, r, target, ns);
        break;
    }
}

/* Scale `n` raw sizes to sum to about `budget`, clamped to [lo, hi]. */
static void
scale_sizes(uint64_t *sz, size_t n, uint64_t budget, uint64_t lo, uint64_t hi)
{
    double sum = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += (double)sz[i];
    double k = sum > 0 ? (double)budget / sum : 1.0;
    for (size_t i = 0; i < n; i++) {
        double v = (double)sz[i] * k;
        sz[i] = v < (double)lo ? lo : v > (double)hi ? hi : (uint64_t)v;
    }
}

static uint64_t
gen_text(struct rng *r, size_t n, uint64_t budget)
{
    uint64_t *sz = xmalloc(n * sizeof(uint64_t));
    for (size_t i = 0; i < n; i++)
        sz[i] = rng_lognormal(r, 6.0 * KIB, 1.4, 300, 256 * KIB);
    scale_sizes(sz, n, budget, 300, 512 * KIB);
    /* fan-out grows slowly with the file count: ~2,000 directories at 1 GiB */
    size_t nthemes = 2 + n / 8000, nthemods = 6 + n / 1500;
    if (nthemes > ARRAY_LEN(themes))
        nthemes = ARRAY_LEN(themes);
    if (nthemods > ARRAY_LEN(modules))
        nthemods = ARRAY_LEN(modules);
    size_t nvendors = 2 + n / 5000, nmods = 3 + n / 3000;
    if (nvendors > ARRAY_LEN(vendors))
        nvendors = ARRAY_LEN(vendors);
    if (nmods > 40)
        nmods = 40;
    uint64_t total = 0;
    char rel[PATH_MAX], ns[512];
    for (size_t i = 0; i < n; i++) {
        struct out_file f;
        enum text_kind kind;
        ns[0] = '\0';
        if (rng_chance(r, 60, 100)) {
            static const char *const kdir[] = { "css", "js", "templates" };
            static const char *const kext[] = { "css", "js", "html.twig" };
            unsigned k = (unsigned)rng_below(r, 3);
            kind = k == 0 ? TXT_CSS : k == 1 ? TXT_JS : TXT_TWIG;
            const char *sub = k == 2 ? PICK(r, template_subdirs) : PICK(r, asset_subdirs);
            char name[96];
            snprintf(name, sizeof(name), "%s-%s-%zu", v_css->w[vocab_pick(v_css, r)],
                     v_css->w[vocab_pick(v_css, r)], i);
            snprintf(rel, sizeof(rel), "themes/%s/%s/%s%s%s/%s.%s", themes[rng_below(r, nthemes)],
                     kdir[k], modules[rng_below(r, nthemods)], sub[0] ? "/" : "", sub, name,
                     kext[k]);
        } else {
            kind = TXT_PHP;
            const char *vendor = vendors[rng_below(r, nvendors)];
            size_t mod = (size_t)rng_below(r, nmods);
            const char *sub = PICK(r, code_subdirs);
            char modname[64], cls[96];
            snprintf(modname, sizeof(modname), "%s%c%s", v_ident->w[mod], (char)('A' + mod % 26),
                     mod % 3 ? "Sync" : "Shop");
            modname[0] = (char)(modname[0] & ~0x20);
            snprintf(cls, sizeof(cls), "%s%s%zu", v_ident->w[vocab_pick(v_ident, r)],
                     v_ident->w[vocab_pick(v_ident, r)], i);
            cls[0] = (char)(cls[0] & ~0x20);
            snprintf(rel, sizeof(rel), "app/code/%s/%s/%s/%s.php", vendor, modname, sub, cls);
            snprintf(ns, sizeof(ns), "%s\\%s\\%s", vendor, modname, sub);
            for (char *p = ns; *p; p++)
                if (*p == '/')
                    *p = '\\';
        }
        file_open(&f, rel, 'c');
        gen_text_content(&f.s, r, kind, sz[i], ns);
        total += file_close(&f, rand_mtime(r, base_time - 30 * day, 700 * day), rand_nsec(r));
    }
    free(sz);
    return total;
}

/* ------------------------------------------------------------------------------------------ */
/* Small files: sessions, cache entries, static assets */

static void
gen_session_content(struct sink *s, struct rng *r, uint64_t target)
{
    const char *ua = PICK(r, user_agents);
    sink_str(s, "_session_validator_data|a:4:{s:11:\"remote_addr\";s:12:\"");
    sink_ip(s, r);
    sink_str(s, "\";s:8:\"http_via\";s:0:\"\";s:20:\"http_x_forwarded_for\";s:0:\"\";"
                "s:15:\"http_user_agent\";s:");
    sink_u64(s, strlen(ua));
    sink_str(s, ":\"");
    sink_str(s, ua);
    sink_str(s, "\";}_session_hosts|a:1:{s:16:\"shop.example.com\";b:1;}default|a:2:{s:9:"
                "\"_form_key\";s:16:\"");
    sink_alnum(s, r, 16);
    sink_str(s, "\";s:12:\"visitor_data\";a:3:{s:13:\"last_visit_at\";s:19:\"");
    sink_ts_sql(s, base_time - (int64_t)rng_below(r, 7 * (uint64_t)day));
    sink_str(s, "\";s:10:\"session_id\";s:26:\"");
    sink_hex(s, r, 26);
    sink_str(s, "\";s:10:\"visitor_id\";s:6:\"");
    sink_u64w(s, rng_below(r, 1000000), 6);
    sink_str(s, "\";}}customer_base|a:1:{s:20:\"customer_segment_ids\";a:1:{i:1;a:0:{}}}");
    if (sink_total(s) < target)
        sink_str(s, "catalog|a:1:{s:20:\"last_viewed_product\";a:");
    int nitems = 0;
    while (sink_total(s) < target) {
        sink_str(s, "{i:");
        sink_u64(s, (uint64_t)nitems++);
        sink_str(s, ";a:3:{s:10:\"product_id\";i:");
        sink_u64(s, 1 + rng_below(r, 40000));
        sink_str(s, ";s:3:\"qty\";i:");
        sink_u64(s, 1 + rng_below(r, 4));
        sink_str(s, ";s:5:\"token\";s:32:\"");
        sink_hex(s, r, 32);
        sink_str(s, "\";}}");
    }
}

static void
gen_cache_content(struct sink *s, struct rng *r, uint64_t target)
{
    sink_str(s, "{\"key\":\"");
    sink_hex(s, r, 32);
    sink_str(s, "\",\"tags\":[\"");
    sink_words(s, r, v_ident, (int)rng_range(r, 1, 3), ',');
    sink_str(s, "\"],\"created\":");
    sink_u64(s, (uint64_t)(base_time - (int64_t)rng_below(r, 2 * (uint64_t)day)));
    sink_str(s, ",\"data\":{");
    bool first = true;
    while (sink_total(s) < target) {
        if (!first)
            sink_ch(s, ',');
        first = false;
        sink_ch(s, '"');
        sink_ident(s, r, 2, false);
        sink_str(s, "\":");
        switch (rng_below(r, 3)) {
        case 0:
            sink_u64(s, rng_below(r, 100000));
            break;
        case 1:
            sink_str(s, "{\"label\":\"");
            sink_sentence(s, r, v_text, 1, 5);
            sink_str(s, "\",\"value\":\"");
            sink_css_class(s, r);
            sink_str(s, "\"}");
            break;
        default:
            sink_ch(s, '"');
            sink_sentence(s, r, v_text, 2, 12);
            sink_ch(s, '"');
            break;
        }
    }
    sink_str(s, "}}\n");
}

static uint64_t
gen_small(struct rng *r, size_t n, uint64_t budget)
{
    size_t n_sess = n * 45 / 100, n_cache = n * 30 / 100, n_static = n - n_sess - n_cache;
    uint64_t b_sess = budget * 20 / 100, b_cache = budget * 35 / 100;
    uint64_t b_static = budget - b_sess - b_cache;
    uint64_t *sz = xmalloc((n ? n : 1) * sizeof(uint64_t));
    uint64_t total = 0;
    char rel[PATH_MAX];

    for (size_t i = 0; i < n_sess; i++)
        sz[i] = rng_lognormal(r, 900, 1.0, 100, 4096);
    scale_sizes(sz, n_sess, b_sess, 100, 4096);
    for (size_t i = 0; i < n_sess; i++) {
        struct out_file f;
        char hex[27];
        rand_hex(r, hex, 26);
        snprintf(rel, sizeof(rel), "var/session/sess_%s", hex);
        file_open(&f, rel, 'c');
        gen_session_content(&f.s, r, sz[i]);
        total += file_close(&f, rand_mtime(r, base_time, 7 * day), rand_nsec(r));
    }

    for (size_t i = 0; i < n_cache; i++)
        sz[i] = rng_lognormal(r, 2200, 1.2, 200, 16 * KIB);
    scale_sizes(sz, n_cache, b_cache, 200, 16 * KIB);
    for (size_t i = 0; i < n_cache; i++) {
        struct out_file f;
        static const char hexd[] = "0123456789abcdef";
        uint64_t h = rng_next(r);
        snprintf(rel, sizeof(rel), "var/cache/mage--%c/mage---%c%c%c_%s_%016" PRIx64 ".json",
                 hexd[h & 15], hexd[(h >> 4) & 15], hexd[(h >> 8) & 15], hexd[(h >> 12) & 15],
                 v_ident->w[vocab_pick(v_ident, r)], rng_next(r));
        file_open(&f, rel, 'c');
        gen_cache_content(&f.s, r, sz[i]);
        total += file_close(&f, rand_mtime(r, base_time, 2 * day), rand_nsec(r));
    }

    for (size_t i = 0; i < n_static; i++)
        sz[i] = rng_lognormal(r, 3000, 1.2, 300, 24 * KIB);
    scale_sizes(sz, n_static, b_static, 300, 24 * KIB);
    size_t nthemes = 2 + n / 16000, nmods = 8 + n / 4000;
    if (nthemes > ARRAY_LEN(themes))
        nthemes = ARRAY_LEN(themes);
    if (nmods > ARRAY_LEN(modules))
        nmods = ARRAY_LEN(modules);
    for (size_t i = 0; i < n_static; i++) {
        struct out_file f;
        /* minified assets, templates, and binary fonts and icons */
        static const char *const ext[] = { "js", "js", "css", "html", "woff2", "png" };
        size_t nloc = 2 + n / 20000 > ARRAY_LEN(locales) ? ARRAY_LEN(locales) : 2 + n / 20000;
        unsigned k = (unsigned)rng_below(r, 10);
        k = k < 3 ? 0 : k < 5 ? 2 : k < 7 ? 3 : k < 9 ? 4 : 5;
        snprintf(rel, sizeof(rel), "pub/static/frontend/%s/%s/%s/%s-%s-%zu.%s",
                 themes[rng_below(r, nthemes)], locales[rng_below(r, nloc)],
                 modules[rng_below(r, nmods)], v_css->w[vocab_pick(v_css, r)],
                 v_css->w[vocab_pick(v_css, r)], i, ext[k]);
        file_open(&f, rel, 'c');
        if (k >= 4) {
            unsigned char buf[24 * KIB];
            rng_fill(r, buf, sz[i]);
            memcpy(buf, k == 4 ? "wOF2" : "\x89PNG\r\n\x1a\n", k == 4 ? 4 : 8);
            sink_put(&f.s, buf, sz[i]);
        } else {
            gen_text_content(&f.s, r, k == 0 ? TXT_JS : k == 2 ? TXT_CSS : TXT_TWIG, sz[i], "");
        }
        total += file_close(&f, rand_mtime(r, base_time - day, 30 * day), rand_nsec(r));
    }
    free(sz);
    return total;
}

/* ------------------------------------------------------------------------------------------ */
/* Command line */

struct opts {
    const char *out;
    const char *dir;
    uint64_t size_mib;
    uint64_t seed;
    uint64_t files;
    uint64_t count;
    double percent;
    bool have_size, have_seed, have_percent, have_count;
};

static uint64_t
parse_u64(const char *name, const char *v)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || end == v || *end || v[0] == '-')
        die("%s: not a non-negative integer: '%s'", name, v);
    return (uint64_t)x;
}

static double
parse_double(const char *name, const char *v)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !(x >= 0.0 && x <= 100.0))
        die("%s: not a number in [0, 100]: '%s'", name, v);
    return x;
}

static void
usage(FILE *f)
{
    fputs("usage:\n"
          "  datagen generate   --out DIR --size-mib N --seed S [--files N]\n"
          "  datagen mutate     --dir DIR --seed S --percent P\n"
          "  datagen smallfiles --out DIR --count N --seed S\n"
          "Writes deterministic shop-like trees for benchmarks (see bench/README.md).\n",
          f);
}

static void
parse_opts(int argc, char **argv, struct opts *o)
{
    memset(o, 0, sizeof(*o));
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        char key[64];
        const char *eq = strchr(a, '=');
        if (strncmp(a, "--", 2) != 0)
            die("unexpected argument '%s'", a);
        if (eq) {
            size_t n = (size_t)(eq - a);
            if (n >= sizeof(key))
                die("bad option '%s'", a);
            memcpy(key, a, n);
            key[n] = '\0';
            v = eq + 1;
        } else {
            snprintf(key, sizeof(key), "%s", a);
            if (strcmp(key, "--help") == 0) {
                usage(stdout);
                exit(0);
            }
            if (i + 1 >= argc)
                die("option %s needs a value", key);
            v = argv[++i];
        }
        if (strcmp(key, "--out") == 0) {
            o->out = v;
        } else if (strcmp(key, "--dir") == 0) {
            o->dir = v;
        } else if (strcmp(key, "--size-mib") == 0) {
            o->size_mib = parse_u64(key, v);
            o->have_size = true;
        } else if (strcmp(key, "--seed") == 0) {
            o->seed = parse_u64(key, v);
            o->have_seed = true;
        } else if (strcmp(key, "--files") == 0) {
            o->files = parse_u64(key, v);
        } else if (strcmp(key, "--count") == 0) {
            o->count = parse_u64(key, v);
            o->have_count = true;
        } else if (strcmp(key, "--percent") == 0) {
            o->percent = parse_double(key, v);
            o->have_percent = true;
        } else {
            die("unknown option '%s'", key);
        }
    }
}

/* The output directory must not exist or be empty. */
static void
prepare_out(const char *out)
{
    struct stat st;
    if (stat(out, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            die("%s exists and is not a directory", out);
        /* cheap emptiness test: rmdir succeeds only on an empty directory */
        if (rmdir(out) != 0)
            die("%s is not empty (datagen writes into a new or empty directory)", out);
    }
    if (mkdir(out, 0755) != 0)
        die("mkdir %s: %s", out, strerror(errno));
    if (!realpath(out, g_root))
        die("realpath %s: %s", out, strerror(errno));
}

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
cmd_generate(const struct opts *o)
{
    if (!o->out || !o->have_size || !o->have_seed)
        die("generate needs --out, --size-mib and --seed");
    if (o->size_mib == 0)
        die("--size-mib must be at least 1");
    double t_start = now_s();
    prepare_out(o->out);
    vocab_init();
    uint64_t T = o->size_mib * MIB;
    uint64_t files = o->files ? o->files : o->size_mib * 47;
    struct rng r_img, r_sql, r_log, r_small, r_text;
    rng_seed(&r_img, o->seed, 1);
    rng_seed(&r_sql, o->seed, 2);
    rng_seed(&r_log, o->seed, 3);
    rng_seed(&r_small, o->seed, 4);
    rng_seed(&r_text, o->seed, 5);
    mkdir_rel("");

    /* images: ~58% of the bytes */
    uint64_t b_img = T * 58 / 100, done_img = 0, n_img = 0;
    char rel[PATH_MAX];
    while (b_img - done_img >= img_min) {
        uint64_t sz = image_size(&r_img);
        if (sz > b_img - done_img)
            sz = b_img - done_img;
        image_name(&r_img, rel, sizeof(rel), n_img + 1, "");
        done_img += write_image(&r_img, rel, sz, rand_mtime(&r_img, base_time - day, 1000 * day),
                                rand_nsec(&r_img), 'c');
        n_img++;
    }
    uint64_t done_sql = gen_sql(&r_sql, T * 10 / 100);
    uint64_t done_log = gen_logs(&r_log, T * 8 / 100);
    uint64_t fixed = n_img + 4;
    uint64_t rest = files > fixed + 20 ? files - fixed : 20;
    uint64_t n_text = rest * 35 / 100, n_small = rest - n_text;
    uint64_t done_small = gen_small(&r_small, (size_t)n_small, T * 7 / 100);
    uint64_t used = done_img + done_sql + done_log + done_small;
    uint64_t b_text = T > used ? T - used : n_text * 300;
    uint64_t done_text = gen_text(&r_text, (size_t)n_text, b_text);
    dirs_set_times(base_time - 3600, 30 * day);

    uint64_t total = done_img + done_sql + done_log + done_small + done_text;
    uint64_t nfiles = n_img + 4 + n_text + n_small;
    fprintf(stderr,
            "datagen: %s: %" PRIu64 " files, %zu dirs, %.1f MiB (images %.1f%%, sql %.1f%%, "
            "logs %.1f%%, text %.1f%%, small %.1f%%) in %.2f s\n",
            g_root, nfiles, g_dirs.n, (double)total / MIB, 100.0 * (double)done_img / (double)total,
            100.0 * (double)done_sql / (double)total, 100.0 * (double)done_log / (double)total,
            100.0 * (double)done_text / (double)total, 100.0 * (double)done_small / (double)total,
            now_s() - t_start);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* mutate */

struct entry {
    char *rel;
    uint64_t size;
    int64_t mtime;
};

struct entry_list {
    struct entry *v;
    size_t n, cap;
};

static struct entry_list g_all;
static size_t g_root_len;
static int64_t g_max_mtime;

static int
walk_cb(const char *fpath, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)ftw;
    if (type != FTW_F || !S_ISREG(sb->st_mode))
        return 0;
    if (g_all.n == g_all.cap) {
        g_all.cap = g_all.cap ? g_all.cap * 2 : 4096;
        g_all.v = xrealloc(g_all.v, g_all.cap * sizeof(struct entry));
    }
    struct entry *e = &g_all.v[g_all.n++];
    e->rel = xstrdup(fpath + g_root_len + 1);
    e->size = (uint64_t)sb->st_size;
    e->mtime = sb->st_mtim.tv_sec;
    if (e->mtime > g_max_mtime)
        g_max_mtime = e->mtime;
    return 0;
}

static int
entry_cmp(const void *a, const void *b)
{
    return strcmp(((const struct entry *)a)->rel, ((const struct entry *)b)->rel);
}

static bool
starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Indices of entries with a prefix (and optional suffix). */
static size_t *
select_entries(const char *prefix, const char *suffix, size_t *n_out)
{
    size_t *idx = xmalloc((g_all.n + 1) * sizeof(size_t));
    size_t n = 0;
    for (size_t i = 0; i < g_all.n; i++) {
        const char *rel = g_all.v[i].rel;
        if (!starts_with(rel, prefix))
            continue;
        if (suffix) {
            size_t ls = strlen(rel), lx = strlen(suffix);
            if (ls < lx || strcmp(rel + ls - lx, suffix) != 0)
                continue;
        }
        idx[n++] = i;
    }
    *n_out = n;
    return idx;
}

/* Moves `k` randomly chosen elements of idx[0..n) to its front (partial Fisher-Yates). */
static void
choose_front(struct rng *r, size_t *idx, size_t n, size_t k)
{
    for (size_t i = 0; i < k && i < n; i++) {
        size_t j = i + (size_t)rng_below(r, n - i);
        size_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

static void
delete_rel(const char *rel)
{
    char path[PATH_MAX], dir[PATH_MAX];
    full_path(path, sizeof(path), rel);
    if (unlink(path) != 0)
        die("unlink %s: %s", path, strerror(errno));
    parent_of(rel, dir, sizeof(dir));
    dirset_has_or_add(&g_dirs, dir);
}

static size_t
delete_some(struct rng *r, const char *prefix, double fraction)
{
    size_t n;
    size_t *idx = select_entries(prefix, NULL, &n);
    size_t k = (size_t)((double)n * fraction + 0.5);
    choose_front(r, idx, n, k);
    for (size_t i = 0; i < k && i < n; i++) {
        delete_rel(g_all.v[idx[i]].rel);
        g_all.v[idx[i]].size = UINT64_MAX; /* gone */
    }
    free(idx);
    return k < n ? k : n;
}

static uint64_t
read_file(const char *path, char **out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        die("open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0)
        die("stat %s: %s", path, strerror(errno));
    char *buf = xmalloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            die("read %s: %s", path, n < 0 ? strerror(errno) : "short read");
        got += (size_t)n;
    }
    close(fd);
    *out = buf;
    return got;
}

static int
cmd_mutate(const struct opts *o)
{
    if (!o->dir || !o->have_seed || !o->have_percent)
        die("mutate needs --dir, --seed and --percent");
    double t_start = now_s();
    if (!realpath(o->dir, g_root))
        die("realpath %s: %s", o->dir, strerror(errno));
    g_root_len = strlen(g_root);
    vocab_init();
    if (nftw(g_root, walk_cb, 64, FTW_PHYS) != 0)
        die("walking %s failed: %s", g_root, strerror(errno));
    qsort(g_all.v, g_all.n, sizeof(struct entry), entry_cmp);
    uint64_t T = 0;
    for (size_t i = 0; i < g_all.n; i++)
        T += g_all.v[i].size;
    uint64_t B = (uint64_t)((double)T * o->percent / 100.0);
    int64_t t0 = (g_max_mtime > base_time ? g_max_mtime : base_time) + 3600;
    int64_t t1 = t0 + day - 3600; /* the "day of activity" is [t0, t1] */
    uint64_t touched = 0;
    struct rng r;
    char rel[PATH_MAX], path[PATH_MAX];

    /* 1. deletions: expired sessions, flushed cache entries, discontinued products */
    rng_seed(&r, o->seed, 101);
    size_t del_sess = delete_some(&r, "var/session/sess_", o->percent * 2.0 / 100.0);
    size_t del_cache = delete_some(&r, "var/cache/", o->percent / 100.0);
    size_t del_img = delete_some(&r, "public/media/catalog/product/", o->percent / 500.0);

    /* 2. new product images: about half of the touched bytes */
    rng_seed(&r, o->seed, 102);
    uint64_t b_img = B * 50 / 100, done = 0;
    size_t new_img = 0;
    char tag[40];
    snprintf(tag, sizeof(tag), "-m%" PRIu64, o->seed);
    while (b_img > done && b_img - done >= img_min) {
        uint64_t sz = image_size(&r);
        if (sz > b_img - done)
            sz = b_img - done;
        for (uint64_t serial = new_img + 1;; serial += 100000) {
            image_name(&r, rel, sizeof(rel), serial, tag);
            full_path(path, sizeof(path), rel);
            if (access(path, F_OK) != 0)
                break;
        }
        done += write_image(&r, rel, sz, rng_range(&r, t0, t1), rand_nsec(&r), 'c');
        new_img++;
    }
    touched += done;

    /* 3. log appends: the day's entries */
    rng_seed(&r, o->seed, 103);
    static const unsigned log_share[] = { 25, 10, 65 };
    for (int k = 0; k < 3; k++) {
        full_path(path, sizeof(path), log_paths[k]);
        if (access(path, F_OK) != 0)
            continue;
        struct out_file f;
        file_open(&f, log_paths[k], 'a');
        log_fill(&f.s, &r, (enum log_kind)k, B * 15 / 100 * log_share[k] / 100, t0, t1);
        touched += f.s.flushed + f.s.len;
        file_close(&f, t1 - (int64_t)rng_below(&r, 60), rand_nsec(&r));
    }

    /* 4. SQL dump: rows edited in place in the middle, new orders appended */
    rng_seed(&r, o->seed, 104);
    full_path(path, sizeof(path), "database/shop-dump.sql");
    size_t sql_regions = 0;
    struct stat st;
    if (stat(path, &st) == 0 && st.st_size > 1024 * 1024) {
        int fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0)
            die("open %s: %s", path, strerror(errno));
        const uint64_t region = 16 * KIB;
        uint64_t fsize = (uint64_t)st.st_size, b_edit = B * 12 / 100;
        char *buf = xmalloc(region);
        for (uint64_t edited = 0; edited < b_edit; edited += region) {
            uint64_t off = fsize / 10 + rng_below(&r, fsize * 8 / 10 - region);
            ssize_t n = pread(fd, buf, region, (off_t)off);
            if (n < 0)
                die("read %s: %s", path, strerror(errno));
            for (ssize_t i = 0; i < n; i++)
                if (buf[i] >= '0' && buf[i] <= '9' && rng_chance(&r, 1, 4))
                    buf[i] = (char)('0' + rng_below(&r, 10));
            if (pwrite(fd, buf, (size_t)n, (off_t)off) != n)
                die("write %s: %s", path, strerror(errno));
            sql_regions++;
        }
        free(buf);
        touched += sql_regions * region;
        struct sink s;
        if (lseek(fd, 0, SEEK_END) < 0)
            die("seek %s: %s", path, strerror(errno));
        sink_open_fd(&s, fd, path);
        uint64_t b_app = B * 5 / 100;
        uint64_t id = mutate_order_id_base + (o->seed % 1000) * 10000 + rng_below(&r, 5000);
        for (uint64_t done = 0; done < b_app; done = sink_total(&s))
            sql_order_row(&s, &r, id++,
                          t0 + (int64_t)((double)(t1 - t0) * (double)done / (double)b_app));
        sink_flush(&s);
        touched += s.flushed;
        struct timespec ts[2] = { { t1, rand_nsec(&r) }, { t1, 0 } };
        ts[1] = ts[0];
        if (futimens(fd, ts) != 0 || close(fd) != 0)
            die("finish %s: %s", path, strerror(errno));
    }

    /* 5. theme files edited: a block inserted in the middle */
    rng_seed(&r, o->seed, 105);
    size_t n_theme, themes_edited = 0;
    size_t *tidx = select_entries("themes/", NULL, &n_theme);
    choose_front(&r, tidx, n_theme, n_theme);
    uint64_t b_theme = B * 3 / 100, theme_done = 0;
    for (size_t i = 0; i < n_theme && theme_done < b_theme; i++) {
        struct entry *e = &g_all.v[tidx[i]];
        char *old;
        full_path(path, sizeof(path), e->rel);
        uint64_t len = read_file(path, &old);
        uint64_t at = len / 5 + (len > 10 ? rng_below(&r, len * 3 / 5 + 1) : 0);
        while (at < len && old[at] != '\n')
            at++;
        if (at < len)
            at++;
        const char *ext = strrchr(e->rel, '.');
        enum text_kind kind = strcmp(ext, ".css") == 0  ? TXT_CSS
                              : strcmp(ext, ".js") == 0 ? TXT_JS
                                                        : TXT_TWIG;
        struct out_file f;
        file_open(&f, e->rel, 't');
        sink_put(&f.s, old, at);
        uint64_t before = sink_total(&f.s), add = len / 10 > 200 ? len / 10 : 200;
        if (kind == TXT_CSS)
            while (sink_total(&f.s) - before < add)
                css_rule(&f.s, &r, 0);
        else if (kind == TXT_JS)
            while (sink_total(&f.s) - before < add)
                js_statement(&f.s, &r, 3);
        else
            while (sink_total(&f.s) - before < add)
                twig_block(&f.s, &r, 1);
        sink_put(&f.s, old + at, len - at);
        theme_done += file_close(&f, rng_range(&r, t0, t1), rand_nsec(&r));
        free(old);
        themes_edited++;
    }
    free(tidx);
    touched += theme_done;

    /* 6. new sessions and cache entries */
    rng_seed(&r, o->seed, 106);
    uint64_t b_sess = B * 8 / 100, b_cache = B * 7 / 100, sess_done = 0, cache_done = 0;
    size_t new_sess = 0, new_cache = 0;
    while (sess_done < b_sess) {
        struct out_file f;
        char name[27];
        rand_hex(&r, name, 26);
        snprintf(rel, sizeof(rel), "var/session/sess_%s", name);
        full_path(path, sizeof(path), rel);
        if (access(path, F_OK) == 0)
            continue;
        file_open(&f, rel, 'c');
        gen_session_content(&f.s, &r, rng_lognormal(&r, 900, 1.0, 100, 4096));
        sess_done += file_close(&f, rng_range(&r, t0, t1), rand_nsec(&r));
        new_sess++;
    }
    while (cache_done < b_cache) {
        struct out_file f;
        snprintf(rel, sizeof(rel),
                 "var/cache/mage--%x/mage---%04" PRIx64 "_M%" PRIu64 "_%016" PRIx64 ".json",
                 (unsigned)rng_below(&r, 16), rng_below(&r, 65536), o->seed, rng_next(&r));
        file_open(&f, rel, 'c');
        gen_cache_content(&f.s, &r, rng_lognormal(&r, 2200, 1.2, 200, 16 * KIB));
        cache_done += file_close(&f, rng_range(&r, t0, t1), rand_nsec(&r));
        new_cache++;
    }
    touched += sess_done + cache_done;

    dirs_set_times(t1, 3600);
    fprintf(stderr,
            "datagen: mutate %s: %.1f MiB of %.1f MiB touched (%.2f%%): %zu new images, "
            "%zu SQL regions edited + rows appended, logs appended, %zu theme files edited, "
            "%zu+%zu new session/cache files; deleted %zu images, %zu sessions, %zu cache "
            "files; %.2f s\n",
            g_root, (double)touched / MIB, (double)T / MIB, 100.0 * (double)touched / (double)T,
            new_img, sql_regions, themes_edited, new_sess, new_cache, del_img, del_sess, del_cache,
            now_s() - t_start);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* smallfiles */

static int
cmd_smallfiles(const struct opts *o)
{
    if (!o->out || !o->have_count || !o->have_seed)
        die("smallfiles needs --out, --count and --seed");
    double t_start = now_s();
    prepare_out(o->out);
    vocab_init();
    struct rng r;
    rng_seed(&r, o->seed, 201);
    mkdir_rel("");
    const uint64_t per_dir = 100;
    uint64_t leaves = (o->count + per_dir - 1) / per_dir, top = 1;
    while (top * top < leaves)
        top++;
    static const char *const ext[] = { "txt", "json", "php", "bin" };
    uint64_t total = 0;
    char rel[PATH_MAX];
    for (uint64_t i = 0; i < o->count; i++) {
        uint64_t leaf = i / per_dir;
        unsigned k = (unsigned)rng_below(&r, 4);
        snprintf(rel, sizeof(rel), "s%03" PRIu64 "/d%05" PRIu64 "/%s-%" PRIu64 ".%s", leaf % top,
                 leaf, v_css->w[vocab_pick(v_css, &r)], i, ext[k]);
        uint64_t size = rng_lognormal(&r, 1500, 1.2, 100, 8 * KIB);
        struct out_file f;
        file_open(&f, rel, 'c');
        if (k == 3) {
            unsigned char buf[8 * KIB];
            rng_fill(&r, buf, size);
            sink_put(&f.s, buf, size);
        } else if (k == 1) {
            gen_cache_content(&f.s, &r, size);
        } else {
            while (sink_total(&f.s) < size) {
                if (k == 2)
                    php_statement(&f.s, &r, 1);
                else {
                    sink_sentence(&f.s, &r, v_text, 4, 16);
                    sink_ch(&f.s, '\n');
                }
            }
            if (f.s.flushed == 0 && f.s.len > size)
                f.s.len = size; /* exact size: the file is still entirely in the buffer */
        }
        total += file_close(&f, rand_mtime(&r, base_time, 400 * day), rand_nsec(&r));
    }
    dirs_set_times(base_time - 3600, 30 * day);
    fprintf(stderr, "datagen: %s: %" PRIu64 " small files, %zu dirs, %.1f MiB in %.2f s\n", g_root,
            o->count, g_dirs.n, (double)total / MIB, now_s() - t_start);
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    umask(022);
    struct opts o;
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    parse_opts(argc, argv, &o);
    if (strcmp(argv[1], "generate") == 0)
        return cmd_generate(&o);
    if (strcmp(argv[1], "mutate") == 0)
        return cmd_mutate(&o);
    if (strcmp(argv[1], "smallfiles") == 0)
        return cmd_smallfiles(&o);
    usage(stderr);
    return 2;
}
