/*
 * chart.c - see chart.h. Axes get "nice" round ticks; NaN points are skipped.
 */
#include "chart.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define PLOT_W 530 /* the plotting area's width */
#define PANEL_H 300
#define ML 70 /* margins; the right one holds the legend and grows with its longest name */
#define MR 160
#define MT 36
#define MB 46
#define LEGEND_TEXT_X 38 /* the legend's names start this far right of the plot */
#define CHAR_W 7.5       /* a generous width of one 12-px sans-serif character */

/* A round tick step giving about n ticks over span. */
static double nice_step(double span, int n) {
  double raw = span / n, mag = pow(10.0, floor(log10(raw))), f = raw / mag;
  return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

static void range_of(const chart_panel *p, bool want_x, double *lo, double *hi) {
  *lo = INFINITY;
  *hi = -INFINITY;
  for (int s = 0; s < p->n_series; s++)
    for (int i = 0; i < p->series[s].n; i++) {
      double v = want_x ? p->series[s].x[i] : p->series[s].y[i];
      if (isnan(v)) continue;
      if (v < *lo) *lo = v;
      if (v > *hi) *hi = v;
    }
  if (!(*lo <= *hi)) *lo = 0, *hi = 1;
  if (*hi - *lo < 1e-12) *lo -= 0.5, *hi = *lo + 1; /* one value: centred */
}

/* Whether every x is a whole number (epochs): then ticks fall on whole numbers only. */
static bool whole_x(const chart_panel *p) {
  for (int s = 0; s < p->n_series; s++)
    for (int i = 0; i < p->series[s].n; i++) {
      double v = p->series[s].x[i];
      if (!isnan(v) && v != floor(v)) return false;
    }
  return true;
}

/* The right margin: wide enough for the longest series name in any panel. */
static int right_margin(const chart_panel *panels, int n_panels) {
  size_t longest = 0;
  for (int i = 0; i < n_panels; i++)
    for (int s = 0; s < panels[i].n_series; s++)
      if (strlen(panels[i].series[s].name) > longest) longest = strlen(panels[i].series[s].name);
  int need = LEGEND_TEXT_X + (int)ceil(CHAR_W * (double)longest) + 12;
  return need > MR ? need : MR;
}

static void panel(FILE *f, const chart_panel *p, int y0) {
  double x0v, x1v, y0v, y1v;
  range_of(p, true, &x0v, &x1v);
  range_of(p, false, &y0v, &y1v);
  double ys = nice_step(y1v - y0v, 5), xs = nice_step(x1v - x0v, 8);
  if (whole_x(p) && xs < 1) xs = 1; /* no epoch 1.1, 1.2, ... */
  y0v = floor(y0v / ys) * ys;
  y1v = ceil(y1v / ys) * ys;
  const int pw = PLOT_W, ph = PANEL_H - MT - MB;
#define PX(v) (ML + ((v) - x0v) / (x1v - x0v) * pw)
#define PY(v) (y0 + MT + ph - ((v) - y0v) / (y1v - y0v) * ph)
  fprintf(f, "<text x='%d' y='%d' font-size='15' font-weight='bold'>%s</text>\n", ML, y0 + 22, p->title);
  fprintf(f, "<rect x='%d' y='%d' width='%d' height='%d' fill='none' stroke='#888'/>\n", ML, y0 + MT, pw, ph);
  for (double v = y0v; v <= y1v + ys * 1e-6; v += ys) {
    fprintf(f, "<line x1='%d' x2='%d' y1='%.1f' y2='%.1f' stroke='#ddd'/>\n", ML, ML + pw, PY(v), PY(v));
    fprintf(f, "<text x='%d' y='%.1f' font-size='11' text-anchor='end'>%g</text>\n", ML - 6, PY(v) + 4, v);
  }
  for (double v = ceil(x0v / xs) * xs; v <= x1v + xs * 1e-6; v += xs)
    fprintf(f, "<text x='%.1f' y='%d' font-size='11' text-anchor='middle'>%g</text>\n", PX(v),
            y0 + MT + ph + 16, v);
  fprintf(f, "<text x='%d' y='%d' font-size='12' text-anchor='middle'>%s</text>\n", ML + pw / 2,
          y0 + PANEL_H - 8, p->x_label);
  fprintf(f, "<text x='16' y='%d' font-size='12' text-anchor='middle' transform='rotate(-90 16 %d)'>%s</text>\n",
          y0 + MT + ph / 2, y0 + MT + ph / 2, p->y_label);
  for (int s = 0; s < p->n_series; s++) {
    const chart_series *se = &p->series[s];
    fprintf(f, "<polyline fill='none' stroke='%s' stroke-width='1.8' points='", se->color);
    for (int i = 0; i < se->n; i++)
      if (!isnan(se->x[i]) && !isnan(se->y[i])) fprintf(f, "%.1f,%.1f ", PX(se->x[i]), PY(se->y[i]));
    fprintf(f, "'/>\n");
    if (se->n == 1 || se->n < 40)
      for (int i = 0; i < se->n; i++)
        if (!isnan(se->y[i]))
          fprintf(f, "<circle cx='%.1f' cy='%.1f' r='2.5' fill='%s'/>\n", PX(se->x[i]), PY(se->y[i]), se->color);
    int ly = y0 + MT + 14 + 18 * s;
    fprintf(f, "<line x1='%d' x2='%d' y1='%d' y2='%d' stroke='%s' stroke-width='3'/>\n", ML + pw + 12,
            ML + pw + 32, ly - 4, ly - 4, se->color);
    fprintf(f, "<text x='%d' y='%d' font-size='12'>%s</text>\n", ML + pw + LEGEND_TEXT_X, ly, se->name);
  }
#undef PX
#undef PY
}

bool chart_write_svg(const char *path, const chart_panel *panels, int n_panels, char *err, size_t errlen) {
  FILE *f = fopen(path, "w");
  if (!f) {
    snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
    return false;
  }
  fprintf(f, "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' font-family='sans-serif'>\n",
          ML + PLOT_W + right_margin(panels, n_panels), PANEL_H * n_panels);
  fprintf(f, "<rect width='100%%' height='100%%' fill='white'/>\n");
  for (int i = 0; i < n_panels; i++) panel(f, &panels[i], i * PANEL_H);
  fprintf(f, "</svg>\n");
  if (fclose(f) != 0) {
    snprintf(err, errlen, "%s: write failed", path);
    return false;
  }
  return true;
}
