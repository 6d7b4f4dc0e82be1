/* test_conf: the git-config style parser and its schema (src/util/conf.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/conf.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define HDR_R "[repository \"r\"]\nurl = /srv/r\n"
#define HDR_S "[source \"s\"]\ntype = files\n"

static void
check_str(const char *what, size_t i, const char *got, const char *want)
{
    if (!got && !want)
        return;
    if (!got || !want || strcmp(got, want) != 0)
        fail_msg("case %zu (%s): got '%s', want '%s'", i, what, got ? got : "(null)",
                 want ? want : "(null)");
}

static struct conf *
load_ok(size_t i, const char *text)
{
    struct conf *c = NULL;
    int r = conf_load_string(&c, "drkit.conf", text);
    if (r != 0)
        fail_msg("case %zu: load failed (%s): %s [%s]", i, drk_err_name(r), drk_err_msg(),
                 drk_err_hint_msg());
    return c;
}

/* ---- values that load ---- */

struct good_case {
    const char *text;
    const char *section, *sub, *key;
    const char *want; /* NULL: unset */
};

static const struct good_case good_cases[] = {
    /* plain key = value, case rules */
    { "[core]\nthreads = 4\n", "core", NULL, "threads", "4" },
    { "[CoRe]\nThReAdS = 4\n", "core", NULL, "threads", "4" },
    { "[core]\nhost=web\n", "core", NULL, "host", "web" },
    { "[core]\nhost   =web\n", "core", NULL, "host", "web" },
    { "\t  [core]\n\t host = x\n", "core", NULL, "host", "x" },
    { "[core]\nhost = x", "core", NULL, "host", "x" }, /* no newline at the end */
    { "[core]\nhost =\n", "core", NULL, "host", "" },
    { "[core]\nhost = # only a comment\n", "core", NULL, "host", "" },
    { "[core]\n", "core", NULL, "host", NULL },
    /* subsections are case-sensitive, escapes \" and \\ */
    { "[repository \"S3\"]\nurl = a\n[repository \"s3\"]\nurl = b\n", "repository", "S3", "url",
      "a" },
    { "[repository \"S3\"]\nurl = a\n[repository \"s3\"]\nurl = b\n", "repository", "s3", "url",
      "b" },
    { "[REPOSITORY \"Off Site\"]\nURL = a\n", "repository", "Off Site", "url", "a" },
    { "[repository \"a\\\"b\\\\c\"]\nurl = x\n", "repository", "a\"b\\c", "url", "x" },
    { "[repository \"r\"]   # comment\nurl = x\n", "repository", "r", "url", "x" },
    { "[repository \"r\"];comment\nurl = x\n", "repository", "r", "url", "x" },
    /* bare booleans */
    { HDR_S "one-file-system\n", "source", "s", "one-file-system", "true" },
    { HDR_S "one-file-system # yes\n", "source", "s", "one-file-system", "true" },
    { HDR_S "One-File-System   \n", "source", "s", "one-file-system", "true" },
    { HDR_S "one-file-system = Off\n", "source", "s", "one-file-system", "Off" },
    /* trimming, comments, quotes */
    { "[core]\nhost =   web 1  \t\n", "core", NULL, "host", "web 1" },
    { "[core]\nhost = a \t b\n", "core", NULL, "host", "a \t b" },
    { "[core]\nhost = web # comment\n", "core", NULL, "host", "web" },
    { "[core]\nhost = web ; comment\n", "core", NULL, "host", "web" },
    { "[core]\nhost = web#comment\n", "core", NULL, "host", "web" },
    { "[core]\nhost = \"web # not ; a comment\" # comment\n", "core", NULL, "host",
      "web # not ; a comment" },
    { "[core]\nhost = \"  spaced  \"\n", "core", NULL, "host", "  spaced  " },
    { "[core]\nhost = a\" b \"c\n", "core", NULL, "host", "a b c" },
    { "[core]\nhost = \"\"\n", "core", NULL, "host", "" },
    { HDR_R "url = \"s3://bucket/x;y#z\"\n", "repository", "r", "url", "s3://bucket/x;y#z" },
    /* escapes */
    { "[core]\nhost = a\\\"b\\\\c\\td\\ne\\bf\n", "core", NULL, "host", "a\"b\\c\td\ne\bf" },
    { "[core]\nhost = \"q\\\"q\"\n", "core", NULL, "host", "q\"q" },
    /* continuation lines */
    { "[core]\nhost = abc\\\ndef\n", "core", NULL, "host", "abcdef" },
    { "[core]\nhost = a \\\n  b\n", "core", NULL, "host", "a   b" },
    { "[core]\nhost = \"a \\\nb\"\n", "core", NULL, "host", "a b" },
    { "[core]\nthreads = \\\n   8\n", "core", NULL, "threads", "8" },
    { "[core]\nhost = a\\\n\n", "core", NULL, "host", "a" },
    { "[core]\nhost = a # comment \\\nthreads = 3\n", "core", NULL, "threads", "3" },
    /* CRLF, BOM, blank and comment lines */
    { "[core]\r\nhost = web\r\n", "core", NULL, "host", "web" },
    { "[core]\r\nhost = a\\\r\nb\r\n", "core", NULL, "host", "ab" },
    { "[core]\r\nhost = \"a b\"\r\n", "core", NULL, "host", "a b" },
    { "\xef\xbb\xbf[core]\nhost = bom\n", "core", NULL, "host", "bom" },
    { "# comment\n; comment\n\n   \n\t\n[core] ; c\n# host = no\nhost = yes\n", "core", NULL,
      "host", "yes" },
    /* overriding: the last one wins, also across repeated headers */
    { "[core]\nhost = a\nhost = b\n", "core", NULL, "host", "b" },
    { "[core]\nhost = a\n" HDR_R "[core]\nhost = b\n", "core", NULL, "host", "b" },
    { "[core]\nthreads = 2\n[CORE]\nTHREADS = 3\n", "core", NULL, "threads", "3" },
    /* typed values that pass */
    { "[core]\nthreads = 0\n", "core", NULL, "threads", "0" },
    { "[core]\nthreads = 256\n", "core", NULL, "threads", "256" },
    { HDR_R "pack-size = 1MiB\n", "repository", "r", "pack-size", "1MiB" },
    { HDR_R "pack-size = 1G\n", "repository", "r", "pack-size", "1G" },
    { HDR_R "pack-size = 32m\n", "repository", "r", "pack-size", "32m" },
    { HDR_R "compression = off\n", "repository", "r", "compression", "off" },
    { HDR_R "compression = zstd\n", "repository", "r", "compression", "zstd" },
    { HDR_R "compression = zstd:1\n", "repository", "r", "compression", "zstd:1" },
    { HDR_R "compression = zstd:19\n", "repository", "r", "compression", "zstd:19" },
    { "[source \"db\"]\ntype = postgresql\n", "source", "db", "type", "postgresql" },
    { "[target \"dr\"]\npath = /restore\n", "target", "dr", "path", "/restore" },
    /* PATH: only a leading ~ or ~/ is expanded (HOME is /home/tester in this test) */
    { "[core]\nstate-dir = ~/state\n", "core", NULL, "state-dir", "/home/tester/state" },
    { "[core]\nstate-dir = ~\n", "core", NULL, "state-dir", "/home/tester" },
    { "[core]\nstate-dir = \"~/with space\"\n", "core", NULL, "state-dir",
      "/home/tester/with space" },
    { "[core]\nstate-dir = ~other/x\n", "core", NULL, "state-dir", "~other/x" },
    { "[core]\nstate-dir = /a/~/b\n", "core", NULL, "state-dir", "/a/~/b" },
    { HDR_R "password-file = ~/.drkit-pass\n", "repository", "r", "password-file",
      "/home/tester/.drkit-pass" },
    /* defaults */
    { "", "core", NULL, "threads", "0" },
    { "", "repository", "any", "compression", "auto" },
    { "", "repository", "any", "pack-size", "16MiB" },
    { "", "source", "any", "one-file-system", "false" },
    { "", "core", NULL, "state-dir", NULL },
    { HDR_R, "repository", "r", "compression", "auto" },
};

