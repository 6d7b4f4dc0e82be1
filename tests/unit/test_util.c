/* test_util: the foundation modules of src/util (buf, rd, str, size, datetime, arena, pool, fs). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/arena.h"
#include "util/buf.h"
#include "util/datetime.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/pool.h"
#include "util/size.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* ---- buf ---- */

static void
test_util__buf_init_is_empty_string(void **state)
{
    struct buf b = BUF_INIT, c;

    assert_non_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.data[0], 0);
    assert_string_equal(buf_cstr(&b), "");
    buf_reset(&b);
    buf_setlen(&b, 0);
    assert_int_equal(b.data[0], 0);
    buf_release(&b);
    assert_non_null(b.data);

    buf_init(&c, 100);
    assert_true(c.cap >= 101);
    assert_int_equal(c.len, 0);
    assert_int_equal(c.data[0], 0);
    buf_release(&c);
    assert_int_equal(c.cap, 0);
}

static void
test_util__buf_growth_keeps_nul(void **state)
{
    struct buf b = BUF_INIT;
    size_t last_cap = 0;

    for (int i = 0; i < 10000; i++) {
        assert_int_equal(buf_addch(&b, 'a' + i % 26), 0);
        assert_int_equal(b.len, (size_t)i + 1);
        assert_int_equal(b.data[b.len], 0);
        assert_true(b.cap > b.len);
        assert_true(b.cap >= last_cap);
        last_cap = b.cap;
    }
    for (int i = 0; i < 10000; i++)
        assert_int_equal(b.data[i], 'a' + i % 26);
    assert_int_equal(strlen(buf_cstr(&b)), 10000);

    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, last_cap); /* memory kept */
    assert_string_equal(buf_cstr(&b), "");

    assert_int_equal(buf_addstr(&b, "hello"), 0);
    assert_int_equal(buf_addf(&b, " %d %s", 42, "world"), 0);
    assert_int_equal(buf_add(&b, "!", 1), 0);
    assert_int_equal(buf_add(&b, NULL, 0), 0);
    assert_string_equal(buf_cstr(&b), "hello 42 world!");
    buf_setlen(&b, 5);
    assert_string_equal(buf_cstr(&b), "hello");
    buf_release(&b);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    assert_string_equal(buf_cstr(&b), "");
}

static void
test_util__buf_reserve_then_setlen(void **state)
{
    struct buf b = BUF_INIT;
    unsigned char *p;

    buf_addstr(&b, "ab");
    p = buf_reserve(&b, 1000);
    assert_non_null(p);
    memset(p, 'x', 1000);
    buf_setlen(&b, b.len + 1000);
    assert_int_equal(b.len, 1002);
    assert_int_equal(b.data[1002], 0);
    assert_int_equal(b.data[0], 'a');
    assert_int_equal(b.data[1001], 'x');
    buf_release(&b);
}

static void
test_util__buf_max_ceiling(void **state)
{
    struct buf b = BUF_INIT;
    unsigned char *old;

    b.max = 10;
    assert_int_equal(buf_add(&b, "0123456789", 10), 0);
    old = b.data;
    drk_err_clear();
    assert_int_equal(buf_addch(&b, 'x'), DRK_ETOOBIG);
    assert_int_equal(drk_err_code(), DRK_ETOOBIG);
    assert_true(strlen(drk_err_msg()) > 0);
    /* nothing changed */
    assert_int_equal(b.len, 10);
    assert_ptr_equal(b.data, old);
    assert_string_equal(buf_cstr(&b), "0123456789");
    assert_int_equal(buf_addf(&b, "%s", "more"), DRK_ETOOBIG);
    assert_int_equal(buf_put_u32(&b, 1), DRK_ETOOBIG);
    assert_null(buf_reserve(&b, 1));
    assert_int_equal(buf_grow(&b, SIZE_MAX), DRK_ETOOBIG);
    assert_int_equal(b.len, 10);

    /* release keeps the ceiling */
    buf_release(&b);
    assert_int_equal(b.max, 10);
    assert_int_equal(buf_grow(&b, 11), DRK_ETOOBIG);
    assert_int_equal(buf_grow(&b, 10), 0);

    /* no ceiling: only size_t overflow fails */
    b.max = 0;
    assert_int_equal(buf_add(&b, "abc", 3), 0);
    assert_int_equal(buf_grow(&b, SIZE_MAX - 2), DRK_ETOOBIG);
    assert_int_equal(buf_grow(&b, SIZE_MAX), DRK_ETOOBIG);
    assert_string_equal(buf_cstr(&b), "abc");
    buf_release(&b);
}

static void
test_util__buf_detach_and_swap(void **state)
{
    struct buf a = BUF_INIT, b = BUF_INIT;
    size_t len = 99;
    char *p;

    buf_addstr(&a, "alpha");
    buf_addstr(&b, "be");
    buf_swap(&a, &b);
    assert_string_equal(buf_cstr(&a), "be");
    assert_string_equal(buf_cstr(&b), "alpha");
    assert_int_equal(a.len, 2);
    assert_int_equal(b.len, 5);

    p = buf_detach(&b, &len);
    assert_int_equal(len, 5);
    assert_string_equal(p, "alpha");
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    assert_string_equal(buf_cstr(&b), "");
    free(p);
    /* the buffer is usable again */
    buf_addstr(&b, "again");
    assert_string_equal(buf_cstr(&b), "again");
    buf_release(&b);

    /* detaching an empty buffer still hands out a freeable "" */
    p = buf_detach(&b, &len);
    assert_int_equal(len, 0);
    assert_string_equal(p, "");
    free(p);
    p = buf_detach(&b, NULL);
    free(p);
    buf_release(&a);
}

