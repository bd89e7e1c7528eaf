/* test_experiment.c — config parsing, strict validation with JSON paths,
 * cartesian expansion with option sweeps / exclude / include, cell keys. */
#include <string.h>

#include "experiment.h"
#include "testutil.h"

static int parse(const char *text, ptq_experiment *e, ptq_err *err) {
    return ptq_experiment_parse(text, "cfg.json", e, err);
}

/* The config must fail with a message containing every `want` fragment. */
static void expect_error(const char *text, const char *want1, const char *want2) {
    ptq_experiment e;
    ptq_err err = {{0}};
    int rc = parse(text, &e, &err);
    CHECK(rc == -1);
    if (rc == 0) ptq_experiment_free(&e);
    if (!strstr(err.msg, want1) || (want2 && !strstr(err.msg, want2))) {
        fprintf(stderr, "  message was: %s\n  wanted: %s / %s\n", err.msg, want1, want2 ? want2 : "");
        tu_failures++;
    }
}

#define BASE "\"name\":\"t\",\"models\":[\"stories260K\"],\"tasks\":[\"ppl:tinystories\"]"

static void test_expand(void) {
    const char *cfg = "{" BASE ",\"methods\":[\"rtn\",{\"name\":\"smoothquant\",\"options\":{\"alpha\":[0.5,0.85]}}],"
                      "\"bits\":[\"W16A16\",\"w4a4\"],\"seeds\":[0,1],"
                      "\"exclude\":[{\"method\":\"rtn\",\"bits\":\"W16A16\"}],"
                      "\"include\":[{\"model\":\"stories260K\",\"method\":\"fp16\",\"bits\":\"W16A16\"}],"
                      "\"calibration\":{\"dataset\":\"tinystories-calib\",\"samples\":4,\"seqlen\":64},"
                      "\"overrides\":{\"limit_windows\":1}}";
    ptq_experiment e;
    ptq_err err;
    CHECK(parse(cfg, &e, &err) == 0);
    if (e.ncells == 0) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    CHECK(e.ncells == 2 + 8 + 1);
    CHECK(!strcmp(e.cells[0].id, "stories260K|rtn|W4A4|s0"));
    CHECK(!strcmp(e.cells[2].label, "smoothquant(alpha=0.5)"));
    CHECK(!strcmp(e.cells[10].method->name, "fp16"));
    for (int i = 0; i < e.ncells; i++) CHECK(e.cells[i].index == i && e.cells[i].checked);
    /* resolved options carry every default, and calibration.samples stands in for nsamples */
    const cJSON *ns = cJSON_GetObjectItem(cJSON_GetObjectItem(e.cells[2].resolved, "options"), "nsamples");
    CHECK(ns && ns->valueint == 4);
    ns = cJSON_GetObjectItem(e.cells[2].run_opts, "nsamples");
    CHECK(ns && ns->valueint == 4);
    CHECK(cJSON_GetObjectItem(e.cells[0].resolved, "calibration") && cJSON_IsNull(cJSON_GetObjectItem(e.cells[0].resolved, "calibration")));
    CHECK(e.cells[2].eval.ppl.limit_windows == 1 && !strcmp(e.cells[2].calib.dataset, "tinystories-calib"));
    CHECK(!strcmp(e.cells[4].q.text, "W4A4") && e.cells[4].needs_calib && !e.cells[0].needs_calib);

    if (!tu_asset("models/stories260K/stories260K.bin")) {
        printf("no data root: key tests skipped\n");
        ptq_experiment_free(&e);
        return;
    }
    CHECK(ptq_experiment_keys(&e, &err) == 0);
    CHECK(strlen(e.cells[0].key) == 64);
    for (int i = 0; i < e.ncells; i++)
        for (int j = i + 1; j < e.ncells; j++) CHECK(strcmp(e.cells[i].key, e.cells[j].key) != 0);
    /* An option given at its default value is the same cell as leaving it out. */
    ptq_experiment e2;
    const char *cfg2 = "{" BASE ",\"methods\":[{\"name\":\"rtn\",\"options\":{}}],\"bits\":[\"W4A4\"],"
                       "\"overrides\":{\"limit_windows\":1}}";
    const char *cfg3 = "{" BASE ",\"methods\":[{\"name\":\"smoothquant\",\"options\":{\"alpha\":0.5}}],"
                       "\"bits\":[\"W16A16\"],\"overrides\":{\"limit_windows\":1},"
                       "\"calibration\":{\"dataset\":\"tinystories-calib\",\"samples\":4,\"seqlen\":64}}";
    CHECK(parse(cfg2, &e2, &err) == 0 && ptq_experiment_keys(&e2, &err) == 0);
    CHECK(!strcmp(e2.cells[0].key, e.cells[0].key));
    ptq_experiment_free(&e2);
    CHECK(parse(cfg3, &e2, &err) == 0 && ptq_experiment_keys(&e2, &err) == 0);
    CHECK(!strcmp(e2.cells[0].key, e.cells[2].key)); /* same cell, other experiment layout */
    ptq_experiment_free(&e2);
    char rk1[65], rk2[65];
    ptq_row_key(e.cells[0].key, "ppl:tinystories", rk1);
    ptq_row_key(e.cells[0].key, "ppl:wikitext2", rk2);
    CHECK(strcmp(rk1, rk2) != 0);
    ptq_experiment_free(&e);
}

