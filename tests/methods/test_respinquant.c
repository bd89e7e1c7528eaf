/* test_respinquant.c — ReSpinQuant's residual correction and the method:
 * the rank-r correction I + Q M Q^T of a basis change T is orthogonal, its
 * error falls with r and is exact at full rank (and at r = rank(T - I));
 * on stories260K the rotated FP model equals the original (per-boundary
 * random bases at full rank, shared Hadamard at rank 32), rank > dim and
 * steps <= 0 are refused naming the option, and a W4A4KV4 model (lowrank
 * residual ops) survives the export round trip with identical logits and
 * runs on the packed path. The learning tests are in test_spinquant.c. */
#include <unistd.h>

#include "hadamard.h"
#include "packed.h"
#include "ptqfile.h"
#include "spinrot.h"
#include "spintest.h"
#include "testref.h"

/* || (I + Q M Q^T) - T ||_F with T = Rout^T Rin, and orthogonality of I + Q M Q^T. */
static double corr_error(const float *Rin, const float *Rout, int d, int r, double *orth) {
    ptq_err err;
    float *Q = malloc(sizeof(float) * d * r), *M = malloc(sizeof(float) * r * r), *C = malloc(sizeof(float) * d * d);
    CHECK(ptq_spin_lowrank(Rin, Rout, d, r, Q, M, &err) == 0);
    double e = 0;
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++) {
            double c = (i == j), t = 0;
            for (int a = 0; a < r; a++)
                for (int b = 0; b < r; b++)
                    c += (double)Q[i * r + a] * M[a * r + b] * Q[j * r + b];
            for (int k = 0; k < d; k++)
                t += (double)Rout[k * d + i] * Rin[k * d + j];
            C[i * d + j] = (float)c;
            e += (c - t) * (c - t);
        }
    *orth = ptq_orthogonality_error(C, d);
    free(Q), free(M), free(C);
    return sqrt(e);
}

static void test_lowrank(void) {
    int d = 24;
    ptq_err err;
    float *A = malloc(sizeof(float) * d * d), *B = malloc(sizeof(float) * d * d);
    CHECK(ptq_random_orthogonal(A, d, 1, &err) == 0 && ptq_random_orthogonal(B, d, 2, &err) == 0);
    double prev = 1e30, orth;
    for (int r = 1; r <= d; r++) {
        double e = corr_error(A, B, d, r, &orth);
        if (r == 1 || r == 8 || r == d)
            printf("random bases d=%d rank %2d: ||correction - T|| %.3e, orth err %.1e\n", d, r, e, orth);
        CHECK(e <= prev + 1e-4); /* more rank, no worse */
        CHECK(orth < 1e-5);
        prev = e;
    }
    CHECK(prev < 1e-5); /* full rank is exact */
    /* T - I of rank 2: a rotation in one plane; rank 2 is exact, rank 1 is not */
    memcpy(B, A, sizeof(float) * d * d);
    double c = cos(0.7), s = sin(0.7);
    for (int j = 0; j < d; j++) { /* rows 3 and 11 of B mixed: B = G A */
        double x = A[3 * d + j], y = A[11 * d + j];
        B[3 * d + j] = (float)(c * x - s * y), B[11 * d + j] = (float)(s * x + c * y);
    }
    double e2 = corr_error(A, B, d, 2, &orth), e1 = corr_error(A, B, d, 1, &orth);
    printf("plane rotation: rank 1 error %.3e, rank 2 error %.3e\n", e1, e2);
    CHECK(e2 < 1e-5 && e1 > 0.1);
    CHECK(ptq_spin_lowrank(A, B, d, d + 1, NULL, NULL, &err) != 0);
    free(A), free(B);
}

/* W4A4KV4 export round trip: resid ops stored as lowrank, same logits, packed path runs. */
static void test_export(void) {
    ptq_err err = {{0}};
    ptq_model a, b;
    ptq_packed_model pm;
    char p[256];
    snprintf(p, sizeof p, "/tmp/ptq_respin_%d.ptq", (int)getpid());
    if (apply_opts("respinquant", "W4A4KV4", "rotation=random,rank=8,weights=rtn", &a, NULL, &err)) {
        fprintf(stderr, "respinquant: %s\n", err.msg);
        CHECK(0);
        return;
    }
    CHECK(a.layers[0].resid_op[0].kind == PTQ_OP_LOWRANK && a.layers[0].resid_op[0].rank == 8);
    int rc = ptq_file_save_ex(p, &a, NULL, NULL, NULL, &err) || ptq_file_load(p, &b, NULL, &err);
    unlink(p);
    CHECK(rc == 0);
    if (rc) {
        fprintf(stderr, "export: %s\n", err.msg);
        ptq_model_free(&a);
        return;
    }
    int same = 1;
    for (int l = 0; l < a.cfg.n_layers; l++)
        for (int k = 0; k < 2; k++) {
            const ptq_online_op *x = &a.layers[l].resid_op[k], *y = &b.layers[l].resid_op[k];
            same &= x->kind == y->kind && x->rank == y->rank && !memcmp(x->data->Q, y->data->Q, 4 * x->n * x->rank) &&
                    !memcmp(x->data->M, y->data->M, 4 * x->rank * x->rank);
        }
    CHECK(same);
    size_t n = (size_t)NT * a.cfg.vocab_size;
    float *la = malloc(4 * n), *lb = malloc(4 * n), *lp = malloc(4 * n);
    logits_of(&a, la);
    logits_of(&b, lb);
    CHECK(!memcmp(la, lb, 4 * n));
    ptq_state ps;
    if (ptq_packed_model_build(&pm, &b, &err) == 0) {
        CHECK(ptq_state_init_packed(&ps, &pm.view, NT, NT, &err) == 0);
        CHECK(ptq_forward(&pm.view, &ps, g_toks.ids, NT, 0, lp, 0, &err) == 0);
        double dp = 0, s = 0;
        for (size_t i = 0; i < n; i++)
            dp += fabs((double)lp[i] - lb[i]), s += fabs((double)lb[i]);
        printf("respinquant W4A4KV4 rank 8: export round trip identical; packed path mean |dlogit|/|logit| %.2e\n",
               dp / s);
        CHECK(dp / s < 0.05);
        ptq_state_free(&ps);
        ptq_packed_model_free(&pm);
    } else {
        fprintf(stderr, "packed: %s\n", err.msg);
        CHECK(0);
    }
    free(la), free(lb), free(lp);
    ptq_model_free(&b);
    ptq_model_free(&a);
}

int main(void) {
    test_lowrank();
    if (!open_assets()) return tu_done("test_respinquant");
    check_fp_equal("respinquant", "rotation=random,rank=-1");
    check_fp_equal("respinquant", "rotation=hadamard,rank=32");
    check_refused("respinquant", "W4A4KV4", "rotation=random,rank=65", "'rank'");
    check_refused("respinquant", "W4A4KV4", "rotation=learned,steps=0", "'steps'");
    test_export();
    close_assets();
    return tu_done("test_respinquant");
}