static void
test_util__buf_little_endian_put(void **state)
{
    static const unsigned char want[] = { 0xab, 0x34, 0x12, 0x78, 0x56, 0x34, 0x12, 0xef,
                                          0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01 };
    struct buf b = BUF_INIT;
    unsigned char p[8];

    assert_int_equal(buf_put_u8(&b, 0xab), 0);
    assert_int_equal(buf_put_u16(&b, 0x1234), 0);
    assert_int_equal(buf_put_u32(&b, 0x12345678), 0);
    assert_int_equal(buf_put_u64(&b, 0x0123456789abcdefULL), 0);
    assert_int_equal(b.len, sizeof(want));
    assert_memory_equal(b.data, want, sizeof(want));
    assert_int_equal(b.data[b.len], 0);

    le_put32(p, 0xdeadbeef);
    assert_int_equal(le_get32(p), 0xdeadbeef);
    assert_int_equal(p[0], 0xef);
    le_put64(p, 0xfedcba9876543210ULL);
    assert_true(le_get64(p) == 0xfedcba9876543210ULL);
    assert_int_equal(p[0], 0x10);
    assert_int_equal(p[7], 0xfe);
    buf_release(&b);
}

/* ---- rd ---- */

static void
test_util__rd_reads_back_what_buf_wrote(void **state)
{
    struct buf b = BUF_INIT;
    struct rd r;
    unsigned char tail[3];

    buf_put_u8(&b, 7);
    buf_put_u16(&b, 0xbeef);
    buf_put_u32(&b, 0xcafebabe);
    buf_put_u64(&b, UINT64_MAX - 1);
    buf_add(&b, "xyz", 3);
    rd_init(&r, b.data, b.len);
    assert_int_equal(rd_left(&r), 18);
    assert_int_equal(rd_u8(&r), 7);
    assert_int_equal(rd_u16(&r), 0xbeef);
    assert_int_equal(rd_u32(&r), 0xcafebabe);
    assert_true(rd_u64(&r) == UINT64_MAX - 1);
    rd_copy(&r, tail, 3);
    assert_memory_equal(tail, "xyz", 3);
    /* exactly at the end: fine */
    assert_true(rd_ok(&r));
    assert_int_equal(rd_left(&r), 0);
    assert_non_null(rd_bytes(&r, 0));
    assert_true(rd_ok(&r));
    /* one more byte: error */
    assert_int_equal(rd_u8(&r), 0);
    assert_false(rd_ok(&r));
    buf_release(&b);
}

static void
test_util__rd_errors_are_sticky(void **state)
{
    static const unsigned char data[6] = { 1, 2, 3, 4, 5, 6 };
    unsigned char out[4] = { 9, 9, 9, 9 };
    struct rd r;

    rd_init(&r, data, sizeof(data));
    assert_int_equal(rd_u16(&r), 0x0201);
    assert_int_equal(rd_u64(&r), 0); /* 4 left: short */
    assert_false(rd_ok(&r));
    assert_int_equal(rd_left(&r), 0);
    /* bytes remain, but every later read yields zeros and NULL */
    assert_int_equal(rd_u8(&r), 0);
    assert_int_equal(rd_u16(&r), 0);
    assert_int_equal(rd_u32(&r), 0);
    assert_null(rd_bytes(&r, 1));
    assert_null(rd_bytes(&r, 0));
    rd_copy(&r, out, sizeof(out));
    assert_memory_equal(out, "\0\0\0\0", 4);
    assert_false(rd_ok(&r));

    /* a huge length does not wrap around */
    rd_init(&r, data, sizeof(data));
    assert_non_null(rd_bytes(&r, 2));
    assert_null(rd_bytes(&r, SIZE_MAX));
    assert_false(rd_ok(&r));

    /* exact-end reads of each width */
    rd_init(&r, data, 4);
    assert_int_equal(rd_u32(&r), 0x04030201);
    assert_true(rd_ok(&r));
    rd_init(&r, data, 3);
    assert_int_equal(rd_u32(&r), 0);
    assert_false(rd_ok(&r));
    rd_init(&r, NULL, 0);
    assert_true(rd_ok(&r));
    assert_int_equal(rd_u8(&r), 0);
    assert_false(rd_ok(&r));
}

/* ---- str ---- */

