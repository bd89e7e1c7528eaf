/* sweep.c — `ptqbench sweep CONFIG`: run an experiment's cells and
 * append their rows to results/<experiment>/results.jsonl.
 *
 * Resumable: a cell whose row keys are all in the experiment directory (any
 * shard file) is skipped with --resume. Each cell's rows are appended in one
 * write + fsync after the cell finishes, so kill -9 loses at most the running
 * cell. Scale-out: --shard I/N (or mpirun / Slurm array environment) runs
 * the cells with index % N == I into results.shard-I-of-N.jsonl. */
#define _GNU_SOURCE /* gethostname */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "experiment.h"
#include "results.h"
#include "cell.h"

typedef struct {
    const char *config, *out, *models;
    int resume, dry_run, shard, nshards, limit, limit_windows;
    char only[4096]; /* comma-separated key prefixes */
} sweep_opts;

static void usage(FILE *f) {
    fprintf(f,
            "usage: ptqbench sweep CONFIG.json [--resume] [--dry-run] [--only KEY[,KEY...]] [--shard I/N]\n"
            "                     [--out DIR] [--limit N] [--limit-windows N]\n"
            "  Runs every cell (model x method x options x bits x seed) of the experiment and appends one\n"
            "  row per cell x task to DIR/results.jsonl (default DIR: results/<experiment name>).\n"
            "  --resume         skip cells whose rows are already in DIR (any shard); required when\n"
            "                   the results file already has rows\n"
            "  --dry-run        print the plan (cell keys, done/todo) and exit\n"
            "  --only KEY       run only cells whose key starts with KEY (repeatable, comma list)\n"
            "  --shard I/N      run cells with index %% N == I into results.shard-I-of-N.jsonl; without it,\n"
            "                   mpirun (OMPI_COMM_WORLD_RANK/SIZE, PMI_RANK/SIZE) or a Slurm array\n"
            "                   (SLURM_ARRAY_TASK_ID/COUNT) sets the shard\n"
            "  --models A,B     replace the config's models (paper tables on your own model paths)\n"
            "  --limit N, --limit-windows N  override the config's zero-shot items / ppl windows\n"
            "                   (they are part of the cell, so they change the keys)\n");
}

static int parse_shard(const char *s, int *i, int *n) {
    char *end;
    long a = strtol(s, &end, 10);
    if (end == s || *end != '/') return -1;
    long b = strtol(end + 1, &end, 10);
    if (*end || b < 1 || b > 100000 || a < 0 || a >= b) return -1;
    *i = (int)a, *n = (int)b;
    return 0;
}

/* Shard from the launcher's environment when --shard is not given. */
static void env_shard(sweep_opts *o) {
    static const char *const pairs[][2] = {{"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"},
                                           {"PMI_RANK", "PMI_SIZE"},
                                           {"SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT"}};
    for (int k = 0; k < 3; k++) {
        const char *r = getenv(pairs[k][0]), *s = getenv(pairs[k][1]);
        if (!r || !s) continue;
        int i = atoi(r), n = atoi(s);
        if (n > 1 && i >= 0 && i < n) {
            o->shard = i, o->nshards = n;
            fprintf(stderr, "sweep: shard %d/%d from %s/%s\n", i, n, pairs[k][0], pairs[k][1]);
        }
        return;
    }
}