static void
test_conf__good_values(void **state)
{
    char *old_home = getenv("HOME") ? xstrdup(getenv("HOME")) : NULL;

    setenv("HOME", "/home/tester", 1);
    for (size_t i = 0; i < sizeof(good_cases) / sizeof(good_cases[0]); i++) {
        const struct good_case *t = &good_cases[i];
        struct conf *c = load_ok(i, t->text);
        check_str(t->key, i, conf_get(c, t->section, t->sub, t->key), t->want);
        conf_free(c);
    }
    if (old_home)
        setenv("HOME", old_home, 1);
    free(old_home);
}

/* ---- input that fails, with the exact message ---- */

struct bad_case {
    const char *text;
    int code;
    const char *msg;
    const char *hint; /* NULL: not checked; "": no hint */
};

static const struct bad_case bad_cases[] = {
    /* unknown keys, with suggestions */
    { "[repository \"local\"]\nurl = /srv\npasword-file = /p\n", DRK_ECONFIG,
      "drkit.conf:3: unknown key 'pasword-file' in [repository \"local\"]",
      "did you mean 'password-file'?" },
    { HDR_R "pack-szie = 1M\n", DRK_ECONFIG,
      "drkit.conf:3: unknown key 'pack-szie' in [repository \"r\"]", "did you mean 'pack-size'?" },
    { "[core]\nthread = 1\n", DRK_ECONFIG, "drkit.conf:2: unknown key 'thread' in [core]",
      "did you mean 'threads'?" },
    { "[core]\nfoo = 1\n", DRK_ECONFIG, "drkit.conf:2: unknown key 'foo' in [core]",
      "keys of [core]: repository, host, threads, lock-wait, state-dir, cache-dir" },
    { "[core]\ncompression = zstd\n", DRK_ECONFIG,
      "drkit.conf:2: unknown key 'compression' in [core]",
      "'compression' belongs in [repository \"NAME\"]" },
    { HDR_R "pack_size = 1M\n", DRK_ECONFIG,
      "drkit.conf:3: invalid key name 'pack_size' in [repository \"r\"]",
      "did you mean 'pack-size'?" },
    { "[core]\nhost.name = x\n", DRK_ECONFIG,
      "drkit.conf:2: invalid key name 'host.name' in [core]", NULL },
    { "[core]\n1abc = x\n", DRK_ECONFIG, "drkit.conf:2: invalid key name '1abc'", NULL },
    { "[core]\n-x = x\n", DRK_ECONFIG, "drkit.conf:2: invalid key name '-x'", NULL },
    { "[core]\n= x\n", DRK_ECONFIG, "drkit.conf:2: missing key name before '='", NULL },
    { "host = x\n", DRK_ECONFIG, "drkit.conf:1: key 'host' outside of any section",
      "put it below a section header such as [core]" },
    /* unknown sections */
    { "[core]\n\n[retension \"local\"]\n", DRK_ECONFIG,
      "drkit.conf:3: unknown section [retension \"local\"]",
      "did you mean [retention \"NAME\"]? known sections: [core], [repository \"NAME\"], "
      "[source \"NAME\"], [target \"NAME\"], [retention \"NAME\"], [policy]" },
    { "[sorce \"www\"]\n", DRK_ECONFIG, "drkit.conf:1: unknown section [sorce \"www\"]",
      "did you mean [source \"NAME\"]? known sections: [core], [repository \"NAME\"], "
      "[source \"NAME\"], [target \"NAME\"], [retention \"NAME\"], [policy]" },
    { "[Cores]\n", DRK_ECONFIG, "drkit.conf:1: unknown section [cores]",
      "did you mean [core]? known sections: [core], [repository \"NAME\"], [source \"NAME\"], "
      "[target \"NAME\"], [retention \"NAME\"], [policy]" },
    /* subsection rules */
    { "[repository]\nurl = x\n", DRK_ECONFIG,
      "drkit.conf:1: section [repository] needs a name, as in [repository \"NAME\"]", NULL },
    { "[repository \"\"]\nurl = x\n", DRK_ECONFIG,
      "drkit.conf:1: section [repository] needs a name, as in [repository \"NAME\"]", NULL },
    { "[core \"x\"]\n", DRK_ECONFIG,
      "drkit.conf:1: section [core] takes no name, found [core \"x\"]", NULL },
    /* section header syntax */
    { "[core\n", DRK_ECONFIG, "drkit.conf:1: invalid section header '[core'", NULL },
    { "[core]\n[co re]\n", DRK_ECONFIG, "drkit.conf:2: invalid section header '[co re]'", NULL },
    { "[]\n", DRK_ECONFIG, "drkit.conf:1: invalid section header '[]'", NULL },
    { "[ core]\n", DRK_ECONFIG, "drkit.conf:1: invalid section header '[ core]'", NULL },
    { "[core.x]\n", DRK_ECONFIG, "drkit.conf:1: invalid section header '[core.x]'", NULL },
    { "[repository \"r\" ]\n", DRK_ECONFIG,
      "drkit.conf:1: invalid section header '[repository \"r\" ]'", NULL },
    { "[repository \"r\"\n", DRK_ECONFIG,
      "drkit.conf:1: invalid section header '[repository \"r\"'", NULL },
    { "[repository \"abc]\n", DRK_ECONFIG, "drkit.conf:1: unterminated quote in section header",
      NULL },
    { "[repository \"a\\x\"]\n", DRK_ECONFIG,
      "drkit.conf:1: unknown escape '\\x' in section header", NULL },
    { "[core] threads = 4\n", DRK_ECONFIG,
      "drkit.conf:1: unexpected 'threads = 4' after section header [core]", NULL },
    { "# c\n[repository \"r\"] x\n", DRK_ECONFIG,
      "drkit.conf:2: unexpected 'x' after section header [repository \"r\"]", NULL },
    /* values of the wrong type or out of range */
    { HDR_S "one-file-system = maybe\n", DRK_ECONFIG,
      "drkit.conf:3: invalid boolean 'maybe' for key 'one-file-system' in [source \"s\"]: "
      "expected true/false, yes/no, on/off or 1/0",
      "" },
    { HDR_S "one-file-system =\n", DRK_ECONFIG,
      "drkit.conf:3: invalid boolean '' for key 'one-file-system' in [source \"s\"]: "
      "expected true/false, yes/no, on/off or 1/0",
      NULL },
    { "[core]\nthreads = 4x\n", DRK_ECONFIG,
      "drkit.conf:2: invalid integer '4x' for key 'threads' in [core]: expected a whole number",
      NULL },
    { "[core]\nthreads = 0x10\n", DRK_ECONFIG,
      "drkit.conf:2: invalid integer '0x10' for key 'threads' in [core]: expected a whole number",
      NULL },
    { "[core]\nthreads = +4\n", DRK_ECONFIG,
      "drkit.conf:2: invalid integer '+4' for key 'threads' in [core]: expected a whole number",
      NULL },
    { "[core]\nthreads =\n", DRK_ECONFIG,
      "drkit.conf:2: invalid integer '' for key 'threads' in [core]: expected a whole number",
      NULL },
    { "[core]\nthreads = 99999999999999999999\n", DRK_ECONFIG,
      "drkit.conf:2: invalid integer '99999999999999999999' for key 'threads' in [core]: "
      "expected a whole number",
      NULL },
    { "[core]\nthreads = 257\n", DRK_ECONFIG,
      "drkit.conf:2: value '257' of key 'threads' in [core] is out of range 0..256", NULL },
    { "[core]\nthreads = -1\n", DRK_ECONFIG,
      "drkit.conf:2: value '-1' of key 'threads' in [core] is out of range 0..256", NULL },
    { HDR_R "pack-size = 16QB\n", DRK_ECONFIG,
      "drkit.conf:3: invalid size '16QB' for key 'pack-size' in [repository \"r\"]: expected a "
      "number of bytes with an optional unit, as in 512k, 16MiB, 1.5G",
      NULL },
    { HDR_R "pack-size = 512k\n", DRK_ECONFIG,
      "drkit.conf:3: value '512k' of key 'pack-size' in [repository \"r\"] is out of range "
      "1MiB..1GiB",
      NULL },
    { HDR_R "pack-size = 1025M\n", DRK_ECONFIG,
      "drkit.conf:3: value '1025M' of key 'pack-size' in [repository \"r\"] is out of range "
      "1MiB..1GiB",
      NULL },
    /* validators */
    { HDR_R "compression = zstd:20\n", DRK_ECONFIG,
      "drkit.conf:3: invalid value 'zstd:20' for key 'compression' in [repository \"r\"]: "
      "expected off, auto, zstd or zstd:1..19",
      NULL },
    { HDR_R "compression = zstd:0\n", DRK_ECONFIG,
      "drkit.conf:3: invalid value 'zstd:0' for key 'compression' in [repository \"r\"]: "
      "expected off, auto, zstd or zstd:1..19",
      NULL },
    { HDR_R "compression = zstd:\n", DRK_ECONFIG,
      "drkit.conf:3: invalid value 'zstd:' for key 'compression' in [repository \"r\"]: "
      "expected off, auto, zstd or zstd:1..19",
      NULL },
    { HDR_R "compression = ZSTD\n", DRK_ECONFIG,
      "drkit.conf:3: invalid value 'ZSTD' for key 'compression' in [repository \"r\"]: "
      "expected off, auto, zstd or zstd:1..19",
      NULL },
    { "[source \"s\"]\ntype = tar\n", DRK_ECONFIG,
      "drkit.conf:2: invalid value 'tar' for key 'type' in [source \"s\"]: "
      "expected files or postgresql",
      NULL },
    /* value syntax */
    { "[core]\nhost = \"abc\n", DRK_ECONFIG,
      "drkit.conf:2: unterminated quote in value of key 'host' in [core]", NULL },
    { "[core]\nhost = \"abc", DRK_ECONFIG,
      "drkit.conf:2: unterminated quote in value of key 'host' in [core]", NULL },
    { HDR_S "path = /a \"/b\n", DRK_ECONFIG,
      "drkit.conf:3: unterminated quote in value of key 'path' in [source \"s\"]", NULL },
    { "[core]\nhost = a\\qb\n", DRK_ECONFIG,
      "drkit.conf:2: unknown escape '\\q' in value of key 'host' in [core]", NULL },
    { "[core]\nhost = a\\ \n", DRK_ECONFIG,
      "drkit.conf:2: unknown escape '\\ ' in value of key 'host' in [core]", NULL },
    { "[core]\nhost web\n", DRK_ECONFIG, "drkit.conf:2: missing '=' after key 'host' in [core]",
      "write host = VALUE" },
    { "[core]\nhost\n", DRK_ECONFIG, "drkit.conf:2: key 'host' in [core] needs a value",
      "write host = VALUE" },
    { HDR_S "path # no value\n", DRK_ECONFIG,
      "drkit.conf:3: key 'path' in [source \"s\"] needs a value", NULL },
    /* line numbers count continuation lines, CRLF and a BOM correctly */
    { "[core]\nhost = a\\\nb\nthreads = x\n", DRK_ECONFIG,
      "drkit.conf:4: invalid integer 'x' for key 'threads' in [core]: expected a whole number",
      NULL },
    { "[core]\nthreads = \\\n  y\n", DRK_ECONFIG,
      "drkit.conf:2: invalid integer 'y' for key 'threads' in [core]: expected a whole number",
      NULL },
    { "[core]\nhost = \"a\\\nb\\q\"\n", DRK_ECONFIG,
      "drkit.conf:3: unknown escape '\\q' in value of key 'host' in [core]", NULL },
    { "\xef\xbb\xbf[core]\r\n\r\nbad = 1\r\n", DRK_ECONFIG,
      "drkit.conf:3: unknown key 'bad' in [core]", NULL },
    /* keys every instance of a section needs */
    { "[repository \"r\"]\ncompression = off\n", DRK_ECONFIG,
      "drkit.conf:1: missing key 'url' in [repository \"r\"]", NULL },
    { HDR_R "\n[source \"www\"]\npath = /var/www\n", DRK_ECONFIG,
      "drkit.conf:4: missing key 'type' in [source \"www\"]", NULL },
    { "[repository \"dr\"]\n", DRK_ECONFIG,
      "drkit.conf:1: missing key 'url' in [repository \"dr\"]", NULL },
    /* subsection names are shown escaped, without control characters, and cut short */
    { "[repository \"a\tb\\\\c\\\"d\"]\n", DRK_ECONFIG,
      "drkit.conf:1: missing key 'url' in [repository \"a?b\\\\c\\\"d\"]", NULL },
    { "[repository \""
      "0123456789012345678901234567890123456789012345678901234567890123456789"
      "\"]\n",
      DRK_ECONFIG,
      "drkit.conf:1: missing key 'url' in [repository "
      "\"012345678901234567890123456789012345678901234567890123456789...\"]",
      NULL },
    { "[repository \"r\"]\n[core]\n[repository \"r\"]\nurl = x\n", 0, NULL, NULL },
};