static void
test_util__str_hex_round_trip(void **state)
{
    unsigned char in[256], out[256];
    char hex[513];

    for (int i = 0; i < 256; i++)
        in[i] = (unsigned char)i;
    hex_encode(hex, in, sizeof(in));
    assert_int_equal(strlen(hex), 512);
    assert_memory_equal(hex, "000102", 6);
    assert_string_equal(hex + 506, "fdfeff");
    assert_int_equal(hex_decode(out, sizeof(out), hex), 0);
    assert_memory_equal(in, out, sizeof(in));
    assert_int_equal(hex_decode(out, 3, "ABcdEf"), 0);
    assert_memory_equal(out, "\xab\xcd\xef", 3);
    hex_encode(hex, in, 0);
    assert_string_equal(hex, "");

    assert_int_equal(hex_decode(out, 2, "0g12"), -1);
    assert_int_equal(hex_decode(out, 2, "12 4"), -1);
    assert_int_equal(hex_decode(out, 2, "12-4"), -1);
    assert_int_equal(hex_decode(out, 2, "123"), -1); /* too short: stops at the NUL */
    assert_int_equal(hex_decode(out, 1, ""), -1);

    assert_true(is_hex_string("00ff", 4, 4));
    assert_true(is_hex_string("00FF", 1, 10));
    assert_false(is_hex_string("00ff", 5, 10));
    assert_false(is_hex_string("00ff", 1, 3));
    assert_false(is_hex_string("00fx", 1, 10));
    assert_true(is_hex_string("", 0, 0));
}

static void
test_util__str_utf8_valid(void **state)
{
    static const struct {
        const char *s;
        size_t n;
        bool ok;
    } cases[] = {
        { "", 0, true },
        { "plain ascii", 11, true },
        { "caf\xc3\xa9", 5, true },           /* é */
        { "\xe2\x82\xac", 3, true },          /* € */
        { "\xf0\x9f\x98\x80", 4, true },      /* U+1F600 */
        { "\xf4\x8f\xbf\xbf", 4, true },      /* U+10FFFF, the last code point */
        { "\xef\xbf\xbf", 3, true },          /* U+FFFF */
        { "a\0b", 3, true },                  /* NUL is a valid code point */
        { "\x80", 1, false },                 /* lone continuation */
        { "\xc3", 1, false },                 /* truncated */
        { "\xe2\x82", 2, false },             /* truncated */
        { "\xc3\x28", 2, false },             /* bad continuation */
        { "\xc0\x80", 2, false },             /* overlong NUL */
        { "\xc1\xbf", 2, false },             /* overlong */
        { "\xe0\x80\xaf", 3, false },         /* overlong '/' */
        { "\xf0\x80\x80\xaf", 4, false },     /* overlong '/' */
        { "\xed\xa0\x80", 3, false },         /* U+D800 surrogate */
        { "\xed\xbf\xbf", 3, false },         /* U+DFFF surrogate */
        { "\xed\x9f\xbf", 3, true },          /* U+D7FF, just below */
        { "\xf4\x90\x80\x80", 4, false },     /* U+110000 */
        { "\xf8\x88\x80\x80\x80", 5, false }, /* 5-byte form */
        { "\xff", 1, false },
        { "ok\xe2\x82\xac\xc3", 6, false }, /* good, then truncated */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (utf8_valid(cases[i].s, cases[i].n) != cases[i].ok)
            fail_msg("case %zu: utf8_valid should be %d", i, cases[i].ok);
}

static void
test_util__str_b64_round_trip(void **state)
{
    static const char *const good[][2] = {
        { "", "" },
        { "f", "Zg==" },
        { "fo", "Zm8=" },
        { "foo", "Zm9v" },
        { "foob", "Zm9vYg==" },
        { "fooba", "Zm9vYmE=" },
        { "foobar", "Zm9vYmFy" },
    };
    static const char *const bad[] = { "Zg",    "Zg=",       "Z===",    "Zm9v!", "Zm9v\n",
                                       " Zm9v", "Zm9vYg==x", "Zm9vYg=", "Zm-v",  "Zm_v" };
    unsigned char bytes[300], *out;
    size_t n;
    char *enc;

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        enc = b64_encode(good[i][0], strlen(good[i][0]));
        assert_string_equal(enc, good[i][1]);
        free(enc);
        assert_int_equal(b64_decode(good[i][1], &out, &n), 0);
        assert_int_equal(n, strlen(good[i][0]));
        assert_memory_equal(out, good[i][0], n);
        free(out);
    }
    for (int i = 0; i < 300; i++)
        bytes[i] = (unsigned char)(i * 7 + 3);
    for (size_t len = 0; len <= sizeof(bytes); len += 37) {
        enc = b64_encode(bytes, len);
        assert_int_equal(strlen(enc), (len + 2) / 3 * 4);
        assert_int_equal(b64_decode(enc, &out, &n), 0);
        assert_int_equal(n, len);
        assert_memory_equal(out, bytes, len);
        free(out);
        free(enc);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        out = NULL;
        if (b64_decode(bad[i], &out, &n) != -1)
            fail_msg("bad case %zu '%s' decoded", i, bad[i]);
        assert_null(out);
    }
}

