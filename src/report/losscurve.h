/* losscurve.h — one gnuplot figure per learned cell: the per-step
 * calibration loss its method recorded (method_info.learning.loss_curve). */
#ifndef PTQ_LOSSCURVE_H
#define PTQ_LOSSCURVE_H

#include "results.h"
#include "table_files.h"

/* For every cell of rs (once per cell key) whose row carries a loss curve:
 * <out>/loss_<model>_<label>_<bits>_s<seed>.{dat,png,svg} and its figure in
 * figs. Rows without a curve are skipped. */
int ptq_report_loss_curves(const ptq_rowset *rs, const ptq_report_opts *o, FILE *figs, ptq_err *err);

#endif