static void
test_conf__bad_input_messages(void **state)
{
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const struct bad_case *t = &bad_cases[i];
        struct conf *c = NULL;
        int r;

        drk_err_clear();
        r = conf_load_string(&c, "drkit.conf", t->text);
        if (r != t->code)
            fail_msg("case %zu: got %s (%s), want %s", i, drk_err_name(r), drk_err_msg(),
                     drk_err_name(t->code));
        if (r == 0) {
            conf_free(c);
            continue;
        }
        assert_null(c);
        check_str("message", i, drk_err_msg(), t->msg);
        if (t->hint)
            check_str("hint", i, drk_err_hint_msg(), t->hint);
    }
}

/* ---- lists ---- */

struct list_case {
    const char *text;
    const char *key;
    const char *words[6]; /* NULL-terminated */
    const char *joined;
};

static const struct list_case list_cases[] = {
    { HDR_S "path = /a /b\n", "path", { "/a", "/b" }, "/a /b" },
    { HDR_S "path = /a\npath = /b /c\n", "path", { "/a", "/b", "/c" }, "/a /b /c" },
    { HDR_S "path = \"/with space\" /x\n", "path", { "/with space", "/x" }, "/with space /x" },
    { HDR_S "path = a\"b c\"d\n", "path", { "ab cd" }, "ab cd" },
    { HDR_S "exclude = \"*.tmp\" a\\\"b \"\" c\n",
      "exclude",
      { "*.tmp", "a\"b", "", "c" },
      "*.tmp a\"b  c" },
    { HDR_S "path = /a \\\n   /b\\\n/c\n", "path", { "/a", "/b/c" }, "/a /b/c" },
    { HDR_S "path = /a # /b\n", "path", { "/a" }, "/a" },
    { HDR_S "path = \"/a # b\" ; c\n", "path", { "/a # b" }, "/a # b" },
    { HDR_S "path = \t /a \t\n", "path", { "/a" }, "/a" },
    { HDR_S "path =\n", "path", { NULL }, "" },
    { HDR_S "path = /a\n[source \"other\"]\ntype = files\npath = /x\n[source \"s\"]\npath = /b\n",
      "path",
      { "/a", "/b" },
      "/a /b" },
    { HDR_S, "path", { NULL }, NULL },
    { HDR_S "PATH = /a\r\npath = /b\r\n", "path", { "/a", "/b" }, "/a /b" },
};