static void
test_util__str_to_u64(void **state)
{
    static const char *const bad[] = { "",
                                       "-1",
                                       "12a",
                                       "a12",
                                       " 1",
                                       "1 ",
                                       "\t1",
                                       "\n1",
                                       "+1",
                                       "0x10",
                                       "1e3",
                                       "1.0",
                                       "18446744073709551616",
                                       "99999999999999999999999" };
    uint64_t v;
    int i32;

    assert_int_equal(str_to_u64("0", &v), 0);
    assert_true(v == 0);
    assert_int_equal(str_to_u64("42", &v), 0);
    assert_true(v == 42);
    assert_int_equal(str_to_u64("007", &v), 0);
    assert_true(v == 7);
    assert_int_equal(str_to_u64("18446744073709551615", &v), 0);
    assert_true(v == UINT64_MAX);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v = 12345;
        if (str_to_u64(bad[i], &v) != -1)
            fail_msg("str_to_u64 accepted '%s'", bad[i]);
        assert_true(v == 12345);
    }
    assert_int_equal(str_to_u64(NULL, &v), -1);

    assert_int_equal(str_to_int("-5", &i32), 0);
    assert_int_equal(i32, -5);
    assert_int_equal(str_to_int("2147483647", &i32), 0);
    assert_int_equal(i32, INT_MAX);
    assert_int_equal(str_to_int("-2147483648", &i32), 0);
    assert_int_equal(i32, INT_MIN);
    assert_int_equal(str_to_int("2147483648", &i32), -1);
    assert_int_equal(str_to_int("-2147483649", &i32), -1);
    assert_int_equal(str_to_int("", &i32), -1);
    assert_int_equal(str_to_int("-", &i32), -1);
    assert_int_equal(str_to_int("3x", &i32), -1);
    assert_int_equal(str_to_int(" 3", &i32), -1);
    assert_int_equal(str_to_int("+3", &i32), -1);

    assert_true(str_starts_with("backup-2024", "backup-"));
    assert_true(str_starts_with("x", ""));
    assert_false(str_starts_with("back", "backup"));
    assert_true(str_ends_with("file.tmp", ".tmp"));
    assert_true(str_ends_with("x", ""));
    assert_false(str_ends_with("tmp", ".tmp"));
}

/* ---- size ---- */

static void
test_util__size_format(void **state)
{
    static const struct {
        uint64_t v;
        const char *want;
    } cases[] = {
        { 0, "0 B" },
        { 1, "1 B" },
        { 999, "999 B" },
        { 1023, "1023 B" },
        { 1024, "1.00 KiB" },
        { 1536, "1.50 KiB" },
        { 10 * 1024, "10.0 KiB" },
        { 100 * 1024, "100 KiB" },
        { 16ULL << 20, "16.0 MiB" },
        { 12897485, "12.3 MiB" },
        { 1299227607, "1.21 GiB" },
        { 1ULL << 30, "1.00 GiB" },
        { 1ULL << 40, "1.00 TiB" },
        { 1ULL << 50, "1.00 PiB" },
        { 1ULL << 60, "1.00 EiB" },
        { UINT64_MAX, "16.0 EiB" },
        /* values that round up to the next width or unit */
        { 10235, "10.0 KiB" },   /* 9.995 KiB */
        { 102349, "100 KiB" },   /* 99.95 KiB */
        { 1048575, "1.00 MiB" }, /* 1023.999 KiB */
        { (1ULL << 30) - 1, "1.00 GiB" },
    };
    char out[SIZE_FMT_MAX];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_format(cases[i].v, out);
        if (strcmp(out, cases[i].want) != 0)
            fail_msg("case %zu (%llu): got '%s', want '%s'", i, (unsigned long long)cases[i].v, out,
                     cases[i].want);
    }
}

static void
test_util__size_parse(void **state)
{
    static const struct {
        const char *s;
        uint64_t want;
    } good[] = {
        { "0", 0 },
        { "123", 123 },
        { "10B", 10 },
        { "4k", 4096 },
        { "4K", 4096 },
        { "4KiB", 4096 },
        { "4kb", 4096 },
        { "16M", 16ULL << 20 },
        { "16MiB", 16ULL << 20 },
        { "16mib", 16ULL << 20 },
        { "16 MiB", 16ULL << 20 },
        { " 16MiB", 16ULL << 20 },
        { "1.5G", 3ULL << 29 },
        { "0.5k", 512 },
        { "2T", 2ULL << 40 },
        { "1P", 1ULL << 50 },
        { "15P", 15ULL << 50 },
        { "18446744073709551615", UINT64_MAX },
    };
    static const char *const bad[] = {
        "",
        "k",
        "MiB",
        "-1",
        "-1k",
        "16X",
        "16MiBs",
        "16Mi",
        "16 M iB",
        "1.5.5",
        "1..5",
        "1.",
        ".5",
        "1e3",
        "0x10",
        "inf",
        "nan",
        "16 MB B",
        "16E",
        "1,5M",
        "16384P",
        "18446744073709551616",
        "99999999999999999999999",
    };
    uint64_t v;

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        v = 1;
        if (size_parse(good[i].s, &v) != 0 || v != good[i].want)
            fail_msg("'%s': got %llu, want %llu", good[i].s, (unsigned long long)v,
                     (unsigned long long)good[i].want);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v = 12345;
        if (size_parse(bad[i], &v) != -1)
            fail_msg("size_parse accepted '%s' as %llu", bad[i], (unsigned long long)v);
        assert_true(v == 12345);
    }
}

/* ---- datetime ---- */

static void
set_tz(const char *tz)
{
    setenv("TZ", tz, 1);
    tzset();
}

