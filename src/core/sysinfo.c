/* sysinfo.c — see sysinfo.h. */
#define _GNU_SOURCE /* gethostname */
#include "sysinfo.h"

#include <dirent.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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

int ptq_cores_allowed(void) {
    cpu_set_t set;
    if (!sched_getaffinity(0, sizeof set, &set) && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int ptq_loadavg_running(const char *text) {
    double la[3];
    int r = -1, total = 0;
    if (sscanf(text, "%lf %lf %lf %d/%d", &la[0], &la[1], &la[2], &r, &total) != 5 || r < 0 || total < r) return -1;
    return r;
}

int ptq_task_stat_running(const char *text) {
    const char *close = strrchr(text, ')');
    if (!close || close[1] != ' ' || !close[2]) return -1;
    return close[2] == 'R';
}

/* A small /proc file's text ("" when it cannot be read); returns its length or -1. */
static int read_small(const char *path, char *buf, size_t cap) {
    FILE *f = fopen(path, "r");
    size_t len = f ? fread(buf, 1, cap - 1, f) : 0;
    if (f) fclose(f);
    buf[len] = 0;
    return f ? (int)len : -1;
}

/* This process's threads in state R (running or waiting for a core). */
static int own_running_threads(void) {
    DIR *d = opendir("/proc/self/task");
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char path[64], buf[512];
        snprintf(path, sizeof path, "/proc/self/task/%.20s/stat", e->d_name);
        if (read_small(path, buf, sizeof buf) > 0) n += ptq_task_stat_running(buf) == 1;
    }
    closedir(d);
    return n;
}

int ptq_cores_free_of(int allowed, int others, int ceiling) {
    if (ceiling < 1) ceiling = 1;
    int n = allowed - (others > 0 ? others : 0);
    return n < 1 ? 1 : n > ceiling ? ceiling : n;
}

int ptq_cores_free(int ceiling) {
    int others = -1;
    for (int look = 0; look < 2; look++) {
        char buf[256];
        if (look) nanosleep(&(struct timespec){0, 100000}, NULL);
        int all = read_small("/proc/loadavg", buf, sizeof buf) > 0 ? ptq_loadavg_running(buf) : -1;
        int own = own_running_threads();
        if (all < 0 || own < 0) return ceiling < 1 ? 1 : ceiling;
        int o = all > own ? all - own : 0;
        if (others < 0 || o < others) others = o;
    }
    return ptq_cores_free_of(ptq_cores_allowed(), others, ceiling);
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
