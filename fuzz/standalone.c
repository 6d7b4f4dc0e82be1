/*
 * standalone: a main() that feeds files to LLVMFuzzerTestOneInput without libFuzzer (libgit2
 * tests/fuzz/standalone_driver.c), so the committed corpora replay as ordinary CTest tests
 * with the normal compiler, under ASan/UBSan when the build has them.
 *
 *     usage: <target>_replay PATH...
 *
 * Each PATH is a file (one input) or a directory (every regular file in it, in name order,
 * not recursively). Each input is passed in a buffer of exactly its size, so a read past the
 * end is caught by ASan. Exit status: 0 if every PATH could be read, else 1 (a crash or an
 * abort() in the target ends the run with the signal, as under libFuzzer).
 */
#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/buf.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
run_file(const char *path)
{
    struct buf b = BUF_INIT;
    unsigned char *exact;
    size_t len;

    if (fs_read_file(path, &b, 0) != 0) {
        fprintf(stderr, "%s\n", drk_err_msg());
        return -1;
    }
    len = b.len;
    exact = malloc(len ? len : 1);
    if (!exact)
        abort();
    memcpy(exact, b.data, len);
    buf_release(&b);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    return 0;
}

static int
cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Run every regular file of dir; returns how many ran, -1 on error. */
static long
run_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **names = NULL;
    size_t n = 0, cap = 0;
    long ran = 0;

    if (!d) {
        fprintf(stderr, "cannot open '%s': %s\n", dir, strerror(errno));
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            names = realloc(names, cap * sizeof(*names));
            if (!names)
                abort();
        }
        names[n++] = strdup(de->d_name);
    }
    closedir(d);
    if (n > 1)
        qsort(names, n, sizeof(*names), cmp_names);
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        char *path = fs_join(dir, names[i]);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            if (run_file(path) != 0)
                ran = -1;
            else if (ran >= 0)
                ran++;
        }
        free(path);
        free(names[i]);
    }
    free(names);
    return ran;
}

int
main(int argc, char **argv)
{
    long total = 0;
    int status = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: %s PATH...\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        struct stat st;
        long ran;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "cannot open '%s': %s\n", argv[i], strerror(errno));
            status = 1;
            continue;
        }
        ran = S_ISDIR(st.st_mode) ? run_dir(argv[i]) : run_file(argv[i]) == 0 ? 1 : -1;
        if (ran < 0)
            status = 1;
        else
            total += ran;
    }
    fprintf(stderr, "%s: ran %ld input(s)\n", argv[0], total);
    return status;
}
