/*
 * fuzz_tree: tree_decode (src/repo/tree.c) on arbitrary bytes. Besides "no crash, no leak":
 * a tree that decodes has only safe, sorted, unique names, each found by tree_find, and
 * re-encodes to exactly the bytes it came from; a tree that does not decode fails with
 * DRK_ECORRUPT or DRK_EUNSAFE.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "repo/tree.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tree t;
    struct buf enc = BUF_INIT;
    int r = tree_decode(&t, data, size);

    if (r == 0) {
        for (size_t i = 0; i < t.n; i++) {
            const struct node *n = &t.nodes[i];
            if (!tree_name_safe(n->name, n->name_len) || tree_find(&t, n->name, n->name_len) != n)
                abort();
            if (i > 0 && node_name_cmp(t.nodes[i - 1].name, t.nodes[i - 1].name_len, n->name,
                                       n->name_len) >= 0)
                abort();
            if (n->ncontent && n->type != NODE_FILE)
                abort();
        }
        r = tree_encode(&t, &enc);
        /* DRK_ETOOBIG: a symlink target longer than TREE_LINK_MAX decodes but cannot be
         * encoded again (see fuzz/README.md, known findings). */
        if (r != 0 && r != DRK_ETOOBIG)
            abort();
        if (r == 0 && (enc.len != size || memcmp(enc.data, data, size) != 0))
            abort();
    } else if (r != DRK_ECORRUPT && r != DRK_EUNSAFE) {
        abort();
    }
    buf_release(&enc);
    tree_release(&t);
    return 0;
}
