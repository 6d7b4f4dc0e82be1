/*
 * fsmeta: file metadata between the filesystem and tree nodes — capture on backup
 * (type, mode, owner ids and names, times, inode, size, symlink target, extended
 * attributes) and apply on restore (owner, mode, attributes, times), always without
 * following symlinks.
 */
#ifndef DRK_SOURCE_FSMETA_H
#define DRK_SOURCE_FSMETA_H

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

struct node;
struct arena;
struct owner_cache;

struct owner_cache *owner_cache_new(void);
void owner_cache_free(struct owner_cache *oc);

/*
 * Fill n from st (lstat of path) and, for what stat does not give, from path itself:
 * symlink target, extended attributes. Strings are allocated in arena. Returns 0, or an
 * error for a failure to read the link target; attributes that cannot be read are
 * skipped with a warning.
 */
int fsmeta_capture(struct node *n, struct arena *arena, const char *path, const char *name,
                   size_t name_len, const struct stat *st, struct owner_cache *oc);

/* Are the change-detection fields (size, mtime, ctime, inode) of st those of node n? */
bool fsmeta_unchanged(const struct node *n, const struct stat *st);

struct restore_owner_opts {
    bool numeric; /* use the stored ids even when the names exist here */
    bool chown;   /* set owners at all (root) */
};

/* Owner ids to restore: by name when it exists here (unless numeric), else the stored ids. */
void fsmeta_restore_ids(const struct node *n, struct owner_cache *oc, bool numeric, uid_t *uid,
                        gid_t *gid);

/*
 * Apply owner, mode, xattrs and mtime to an open regular file or directory (fd), in the
 * order that keeps setuid bits (chown clears them). Failures are returned; `what` names
 * the path in messages.
 */
int fsmeta_apply_fd(int fd, const struct node *n, struct owner_cache *oc,
                    const struct restore_owner_opts *o, const char *what);
/* The same for an entry that cannot be opened (symlink, fifo, device): by dirfd + name. */
int fsmeta_apply_at(int dirfd, const char *name, const struct node *n, struct owner_cache *oc,
                    const struct restore_owner_opts *o, const char *what);

#endif