static void
test_conf__lists(void **state)
{
    for (size_t i = 0; i < sizeof(list_cases) / sizeof(list_cases[0]); i++) {
        const struct list_case *t = &list_cases[i];
        struct conf *c = load_ok(i, t->text);
        const char *const *words;
        size_t n = conf_get_list(c, "source", "s", t->key, &words), want = 0;

        while (t->words[want])
            want++;
        if (n != want)
            fail_msg("case %zu: %zu words, want %zu", i, n, want);
        for (size_t k = 0; k < n; k++)
            check_str("word", i, words[k], t->words[k]);
        assert_null(words[n]);
        check_str("joined", i, conf_get(c, "source", "s", t->key), t->joined);
        conf_free(c);
    }
}

static void
test_conf__list_repeated_many_times(void **state)
{
    struct buf b = BUF_INIT;
    struct conf *c;
    const char *const *words;
    size_t n;

    buf_addstr(&b, HDR_S);
    for (int i = 0; i < 20000; i++)
        buf_addf(&b, "exclude = /p%d\n", i);
    c = load_ok(0, buf_cstr(&b));
    n = conf_get_list(c, "source", "s", "exclude", &words);
    assert_int_equal(n, 20000);
    assert_string_equal(words[0], "/p0");
    assert_string_equal(words[19999], "/p19999");
    assert_string_equal(conf_origin(c, "source", "s", "exclude"), "drkit.conf:20002");
    conf_free(c);
    buf_release(&b);
}

