/* table_files.c — what every table and plot writer shares: the table file
 * of a model, CSV fields through libcsv, LaTeX escaping, file-name-safe
 * names, and running a gnuplot script (scripts/gnuplot). */
#define _GNU_SOURCE /* fork/exec */
#include "table_files.h"

#include <csv.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

void ptq_report_csv_field(FILE *f, const char *s, int last) {
    csv_fwrite(f, s, strlen(s));
    fputc(last ? '\n' : ',', f);
}

void ptq_report_tex_escape(const char *s, char *out, size_t cap) {
    size_t o = 0;
    for (; *s && o + 8 < cap; s++) {
        if (strchr("_%&#$", *s)) out[o++] = '\\', out[o++] = *s;
        else if (*s == '|') o += (size_t)snprintf(out + o, cap - o, "$|$");
        else out[o++] = *s;
    }
    out[o] = 0;
}

int ptq_report_run_gnuplot(const char *gpdir, const char *script, const char *vars, ptq_err *err) {
    char sp[4096];
    snprintf(sp, sizeof sp, "%s/%s", gpdir, script);
    pid_t pid = fork();
    if (pid < 0) return ptq_fail(err, "cannot fork gnuplot");
    if (pid == 0) {
        execlp("gnuplot", "gnuplot", "-e", vars, sp, (char *)NULL);
        _exit(127);
    }
    int st;
    if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
        return ptq_fail(err, "gnuplot %s failed (exit %d%s)", sp, WIFEXITED(st) ? WEXITSTATUS(st) : -1,
                        WIFEXITED(st) && WEXITSTATUS(st) == 127 ? ": gnuplot not installed?" : "");
    return 0;
}

void ptq_report_sanitize(const char *s, char *out, size_t cap) {
    size_t o = 0;
    for (; *s && o + 1 < cap; s++) out[o++] = (strchr("/ |:()=,", *s)) ? '_' : *s;
    out[o] = 0;
}

const char *ptq_report_gnuplot_dir(const ptq_report_opts *o) {
    if (o->gnuplot_dir) return o->gnuplot_dir;
    if (ptq_file_exists("scripts/gnuplot/lines.gp")) return "scripts/gnuplot";
#ifdef PTQ_SOURCE_DIR
    return PTQ_SOURCE_DIR "/scripts/gnuplot";
#else
    return "scripts/gnuplot";
#endif
}

FILE *ptq_report_open_table(const char *dir, const char *model, const char *suffix, ptq_err *err) {
    char ms[128], p[4300];
    ptq_report_sanitize(model, ms, sizeof ms);
    snprintf(p, sizeof p, "%s/table_%s%s", dir, ms, suffix);
    FILE *f = fopen(p, "w");
    if (!f) ptq_fail(err, "%s: cannot create", p);
    return f;
}

int ptq_report_gnuplot(const ptq_report_opts *o, const char *script, const char *vars, ptq_err *err) {
    return ptq_report_run_gnuplot(ptq_report_gnuplot_dir(o), script, vars, err);
}