static int parse_args(int argc, char **argv, sweep_opts *o) {
    static const struct option opts[] = {
        {"resume", no_argument, 0, 'r'},         {"dry-run", no_argument, 0, 'n'},
        {"only", required_argument, 0, 'k'},     {"shard", required_argument, 0, 's'},
        {"out", required_argument, 0, 'o'},      {"limit", required_argument, 0, 'l'},
        {"limit-windows", required_argument, 0, 'w'}, {"models", required_argument, 0, 'm'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    o->nshards = 1;
    o->limit = o->limit_windows = -1;
    int c, have_shard = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "rnk:s:o:l:w:m:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': o->models = optarg; break;
        case 'r': o->resume = 1; break;
        case 'n': o->dry_run = 1; break;
        case 'k':
            snprintf(o->only + strlen(o->only), sizeof o->only - strlen(o->only), "%s,", optarg);
            break;
        case 's':
            if (parse_shard(optarg, &o->shard, &o->nshards))
                return ptq_cli_error(2, "--shard: expected I/N with 0 <= I < N, got '%s'", optarg);
            have_shard = 1;
            break;
        case 'o': o->out = optarg; break;
        case 'l':
            if (ptq_parse_int("--limit", optarg, 0, 1 << 30, &o->limit)) return 2;
            break;
        case 'w':
            if (ptq_parse_int("--limit-windows", optarg, 0, 1 << 30, &o->limit_windows)) return 2;
            break;
        case 'h': usage(stdout); return -1;
        default: return ptq_cli_bad_option("sweep", argv);
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return ptq_cli_error(2, "sweep: expected a CONFIG file");
    }
    o->config = argv[optind++];
    for (; optind < argc; optind++) { /* `--only K1 K2 ...` */
        if (!o->only[0]) return ptq_cli_error(2, "sweep: unexpected argument '%s'", argv[optind]);
        snprintf(o->only + strlen(o->only), sizeof o->only - strlen(o->only), "%s,", argv[optind]);
    }
    if (!have_shard) env_shard(o);
    return 0;
}

/* Load the config with the CLI overrides folded into "overrides". */
static int load(const sweep_opts *o, ptq_experiment *e, char **cfg_text, ptq_err *err) {
    size_t len;
    if (ptq_read_file(o->config, cfg_text, &len, err)) return -1;
    if (o->limit < 0 && o->limit_windows < 0 && !o->models)
        return ptq_experiment_parse(*cfg_text, o->config, e, err);
    cJSON *j = cJSON_Parse(*cfg_text);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return ptq_experiment_parse(*cfg_text, o->config, e, err); /* reports the syntax error */
    }
    if (o->models) {
        cJSON *ms = cJSON_CreateArray();
        char buf[4096];
        snprintf(buf, sizeof buf, "%s", o->models);
        for (char *sv = NULL, *m = strtok_r(buf, ",", &sv); m; m = strtok_r(NULL, ",", &sv))
            cJSON_AddItemToArray(ms, cJSON_CreateString(m));
        cJSON_DeleteItemFromObjectCaseSensitive(j, "models");
        cJSON_AddItemToObject(j, "models", ms);
    }
    cJSON *ov = cJSON_GetObjectItemCaseSensitive(j, "overrides");
    if (!ov) ov = cJSON_AddObjectToObject(j, "overrides");
    if (cJSON_IsObject(ov)) {
        if (o->limit >= 0) cJSON_DeleteItemFromObject(ov, "limit"), cJSON_AddNumberToObject(ov, "limit", o->limit);
        if (o->limit_windows >= 0)
            cJSON_DeleteItemFromObject(ov, "limit_windows"),
                cJSON_AddNumberToObject(ov, "limit_windows", o->limit_windows);
    }
    free(*cfg_text);
    *cfg_text = cJSON_Print(j);
    cJSON_Delete(j);
    return ptq_experiment_parse(*cfg_text, o->config, e, err);
}

static int selected(const sweep_opts *o, const ptq_exp_cell *c) {
    if (c->index % o->nshards != o->shard) return 0;
    if (!o->only[0]) return 1;
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", o->only);
    for (char *sv = NULL, *k = strtok_r(buf, ",", &sv); k; k = strtok_r(NULL, ",", &sv))
        if (!strncmp(c->key, k, strlen(k))) return 1;
    return 0;
}

static int cell_done(const ptq_exp_cell *c, const ptq_rowset *have) {
    for (int t = 0; t < c->ntasks; t++) {
        char rk[65];
        ptq_row_key(c->key, c->tasks[t], rk);
        int found = 0;
        for (int i = 0; i < have->n && !found; i++) {
            const char *k = ptq_row_str(have->rows[i], "row_key");
            found = k && !strcmp(k, rk);
        }
        if (!found) return 0;
    }
    return 1;
}

static void cpu_model(char *out, size_t cap) {
    snprintf(out, cap, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "model name", 10)) {
            char *v = strchr(line, ':');
            if (v) {
                v += 1 + (v[1] == ' ');
                v[strcspn(v, "\n")] = 0;
                snprintf(out, cap, "%s", v);
            }
            break;
        }
    if (f) fclose(f);
}

