/* threads.c — see threads.h. */
#include "threads.h"

#include <stdlib.h>

#include "common.h"
#include "sysinfo.h"

#ifdef _OPENMP
#include <omp.h>
#endif

static int g_auto;        /* 1: follow the free cores */
static int g_ceiling;     /* the most threads auto runs (0: not yet read) */
static double g_last = -1; /* when the free cores were last read */

static int omp_count(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

static void omp_count_set(int n) {
#ifdef _OPENMP
    omp_set_num_threads(n);
#else
    (void)n;
#endif
}

/* Inside any region, active or serialized (a count set there would only
 * hold for that region). */
static int in_parallel(void) {
#ifdef _OPENMP
    return omp_get_level() > 0;
#else
    return 1;
#endif
}

void ptq_threads_init(void) {
    const char *env = getenv("OMP_NUM_THREADS");
    if (env && *env) {
        g_auto = 0;
        return;
    }
    ptq_threads_auto();
}

void ptq_threads_fix(int n) {
    g_auto = 0;
    if (n < 1) n = 1;
    if (n > g_ceiling) g_ceiling = n;
    omp_count_set(n);
}

void ptq_threads_auto(void) {
    int n = ptq_cores_allowed();
    if (n > g_ceiling) g_ceiling = n;
    g_auto = 1;
    g_last = -1;
    ptq_threads_adapt();
}

int ptq_threads_is_auto(void) { return g_auto; }

int ptq_threads_adapt(void) {
    if (!g_auto || in_parallel()) return omp_count();
    double now = ptq_now_sec();
    if (g_last >= 0 && now - g_last < 1e-3 * PTQ_THREADS_RECHECK_MS) return omp_count();
    g_last = now;
    int n = ptq_cores_free(g_ceiling);
    if (n != omp_count()) omp_count_set(n);
    return n;
}

int ptq_thread_slots(void) {
    int n = omp_count();
    return n > g_ceiling ? n : g_ceiling;
}
