/*
 * sig: SIGINT/SIGTERM turn into a flag that long operations poll, so they stop at a
 * safe point, remove their temporary files and release their locks.
 */
#ifndef DRK_UTIL_SIG_H
#define DRK_UTIL_SIG_H

#include <stdbool.h>

void sig_install(void);
bool sig_interrupted(void);
/* For tests and for "stop now" paths: raise the flag as if a signal came. */
void sig_raise_flag(void);

#endif
