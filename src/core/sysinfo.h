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
/* Resident set size of this process now (/proc/self/statm), KiB; -1 when unreadable. */
long ptq_rss_kb(void);
/* Peak resident set size of this process (VmHWM), KiB; -1 when unreadable. */
long ptq_peak_rss_kb(void);
/* Size of the last-level cache in bytes (sysconf, else sysfs index3); 0 when unknown. */
size_t ptq_llc_bytes(void);

#endif