static void
test_util__dt_rfc3339_round_trip(void **state)
{
    static const struct {
        const char *in;
        int64_t sec;
        int32_t nsec, off;
        const char *out; /* NULL: same as in */
    } cases[] = {
        { "2024-01-13T03:00:00.123456789+01:00", 1705111200, 123456789, 3600, NULL },
        { "2024-01-13T02:00:00.000000000Z", 1705111200, 0, 0, NULL },
        { "2024-01-13T02:00:00Z", 1705111200, 0, 0, "2024-01-13T02:00:00.000000000Z" },
        { "2024-01-13t02:00:00z", 1705111200, 0, 0, "2024-01-13T02:00:00.000000000Z" },
        { "2024-01-12T20:30:00.5-05:30", 1705111200, 500000000, -19800,
          "2024-01-12T20:30:00.500000000-05:30" },
        { "2024-01-13T02:00:00.1234567891Z", 1705111200, 123456789, 0,
          "2024-01-13T02:00:00.123456789Z" },
        { "2024-01-13T02:00:00+00:00", 1705111200, 0, 0, "2024-01-13T02:00:00.000000000Z" },
        { "1970-01-01T00:00:00Z", 0, 0, 0, "1970-01-01T00:00:00.000000000Z" },
        { "2024-02-29T23:59:59.999999999+14:00", 1709200799, 999999999, 50400, NULL },
        { "1969-12-31T23:59:59Z", -1, 0, 0, "1969-12-31T23:59:59.000000000Z" },
    };
    static const char *const bad[] = {
        "2024-01-13",                /* no time */
        "2024-01-13T02:00:00",       /* no zone */
        "2024-01-13T02:00:00.Z",     /* empty fraction */
        "2024-01-13T24:00:00Z",      /* hour */
        "2024-01-13T02:60:00Z",      /* minute */
        "2024-02-30T02:00:00Z",      /* day */
        "2024-01-13T02:00:00+25:00", /* offset */
        "2024-01-13T02:00:00Zjunk",
        "2024-1-13T02:00:00Z",
        "",
    };
    char out[DT_RFC3339_MAX];
    struct dt t;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(&t, 0x55, sizeof(t));
        if (dt_parse_rfc3339(cases[i].in, &t) != 0)
            fail_msg("case %zu: '%s' did not parse", i, cases[i].in);
        if (t.sec != cases[i].sec || t.nsec != cases[i].nsec || t.off != cases[i].off)
            fail_msg("case %zu: got %lld.%09d %+d", i, (long long)t.sec, t.nsec, t.off);
        dt_format_rfc3339(&t, out);
        assert_string_equal(out, cases[i].out ? cases[i].out : cases[i].in);
        /* and the formatted text parses back to the same instant */
        {
            struct dt u;
            assert_int_equal(dt_parse_rfc3339(out, &u), 0);
            assert_true(u.sec == t.sec && u.nsec == t.nsec && u.off == t.off);
        }
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (dt_parse_rfc3339(bad[i], &t) != -1)
            fail_msg("'%s' parsed", bad[i]);

    t.sec = 1705111200;
    t.nsec = 0;
    t.off = 3600;
    dt_format_human(&t, out);
    assert_string_equal(out, "2024-01-13 03:00:00");
    {
        char compact[20];
        dt_format_compact_utc(1705111200, compact);
        assert_string_equal(compact, "20240113-020000");
    }
}

static void
test_util__dt_parse_user_utc(void **state)
{
    static const struct {
        const char *s;
        int64_t want;
    } good[] = {
        { "2024-01-14", 1705190400 },
        { "2024-01-14 02:00", 1705197600 },
        { "2024-01-14 02:00:30", 1705197630 },
        { "2024-01-14T02:00", 1705197600 },
        { "2024-01-14T02:00:00Z", 1705197600 },
        { "2024-01-14T02:00:00+01:00", 1705194000 },
        { "2024-01-14 02:00+01:00", 1705194000 },
        { "2024-01-14T02:00:00-0130", 1705203000 },
        { "2024-02-29", 1709164800 }, /* leap day */
        { "2000-02-29", 951782400 },  /* divisible by 400 */
        { "1970-01-01", 0 },
    };
    static const char *const bad[] = {
        "2023-02-29", /* not a leap year */
        "1900-02-29", /* divisible by 100 */
        "2024-13-01",         "2024-00-10",        "2024-01-00",
        "2024-01-32",         "2024-04-31",        "2024-1-14",
        "24-01-14",           "2024/01/14",        "2024-01-14 2:00",
        "2024-01-14 25:00",   "2024-01-14 02:00 ", "2024-01-14T",
        "2024-01-14 02:00+1", "tomorrow",          "",
    };
    char *old = getenv("TZ") ? xstrdup(getenv("TZ")) : NULL;
    int64_t v, now = (int64_t)time(NULL);

    set_tz("UTC");
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        v = 1;
        if (dt_parse_user(good[i].s, &v) != 0 || v != good[i].want)
            fail_msg("'%s': got %lld, want %lld", good[i].s, (long long)v, (long long)good[i].want);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (dt_parse_user(bad[i], &v) != -1)
            fail_msg("'%s' parsed as %lld", bad[i], (long long)v);

    assert_int_equal(dt_parse_user("now", &v), 0);
    assert_true(v >= now && v <= now + 5);
    assert_int_equal(dt_parse_user("today", &v), 0);
    assert_true(v % 86400 == 0 && v <= now && now - v < 86400);
    {
        int64_t today = v;
        assert_int_equal(dt_parse_user("yesterday", &v), 0);
        assert_true(v == today - 86400);
    }
    assert_int_equal(dt_local_offset(now), 0);

    set_tz(old ? old : "");
    if (!old)
        unsetenv("TZ");
    tzset();
    free(old);
}

