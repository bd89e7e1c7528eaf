/* sweep.c — `ptqbench sweep CONFIG`: flags, the plan listing and the summary
 * of runner/sweep.h, which runs the cells into results/<experiment>/. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "sweep.h"

static void usage(FILE *f) {
    fprintf(f, "usage: ptqbench sweep CONFIG.json [--resume] [--dry-run] [--only KEY[,KEY...]] [--shard I/N]\n"
               "                     [--out DIR] [--limit N] [--limit-windows N] [--max-rss GiB]\n"
               "  Runs every cell (model x method x options x bits x seed) of the experiment and appends one\n"
               "  row per cell x task to DIR/results.jsonl (default DIR: results/<experiment name>).\n"
               "  --resume         skip cells whose rows are already in DIR (any shard); required when\n"
               "                   the results file already has rows\n"
               "  --dry-run        print the plan (cell keys, done/todo) and exit\n"
               "  --only KEY       run only cells whose key or id (model|method|bits|sSEED) starts with KEY\n"
               "                   (repeatable, comma list)\n"
               "  --shard I/N      run cells with index %% N == I into results.shard-I-of-N.jsonl; without it,\n"
               "                   mpirun (OMPI_COMM_WORLD_RANK/SIZE, PMI_RANK/SIZE) or a Slurm array\n"
               "                   (SLURM_ARRAY_TASK_ID/COUNT) sets the shard\n"
               "  --models A,B     replace the config's models (paper tables on your own model paths)\n"
               "  --limit N, --limit-windows N  override the config's zero-shot items / ppl windows\n"
               "                   (they are part of the cell, so they change the keys)\n"
               "  --max-rss GiB    refuse (as a failed cell) any cell whose estimated peak RSS is above GiB\n");
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

static int parse_args(int argc, char **argv, ptq_sweep_opts *o, int *resume, int *dry_run) {
    static const struct option opts[] = {{"resume", no_argument, 0, 'r'},
                                         {"dry-run", no_argument, 0, 'n'},
                                         {"only", required_argument, 0, 'k'},
                                         {"shard", required_argument, 0, 's'},
                                         {"out", required_argument, 0, 'o'},
                                         {"limit", required_argument, 0, 'l'},
                                         {"limit-windows", required_argument, 0, 'w'},
                                         {"models", required_argument, 0, 'm'},
                                         {"max-rss", required_argument, 0, 'M'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    *resume = *dry_run = 0;
    o->nshards = 1;
    o->limit = o->limit_windows = -1;
    int c, have_shard = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "rnk:s:o:l:w:m:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            o->models = optarg;
            break;
        case 'r':
            *resume = 1;
            break;
        case 'n':
            *dry_run = 1;
            break;
        case 'k':
            snprintf(o->only + strlen(o->only), sizeof o->only - strlen(o->only), "%s,", optarg);
            break;
        case 's':
            if (parse_shard(optarg, &o->shard, &o->nshards))
                return ptq_cli_error(2, "--shard: expected I/N with 0 <= I < N, got '%s'", optarg);
            have_shard = 1;
            break;
        case 'o':
            o->out_dir = optarg;
            break;
        case 'l':
            if (ptq_parse_int("--limit", optarg, 0, 1 << 30, &o->limit)) return 2;
            break;
        case 'w':
            if (ptq_parse_int("--limit-windows", optarg, 0, 1 << 30, &o->limit_windows)) return 2;
            break;
        case 'M':
            if (ptq_parse_double("--max-rss", optarg, 1e-4, 1 << 20, &o->max_rss_gib)) return 2;
            break;
        case 'h':
            usage(stdout);
            return -1;
        default:
            return ptq_cli_bad_option("sweep", argv);
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
    const char *from;
    ptq_err err;
    int env = have_shard ? 0 : ptq_sweep_env_shard(&o->shard, &o->nshards, &from, &err);
    if (env < 0) return ptq_cli_error(2, "sweep: %s", err.msg);
    if (env) fprintf(stderr, "sweep: shard %d/%d from %s\n", o->shard, o->nshards, from);
    return 0;
}

/* Every --only prefix must name some cell of the plan: a typo would run nothing. */
static int check_only(const ptq_experiment *e, const char *only) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", only);
    for (char *sv = NULL, *k = strtok_r(buf, ",", &sv); k; k = strtok_r(NULL, ",", &sv)) {
        int hit = 0;
        for (int i = 0; i < e->ncells && !hit; i++)
            hit = ptq_cell_selected(&e->cells[i], k);
        if (!hit)
            return ptq_cli_error(2,
                                 "sweep: --only %s: no cell of experiment %s has a key or id starting with it "
                                 "(`sweep --dry-run` lists the keys)",
                                 k, e->name);
    }
    return 0;
}

/* A results directory belongs to one experiment (DIR/experiment.json): rows
 * of another one must not mix in. */
static int check_dir_owner(const ptq_experiment *e, const char *dir) {
    char name[128] = "", avg[64];
    ptq_sweep_stored_config(dir, name, sizeof name, avg, sizeof avg);
    if (name[0] && strcmp(name, e->name))
        return ptq_cli_error(2, "sweep: %s holds results of experiment '%s', not '%s' (use another --out)", dir, name,
                             e->name);
    return 0;
}

int cmd_sweep(int argc, char **argv) {
    ptq_sweep_opts o;
    int resume, dry_run;
    int rc = parse_args(argc, argv, &o, &resume, &dry_run);
    if (rc) return rc < 0 ? 0 : rc;
    ptq_experiment e;
    ptq_sweep_plan p;
    ptq_err err;
    char *cfg_text = NULL;
    if (ptq_sweep_load(&o, &e, &cfg_text, &err)) {
        free(cfg_text);
        return ptq_cli_error(2, "%s", err.msg);
    }
    if (ptq_experiment_keys(&e, &err)) { /* the config's models: input */
        rc = ptq_cli_error(2, "%s", err.msg);
        goto done0;
    }
    if (ptq_sweep_plan_make(&e, &o, &p, &err)) {
        rc = ptq_cli_error(1, "%s", err.msg);
        goto done0;
    }
    if ((rc = check_only(&e, o.only)) || (rc = check_dir_owner(&e, p.dir))) goto done;
    if (p.shard_rows && !resume && !dry_run) {
        rc = ptq_cli_error(2, "%s already holds %d rows: pass --resume to skip the cells already done, or remove it",
                           p.path, p.shard_rows);
        goto done;
    }
    printf("plan: experiment %s, %d cells, shard %d/%d -> %s\n", e.name, e.ncells, o.shard, o.nshards, p.path);
    if (e.note[0]) printf("note: %s\n", e.note);
    for (int i = 0; i < e.ncells; i++)
        if (p.state[i] >= 0)
            printf("  [%3d] %.12s %-4s %s (%d tasks)\n", i, e.cells[i].key, p.state[i] ? "done" : "todo", e.cells[i].id,
                   e.cells[i].ntasks);
    printf("plan: %d selected, %d done, %d to run\n", p.nselected, p.ndone, p.ntodo);
    fflush(stdout);
    if (dry_run || p.ntodo == 0) goto done;
    int failed = 0;
    if (ptq_sweep_run(&e, &o, &p, cfg_text, &failed, &err))
        rc = ptq_cli_error(1, "%s", err.msg);
    else
        rc = failed ? 1 : 0;
done:
    ptq_sweep_plan_free(&p);
done0:
    free(cfg_text);
    ptq_experiment_free(&e);
    return rc;
}
