/* sysinfo.h — facts about the machine and this process that result rows
 * record (machines are shared, so load and memory go with every figure). */
#ifndef PTQ_SYSINFO_H
#define PTQ_SYSINFO_H

#include <stddef.h>

/* Host name ("unknown" when it cannot be read). */
void ptq_host_name(char *out, size_t cap);
/* CPU model name from /proc/cpuinfo ("unknown" when absent). */
void ptq_cpu_model(char *out, size_t cap);
/* 1, 5 and 15 minute load averages from /proc/loadavg; -1 when unreadable. */
int ptq_loadavg(double la[3]);
/* The cores this process may run on (its affinity mask), at least 1. */
int ptq_cores_allowed(void);
/* The cores other jobs leave free now, between 1 and ceiling: the allowed
 * cores minus the runnable threads of other processes (/proc/loadavg's
 * running count less this process's own running threads, the smaller of two
 * looks 100 us apart so that a passing process is not counted). ceiling when
 * /proc cannot be read. */
int ptq_cores_free(int ceiling);
/* Its parts, for tests: the running count of a /proc/loadavg text ("0.50
 * 0.40 0.30 3/120 4567" -> 3; -1 when malformed), whether a
 * /proc/<pid>/task/<tid>/stat text is in state R (1, 0, -1 when malformed),
 * and the count from allowed cores and other runnable threads, in 1..ceiling. */
int ptq_loadavg_running(const char *text);
int ptq_task_stat_running(const char *text);
int ptq_cores_free_of(int allowed, int others, int ceiling);
/* Resident set size of this process now (/proc/self/statm), KiB; -1 when unreadable. */
long ptq_rss_kb(void);
/* Peak resident set size of this process (VmHWM), KiB; -1 when unreadable. */
long ptq_peak_rss_kb(void);
/* Size of the last-level cache in bytes (sysconf, else sysfs index3); 0 when unknown. */
size_t ptq_llc_bytes(void);

#endif
