// OpenBLAS's CBLAS interface (libopenblas-dev): the baseline Kiln benchmarks against and
// the oracle its GEMM tests compare with. openblas_set_num_threads pins the thread count.
#include <cblas.h>
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
