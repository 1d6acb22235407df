// CPU tier of the batched tridiagonal eigenvalue bisection (see tridiag.h):
// every (matrix, k) pair is independent, split over threads in fixed chunks.
#include "tridiag/tridiag.h"

#include "common/parallel.h"

namespace fastgan {
namespace tridiag {

void tridiagonal_eigvalsh_cpu(const Params& p, int num_threads) {
  const int64_t total = p.batch * p.n;
  parallel_for(total, 64, num_threads, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) p.out[t] = eigenvalue(p, t / p.n, t % p.n);
  });
}

}  // namespace tridiag
}  // namespace fastgan