/* ---- typed getters, defaults, origins ---- */

static void
test_conf__typed_getters(void **state)
{
    struct conf *c = load_ok(0, "[core]\nthreads = 12\n" HDR_R "pack-size = 1.5M\n" HDR_S
                                "one-file-system = YES\n"
                                "[source \"t\"]\ntype = files\none-file-system = off\n");
    bool b = false;
    int64_t i = -1;
    uint64_t u = 0;

    assert_int_equal(conf_get_int(c, "core", NULL, "threads", &i), 0);
    assert_int_equal(i, 12);
    assert_int_equal(conf_get_size(c, "repository", "r", "pack-size", &u), 0);
    assert_int_equal(u, 1572864);
    assert_int_equal(conf_get_size(c, "repository", "other", "pack-size", &u), 0);
    assert_int_equal(u, 16 << 20);
    assert_int_equal(conf_get_bool(c, "source", "s", "one-file-system", &b), 0);
    assert_true(b);
    assert_int_equal(conf_get_bool(c, "source", "t", "one-file-system", &b), 0);
    assert_false(b);
    assert_int_equal(conf_get_bool(c, "source", "nope", "one-file-system", &b), 0);
    assert_false(b);
    /* the raw text is kept; the getter interprets it */
    assert_string_equal(conf_get(c, "source", "s", "one-file-system"), "YES");
    conf_free(c);
}

static void
test_conf__defaults_of_an_empty_conf(void **state)
{
    struct conf *c = conf_new_empty();
    int64_t i = -1;
    uint64_t u = 0;
    bool b = true;
    const char *const *list;

    assert_null(conf_path(c));
    assert_int_equal(conf_get_int(c, "core", NULL, "threads", &i), 0);
    assert_int_equal(i, 0);
    assert_int_equal(conf_get_size(c, "repository", "x", "pack-size", &u), 0);
    assert_int_equal(u, 16 * 1024 * 1024);
    assert_int_equal(conf_get_bool(c, "source", "x", "one-file-system", &b), 0);
    assert_false(b);
    assert_string_equal(conf_get(c, "repository", "x", "compression"), "auto");
    assert_null(conf_get(c, "repository", "x", "url"));
    assert_null(conf_get(c, "core", NULL, "repository"));
    assert_int_equal(conf_get_list(c, "source", "x", "path", &list), 0);
    assert_non_null(list);
    assert_null(list[0]);
    assert_null(conf_origin(c, "core", NULL, "threads"));
    assert_false(conf_has_section(c, "core", NULL));
    assert_false(conf_has_section(c, "repository", NULL));
    assert_int_equal(conf_subsections(c, "repository", &list), 0);
    assert_null(list[0]);
    conf_free(c);
    conf_free(NULL);
}

