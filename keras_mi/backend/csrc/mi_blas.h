// The products of the fused MI recurrences' loops (mi_core.h) for the JAX
// and TensorFlow bindings: OpenBLAS's sgemm (the scipy-openblas32 wheel's
// library, whose symbols carry the `scipy_` prefix), one-threaded, each
// large product split by columns over the framework's own intra-op
// threads, and the elementwise work of large steps spread over them too.
// OpenBLAS runs single-threaded: its own two threads, beside XLA's, made
// the MI-GRU's gradient at (B, T, D, H) = (64, 200, 128, 512) take 1705
// ms, one thread 919 ms (XLA's lax.scan loops: 1050 ms).
//
// The candidates for the product, one thread, microseconds per product at
// the shapes of the loops (an AMD EPYC with AVX2; m x k x n):
//                    OpenBLAS  oneDNN's dnnl_sgemm  MKL (torch.mm)
//   32 x  256 x 1024    308          401                 333
//   32 x   64 x 1024     63          180                  -
//   64 x  512 x 2048   2164         2085                3234
//   64 x  128 x 2048    550         1281                 633
// (oneDNN from the onednn-cpu-gomp 2023.2 wheel, MKL through PyTorch's
// build). Splitting a product by columns over two threads, each running
// one-threaded OpenBLAS, took 165 / 46 / 1178 / 275 us.
//
// A `Pool` is the framework's thread pool: `Schedule(std::function<void()>)`.

#ifndef KERAS_MI_BLAS_H_
#define KERAS_MI_BLAS_H_

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>

#include "mi_core.h"

extern "C" void scipy_cblas_sgemm(int order, int trans_a, int trans_b, int m, int n, int k,
                                  float alpha, const float* a, int lda, const float* b, int ldb,
                                  float beta, float* c, int ldc);
extern "C" void scipy_openblas_set_num_threads(int threads);

namespace mi {

// fn(i) for each i in [0, count), spread over the calling thread and up to
// threads - 1 of the pool's. The caller takes items too and waits only for
// those other threads have begun, so it never waits on a task the pool has
// not started (which could be queued behind this very call); a task that
// starts after the last item is taken does nothing.
template <typename Pool>
void spread(Pool* pool, int64_t threads, int64_t count,
            const std::function<void(int64_t)>& fn) {
  const int64_t helpers = pool == nullptr ? 0 : std::min<int64_t>(threads, count) - 1;
  if (helpers <= 0) {
    for (int64_t i = 0; i < count; ++i) fn(i);
    return;
  }
  struct Shared {
    std::atomic<int64_t> next{0}, done{0};
    int64_t count;
    const std::function<void(int64_t)>* fn;
  };
  auto shared = std::make_shared<Shared>();
  shared->count = count;
  shared->fn = &fn;
  const auto work = [](Shared& s) {
    FlushDenormals flush;
    for (int64_t i; (i = s.next.fetch_add(1)) < s.count;) {
      (*s.fn)(i);
      s.done.fetch_add(1, std::memory_order_release);
    }
  };
  for (int64_t h = 0; h < helpers; ++h) pool->Schedule([shared, work] { work(*shared); });
  work(*shared);
  while (shared->done.load(std::memory_order_acquire) < count) std::this_thread::yield();
}

// Products below this many multiply-adds stay on one thread.
constexpr int64_t kSpreadProduct = 1 << 20;

// The core's products (sgemm into one of four slots), in column blocks,
// over `threads` threads of `pool` (none: the calling thread alone).
template <typename Pool>
struct BlasOps : Slots {
  Pool* pool = nullptr;
  int64_t threads = 1;

  const float* product(int slot, const float* a, int64_t m, int index, bool transposed) {
    const int64_t k = inner(index, transposed), n = outer(index, transposed);
    const float* b = matrices[index];
    float* c = slots[slot];
    const int64_t ldb = cols[index];
    const int64_t blocks = pool == nullptr || m * k * n < kSpreadProduct ? 1 : threads;
    // Columns [j0, j1) of the result: of M, or rows of M for M's transpose.
    const int64_t width = ((n + blocks - 1) / blocks + 15) / 16 * 16;
    spread(blocks > 1 ? pool : nullptr, blocks, (n + width - 1) / width, [&](int64_t block) {
      const int64_t j0 = block * width, j1 = std::min(n, j0 + width);
      scipy_cblas_sgemm(101 /* row-major */, 111 /* no transpose */,
                        transposed ? 112 /* transpose */ : 111, m, j1 - j0, k, 1.0f, a, k,
                        transposed ? b + j0 * ldb : b + j0, ldb, 0.0f, c + j0, n);
    });
    return c;
  }

  template <typename F>
  void parallel(int64_t begin, int64_t end, int64_t grain, const F& fn) {
    const int64_t count = (end - begin + grain - 1) / grain;
    spread(pool, threads, count,
           [&](int64_t i) { fn(begin + i * grain, std::min(end, begin + (i + 1) * grain)); });
  }
};

// OpenBLAS single-threaded; call once, as the binding's library loads.
inline bool one_blas_thread() {
  scipy_openblas_set_num_threads(1);
  return true;
}

}  // namespace mi

#endif  // KERAS_MI_BLAS_H_
