/*
 * chart.h - a dependency-free SVG line chart for training curves: one or
 * more panels, each with its own y axis and any number of series.
 */
#ifndef CLNN_TRAIN_CHART_H
#define CLNN_TRAIN_CHART_H

#include <stdbool.h>
#include <stddef.h>

typedef struct chart_series {
  const char *name;
  const char *color; /* any SVG colour, e.g. "#1f77b4" */
  const double *x, *y;
  int n;
} chart_series;

typedef struct chart_panel {
  const char *title;
  const char *x_label, *y_label;
  const chart_series *series;
  int n_series;
} chart_panel;

/* Write panels stacked vertically to path. False with a message on I/O errors. */
bool chart_write_svg(const char *path, const chart_panel *panels, int n_panels, char *err, size_t errlen);

#endif