static void set_str(cJSON *row, const char *k, const char *v) {
    cJSON_DeleteItemFromObjectCaseSensitive(row, k);
    cJSON_AddStringToObject(row, k, v);
}

static void set_num(cJSON *row, const char *k, double v) {
    cJSON_DeleteItemFromObjectCaseSensitive(row, k);
    cJSON_AddNumberToObject(row, k, v);
}

/* The runner's part of each row: identity, keys and provenance. */
static void annotate(cJSON *row, const ptq_experiment *e, const ptq_exp_cell *c, const sweep_opts *o,
                     const char *started, double wall) {
    static char host[256], cpu[256];
    if (!host[0] && gethostname(host, sizeof host)) snprintf(host, sizeof host, "unknown");
    if (!cpu[0]) cpu_model(cpu, sizeof cpu);
    const char *task = ptq_row_str(row, "task");
    char rk[65], id[700], fin[32];
    ptq_row_key(c->key, task ? task : "", rk);
    snprintf(id, sizeof id, "%s|%s", c->id, task ? task : "");
    ptq_utc_now(fin, sizeof fin);
    set_str(row, "experiment", e->name);
    set_str(row, "id", id);
    set_str(row, "key", c->key);
    set_str(row, "row_key", rk);
    set_num(row, "index", c->index);
    set_str(row, "model", c->model);
    set_str(row, "label", c->label);
    set_str(row, "bits", c->bits);
    cJSON_DeleteItemFromObjectCaseSensitive(row, "cell");
    cJSON_AddItemToObject(row, "cell", cJSON_Duplicate(c->resolved, 1));
    set_str(row, "code_version", ptq_version());
    if (!cJSON_GetObjectItemCaseSensitive(row, "git_commit")) set_str(row, "git_commit", ptq_git_commit());
    set_str(row, "host", host);
    set_str(row, "cpu", cpu);
    if (!cJSON_GetObjectItemCaseSensitive(row, "threads")) set_num(row, "threads", ptq_num_threads());
    set_str(row, "started", started);
    set_str(row, "finished", fin);
    set_num(row, "wall_seconds", wall);
    if (!cJSON_GetObjectItemCaseSensitive(row, "peak_rss_kb")) set_num(row, "peak_rss_kb", (double)ptq_peak_rss_kb());
    char shard[32];
    snprintf(shard, sizeof shard, "%d/%d", o->shard, o->nshards);
    set_str(row, "shard", shard);
}

static void fmt_secs(double s, char *out, size_t cap) {
    if (s < 0) snprintf(out, cap, "?");
    else if (s < 120) snprintf(out, cap, "%.0fs", s);
    else if (s < 7200) snprintf(out, cap, "%.0fm%02.0fs", floor(s / 60), fmod(s, 60));
    else snprintf(out, cap, "%.1fh", s / 3600);
}

static int run_one(const ptq_experiment *e, const ptq_exp_cell *c, const sweep_opts *o, ptq_results_writer *w,
                   ptq_err *err) {
    ptq_cell_spec spec;
    const char *tasks[64];
    ptq_exp_cell_spec(c, &spec, tasks, 64);
    spec.progress = isatty(2);
    char started[32];
    ptq_utc_now(started, sizeof started);
    double t0 = ptq_now_sec();
    cJSON *rows = cJSON_CreateArray();
    int rc = ptq_run_cell(&spec, rows, err);
    if (!rc && cJSON_GetArraySize(rows) != c->ntasks)
        rc = ptq_fail(err, "run_cell returned %d rows for %d tasks", cJSON_GetArraySize(rows), c->ntasks);
    if (!rc) {
        double wall = ptq_now_sec() - t0;
        int n = cJSON_GetArraySize(rows);
        cJSON **list = calloc((size_t)n, sizeof *list);
        int i = 0;
        for (cJSON *r = rows->child; r; r = r->next) annotate(r, e, c, o, started, wall), list[i++] = r;
        rc = ptq_results_append(w, list, n, err);
        free(list);
    }
    cJSON_Delete(rows);
    return rc;
}

