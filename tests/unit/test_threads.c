/* test_threads.c — the thread-count policy (core/threads.h) and what it
 * rests on:
 *  - /proc/loadavg's running count and a task's R state are parsed as the
 *    kernel writes them (a name with spaces and parentheses; bad text -> -1);
 *    the free cores are the allowed cores minus other runnable threads,
 *    clamped to 1..ceiling;
 *  - with two busy child processes, the free-core estimate is at most
 *    max(1, allowed - 2), and so is the auto policy's count once its recheck
 *    interval has passed; between rechecks the count does not move;
 *  - fixed counts hold (the governor leaves them alone) and raise the slots
 *    that per-thread scratch is sized by;
 *  - a forward state sized for 1 thread, run with 3, gives the logits of a
 *    1-thread run bit for bit and stays inside its per-thread buffers (the
 *    ASan build checks the bounds). */
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "model_open.h"
#include "sysinfo.h"
#include "testutil.h"
#include "threads.h"

static void test_parsers(void) {
    CHECK(ptq_loadavg_running("0.50 0.40 0.30 3/120 4567\n") == 3);
    CHECK(ptq_loadavg_running("0.00 0.00 0.00 1/78 20357") == 1);
    CHECK(ptq_loadavg_running("0.50 0.40 0.30 9/4 1") == -1); /* more running than exist */
    CHECK(ptq_loadavg_running("0.50 0.40 0.30") == -1);
    CHECK(ptq_loadavg_running("") == -1);
    CHECK(ptq_task_stat_running("123 (ptqbench) R 1 2 3") == 1);
    CHECK(ptq_task_stat_running("123 (a (b) c) S 1 2 3") == 0);
    CHECK(ptq_task_stat_running("123 (x) R) R 1") == 1); /* the last ')' ends the name */
    CHECK(ptq_task_stat_running("123 (x)") == -1);
    CHECK(ptq_task_stat_running("garbage") == -1);
    CHECK(ptq_cores_free_of(2, 0, 2) == 2);
    CHECK(ptq_cores_free_of(2, 2, 2) == 1);
    CHECK(ptq_cores_free_of(2, 9, 2) == 1);
    CHECK(ptq_cores_free_of(8, 3, 4) == 4);
    CHECK(ptq_cores_free_of(8, 3, 6) == 5);
    CHECK(ptq_cores_free_of(4, -1, 0) == 1);
}

static void sleep_ms(int ms) { nanosleep(&(struct timespec){ms / 1000, (long)(ms % 1000) * 1000000L}, NULL); }

static void test_busy_children(void) {
    int allowed = ptq_cores_allowed();
    CHECK(allowed >= 1);
    for (int c = 1; c <= 4; c++) {
        int n = ptq_cores_free(c);
        CHECK(n >= 1 && n <= c);
    }
    ptq_threads_auto();
    int before = ptq_threads_adapt();
    CHECK(before >= 1 && before <= PTQ_MAX(allowed, 1));
    pid_t kids[2];
    for (int i = 0; i < 2; i++) {
        kids[i] = fork();
        if (kids[i] == 0)
            for (volatile unsigned long x = 0;; x++) {
            }
    }
    sleep_ms(30);
    int bound = PTQ_MAX(1, allowed - 2);
    int n = ptq_cores_free(allowed);
    CHECK(n <= bound);
    CHECK(ptq_threads_adapt() == before); /* the last look is younger than the recheck interval */
    sleep_ms(PTQ_THREADS_RECHECK_MS + 20);
    int adapted = ptq_threads_adapt();
    CHECK(adapted >= 1 && adapted <= bound);
    CHECK(omp_get_max_threads() == adapted);
    for (int i = 0; i < 2; i++) kill(kids[i], SIGKILL), waitpid(kids[i], NULL, 0);
    if (n > bound || adapted > bound) fprintf(stderr, "allowed %d: free %d, auto %d with 2 busy children\n", allowed, n, adapted);
}

static void test_fixed(void) {
    ptq_threads_fix(3);
    CHECK(!ptq_threads_is_auto() && omp_get_max_threads() == 3 && ptq_thread_slots() >= 3);
    sleep_ms(PTQ_THREADS_RECHECK_MS + 20);
    CHECK(ptq_threads_adapt() == 3 && omp_get_max_threads() == 3);
    ptq_threads_fix(1);
    CHECK(omp_get_max_threads() == 1 && ptq_thread_slots() >= 3); /* slots never shrink */
}

/* A state sized while 1 thread ran, then run with 3 (the governor raising
 * the count mid-run): the same logits as a 1-thread run. */
static void test_state_slots(void) {
    ptq_model m;
    ptq_tokenizer *tok;
    ptq_err err;
    if (ptq_open_model("stories260K", NULL, &m, &tok, &err)) {
        printf("SKIP state slots: %s\n", err.msg);
        return;
    }
    enum { T = 64 };
    int toks[T];
    for (int i = 0; i < T; i++) toks[i] = (i * 37 + 1) % m.cfg.vocab_size;
    size_t nl = (size_t)T * m.cfg.vocab_size;
    float *one = malloc(nl * sizeof(float)), *three = malloc(nl * sizeof(float));
    ptq_state s;
    omp_set_num_threads(1); /* the policy is untouched yet: slots = the count now */
    int ok = one && three && ptq_state_init(&s, &m, T, &err) == 0;
    CHECK(ok);
    if (ok) {
        CHECK(ptq_forward(&m, &s, toks, T, 0, one, 0, &err) == 0);
        omp_set_num_threads(3); /* past the governor, as a raise between sizing and use would be */
        CHECK(s.slots == 1);
        CHECK(ptq_forward(&m, &s, toks, T, 0, three, 0, &err) == 0);
        CHECK(memcmp(one, three, nl * sizeof(float)) == 0);
        ptq_state_free(&s);
    }
    free(one), free(three);
    ptq_tokenizer_free(tok);
    ptq_model_free(&m);
}

int main(void) {
    test_state_slots(); /* first: before any policy call raises the slots */
    test_parsers();
    test_busy_children();
    test_fixed();
    return tu_done("test_threads");
}
