/* table_files.c — what every table and plot writer shares: the table value
 * and its Markdown, CSV (libcsv) and LaTeX writers, file-name-safe names,
 * and gnuplot figures (scripts/gnuplot). */
#define _GNU_SOURCE /* vasprintf, fork/exec */
#include "table_files.h"

#include <csv.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- the table value ------------------------------------------------------- */
static char *vformat(ptq_table *t, const char *fmt, va_list ap) {
    char *s;
    if (vasprintf(&s, fmt, ap) >= 0) return s;
    t->full = 1;
    return NULL;
}

void ptq_table_col(ptq_table *t, const char *group, const char *fmt, ...) {
    if (t->ncols == PTQ_TABLE_MAXC || t->nrows) { /* columns come before the rows */
        t->full = 1;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    t->group[t->ncols] = group;
    t->head[t->ncols++] = vformat(t, fmt, ap);
    va_end(ap);
}

/* Every row has all its cells. */
static int complete(const ptq_table *t) { return !t->full && (!t->nrows || t->ncell == t->ncols); }

void ptq_table_row(ptq_table *t, const char *note) {
    ptq_tcell *r = t->nrows < PTQ_TABLE_MAXR ? calloc((size_t)t->ncols + 1, sizeof *r) : NULL;
    if (!r || !complete(t)) {
        free(r);
        t->full = 1;
        return;
    }
    t->note[t->nrows] = note ? strdup(note) : NULL;
    t->full = note && !t->note[t->nrows];
    t->row[t->nrows++] = r;
    t->ncell = 0;
}

void ptq_table_cell(ptq_table *t, int bold, const char *fmt, ...) {
    if (t->full || !t->nrows || t->ncell == t->ncols) {
        t->full = 1;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    t->row[t->nrows - 1][t->ncell++] = (ptq_tcell){.text = vformat(t, fmt, ap), .bold = bold};
    va_end(ap);
}

void ptq_table_mark(ptq_table *t) {
    if (!t->full && t->nrows && t->ncell) t->row[t->nrows - 1][t->ncell - 1].mark = 1;
}

void ptq_table_num(ptq_table *t, const char *fmt, double v) {
    char s[64] = "";
    if (!isnan(v)) snprintf(s, sizeof s, fmt, v);
    ptq_table_cell(t, 0, "%s", s);
}

void ptq_table_free(ptq_table *t) {
    for (int c = 0; c < t->ncols; c++) free(t->head[c]);
    for (int r = 0; r < t->nrows; r++) {
        for (int c = 0; c < t->ncols; c++) free(t->row[r][c].text);
        free(t->row[r]);
        free(t->note[r]);
    }
}

/* ---- writing it -------------------------------------------------------------- */
/* Markdown and CSV head of column c: "group head", or the head. */
static void heading(const ptq_table *t, int c, char *out, size_t cap) {
    if (t->group[c]) snprintf(out, cap, "%s %s", t->group[c], t->head[c]);
    else snprintf(out, cap, "%s", t->head[c]);
}

/* s as Markdown table text: '|' escaped, line breaks as spaces. */
static void md_put(FILE *f, const char *s) {
    for (; *s; s++)
        if (*s == '|') fputs("\\|", f);
        else fputc(*s == '\n' || *s == '\r' ? ' ' : *s, f);
}

static void md_cell(FILE *f, const char *s, int bold, int mark) {
    fputs(bold ? " **" : " ", f);
    md_put(f, s);
    fputs(bold ? "**" : "", f);
    fputs(mark ? "\xe2\x80\xa0 |" : " |", f); /* dagger */
}

static void write_md(const ptq_table *t, FILE *f) {
    int notes = 0;
    char h[512];
    for (int r = 0; r < t->nrows; r++) notes |= t->note[r] != NULL;
    fputs("**", f);
    md_put(f, t->caption);
    fputs("**\n\n|", f);
    for (int c = 0; c < t->ncols; c++) {
        heading(t, c, h, sizeof h);
        md_cell(f, h, 0, 0);
    }
    if (notes) md_cell(f, "note", 0, 0);
    fputs("\n|", f);
    for (int c = 0; c < t->ncols; c++) fputs(c < t->nlab ? "---|" : "---:|", f);
    fputs(notes ? "---|\n" : "\n", f);
    for (int r = 0; r < t->nrows; r++) {
        fputc('|', f);
        for (int c = 0; c < t->ncols; c++) md_cell(f, t->row[r][c].text, t->row[r][c].bold, t->row[r][c].mark);
        if (notes) md_cell(f, t->note[r] ? t->note[r] : "", 0, 0);
        fputc('\n', f);
    }
    fputc('\n', f);
}

void ptq_report_csv_field(FILE *f, const char *s, int last) {
    csv_fwrite(f, s, strlen(s));
    fputc(last ? '\n' : ',', f);
}

static void write_csv(const ptq_table *t, FILE *f) {
    char h[512];
    for (int c = 0; c < t->ncols; c++) {
        heading(t, c, h, sizeof h);
        ptq_report_csv_field(f, h, c == t->ncols - 1);
    }
    for (int r = 0; r < t->nrows; r++)
        for (int c = 0; c < t->ncols; c++) ptq_report_csv_field(f, t->row[r][c].text, c == t->ncols - 1);
}

void ptq_report_tex_put(FILE *f, const char *s) {
    for (; *s; s++) {
        if (!strncmp(s, "\xc2\xb1", 2)) fputs("$\\pm$", f), s++; /* UTF-8 plus-minus and dagger */
        else if (!strncmp(s, "\xe2\x80\xa0", 3)) fputs("$^\\dagger$", f), s += 2;
        else if (*s == '\\') fputs("\\textbackslash{}", f);
        else if (*s == '^' || *s == '~') fprintf(f, "\\%c{}", *s);
        else if (*s == '|') fputs("$|$", f);
        else if (*s == '<' || *s == '>') fputs(*s == '<' ? "\\textless{}" : "\\textgreater{}", f); /* OT1 has no < > */
        else if (*s == '\n' || *s == '\r') fputc(' ', f);
        else if (strchr("{}%&_#$", *s)) fprintf(f, "\\%c", *s);
        else fputc(*s, f);
    }
}

/* Columns in the run of one group from c on. */
static int group_run(const ptq_table *t, int c) {
    int n = 1;
    while (c + n < t->ncols && t->group[c + n] && !strcmp(t->group[c + n], t->group[c])) n++;
    return n;
}

static void tex_cell(FILE *f, const ptq_tcell *x, int first) {
    fputs(first ? "" : " & ", f);
    fputs(x->bold ? "\\textbf{" : "", f);
    fputs(x->mark ? "\\underline{" : "", f);
    if (!strcmp(x->text, "inf")) fputs("$\\infty$", f);
    else ptq_report_tex_put(f, x->text);
    fputs(x->mark ? "}" : "", f);
    fputs(x->bold ? "}" : "", f);
}

static void write_tex(const ptq_table *t, FILE *f) {
    fputs("\\begin{table}[t]\n\\centering\n\\small\n\\caption{", f);
    ptq_report_tex_put(f, t->caption);
    fprintf(f, "}\n%s\\begin{tabular}{", t->tex_resize ? "\\resizebox{\\linewidth}{!}{" : "");
    for (int c = 0; c < t->ncols; c++) fputc(c < t->nlab ? 'l' : 'r', f);
    fputs("}\n\\toprule\n", f);
    if (t->ncols > t->nlab && t->group[t->nlab]) { /* a header over each run of one group, ruled below */
        for (int c = 1; c < t->nlab; c++) fputs(" &", f);
        for (int c = t->nlab; c < t->ncols; c += group_run(t, c)) {
            fprintf(f, " & \\multicolumn{%d}{c}{", group_run(t, c));
            ptq_report_tex_put(f, t->group[c]);
            fputs("}", f);
        }
        fputs(" \\\\\n", f);
        for (int c = t->nlab; c < t->ncols; c += group_run(t, c))
            fprintf(f, "\\cmidrule(lr){%d-%d}", c + 1, c + group_run(t, c));
        fputs("\n", f);
    }
    for (int c = 0; c < t->ncols; c++) tex_cell(f, &(ptq_tcell){.text = t->head[c]}, c == 0);
    fputs(" \\\\\n\\midrule\n", f);
    for (int r = 0; r < t->nrows; r++) {
        for (int c = 0; c < t->nlab; c++) tex_cell(f, &t->row[r][c], c == 0);
        if (t->note[r]) {
            char cut[121];
            snprintf(cut, sizeof cut, "%s", t->note[r]);
            fprintf(f, " & \\multicolumn{%d}{l}{\\emph{%s", t->ncols - t->nlab, t->note_prefix ? t->note_prefix : "");
            ptq_report_tex_put(f, cut);
            fputs("}}", f);
        }
        for (int c = t->nlab; c < t->ncols && !t->note[r]; c++) tex_cell(f, &t->row[r][c], 0);
        fputs(" \\\\\n", f);
    }
    fprintf(f, "\\bottomrule\n\\end{tabular}%s\n\\end{table}\n", t->tex_resize ? "}" : "");
}

int ptq_report_tables(const ptq_table *shown, const ptq_table *csv, const ptq_report_opts *o, const char *model,
                      const char *suffix, FILE *out, FILE *tex_all, ptq_err *err) {
    static const struct {
        int fmt;
        const char *ext;
    } files[] = {{PTQ_FMT_MD, ".md"}, {PTQ_FMT_CSV, ".csv"}, {PTQ_FMT_TEX, ".tex"}};
    if (!complete(shown) || !complete(csv)) return ptq_fail(err, "report: out of memory or a table too large");
    if (out) write_md(shown, out);
    int rc = 0;
    for (int i = 0; i < 3; i++) {
        if (!(o->formats & files[i].fmt)) continue;
        char ms[128], p[4300];
        ptq_report_sanitize(model, ms, sizeof ms);
        snprintf(p, sizeof p, "%s/table_%s%s%s", o->out_dir, ms, suffix, files[i].ext);
        FILE *f = fopen(p, "w");
        if (!f) {
            rc = ptq_fail(err, "%s: cannot create", p);
            continue;
        }
        if (files[i].fmt == PTQ_FMT_MD) write_md(shown, f);
        else if (files[i].fmt == PTQ_FMT_CSV) write_csv(csv, f);
        else write_tex(shown, f);
        fclose(f);
        if (files[i].fmt == PTQ_FMT_TEX && tex_all) write_tex(shown, tex_all);
    }
    return rc;
}

int ptq_report_add_unique(const char **list, int *n, int cap, const char *s) {
    if (!s) return -1;
    for (int i = 0; i < *n; i++)
        if (!strcmp(list[i], s)) return i;
    if (*n >= cap) return -1;
    list[(*n)++] = s;
    return *n - 1;
}

/* ---- files and plots ----------------------------------------------------------- */
void ptq_report_sanitize(const char *s, char *out, size_t cap) {
    size_t o = 0;
    for (; *s && o + 1 < cap; s++) out[o++] = (strchr("/ |:()=,", *s)) ? '_' : *s;
    out[o] = 0;
}

FILE *ptq_report_plot_data(const ptq_report_opts *o, const char *prefix, const char *model, const char *what,
                           char *base, size_t cap, ptq_err *err) {
    char ms[128], ws[128], dat[4500];
    ptq_report_sanitize(model, ms, sizeof ms);
    ptq_report_sanitize(what, ws, sizeof ws);
    snprintf(base, cap, "%s/%s%s_%s", o->out_dir, prefix, ms, ws);
    snprintf(dat, sizeof dat, "%s.dat", base);
    FILE *f = fopen(dat, "w");
    if (!f) ptq_fail(err, "%s: cannot create", dat);
    return f;
}

static const char *gnuplot_dir(const ptq_report_opts *o) {
    if (o->gnuplot_dir) return o->gnuplot_dir;
    if (ptq_file_exists("scripts/gnuplot/lines.gp")) return "scripts/gnuplot";
#ifdef PTQ_SOURCE_DIR
    return PTQ_SOURCE_DIR "/scripts/gnuplot";
#else
    return "scripts/gnuplot";
#endif
}

int ptq_report_plot(const ptq_report_opts *o, const char *script, const char *vars, const char *base,
                    const char *title, const char *tail, FILE *figs, ptq_err *err) {
    char sp[4096];
    snprintf(sp, sizeof sp, "%s/%s", gnuplot_dir(o), script);
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
    fprintf(figs, "\\begin{figure}[t]\\centering\\includegraphics[width=0.8\\linewidth]{%s.png}\\caption{", base);
    ptq_report_tex_put(figs, title);
    fprintf(figs, "%s}\\end{figure}\n", tail);
    printf("plot: %s.png %s.svg\n", base, base);
    return 0;
}
