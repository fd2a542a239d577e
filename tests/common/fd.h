/*
 * fd.h - central finite differences in double precision, to check the host
 * reference's backward passes (the f64 entry points of host/ref.h).
 */
#ifndef CLNN_TEST_FD_H
#define CLNN_TEST_FD_H

#include <stdbool.h>
#include <stddef.h>

/* A scalar function of the problem's current inputs (e.g. sum(y * dy)). */
typedef double (*tu_fd_loss)(void *problem);

/*
 * Estimate d loss / d param[i] for every i by central differences with step
 * h (param is perturbed in place and restored), and compare with analytic:
 * passes when the relative L2 error is <= tol. Prints what on failure.
 */
bool tu_fd_check(const char *what, tu_fd_loss loss, void *problem, double *param, size_t n,
                 const double *analytic, double h, double tol);

#endif
