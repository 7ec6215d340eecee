// OpenBLAS's CBLAS interface (apt-get install libopenblas-dev; pkg-config name `openblas`):
// the baseline Kiln's GEMM is benchmarked against and the independent oracle of its tests.
#include <cblas.h>
// Declared in openblas_config.h / cblas.h on most installs; repeated so the thread count can be
// pinned whichever cblas.h the alternatives system selected.
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
char *openblas_get_config(void);
char *openblas_get_corename(void);
