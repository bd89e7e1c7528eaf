/* waitpolicy.c — how idle OpenMP threads wait (and, for bench, OpenBLAS's
 * kernels), set before the OpenMP and BLAS runtimes start.
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
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define PTQ_SPINCOUNT "10000" /* ~10-30 us of spinning, then sleep */

/* OpenBLAS picks its kernels from the CPU model; on a virtual machine that
 * reports a generic model ("Intel Xeon Processor") it falls back to Prescott
 * (SSE3): sgemm measured 3.7x slower than its AVX-512 kernels on such a host,
 * and zoo training 3.3x slower. Every command therefore chooses the kernels
 * from the CPU's features, which is also what OpenBLAS picks on a bare-metal
 * host of the same CPU, so rows agree between the two. A value already in
 * the environment is kept (some hosts set OPENBLAS_CORETYPE=Haswell for
 * every process: sgemm 1.9x slower on an AVX-512 CPU); rows record both. */
static const char *blas_core(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
    return NULL;
}

void ptq_wait_policy_init(char **argv) {
    if (getenv("PTQ_WAIT_POLICY_SET")) return;
    int again = 0;
    if (!getenv("OMP_WAIT_POLICY") && !getenv("GOMP_SPINCOUNT"))
        again |= !setenv("GOMP_SPINCOUNT", PTQ_SPINCOUNT, 1);
    const char *core = blas_core();
    if (core) setenv("PTQ_CPU_CORETYPE", core, 1); /* what this CPU supports, for rows and bench's report */
    if (core && !getenv("OPENBLAS_CORETYPE"))
        again |= !setenv("OPENBLAS_CORETYPE", core, 1);
    if (!again || setenv("PTQ_WAIT_POLICY_SET", "1", 1)) return;
    execv("/proc/self/exe", argv); /* returns only on failure: run on with the libraries' defaults */
}
