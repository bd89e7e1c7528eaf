/* waitpolicy.c — how idle OpenMP threads wait, set before the OpenMP runtime
 * starts.
 *
 * libgomp reads OMP_WAIT_POLICY / GOMP_SPINCOUNT once, when it is loaded
 * (before main), and by default a thread that reaches a barrier spins for
 * ~300k iterations (about a millisecond) before it sleeps. On a machine whose
 * cores are shared with other jobs, the thread it waits for is often
 * descheduled, so the spinning burns a core that the other thread needs:
 * measured 3.5x more CPU time for the quickstart under load. A short spin
 * keeps the wake-up fast between the back-to-back parallel regions of a
 * forward pass and then sleeps. Since the variables must be in the
 * environment when the library loads, main re-executes the program once
 * with them set; a value the user set is kept as is. */
#include <stdlib.h>
#include <unistd.h>

#include "cli.h"

#define PTQ_SPINCOUNT "10000" /* ~10-30 us of spinning, then sleep */

void ptq_wait_policy_init(char **argv) {
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT") || getenv("PTQ_WAIT_POLICY_SET")) return;
    if (setenv("GOMP_SPINCOUNT", PTQ_SPINCOUNT, 1) || setenv("PTQ_WAIT_POLICY_SET", "1", 1)) return;
    execv("/proc/self/exe", argv); /* returns only on failure: run on with libgomp's default */
    unsetenv("GOMP_SPINCOUNT");
}