static void
test_conf__empty_file(void **state)
{
    const char *texts[] = { "", "\n\n", "# only comments\n; here\n", "\xef\xbb\xbf", "\r\n" };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        struct conf *c = load_ok(i, texts[i]);
        int64_t v = -1;
        assert_false(conf_has_section(c, "core", NULL));
        assert_int_equal(conf_get_int(c, "core", NULL, "threads", &v), 0);
        assert_int_equal(v, 0);
        conf_free(c);
    }
}

static void
test_conf__schema_defaults_are_valid(void **state)
{
    const struct conf_key_info *rows;
    size_t n = conf_schema(&rows);
    struct conf *c = conf_new_empty();
    bool seen_url = false;

    assert_true(n >= 15);
    for (size_t i = 0; i < n; i++) {
        const char *sub =
            (strcmp(rows[i].section, "core") && strcmp(rows[i].section, "policy")) ? "x" : NULL;
        const char *type = rows[i].type;
        bool b;
        int64_t v;
        uint64_t u;
        const char *const *list;

        assert_non_null(rows[i].help);
        assert_true(strlen(rows[i].help) > 0);
        if (!strcmp(rows[i].section, "repository") && !strcmp(rows[i].key, "url")) {
            seen_url = true;
            assert_string_equal(type, "string");
        }
        if (!rows[i].def) {
            assert_null(conf_get(c, rows[i].section, sub, rows[i].key));
            continue;
        }
        /* every default parses as its type, and reads back as written */
        assert_string_equal(conf_get(c, rows[i].section, sub, rows[i].key), rows[i].def);
        if (!strcmp(type, "bool"))
            assert_int_equal(conf_get_bool(c, rows[i].section, sub, rows[i].key, &b), 0);
        else if (!strcmp(type, "int"))
            assert_int_equal(conf_get_int(c, rows[i].section, sub, rows[i].key, &v), 0);
        else if (!strcmp(type, "size"))
            assert_int_equal(conf_get_size(c, rows[i].section, sub, rows[i].key, &u), 0);
        else if (!strcmp(type, "duration"))
            assert_int_equal(conf_get_duration(c, rows[i].section, sub, rows[i].key, &u), 0);
        else if (!strcmp(type, "list"))
            (void)conf_get_list(c, rows[i].section, sub, rows[i].key, &list);
        else
            assert_true(!strcmp(type, "string") || !strcmp(type, "path"));
    }
    assert_true(seen_url);
    conf_free(c);
}

static void
test_conf__defaults_pass_validation(void **state)
{
    /* writing every default into a file must load: defaults obey bounds and validators */
    const struct conf_key_info *rows;
    size_t n = conf_schema(&rows);
    struct buf b = BUF_INIT;
    struct conf *c;

    buf_addstr(&b, HDR_R HDR_S "[target \"t\"]\npath = /t\n");
    for (size_t i = 0; i < n; i++) {
        if (!rows[i].def)
            continue;
        if (!strcmp(rows[i].section, "core") || !strcmp(rows[i].section, "policy"))
            buf_addf(&b, "[%s]\n", rows[i].section);
        else
            buf_addf(&b, "[%s \"%s\"]\n", rows[i].section,
                     !strcmp(rows[i].section, "repository") ? "r"
                     : !strcmp(rows[i].section, "source")   ? "s"
                                                            : "t");
        buf_addf(&b, "%s = \"%s\"\n", rows[i].key, rows[i].def);
    }
    c = load_ok(0, buf_cstr(&b));
    conf_free(c);
    buf_release(&b);
}

static void
test_conf__origin(void **state)
{
    struct conf *c = load_ok(0, "[core]\n"
                                "host = a\n"
                                "host = b\n" /* 3 */
                                "[source \"s\"]\n"
                                "type = files\n"
                                "path = /a\n" /* 6 */
                                "path = \\\n"
                                "  /b\n" /* the key starts on 7 */
                                "[repository \"r\"]\n"
                                "url = \\\n"
                                "/srv\n");

    assert_string_equal(conf_origin(c, "core", NULL, "host"), "drkit.conf:3");
    assert_string_equal(conf_origin(c, "source", "s", "path"), "drkit.conf:7");
    assert_string_equal(conf_origin(c, "repository", "r", "url"), "drkit.conf:10");
    assert_string_equal(conf_get(c, "repository", "r", "url"), "/srv");
    assert_null(conf_origin(c, "core", NULL, "threads"));            /* default */
    assert_null(conf_origin(c, "repository", "r", "password-file")); /* unset */
    assert_null(conf_origin(c, "source", "other", "path"));
    conf_free(c);
}

