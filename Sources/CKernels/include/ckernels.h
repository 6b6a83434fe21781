#ifndef EAGLED_CKERNELS_H
#define EAGLED_CKERNELS_H

/// Small-batch matrix product for the forward pass: y[n × N] (+)= x[n × K] · W[N × K]ᵀ,
/// row-major, over output rows [row_begin, row_end) (so callers can split the rows across
/// threads). x rows are `ldx` floats apart.
///
/// Verifying a handful of draft tokens on a CPU needs this shape: OpenBLAS's SGEMM packs
/// the weights and, for few rows, costs several single-token GEMVs. Here each pair of
/// weight rows is read from memory once and multiplied with every input row while it sits
/// in L1. AVX2/FMA when the CPU has them, portable C otherwise.
void eagle_skinny_gemm(int n, int N, int K, const float *x, int ldx, const float *W, float *y,
                       int accumulate, int row_begin, int row_end);

#endif