static void
test_util__dt_parse_user_berlin_dst(void **state)
{
    char *old = getenv("TZ") ? xstrdup(getenv("TZ")) : NULL;
    int64_t winter, summer, autumn, v;
    struct dt t;
    char out[DT_RFC3339_MAX];

    if (access("/usr/share/zoneinfo/Europe/Berlin", R_OK) != 0) {
        free(old);
        skip();
    }
    set_tz("Europe/Berlin");
    /* CET (+01:00) before the change on 2024-03-31 at 02:00, CEST (+02:00) after */
    assert_int_equal(dt_parse_user("2024-03-30 12:00", &winter), 0);
    assert_true(winter == 1711796400); /* 11:00Z */
    assert_int_equal(dt_parse_user("2024-03-31 12:00", &summer), 0);
    assert_true(summer == 1711879200); /* 10:00Z */
    assert_true(summer - winter == 23 * 3600);
    assert_int_equal(dt_parse_user("2024-03-31", &v), 0);
    assert_true(v == 1711839600); /* midnight CET = 23:00Z the day before */
    assert_int_equal(dt_parse_user("2024-10-27 12:00", &autumn), 0);
    assert_true(autumn == 1730026800); /* back to CET: 11:00Z */
    /* an explicit zone is not changed by TZ */
    assert_int_equal(dt_parse_user("2024-03-31T12:00:00Z", &v), 0);
    assert_true(v == 1711886400);

    assert_int_equal(dt_local_offset(1711846799), 3600); /* 00:59:59Z */
    assert_int_equal(dt_local_offset(1711846800), 7200); /* 01:00:00Z */
    t.sec = 1711846800;
    t.nsec = 0;
    t.off = dt_local_offset(t.sec);
    dt_format_rfc3339(&t, out);
    assert_string_equal(out, "2024-03-31T03:00:00.000000000+02:00");
    t.sec = 1711846799;
    t.off = dt_local_offset(t.sec);
    dt_format_rfc3339(&t, out);
    assert_string_equal(out, "2024-03-31T01:59:59.000000000+01:00");

    if (old)
        set_tz(old);
    else {
        unsetenv("TZ");
        tzset();
    }
    free(old);
}

static void
test_util__dt_format_duration(void **state)
{
    char out[24];
    dt_format_duration(1.523, out);
    assert_string_equal(out, "1.52s");
    dt_format_duration(123, out);
    assert_string_equal(out, "2m03s");
    dt_format_duration(3720, out);
    assert_string_equal(out, "1h02m");
    dt_format_duration(-5, out);
    assert_string_equal(out, "0.00s");
}

/* ---- arena ---- */

static void
test_util__arena_many_aligned_allocations(void **state)
{
    struct arena a = ARENA_INIT;
    enum { N = 20000 };
    unsigned char **ptrs = xcalloc(N, sizeof(*ptrs));
    size_t *sizes = xcalloc(N, sizeof(*sizes));
    char *s;

    for (size_t i = 0; i < N; i++) {
        sizes[i] = i % 97 == 0 ? 70000 + i : 1 + i % 41; /* some larger than a block */
        ptrs[i] = arena_alloc(&a, sizes[i]);
        assert_non_null(ptrs[i]);
        assert_int_equal((uintptr_t)ptrs[i] % 16, 0);
        memset(ptrs[i], (int)(i & 0xff), sizes[i]);
    }
    /* nothing overlapped */
    for (size_t i = 0; i < N; i++)
        for (size_t k = 0; k < sizes[i]; k++)
            if (ptrs[i][k] != (unsigned char)(i & 0xff))
                fail_msg("allocation %zu byte %zu overwritten", i, k);
    assert_true(a.used_total >= N);

    s = arena_strdup(&a, "hello");
    assert_string_equal(s, "hello");
    assert_int_equal((uintptr_t)s % 16, 0);
    s = arena_strndup(&a, "hello world", 5);
    assert_string_equal(s, "hello");
    s = arena_memdup(&a, "\x01\x02", 2);
    assert_memory_equal(s, "\x01\x02", 2);
    assert_non_null(arena_memdup(&a, NULL, 0));
    assert_non_null(arena_alloc(&a, 0));

    arena_release(&a);
    assert_null(a.head);
    assert_int_equal(a.used_total, 0);
    /* usable after release */
    assert_non_null(arena_alloc(&a, 10));
    arena_release(&a);
    arena_release(&a);
    free(ptrs);
    free(sizes);
}

/* ---- pool ---- */

struct pool_count {
    atomic_int runs;
    atomic_int bad_worker;
    unsigned nthreads;
};

