/* sysinfo.c — see sysinfo.h. */
#define _GNU_SOURCE /* gethostname */
#include "sysinfo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void ptq_host_name(char *out, size_t cap) {
    if (gethostname(out, cap)) snprintf(out, cap, "unknown");
    out[cap - 1] = 0;
}

void ptq_cpu_model(char *out, size_t cap) {
    snprintf(out, cap, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
            char *v = strchr(line, ':') + 1;
            v += *v == ' ';
            v[strcspn(v, "\n")] = 0;
            snprintf(out, cap, "%s", v);
            break;
        }
    if (f) fclose(f);
}

int ptq_loadavg(double la[3]) {
    FILE *f = fopen("/proc/loadavg", "r");
    int n = f ? fscanf(f, "%lf %lf %lf", &la[0], &la[1], &la[2]) : 0;
    if (f) fclose(f);
    return n == 3 ? 0 : -1;
}

long ptq_rss_kb(void) {
    long pages = 0, rss = -1;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return -1;
    if (fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = -1;
    fclose(f);
    return rss < 0 ? -1 : rss * (sysconf(_SC_PAGESIZE) / 1024);
}

long ptq_peak_rss_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0) kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

size_t ptq_llc_bytes(void) {
#ifdef _SC_LEVEL3_CACHE_SIZE
    long v = sysconf(_SC_LEVEL3_CACHE_SIZE);
    if (v > 0) return (size_t)v;
#endif
    FILE *f = fopen("/sys/devices/system/cpu/cpu0/cache/index3/size", "r");
    long kb = 0;
    if (f) {
        if (fscanf(f, "%ldK", &kb) != 1) kb = 0;
        fclose(f);
    }
    return kb > 0 ? (size_t)kb * 1024 : 0;
}