static void
test_conf__subsections_in_file_order(void **state)
{
    struct conf *c = load_ok(0, "[source \"b\"]\ntype = files\n"
                                "[source \"a\"]\ntype = files\n"
                                "[core]\n"
                                "[source \"b\"]\npath = /x\n"
                                "[source \"B\"]\ntype = postgresql\n" HDR_R);
    const char *const *subs;
    size_t n = conf_subsections(c, "source", &subs);

    assert_int_equal(n, 3);
    assert_string_equal(subs[0], "b");
    assert_string_equal(subs[1], "a");
    assert_string_equal(subs[2], "B");
    assert_null(subs[3]);
    assert_int_equal(conf_subsections(c, "repository", &subs), 1);
    assert_string_equal(subs[0], "r");
    assert_int_equal(conf_subsections(c, "target", &subs), 0);
    assert_int_equal(conf_subsections(c, "core", &subs), 0);

    assert_true(conf_has_section(c, "core", NULL));
    assert_true(conf_has_section(c, "source", NULL));
    assert_true(conf_has_section(c, "source", "b"));
    assert_true(conf_has_section(c, "source", "B"));
    assert_false(conf_has_section(c, "source", "c"));
    assert_false(conf_has_section(c, "target", NULL));
    assert_string_equal(conf_get(c, "source", "b", "type"), "files");
    assert_string_equal(conf_get(c, "source", "b", "path"), "/x");
    assert_string_equal(conf_get(c, "source", "B", "type"), "postgresql");
    conf_free(c);
}

static void
test_conf__many_sections(void **state)
{
    struct buf b = BUF_INIT;
    struct conf *c;
    const char *const *subs;
    char name[32];

    for (int i = 0; i < 5000; i++)
        buf_addf(&b, "[target \"t%d\"]\npath = /r/%d\n", i, i);
    for (int i = 0; i < 5000; i += 7)
        buf_addf(&b, "[target \"t%d\"]\npath = /again/%d\n", i, i);
    c = load_ok(0, buf_cstr(&b));
    assert_int_equal(conf_subsections(c, "target", &subs), 5000);
    assert_string_equal(subs[4999], "t4999");
    snprintf(name, sizeof(name), "t%d", 14);
    assert_string_equal(conf_get(c, "target", name, "path"), "/again/14");
    assert_string_equal(conf_get(c, "target", "t15", "path"), "/r/15");
    conf_free(c);
    buf_release(&b);
}

static void
test_conf__home_not_set(void **state)
{
    char *old_home = getenv("HOME") ? xstrdup(getenv("HOME")) : NULL;
    struct conf *c = NULL;

    unsetenv("HOME");
    assert_int_equal(conf_load_string(&c, "x.conf", "[core]\ncache-dir = ~/cache\n"), DRK_ECONFIG);
    assert_string_equal(
        drk_err_msg(), "x.conf:2: cannot expand '~' in key 'cache-dir' in [core]: HOME is not set");
    c = load_ok(0, "[core]\ncache-dir = /abs\n");
    assert_string_equal(conf_get(c, "core", NULL, "cache-dir"), "/abs");
    conf_free(c);
    if (old_home)
        setenv("HOME", old_home, 1);
    free(old_home);
}

/* ---- limits ---- */

static void
test_conf__value_and_line_limits(void **state)
{
    struct buf b = BUF_INIT;
    struct conf *c = NULL;

    /* exactly CONF_VALUE_MAX bytes is fine, lines may be longer than that with blanks */
    buf_addstr(&b, "[core]\nhost = ");
    for (int i = 0; i < CONF_VALUE_MAX; i++)
        buf_addch(&b, 'a' + i % 26);
    for (int i = 0; i < 100000; i++)
        buf_addch(&b, ' ');
    buf_addstr(&b, "# trailing comment\n");
    c = load_ok(0, buf_cstr(&b));
    assert_int_equal(strlen(conf_get(c, "core", NULL, "host")), CONF_VALUE_MAX);
    conf_free(c);
    c = NULL;

    /* one more byte is not */
    buf_reset(&b);
    buf_addstr(&b, "[core]\n\nhost = \"");
    for (int i = 0; i <= CONF_VALUE_MAX; i++)
        buf_addch(&b, 'x');
    buf_addstr(&b, "\"\n");
    assert_int_equal(conf_load_string(&c, "drkit.conf", buf_cstr(&b)), DRK_ECONFIG);
    assert_null(c);
    assert_string_equal(drk_err_msg(),
                        "drkit.conf:3: value of key 'host' in [core] is longer than 65536 bytes");

    /* a string past CONF_FILE_MAX */
    buf_reset(&b);
    buf_addstr(&b, "[core]\n");
    while (b.len <= CONF_FILE_MAX)
        buf_addstr(&b, "# padding padding padding padding padding padding\n");
    assert_int_equal(conf_load_string(&c, "big.conf", buf_cstr(&b)), DRK_ETOOBIG);
    assert_null(c);
    buf_release(&b);
}

/* ---- files ---- */

static char *
temp_dir(void)
{
    char tmpl[] = "/tmp/drkit-test-conf-XXXXXX";
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    return xstrdup(d);
}