static void
count_job(void *arg, unsigned worker)
{
    struct pool_count *pc = arg;
    if (worker >= pc->nthreads)
        atomic_fetch_add(&pc->bad_worker, 1);
    atomic_fetch_add(&pc->runs, 1);
}

static void
test_util__pool_runs_every_job(void **state)
{
    struct pool_count pc = { 0, 0, 2 };
    struct pool *p = pool_new(2, 8);

    assert_int_equal(pool_threads(p), 2);
    for (int i = 0; i < 1000; i++)
        pool_add(p, count_job, &pc);
    pool_wait(p);
    assert_int_equal(atomic_load(&pc.runs), 1000);
    assert_int_equal(atomic_load(&pc.bad_worker), 0);
    /* reusable after a wait, and pool_free drains what is queued */
    for (int i = 0; i < 500; i++)
        pool_add(p, count_job, &pc);
    pool_free(p);
    assert_int_equal(atomic_load(&pc.runs), 1500);
    pool_free(NULL);
}

struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool started, open;
    atomic_int runs;
};

static void
gate_job(void *arg, unsigned worker)
{
    struct gate *g = arg;
    pthread_mutex_lock(&g->mu);
    g->started = true;
    pthread_cond_broadcast(&g->cv);
    while (!g->open)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
    atomic_fetch_add(&g->runs, 1);
}

static void
gate_count_job(void *arg, unsigned worker)
{
    struct gate *g = arg;
    atomic_fetch_add(&g->runs, 1);
}

static void
test_util__pool_try_add_on_full_queue(void **state)
{
    struct gate g = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false, 0 };
    struct pool *p = pool_new(1, 2);

    /* occupy the only worker until the gate opens */
    pool_add(p, gate_job, &g);
    pthread_mutex_lock(&g.mu);
    while (!g.started)
        pthread_cond_wait(&g.cv, &g.mu);
    pthread_mutex_unlock(&g.mu);

    assert_int_equal(pool_try_add(p, gate_count_job, &g), 0);
    assert_int_equal(pool_try_add(p, gate_count_job, &g), 0);
    assert_int_equal(pool_try_add(p, gate_count_job, &g), -1); /* queue of 2 is full */
    assert_int_equal(pool_try_add(p, gate_count_job, &g), -1);

    pthread_mutex_lock(&g.mu);
    g.open = true;
    pthread_cond_broadcast(&g.cv);
    pthread_mutex_unlock(&g.mu);
    pool_wait(p);
    assert_int_equal(atomic_load(&g.runs), 3);
    assert_int_equal(pool_try_add(p, gate_count_job, &g), 0);
    pool_wait(p);
    assert_int_equal(atomic_load(&g.runs), 4);
    pool_free(p);
}

static void
test_util__pool_default_threads(void **state)
{
    char *old = getenv("DRKIT_THREADS") ? xstrdup(getenv("DRKIT_THREADS")) : NULL;

    setenv("DRKIT_THREADS", "3", 1);
    assert_int_equal(pool_default_threads(), 3);
    setenv("DRKIT_THREADS", "0", 1);
    assert_true(pool_default_threads() >= 1);
    setenv("DRKIT_THREADS", "junk", 1);
    assert_true(pool_default_threads() >= 1);
    unsetenv("DRKIT_THREADS");
    assert_true(pool_default_threads() >= 1);
    if (old)
        setenv("DRKIT_THREADS", old, 1);
    free(old);
}

/* ---- fs ---- */

static char *
make_temp_dir(void)
{
    char tmpl[] = "/tmp/drkit-test-util-XXXXXX";
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    return xstrdup(d);
}

static void
test_util__fs_abspath_normalises(void **state)
{
    static const char *const cases[][2] = {
        { "/a/./b//c/", "/a/b/c" },
        { "/", "/" },
        { "//", "/" },
        { "///a///", "/a" },
        { "/.", "/" },
        { "/./", "/" },
        { "/./.", "/" },
        { "/a/.", "/a" },
        { "/a/./", "/a" },
        { "/a/.b", "/a/.b" },
        { "/a/b.", "/a/b." },
        { "/a/..", "/a/.." }, /* ".." is kept: no symlink resolution */
        { "/...", "/..." },
        { "/a/./././b", "/a/b" },
    };
    char cwd[PATH_MAX], *got, *want;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        got = fs_abspath(cases[i][0]);
        if (strcmp(got, cases[i][1]) != 0)
            fail_msg("'%s': got '%s', want '%s'", cases[i][0], got, cases[i][1]);
        free(got);
    }
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    got = fs_abspath("a/./b//c/");
    want = strcmp(cwd, "/") ? xasprintf("%s/a/b/c", cwd) : xstrdup("/a/b/c");
    assert_string_equal(got, want);
    free(got);
    free(want);
    got = fs_abspath(".");
    assert_string_equal(got, cwd);
    free(got);
    got = fs_abspath("./");
    assert_string_equal(got, cwd);
    free(got);

    got = fs_join("/a", "b");
    assert_string_equal(got, "/a/b");
    free(got);
    got = fs_join("/a/", "b");
    assert_string_equal(got, "/a/b");
    free(got);
}

