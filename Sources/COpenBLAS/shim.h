// Debian's libopenblas-dev installs cblas.h through the alternatives system at
// /usr/include/x86_64-linux-gnu/cblas.h (or the aarch64 triple), which is on the
// default include path. It also declares openblas_get_corename() and
// openblas_set_num_threads(), which we use for logging and tuning.
#include <cblas.h>
