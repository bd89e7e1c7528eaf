/* datasets.c — `ptqbench datasets list | verify | fetch`. */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "datasets.h"

static int ds_list(const ptq_asset *a, int n) {
    char root[4096];
    ptq_err err;
    int have_root = ptq_data_root(root, sizeof root, &err) == 0;
    printf("data root: %s\n", have_root ? root : "(none found)");
    printf("%-48s %12s  %-8s %s\n", "name", "bytes", "present", "path");
    for (int i = 0; i < n; i++) {
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", root, a[i].path);
        printf("%-48s %12lld  %-8s %s\n", a[i].name, a[i].bytes, have_root && ptq_file_exists(p) ? "yes" : "no",
               a[i].path);
    }
    return 0;
}

static int ds_verify(const ptq_asset *a, int n) {
    int bad = 0;
    for (int i = 0; i < n; i++) {
        char p[4096];
        ptq_err err;
        if (ptq_data_path(a[i].path, p, sizeof p, &err) || ptq_asset_verify(&a[i], p, &err)) {
            fprintf(stderr, "FAIL %s: %s\n", a[i].name, err.msg);
            bad++;
        } else printf("ok   %s\n", a[i].name);
    }
    printf("%d of %d assets verified\n", n - bad, n);
    return bad ? 1 : 0;
}

/* Download with curl into a temp file, verify, then rename into place. */
static int ds_fetch(const ptq_asset *a, int n, const char *dest_root) {
    int bad = 0;
    for (int i = 0; i < n; i++) {
        char dst[4096], tmp[4200];
        snprintf(dst, sizeof dst, "%s/%s", dest_root, a[i].path);
        ptq_err err;
        if (ptq_file_exists(dst) && ptq_asset_verify(&a[i], dst, &err) == 0) {
            printf("ok   %s (present)\n", a[i].name);
            continue;
        }
        if (!a[i].url[0]) {
            fprintf(stderr, "skip %s: derived file without an upstream URL (derived from %s)\n", a[i].name,
                    a[i].derived_from);
            continue;
        }
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", dst);
        *strrchr(dir, '/') = 0;
        if (ptq_mkdir_p(dir, &err)) {
            fprintf(stderr, "FAIL %s: %s\n", a[i].name, err.msg);
            bad++;
            continue;
        }
        snprintf(tmp, sizeof tmp, "%s.part", dst);
        pid_t pid = fork();
        if (pid == 0) {
            execlp("curl", "curl", "-fsSL", "--max-time", "300", "-o", tmp, a[i].url, (char *)NULL);
            _exit(127);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "FAIL %s: curl could not download %s (exit %d)\n", a[i].name, a[i].url,
                    WIFEXITED(st) ? WEXITSTATUS(st) : -1);
            unlink(tmp);
            bad++;
            continue;
        }
        if (ptq_asset_verify(&a[i], tmp, &err) || rename(tmp, dst) != 0) {
            fprintf(stderr, "FAIL %s: %s\n", a[i].name, err.msg);
            unlink(tmp);
            bad++;
            continue;
        }
        printf("ok   %s (fetched)\n", a[i].name);
    }
    return bad ? 1 : 0;
}

int cmd_datasets(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help")) {
        printf("usage: ptqbench datasets list | verify | fetch [--dest DIR]\n");
        return argc < 2 ? 2 : 0;
    }
    const ptq_asset *a;
    int n;
    ptq_err err;
    if (ptq_registry(&a, &n, &err)) return ptq_cli_error(1, "%s", err.msg);
    if (!strcmp(argv[1], "list")) return ds_list(a, n);
    if (!strcmp(argv[1], "verify")) return ds_verify(a, n);
    if (!strcmp(argv[1], "fetch")) {
        const char *dest = getenv("PTQBENCH_DATA");
        if (argc >= 4 && !strcmp(argv[2], "--dest")) dest = argv[3];
        else if (argc > 2) return ptq_cli_error(2, "datasets fetch: expected [--dest DIR], got '%s'", argv[2]);
        return ds_fetch(a, n, dest && *dest ? dest : "data");
    }
    return ptq_cli_error(2, "datasets: unknown action '%s' (expected list, verify or fetch)", argv[1]);
}