static void test_errors(void) {
    expect_error("{\"name\":\"t\",", "cfg.json:1: malformed JSON", NULL);
    expect_error("[]", "$: expected a JSON object", NULL);
    expect_error("{" BASE ",\"methods\":[\"rtn\"],\"bits\":[\"W4A4\"],\"modelz\":1}", "$: unknown key \"modelz\"",
                 NULL);
    expect_error("{" BASE ",\"methods\":[\"rtn\"]}", "$.bits: required key is missing", NULL);
    expect_error("{" BASE ",\"methods\":[],\"bits\":[\"W4A4\"]}", "$.methods", "non-empty");
    expect_error("{" BASE ",\"methods\":[\"rtn\",\"specquantx\"],\"bits\":[\"W4A4\"]}",
                 "$.methods[1]: unknown method \"specquantx\"", "registered: fp16");
    expect_error("{" BASE ",\"methods\":[{\"name\":\"smoothquant\",\"options\":{\"alfa\":0.5}}],\"bits\":[\"W4A4\"]}",
                 "$.methods[0]", "unknown option 'alfa'");
    expect_error("{" BASE ",\"methods\":[{\"name\":\"smoothquant\",\"options\":{\"alpha\":\"x\"}}],\"bits\":[\"W4A4\"]}",
                 "$.methods[0]", "option 'alpha' must be a number");
    expect_error("{" BASE ",\"methods\":[{\"name\":\"rtn\",\"opts\":{}}],\"bits\":[\"W4A4\"]}",
                 "$.methods[0]: unknown key \"opts\"", NULL);
    expect_error("{" BASE ",\"methods\":[\"rtn\"],\"bits\":[\"W4A4\",\"W9Q\"]}", "$.bits[1]", NULL);
    expect_error("{" BASE ",\"methods\":[\"rtn\"],\"bits\":[\"W4A4\", 4]}", "$.bits[1]", "non-empty string");
    expect_error("{" BASE ",\"methods\":[\"rtn\"],\"bits\":[\"W4A4\"],\"seeds\":[0,\"a\"]}", "$.seeds[1]", NULL);
    expect_error("{" BASE ",\"methods\":[\"rtn\"],\"bits\":[\"W4A4\"],\"seeds\":[]}", "$.seeds", NULL);
    expect_error("{\"name\":\"t\",\"models\":[\"stories260K\"],\"tasks\":[\"ppl:wikitext3\"],\"methods\":[\"rtn\"],"
                 "\"bits\":[\"W4A4\"]}",
                 "$.tasks[0]", "unknown dataset 'wikitext3'");
    expect_error("{\"name\":\"t\",\"models\":[\"stories260K\"],\"tasks\":[\"bleu:x\"],\"methods\":[\"rtn\"],"
                 "\"bits\":[\"W4A4\"]}",
                 "$.tasks[0]", "unknown task kind");
    expect_error("{" BASE ",\"methods\":[\"gptq\"],\"bits\":[\"W4A4\"],\"calibration\":{\"dataset\":\"tinystories\"}}",
                 "$.calibration.dataset", "evaluated");
    expect_error("{" BASE ",\"methods\":[\"gptq\"],\"bits\":[\"W4A4\"],\"calibration\":{\"samples\":-3}}",
                 "$.calibration.samples", "integer");
    expect_error("{" BASE ",\"methods\":[\"gptq\"],\"bits\":[\"W4A4\"],\"calibration\":{\"sampels\":3}}",
                 "$.calibration: unknown key \"sampels\"", NULL);
    expect_error("{" BASE ",\"methods\":[\"rtn\"],\"bits\":[\"W4A4\"],\"overrides\":{\"limit\":1.5}}",
                 "$.overrides.limit", "integer");
    expect_error("{" BASE ",\"methods\":[\"rtn\"],\"bits\":[\"W4A4\"],\"overrides\":{\"limits\":1}}",
                 "$.overrides: unknown key \"limits\"", NULL);
    expect_error("{" BASE ",\"methods\":[\"rtn\"],\"bits\":[\"W4A4\"],\"exclude\":[{\"methd\":\"rtn\"}]}",
                 "$.exclude[0]: unknown key \"methd\"", NULL);
    expect_error("{" BASE ",\"methods\":[\"rtn\"],\"bits\":[\"W4A4\"],\"exclude\":[{\"method\":\"rtn\"}]}",
                 "the plan is empty", NULL);
    expect_error("{" BASE ",\"methods\":[\"rtn\"],\"bits\":[\"W4A4\"],\"include\":[{\"model\":\"m\"}]}",
                 "$.include[0]", "\"bits\"");
    expect_error("{" BASE ",\"methods\":[\"rtn\"],\"bits\":[\"W4A4\"],\"bits\":[\"W3A3\"]}", "duplicate key \"bits\"",
                 NULL);
    expect_error("{\"name\":\"a b\",\"models\":[\"m\"],\"tasks\":[\"ppl:ptb\"],\"methods\":[\"rtn\"],\"bits\":[\"W4A4\"]}",
                 "$.name", NULL);
    expect_error("{" BASE ",\"methods\":[{\"name\":\"smoothquant\",\"options\":{\"alpha\":[]}}],\"bits\":[\"W4A4\"]}",
                 "$.methods[0]", "empty sweep");
}

int main(void) {
    test_expand();
    test_errors();
    return tu_done("test_experiment");
}
