/*
 * proc: run a program with pipes — its standard output to read (streamed into the engine),
 * its standard input to write (streamed out of the repository), its standard error captured
 * so that its own words can be reported verbatim.
 */
#ifndef DRK_UTIL_PROC_H
#define DRK_UTIL_PROC_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

#include "util/buf.h"

enum proc_flags {
    PROC_STDIN_PIPE = 1,  /* in_fd: write to the child's stdin (else /dev/null) */
    PROC_STDOUT_PIPE = 2, /* out_fd: read what the child writes (else /dev/null) */
};

#define PROC_ERR_MAX (64 * 1024) /* stderr kept (the first bytes) */

struct proc {
    pid_t pid;
    int in_fd, out_fd;
    struct buf err; /* what the child wrote on stderr */
    pthread_t err_thread;
    int err_pipe;
    const char *name; /* argv[0], for messages */
};

/* Start argv[0] (a path) with argv; env: extra "NAME=value" strings (NULL-terminated, may be
 * NULL). */
int proc_start(struct proc *p, const char *const *argv, const char *const *env, unsigned flags);
/* Close the pipes we still hold, wait, and give the exit status: 0 if it exited 0, else
 * DRK_EIO with "NAME failed (exit N): <its stderr>". */
int proc_finish(struct proc *p);
/* Kill it (error paths), then finish. */
void proc_kill(struct proc *p);
/* stderr text, trimmed, for messages */
const char *proc_stderr(struct proc *p);
void proc_release(struct proc *p); /* after finish: frees the stderr text */

#endif
