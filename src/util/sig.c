/* sig: interrupt flag set by SIGINT/SIGTERM/SIGHUP; SIGPIPE ignored. */
#include "sig.h"

#include <signal.h>
#include <stdatomic.h>
#include <string.h>

#include "banned.h"

static atomic_int interrupted;

static void
on_signal(int signo)
{
    (void)signo;
    atomic_store(&interrupted, 1);
}

void
sig_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

bool
sig_interrupted(void)
{
    return atomic_load(&interrupted) != 0;
}

void
sig_raise_flag(void)
{
    atomic_store(&interrupted, 1);
}