static void
test_util__fs_write_atomic_read_round_trip(void **state)
{
    char *dir = make_temp_dir();
    char *path = fs_join(dir, "file");
    struct buf b = BUF_INIT;
    unsigned char data[10000];
    struct stat st;

    mode_t old_umask = umask(022);

    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (unsigned char)(i * 31);
    assert_int_equal(fs_write_file_atomic(path, data, sizeof(data), 0640), 0);
    umask(old_umask);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
    assert_int_equal(fs_read_file(path, &b, 0), 0);
    assert_int_equal(b.len, sizeof(data));
    assert_memory_equal(b.data, data, sizeof(data));
    assert_int_equal(b.data[b.len], 0);

    /* the max is inclusive */
    assert_int_equal(fs_read_file(path, &b, sizeof(data)), 0);
    assert_int_equal(b.len, sizeof(data));
    assert_int_equal(fs_read_file(path, &b, sizeof(data) - 1), DRK_ETOOBIG);

    /* replacing keeps no temp files behind */
    assert_int_equal(fs_write_file_atomic(path, "short", 5, 0600), 0);
    assert_int_equal(fs_read_file(path, &b, 100), 0);
    assert_string_equal(buf_cstr(&b), "short");
    {
        DIR *d = opendir(dir);
        struct dirent *de;
        int entries = 0;
        assert_non_null(d);
        while ((de = readdir(d)) != NULL)
            entries += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
        closedir(d);
        assert_int_equal(entries, 1);
    }
    /* empty file */
    assert_int_equal(fs_write_file_atomic(path, "", 0, 0600), 0);
    assert_int_equal(fs_read_file(path, &b, 1), 0);
    assert_int_equal(b.len, 0);

    /* missing file and missing directory */
    {
        char *missing = fs_join(dir, "nope");
        char *in_missing = fs_join(missing, "x");
        assert_int_equal(fs_read_file(missing, &b, 0), DRK_ENOTFOUND);
        assert_int_not_equal(fs_write_file_atomic(in_missing, "x", 1, 0600), 0);
        free(in_missing);
        free(missing);
    }
    buf_release(&b);
    assert_int_equal(fs_remove_tree(dir), 0);
    assert_int_equal(access(dir, F_OK), -1);
    free(path);
    free(dir);
}

static void
test_util__fs_mkdir_p(void **state)
{
    char *dir = make_temp_dir();
    char *deep = xasprintf("%s/a/b/c", dir);
    char *deep_slash = xasprintf("%s/a/b/c/", dir);
    char *file = xasprintf("%s/a/file", dir);
    char *under_file = xasprintf("%s/a/file/sub", dir);
    struct stat st;

    assert_int_equal(fs_mkdir_p(deep, 0755), 0);
    assert_int_equal(stat(deep, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(fs_mkdir_p(deep, 0755), 0); /* existing is fine */
    assert_int_equal(fs_mkdir_p(deep_slash, 0755), 0);
    assert_int_equal(fs_mkdir_p("/", 0755), 0);

    assert_int_equal(fs_write_file_atomic(file, "x", 1, 0600), 0);
    drk_err_clear();
    assert_int_not_equal(fs_mkdir_p(file, 0755), 0);
    assert_true(strstr(drk_err_msg(), "not a directory") != NULL);
    assert_int_not_equal(fs_mkdir_p(under_file, 0755), 0);
    assert_int_not_equal(fs_mkdir_p("", 0755), 0);

    assert_int_equal(fs_remove_tree(dir), 0);
    free(under_file);
    free(file);
    free(deep_slash);
    free(deep);
    free(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_util__buf_init_is_empty_string),
        cmocka_unit_test(test_util__buf_growth_keeps_nul),
        cmocka_unit_test(test_util__buf_reserve_then_setlen),
        cmocka_unit_test(test_util__buf_max_ceiling),
        cmocka_unit_test(test_util__buf_detach_and_swap),
        cmocka_unit_test(test_util__buf_little_endian_put),
        cmocka_unit_test(test_util__rd_reads_back_what_buf_wrote),
        cmocka_unit_test(test_util__rd_errors_are_sticky),
        cmocka_unit_test(test_util__str_hex_round_trip),
        cmocka_unit_test(test_util__str_utf8_valid),
        cmocka_unit_test(test_util__str_b64_round_trip),
        cmocka_unit_test(test_util__str_to_u64),
        cmocka_unit_test(test_util__size_format),
        cmocka_unit_test(test_util__size_parse),
        cmocka_unit_test(test_util__dt_rfc3339_round_trip),
        cmocka_unit_test(test_util__dt_parse_user_utc),
        cmocka_unit_test(test_util__dt_parse_user_berlin_dst),
        cmocka_unit_test(test_util__dt_format_duration),
        cmocka_unit_test(test_util__arena_many_aligned_allocations),
        cmocka_unit_test(test_util__pool_runs_every_job),
        cmocka_unit_test(test_util__pool_try_add_on_full_queue),
        cmocka_unit_test(test_util__pool_default_threads),
        cmocka_unit_test(test_util__fs_abspath_normalises),
        cmocka_unit_test(test_util__fs_write_atomic_read_round_trip),
        cmocka_unit_test(test_util__fs_mkdir_p),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