static void
test_conf__load_file(void **state)
{
    char *dir = temp_dir();
    char *path = fs_join(dir, "drkit.conf");
    char *missing = fs_join(dir, "nope.conf");
    static const char text[] = "[core]\nhost = filehost\n";
    static const char bad[] = "[core]\nhost = a\0b\n";
    struct conf *c = NULL;
    struct buf big = BUF_INIT;

    assert_int_equal(conf_load_file(&c, missing), DRK_ENOTFOUND);
    assert_null(c);

    assert_int_equal(fs_write_file_atomic(path, text, strlen(text), 0600), 0);
    assert_int_equal(conf_load_file(&c, path), 0);
    assert_string_equal(conf_path(c), path);
    assert_string_equal(conf_get(c, "core", NULL, "host"), "filehost");
    {
        char *want = xasprintf("%s:2", path);
        assert_string_equal(conf_origin(c, "core", NULL, "host"), want);
        free(want);
    }
    conf_free(c);
    c = NULL;

    /* errors name the path as given */
    assert_int_equal(fs_write_file_atomic(path, "[core]\nhots = x\n", 16, 0600), 0);
    assert_int_equal(conf_load_file(&c, path), DRK_ECONFIG);
    {
        char *want = xasprintf("%s:2: unknown key 'hots' in [core]", path);
        assert_string_equal(drk_err_msg(), want);
        assert_string_equal(drk_err_hint_msg(), "did you mean 'host'?");
        free(want);
    }

    /* a NUL byte is not text */
    assert_int_equal(fs_write_file_atomic(path, bad, sizeof(bad) - 1, 0600), 0);
    assert_int_equal(conf_load_file(&c, path), DRK_ECONFIG);
    {
        char *want = xasprintf("%s:2: NUL byte in configuration file", path);
        assert_string_equal(drk_err_msg(), want);
        free(want);
    }

    /* larger than CONF_FILE_MAX */
    while (big.len <= CONF_FILE_MAX)
        buf_addstr(&big, "# padding padding padding padding padding padding\n");
    assert_int_equal(fs_write_file_atomic(path, big.data, big.len, 0600), 0);
    assert_int_equal(conf_load_file(&c, path), DRK_ETOOBIG);
    assert_null(c);

    /* exactly CONF_FILE_MAX is fine */
    buf_setlen(&big, CONF_FILE_MAX - 1);
    buf_addch(&big, '\n');
    assert_int_equal(fs_write_file_atomic(path, big.data, big.len, 0600), 0);
    assert_int_equal(conf_load_file(&c, path), 0);
    conf_free(c);

    buf_release(&big);
    assert_int_equal(fs_remove_tree(dir), 0);
    free(missing);
    free(path);
    free(dir);
}

/* ---- the value syntaxes on their own ---- */

static void
test_conf__parse_bool(void **state)
{
    static const struct {
        const char *s;
        int r;
        bool v;
    } cases[] = {
        { "true", 0, true },    { "TRUE", 0, true },   { "yes", 0, true },  { "On", 0, true },
        { "1", 0, true },       { "false", 0, false }, { "No", 0, false },  { "OFF", 0, false },
        { "0", 0, false },      { "", -1, false },     { "2", -1, false },  { "truee", -1, false },
        { " true", -1, false }, { "y", -1, false },    { "01", -1, false },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bool v = !cases[i].v;
        int r = conf_parse_bool(cases[i].s, &v);
        if (r != cases[i].r || (r == 0 && v != cases[i].v))
            fail_msg("case %zu '%s': r=%d v=%d", i, cases[i].s, r, v);
    }
}

static void
test_conf__parse_duration(void **state)
{
    static const struct {
        const char *s;
        int r;
        uint64_t v;
    } cases[] = {
        { "30s", 0, 30 },
        { "5m", 0, 300 },
        { "2h", 0, 7200 },
        { "1d", 0, 86400 },
        { "1w", 0, 604800 },
        { "90", 0, 90 },
        { "0", 0, 0 },
        { "1h30m", 0, 5400 },
        { "1d12h", 0, 129600 },
        { "1m1m", 0, 120 },
        { "18446744073709551615", 0, UINT64_MAX },
        { "", -1, 0 },
        { "s", -1, 0 },
        { "1x", -1, 0 },
        { "-1s", -1, 0 },
        { "1h30", -1, 0 },
        { "1.5h", -1, 0 },
        { " 1s", -1, 0 },
        { "1 s", -1, 0 },
        { "1S", -1, 0 },
        { "18446744073709551616", -1, 0 },
        { "30500000000000000w", -1, 0 },
        { "18446744073709551615s1s", -1, 0 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t v = 12345;
        int r = conf_parse_duration(cases[i].s, &v);
        if (r != cases[i].r || (r == 0 && v != cases[i].v))
            fail_msg("case %zu '%s': r=%d v=%llu", i, cases[i].s, r, (unsigned long long)v);
        if (r != 0 && v != 12345)
            fail_msg("case %zu '%s': output written on failure", i, cases[i].s);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conf__good_values),
        cmocka_unit_test(test_conf__bad_input_messages),
        cmocka_unit_test(test_conf__lists),
        cmocka_unit_test(test_conf__list_repeated_many_times),
        cmocka_unit_test(test_conf__typed_getters),
        cmocka_unit_test(test_conf__defaults_of_an_empty_conf),
        cmocka_unit_test(test_conf__empty_file),
        cmocka_unit_test(test_conf__schema_defaults_are_valid),
        cmocka_unit_test(test_conf__defaults_pass_validation),
        cmocka_unit_test(test_conf__origin),
        cmocka_unit_test(test_conf__subsections_in_file_order),
        cmocka_unit_test(test_conf__many_sections),
        cmocka_unit_test(test_conf__home_not_set),
        cmocka_unit_test(test_conf__value_and_line_limits),
        cmocka_unit_test(test_conf__load_file),
        cmocka_unit_test(test_conf__parse_bool),
        cmocka_unit_test(test_conf__parse_duration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
