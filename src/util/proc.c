/* proc: child processes with pipes. */
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "err.h"
#include "xalloc.h"
#include "banned.h"

extern char **environ;

static void *
drain_stderr(void *arg)
{
    struct proc *p = arg;
    char chunk[4096];
    for (;;) {
        ssize_t n = read(p->err_pipe, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (p->err.len < PROC_ERR_MAX)
            buf_add(&p->err, chunk, (size_t)n);
    }
    close(p->err_pipe);
    p->err_pipe = -1;
    return NULL;
}

int
proc_start(struct proc *p, const char *const *argv, const char *const *env, unsigned flags)
{
    int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 };
    int devnull;
    pid_t pid;

    memset(p, 0, sizeof(*p));
    p->in_fd = p->out_fd = p->err_pipe = -1;
    p->name = argv[0];
    buf_init(&p->err, 0);
    if (((flags & PROC_STDIN_PIPE) && pipe2(in, O_CLOEXEC) != 0) ||
        ((flags & PROC_STDOUT_PIPE) && pipe2(out, O_CLOEXEC) != 0) || pipe2(err, O_CLOEXEC) != 0)
        return drk_err_errno(DRK_EIO, errno, "cannot run '%s'", argv[0]);
    pid = fork();
    if (pid < 0)
        return drk_err_errno(DRK_EIO, errno, "cannot run '%s'", argv[0]);
    if (pid == 0) {
        devnull = open("/dev/null", O_RDWR);
        dup2(flags & PROC_STDIN_PIPE ? in[0] : devnull, 0);
        dup2(flags & PROC_STDOUT_PIPE ? out[1] : devnull, 1);
        dup2(err[1], 2);
        signal(SIGPIPE, SIG_DFL);
        for (size_t i = 0; env && env[i]; i++)
            putenv((char *)env[i]);
        execv(argv[0], (char *const *)argv);
        dprintf(2, "cannot run '%s': %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    p->pid = pid;
    if (flags & PROC_STDIN_PIPE) {
        close(in[0]);
        p->in_fd = in[1];
    }
    if (flags & PROC_STDOUT_PIPE) {
        close(out[1]);
        p->out_fd = out[0];
    }
    close(err[1]);
    p->err_pipe = err[0];
    if (pthread_create(&p->err_thread, NULL, drain_stderr, p) != 0)
        abort();
    return 0;
}

const char *
proc_stderr(struct proc *p)
{
    while (p->err.len &&
           (p->err.data[p->err.len - 1] == '\n' || p->err.data[p->err.len - 1] == ' '))
        buf_setlen(&p->err, p->err.len - 1);
    return (const char *)p->err.data;
}

int
proc_finish(struct proc *p)
{
    int status = 0;
    if (p->in_fd >= 0)
        close(p->in_fd);
    if (p->out_fd >= 0)
        close(p->out_fd);
    p->in_fd = p->out_fd = -1;
    if (p->pid > 0) {
        while (waitpid(p->pid, &status, 0) < 0 && errno == EINTR)
            ;
        pthread_join(p->err_thread, NULL);
        p->pid = 0;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFSIGNALED(status))
        return drk_err_set(DRK_EIO, "%s was killed by signal %d%s%s", p->name, WTERMSIG(status),
                           p->err.len ? ": " : "", proc_stderr(p));
    return drk_err_set(DRK_EIO, "%s failed (exit %d)%s%s", p->name, WEXITSTATUS(status),
                       p->err.len ? ": " : "", proc_stderr(p));
}

void
proc_kill(struct proc *p)
{
    /* the caller's error (why the child is being killed) is the one to report, not the
     * child's death by our signal */
    struct drk_error cause;
    drk_err_save(&cause);
    if (p->pid > 0)
        kill(p->pid, SIGTERM);
    proc_finish(p);
    drk_err_restore(&cause);
}

void
proc_release(struct proc *p)
{
    buf_release(&p->err);
}