static int run_plan(const ptq_experiment *e, const sweep_opts *o, const int *todo, int ntodo, const char *path,
                    ptq_err *err) {
    ptq_results_writer w;
    if (ptq_results_open(&w, path, err)) return ptq_cli_error(1, "%s", err->msg);
    int failed = 0;
    double t0 = ptq_now_sec();
    for (int k = 0; k < ntodo; k++) {
        const ptq_exp_cell *c = &e->cells[todo[k]];
        char eta[32], bar[24];
        fmt_secs(k ? (ptq_now_sec() - t0) / k * (ntodo - k) : -1, eta, sizeof eta);
        int fill = 20 * k / ntodo;
        for (int i = 0; i < 20; i++) bar[i] = i < fill ? '#' : '.';
        bar[20] = 0;
        fprintf(stderr, "sweep [%s] cell %d/%d (ETA %s): %s\n", bar, k + 1, ntodo, eta, c->id);
        double tc = ptq_now_sec();
        if (run_one(e, c, o, &w, err)) {
            fprintf(stderr, "error: cell %s (key %.12s): %s\n", c->id, c->key, err->msg);
            failed++;
        } else fprintf(stderr, "sweep: cell %d/%d done in %.1fs\n", k + 1, ntodo, ptq_now_sec() - tc);
    }
    ptq_results_close(&w);
    fprintf(stderr, "sweep: %d cells run in %.1fs, %d failed; results in %s\n", ntodo - failed, ptq_now_sec() - t0,
            failed, path);
    return failed ? 1 : 0;
}

int cmd_sweep(int argc, char **argv) {
    sweep_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;
    ptq_experiment e;
    ptq_err err;
    char *cfg_text = NULL;
    if (load(&o, &e, &cfg_text, &err)) {
        free(cfg_text);
        return ptq_cli_error(2, "%s", err.msg);
    }
    char out[4096], path[4300];
    if (o.out) snprintf(out, sizeof out, "%s", o.out);
    else snprintf(out, sizeof out, "results/%s", e.name);
    ptq_results_path(out, o.shard, o.nshards, path, sizeof path);
    ptq_rowset have = {0}, mine = {0};
    int *todo = calloc((size_t)e.ncells, sizeof *todo), ntodo = 0, ndone = 0, nsel = 0;
    rc = 0;
    if (ptq_experiment_keys(&e, &err) || (ptq_file_exists(out) && ptq_results_read(out, &have, &err)) ||
        ptq_results_read_file(path, &mine, &err)) {
        rc = ptq_cli_error(1, "%s", err.msg);
        goto done;
    }
    if (mine.n && !o.resume && !o.dry_run) {
        rc = ptq_cli_error(2, "%s already holds %d rows: pass --resume to skip the cells already done, or remove it",
                           path, mine.n);
        goto done;
    }
    printf("plan: experiment %s, %d cells, shard %d/%d -> %s\n", e.name, e.ncells, o.shard, o.nshards, path);
    if (e.note[0]) printf("note: %s\n", e.note);
    for (int i = 0; i < e.ncells; i++) {
        const ptq_exp_cell *c = &e.cells[i];
        if (!selected(&o, c)) continue;
        nsel++;
        int done = cell_done(c, &have);
        ndone += done;
        if (!done) todo[ntodo++] = i;
        printf("  [%3d] %.12s %-4s %s (%d tasks)\n", i, c->key, done ? "done" : "todo", c->id, c->ntasks);
    }
    printf("plan: %d selected, %d done, %d to run\n", nsel, ndone, ntodo);
    fflush(stdout);
    if (o.dry_run || ntodo == 0) goto done;
    char cfgp[4200];
    snprintf(cfgp, sizeof cfgp, "%s/experiment.json", out);
    if (ptq_mkdir_p(out, &err) || ptq_write_file_atomic(cfgp, cfg_text, strlen(cfg_text), &err)) {
        rc = ptq_cli_error(1, "%s", err.msg);
        goto done;
    }
    rc = run_plan(&e, &o, todo, ntodo, path, &err);
done:
    free(todo);
    free(cfg_text);
    ptq_rowset_free(&have);
    ptq_rowset_free(&mine);
    ptq_experiment_free(&e);
    return rc;
}
