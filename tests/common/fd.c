/*
 * fd.c - see fd.h.
 */
#include "fd.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

bool tu_fd_check(const char *what, tu_fd_loss loss, void *problem, double *param, size_t n,
                 const double *analytic, double h, double tol) {
  double err2 = 0.0, ref2 = 0.0, worst = 0.0;
  size_t worst_i = 0;
  for (size_t i = 0; i < n; i++) {
    const double saved = param[i];
    param[i] = saved + h;
    const double up = loss(problem);
    param[i] = saved - h;
    const double down = loss(problem);
    param[i] = saved;
    const double fd = (up - down) / (2.0 * h);
    const double d = fabs(fd - analytic[i]);
    err2 += d * d;
    ref2 += fd * fd;
    if (d > worst) worst = d, worst_i = i;
  }
  const double rel = ref2 > 0 ? sqrt(err2 / ref2) : sqrt(err2);
  const bool ok = rel <= tol && !isnan(rel);
  if (!ok)
    fprintf(stderr, "FD MISMATCH %s: rel L2 %.3g (tol %.3g), worst |fd - analytic| %.3g at [%zu] (analytic %.9g)\n",
            what, rel, tol, worst, worst_i, analytic[worst_i]);
  return ok;
}
