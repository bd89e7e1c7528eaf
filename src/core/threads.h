/* threads.h — how many OpenMP threads ptqbench runs, and when that changes.
 *
 * Results never depend on the thread count (every reduction has a fixed
 * order), so the count may follow the machine. Two policies:
 *   fixed  exactly n threads (OMP_NUM_THREADS set, bench --threads N, the
 *          latency task's threads=N);
 *   auto   the default otherwise: between units of work (a forward pass, a
 *          streamed block, a GPTQ linear, a sweep cell) the master thread
 *          re-reads, at most every PTQ_THREADS_RECHECK_MS, how many cores other
 *          jobs leave free and runs that many threads, never more than the
 *          ceiling (the cores this process may use).
 * Why auto: each parallel region ends at a barrier, and on a core another
 * job shares, the thread it waits for sits descheduled for a whole time
 * slice. Beside a 2-thread load, 2 threads kept 0.06x of their quiet
 * throughput on TinyStories-656K and 1 thread 0.75x. */
#ifndef PTQ_THREADS_H
#define PTQ_THREADS_H

#define PTQ_THREADS_RECHECK_MS 250

/* Once, from main: auto unless OMP_NUM_THREADS is set. Without this call
 * (library users, tests) the policy is fixed at the OpenMP default. */
void ptq_threads_init(void);
/* Run exactly n >= 1 threads from now on. */
void ptq_threads_fix(int n);
/* Follow the free cores, up to the cores this process may use. */
void ptq_threads_auto(void);
int ptq_threads_is_auto(void);
/* Under auto, from the master thread outside any parallel region: re-read
 * the free cores if the last look is older than the recheck interval and set
 * the OpenMP thread count. Returns the count in force. A no-op (returning the
 * count) under fixed, inside a parallel region, or before the interval. */
int ptq_threads_adapt(void);
/* The most threads a parallel region may run while a buffer lives: size
 * per-thread scratch by this, and cap regions that index it at the count
 * the buffer was sized for. */
int ptq_thread_slots(void);

#endif
