/*
 * fuzz_config: conf_load_string (src/util/conf.c) on arbitrary text. A configuration that
 * loads answers every getter of its schema for every section it has without failing (the
 * values were validated at load); one that does not load fails with DRK_ECONFIG or
 * DRK_ETOOBIG.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/conf.h"
#include "util/err.h"
#include "util/xalloc.h"
#include "util/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
read_key(const struct conf *c, const struct conf_key_info *k, const char *sub)
{
    const char *const *words;
    bool b;
    int64_t i;
    uint64_t u;
    int r = 0;

    (void)conf_get(c, k->section, sub, k->key);
    (void)conf_origin(c, k->section, sub, k->key);
    if (!strcmp(k->type, "bool"))
        r = conf_get_bool(c, k->section, sub, k->key, &b);
    else if (!strcmp(k->type, "int"))
        r = conf_get_int(c, k->section, sub, k->key, &i);
    else if (!strcmp(k->type, "size"))
        r = conf_get_size(c, k->section, sub, k->key, &u);
    else if (!strcmp(k->type, "duration"))
        r = conf_get_duration(c, k->section, sub, k->key, &u);
    else if (!strcmp(k->type, "list") && conf_get_list(c, k->section, sub, k->key, &words) &&
             !words[0])
        abort();
    if (r != 0 && r != DRK_ENOTFOUND)
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct conf_key_info *keys;
    size_t nkeys = conf_schema(&keys);
    struct conf *c = NULL;
    char *text = xmalloc(size + 1);
    int r;

    memcpy(text, data, size);
    text[size] = '\0';
    r = conf_load_string(&c, "fuzz.conf", text);
    if (r == 0) {
        for (size_t k = 0; k < nkeys; k++) {
            const char *const *subs;
            size_t nsubs = conf_subsections(c, keys[k].section, &subs);
            if (!strcmp(keys[k].section, "core")) {
                read_key(c, &keys[k], NULL);
                continue;
            }
            for (size_t s = 0; s < nsubs; s++)
                read_key(c, &keys[k], subs[s]);
        }
        conf_free(c);
    } else if (r != DRK_ECONFIG && r != DRK_ETOOBIG) {
        abort();
    }
    free(text);
    return 0;
}
