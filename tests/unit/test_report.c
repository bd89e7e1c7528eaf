/* test_report.c — tables from synthetic rows: layout (rows = methods,
 * columns = bits x metric), seed averaging, best-in-bold (lower ppl/KLD,
 * higher accuracy, ties at printed precision), zero-shot average recipe,
 * missing values, CSV quoting via libcsv, LaTeX booktabs, bad recipe. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report.h"
#include "testutil.h"

static ptq_rowset rs;

static void add(const char *label, const char *bits, int seed, const char *task, const char *metric, double v) {
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "model", "m1");
    cJSON_AddStringToObject(r, "label", label);
    cJSON_AddStringToObject(r, "bits", bits);
    cJSON_AddNumberToObject(r, "seed", seed);
    cJSON_AddNumberToObject(r, "index", rs.n);
    cJSON_AddStringToObject(r, "task", task);
    cJSON *m = cJSON_AddObjectToObject(r, "metrics");
    cJSON_AddNumberToObject(m, metric, v);
    if (rs.n == rs.cap) rs.cap = rs.cap ? 2 * rs.cap : 64, rs.rows = realloc(rs.rows, sizeof(cJSON *) * (size_t)rs.cap);
    rs.rows[rs.n++] = r;
}

static char *slurp(const char *path) {
    char *t = NULL;
    size_t n;
    ptq_err err;
    if (ptq_read_file(path, &t, &n, &err)) fprintf(stderr, "%s\n", err.msg);
    return t ? t : calloc(1, 1);
}

int main(void) {
    add("rtn", "W4A4", 0, "ppl:wikitext2", "ppl", 30.0);
    add("rtn", "W4A4", 1, "ppl:wikitext2", "ppl", 32.0); /* seed mean 31 */
    add("gptq(percdamp=0.1)", "W4A4", 0, "ppl:wikitext2", "ppl", 12.0);
    add("rtn", "W4A4", 0, "kld:tinystories", "kld_mean", 0.5);
    add("gptq(percdamp=0.1)", "W4A4", 0, "kld:tinystories", "kld_mean", 0.25);
    add("rtn", "W4A4", 0, "zeroshot:piqa", "acc", 0.60);
    add("rtn", "W4A4", 0, "zeroshot:arc_easy", "acc", 0.40); /* avg 50.0 */
    add("gptq(percdamp=0.1)", "W4A4", 0, "zeroshot:piqa", "acc", 0.70);
    add("gptq(percdamp=0.1)", "W4A4", 0, "zeroshot:arc_easy", "acc", 0.50); /* avg 60.0 */
    add("rtn", "W6A6", 0, "ppl:wikitext2", "ppl", 10.004);
    add("gptq(percdamp=0.1)", "W6A6", 0, "ppl:wikitext2", "ppl", 10.001); /* tie at 2 decimals */
    add("gptq(percdamp=0.1)", "W6A6", 0, "zeroshot:piqa", "acc", 0.75); /* arc missing: no average, no column */

    char dir[128];
    snprintf(dir, sizeof dir, "/tmp/ptq_test_report.%d", (int)getpid());
    ptq_report_opts o = {0};
    o.out_dir = dir;
    o.formats = PTQ_FMT_MD | PTQ_FMT_CSV | PTQ_FMT_TEX;
    o.title = "unit";
    ptq_err err;
    CHECK(ptq_report(&rs, &o, NULL, &err) == 0);
    char p[256];
    snprintf(p, sizeof p, "%s/table_m1.md", dir);
    char *md = slurp(p);
    CHECK(strstr(md, "| Method | W4A4 Wiki2 | W4A4 KLD TinySt | W4A4 0-shot avg | W6A6 Wiki2 |\n"));
    /* seed mean +- std (n), both at two significant digits of the std */
    CHECK(strstr(md, "| rtn | 31.0 \xc2\xb1 1.4 (2) | 0.5000 | 50.0 | 10.00 |\n"));
    CHECK(strstr(md, "Seed mean \xc2\xb1 std (n seeds)") && !strstr(md, "Marked")); /* no side values: no test claimed */
    CHECK(strstr(md, "| gptq(percdamp=0.1) | **12.00** | **0.2500** | **60.0** | 10.00 |\n"));
    CHECK(strstr(md, "0-shot avg = avg_all_acc"));
    CHECK(strstr(md, "piqa, arc_easy"));
    free(md);
    snprintf(p, sizeof p, "%s/table_m1.csv", dir);
    char *csv = slurp(p);
    CHECK(strstr(csv, "\"method\",\"W4A4 Wiki2\",\"W4A4 Wiki2 std\""));
    CHECK(strstr(csv, "\"gptq(percdamp=0.1)\",\"12\",\"\",\"0.25\",\"\",\"60\",\"\",\"10.001\",\"\"\n"));
    CHECK(strstr(csv, "\"rtn\",\"31.0\",\"1.4\","));
    free(csv);
    snprintf(p, sizeof p, "%s/table_m1.tex", dir);
    char *tex = slurp(p);
    CHECK(strstr(tex, "\\toprule") && strstr(tex, "\\multicolumn{3}{c}{W4A4}") && strstr(tex, "\\cmidrule(lr){2-4}"));
    CHECK(strstr(tex, "\\textbf{12.00}") && strstr(tex, "\\bottomrule"));
    free(tex);
    snprintf(p, sizeof p, "%s/metrics_long.csv", dir);
    char *lg = slurp(p);
    CHECK(strstr(lg, "\"m1\",\"rtn\",\"W4A4\",\"1\",\"ppl:wikitext2\",\"ppl\",\"32\""));
    free(lg);

    /* Labels and titles are escaped for each format: a Markdown cell
     * escapes '|' and has no line break; LaTeX escapes its specials. */
    add("a|b\\c{x}\n_%&#$^~", "W4A4", 0, "ppl:wikitext2", "ppl", 40.0);
    o.title = "t\\{1}";
    CHECK(ptq_report(&rs, &o, NULL, &err) == 0);
    snprintf(p, sizeof p, "%s/table_m1.md", dir);
    md = slurp(p);
    CHECK(strstr(md, "**t\\{1}: m1.") && strstr(md, "\n| a\\|b\\c{x} _%&#$^~ | 40.00 |"));
    free(md);
    snprintf(p, sizeof p, "%s/table_m1.tex", dir);
    tex = slurp(p);
    CHECK(strstr(tex, "\\caption{t\\textbackslash{}\\{1\\}: m1."));
    CHECK(strstr(tex, "\na$|$b\\textbackslash{}c\\{x\\} \\_\\%\\&\\#\\$\\^{}\\~{} & 40.00"));
    free(tex);
    o.title = "unit";
    cJSON_Delete(rs.rows[--rs.n]);

    /* A recipe whose tasks are not all present says which are missing. */
    o.average = "avg6_quarot";
    CHECK(ptq_report(&rs, &o, NULL, &err) == 0);
    snprintf(p, sizeof p, "%s/table_m1.md", dir);
    md = slurp(p);
    CHECK(strstr(md, "Not in these results: arc_challenge hellaswag winogrande lambada_openai."));
    free(md);
    o.average = "avg_nope";
    CHECK(ptq_report(&rs, &o, NULL, &err) == -1 && strstr(err.msg, "avg_nope"));
    ptq_rowset empty = {0};
    o.average = NULL;
    CHECK(ptq_report(&empty, &o, NULL, &err) == -1);

    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) fprintf(stderr, "cannot remove %s\n", dir);
    ptq_rowset_free(&rs);
    return tu_done("test_report");
}
