// The fused MI recurrences on the CPU (float32), framework-neutral: the
// forward loop and the backward loop of MI-RNN, MI-LSTM, MI-GRU and the
// mLSTM over raw buffers. Each step is one recurrent GEMM (two for the mLSTM
// and the GRU without reset_after) and one pass of elementwise work. The
// framework binds them (mi_recurrence.cpp for PyTorch): it owns the buffers
// and gives the products by its GEMM (`Ops`, below).
//
// The math is that of keras_mi/backend/cell_steps.py (each cell's step and
// its derivative, run over a sequence by keras_mi/backend/recurrence.py),
// the reference these loops are tested against; the comments name the
// equation each line computes or differentiates (Wu et al. 2016: Eq. 4 and
// Appendix A). Buffers are time-major and contiguous: inputs x (T, B, D),
// states (B, H). The input projection W x_t is computed step by step (one
// small GEMM), so no (T, B, G) sequence of it is ever stored; the backward
// pass computes it again. What the forward pass saves for the backward pass
// (the gates and the recurrent terms uz) is overwritten in place, step by
// step, by the gradients the weights need after the loop (d W x and d uh).
// The MI coefficients alpha, beta1, beta2 and the bias b are (G,) vectors
// (the caller materializes the constants of the fixed modes).
//
// `Ops`, given by the binding:
//   const float* product(int slot, const float* a, int64_t rows, int index,
//                        bool transposed)
//     a (rows x k) @ M, M the binding's matrix `index` (W, U, ...; see
//     `Inputs`) or its transpose; the result stays valid until the next
//     product with the same slot.
//   void parallel(int64_t begin, int64_t end, int64_t grain, fn)
//     fn(j0, j1) over [begin, end), in ranges of at least `grain`.

#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#if defined(__SSE2__)
#include <xmmintrin.h>
#endif

#define RESTRICT __restrict__

namespace mi {

enum Kind { RNN = 0, LSTM = 1, GRU = 2, MLSTM = 3 };
enum Activation { TANH = 0, SIGMOID = 1, RELU = 2, LINEAR = 3 };

// exp(x) in float32 to ~2 ulp, written so that the compiler vectorizes it:
// x = n ln 2 + r with |r| <= ln 2 / 2, exp(r) by its degree-6 Taylor-like
// minimax polynomial, 2^n by building the exponent bits.
inline float exp_approx(float x) {
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  const float n = __builtin_floorf(x * 1.44269504088896341f + 0.5f);
  const float r = x - n * 0.693145751953125f - n * 1.428606765330187e-06f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return p * scale;
}

inline float sigmoid(float x) { return 1.0f / (1.0f + exp_approx(-x)); }
inline float tanh_approx(float x) { return 2.0f / (1.0f + exp_approx(-2.0f * x)) - 1.0f; }

template <int A>
inline float activate(float v) {
  if (A == TANH) return tanh_approx(v);
  if (A == SIGMOID) return sigmoid(v);
  if (A == RELU) return v > 0.0f ? v : 0.0f;
  return v;
}

// phi'(v) from y = phi(v).
template <int A>
inline float derivative(float y) {
  if (A == TANH) return 1.0f - y * y;
  if (A == SIGMOID) return y * (1.0f - y);
  if (A == RELU) return y > 0.0f ? 1.0f : 0.0f;
  return 1.0f;
}

// Subnormal floats flushed to zero (x86's FTZ and DAZ bits of MXCSR) on
// this thread, or not; whether they are. XLA and TensorFlow run their
// kernels so; a gradient that fades over many steps reaches subnormal
// values, on which each multiply costs ~100 cycles: a MI-GRU's train step
// over 200 steps ran 28x slower without it (docs/benchmarks.md).
constexpr unsigned int kFlushBits = 0x8040;
#if defined(__SSE2__)
inline bool flushing_denormals() { return (_mm_getcsr() & kFlushBits) == kFlushBits; }
inline void flush_denormals(bool on) {
  const unsigned int csr = _mm_getcsr();
  _mm_setcsr(on ? (csr | kFlushBits) : (csr & ~kFlushBits));
}
#else
inline bool flushing_denormals() { return false; }
inline void flush_denormals(bool) {}
#endif

// The same while a loop runs (restored after).
class FlushDenormals {
 public:
  FlushDenormals() : saved_(flushing_denormals()) { flush_denormals(true); }
  ~FlushDenormals() { flush_denormals(saved_); }

 private:
  bool saved_;
};

// Runs fn(j0, j1) over unit ranges; small steps stay on one thread.
template <typename Ops, typename F>
void over_units(Ops& ops, int64_t B, int64_t G, int64_t H, const F& fn) {
  const int64_t grain = B * G < 131072 ? H : std::max<int64_t>(16, H / 8);
  if (grain >= H) return fn(0, H);
  ops.parallel(0, H, grain, [&fn](int64_t j0, int64_t j1) {
    FlushDenormals flush;  // on a worker thread too
    fn(j0, j1);
  });
}

// The MI coefficients and the sums of their gradients, (G,) vectors each.
struct Coefficients {
  const float *alpha, *beta1, *beta2, *bias;
};
struct Accumulators {
  float *alpha, *beta1, *beta2, *bias;
};

// Inside a kernel, the coefficients are local restrict pointers (pointers
// read from a struct in the loop would keep it from vectorizing):
#define LOCAL_COEFFICIENTS(coef)                     \
  const float* RESTRICT alpha_ = (coef).alpha;       \
  const float* RESTRICT beta1_ = (coef).beta1;       \
  const float* RESTRICT beta2_ = (coef).beta2;       \
  const float* RESTRICT bias_ = (coef).bias
#define LOCAL_ACCUMULATORS(acc)                      \
  float* RESTRICT d_alpha_ = (acc).alpha;            \
  float* RESTRICT d_beta1_ = (acc).beta1;            \
  float* RESTRICT d_beta2_ = (acc).beta2;            \
  float* RESTRICT d_bias_ = (acc).bias
// Eq. 4: z = (alpha wx + beta1) uz + (beta2 wx + b).
#define MI_Z(k, x, u) ((alpha_[k] * (x) + beta1_[k]) * (u) + (beta2_[k] * (x) + bias_[k]))
// dz/duz = alpha wx + beta1,  dz/dwx = alpha uz + beta2.
#define MI_DZ_DUZ(k, x) (alpha_[k] * (x) + beta1_[k])
#define MI_DZ_DWX(k, u) (alpha_[k] * (u) + beta2_[k])
// dz/dalpha = wx uz, dz/dbeta1 = uz, dz/dbeta2 = wx, dz/db = 1.
#define MI_ACCUMULATE(k, dz, x, u) \
  do {                             \
    d_alpha_[k] += (dz) * (x) * (u); \
    d_beta1_[k] += (dz) * (u);     \
    d_beta2_[k] += (dz) * (x);     \
    d_bias_[k] += (dz);            \
  } while (0)

// What a binding's `Ops` holds besides its GEMM: the matrices (row-major,
// rows x cols; absent ones 0 x 0) and four slots of B rows for the
// products' results, in `slot_space` (`slot_floats` of it).
struct Slots {
  const float* matrices[4];
  int64_t rows[4], cols[4];
  float* slots[4];

  static int64_t widest(const int64_t rows[4], const int64_t cols[4]) {
    int64_t most = 0;
    for (int i = 0; i < 4; ++i) most = std::max(most, std::max(rows[i], cols[i]));
    return most;
  }
  static int64_t slot_floats(int64_t B, const int64_t rows[4], const int64_t cols[4]) {
    return 4 * B * widest(rows, cols);
  }
  void assign(const float* const data[4], const int64_t r[4], const int64_t c[4], int64_t B,
              float* slot_space) {
    const int64_t size = B * widest(r, c);
    for (int i = 0; i < 4; ++i) {
      matrices[i] = data[i];
      rows[i] = r[i];
      cols[i] = c[i];
      slots[i] = slot_space + i * size;
    }
  }
  // The sides of the product a (m x k) @ matrix `index` (or its transpose).
  int64_t inner(int index, bool transposed) const { return transposed ? cols[index] : rows[index]; }
  int64_t outer(int index, bool transposed) const { return transposed ? rows[index] : cols[index]; }

  // One thread per call (the framework runs the call on one of its own).
  template <typename F>
  void parallel(int64_t begin, int64_t end, int64_t, const F& fn) {
    fn(begin, end);
  }
};

// The four matrices as a binding reads them (absent ones: null, 0 x 0),
// and its `Ops` over them with `slot_floats(B)` floats of slots.
struct Matrices {
  const float* data[4] = {};
  int64_t rows[4] = {}, cols[4] = {};

  int64_t slot_floats(int64_t B) const { return Slots::slot_floats(B, rows, cols); }
  template <typename Ops>
  Ops ops(int64_t B, float* slot_space) const {
    Ops ops;
    ops.assign(data, rows, cols, B, slot_space);
    return ops;
  }
};

// One call's sizes and inputs. The matrices, held by the binding, are, by
// index: W, U (rnn, lstm, gru with reset_after); W, U_zr, U_h (gru
// without); W, U, W_mx, W_mh (mlstm).
struct Inputs {
  int64_t kind, activation;
  bool reset_after;
  int64_t T, B, D, H, G;
  const float* x;        // (T, B, D)
  const float* h0;       // (B, H)
  const float* c0;       // (B, H), the LSTM family
  Coefficients coef;
  const float* b_rec;    // (G,): the GRU's recurrent bias with reset_after, or nullptr
  const float* rmask;    // (B, H): the recurrent dropout multiplier, or nullptr
  const uint8_t* keep;   // (T, B): 1 where a row steps, or nullptr (all do)

  const uint8_t* keep_row(int64_t t) const { return keep == nullptr ? nullptr : keep + t * B; }
  bool two_states() const { return kind == LSTM || kind == MLSTM; }
};

// rmask * h, in `into` (or h itself without dropout).
inline const float* dropped(const Inputs& in, const float* h, float* into) {
  if (in.rmask == nullptr) return h;
  const int64_t n = in.B * in.H;
  for (int64_t i = 0; i < n; ++i) into[i] = h[i] * in.rmask[i];
  return into;
}

// dst = rmask * p + skip: the gradient reaching h_(t-1) through the
// recurrent product p (taken by a dropped state) and besides it.
inline void carry(const Inputs& in, const float* RESTRICT p, const float* RESTRICT skip,
                  float* RESTRICT dst) {
  const int64_t n = in.B * in.H;
  if (in.rmask == nullptr) {
    for (int64_t i = 0; i < n; ++i) dst[i] = p[i] + skip[i];
  } else {
    for (int64_t i = 0; i < n; ++i) dst[i] = p[i] * in.rmask[i] + skip[i];
  }
}

inline void copy_units(float* dst, const float* src, int64_t j0, int64_t j1) {
  std::memcpy(dst + j0, src + j0, sizeof(float) * (j1 - j0));
}
inline void zero_units(float* dst, int64_t j0, int64_t j1) {
  std::memset(dst + j0, 0, sizeof(float) * (j1 - j0));
}

// ---------------------------------------------------------------- forward
//
// Each kernel runs over the units [j0, j1) of every row; its pointers are
// parameters (locals), so that the compiler vectorizes the inner loop.
// `keep` is the row mask of this step (nullptr: all rows kept); a masked
// row is computed, then its states are overwritten with the previous ones
// (a branch outside the vector loop, which a select inside would prevent).

// MI-RNN step: h = phi(MI(wx, U h_prev)).
template <int A>
void rnn_forward_units(int64_t j0, int64_t j1, int64_t B, int64_t H, Coefficients coef,
                       const uint8_t* keep, const float* RESTRICT wx, const float* RESTRICT uz,
                       const float* RESTRICT h_prev, float* RESTRICT h) {
  LOCAL_COEFFICIENTS(coef);
  for (int64_t n = 0; n < B; ++n) {
    const bool kept = keep == nullptr || keep[n];
    const int64_t row = n * H;
#pragma omp simd
    for (int64_t j = j0; j < j1; ++j) {
      h[row + j] = activate<A>(MI_Z(j, wx[row + j], uz[row + j]));
    }
    if (!kept) copy_units(h + row, h_prev + row, j0, j1);
  }
}

// MI-LSTM cell (App. A.1) on z = MI(wx, uz): gates i, f, c, o.
void lstm_forward_units(int64_t j0, int64_t j1, int64_t B, int64_t H, Coefficients coef,
                        const uint8_t* keep, const float* RESTRICT wx, const float* RESTRICT uz,
                        const float* RESTRICT h_prev, const float* RESTRICT c_prev,
                        float* RESTRICT h, float* RESTRICT c, float* RESTRICT gates) {
  LOCAL_COEFFICIENTS(coef);
  const int64_t G = 4 * H;
  for (int64_t n = 0; n < B; ++n) {
    const bool kept = keep == nullptr || keep[n];
    const int64_t row = n * G, state = n * H;
#pragma omp simd
    for (int64_t j = j0; j < j1; ++j) {
      const int64_t ki = row + j, kf = ki + H, kg = kf + H, ko = kg + H;
      const float i = sigmoid(MI_Z(j, wx[ki], uz[ki]));
      const float f = sigmoid(MI_Z(H + j, wx[kf], uz[kf]));
      const float g = tanh_approx(MI_Z(2 * H + j, wx[kg], uz[kg]));
      const float o = sigmoid(MI_Z(3 * H + j, wx[ko], uz[ko]));
      // c_t = f c_(t-1) + i g,  h_t = o tanh(c_t).
      const float cc = f * c_prev[state + j] + i * g;
      gates[ki] = i;
      gates[kf] = f;
      gates[kg] = g;
      gates[ko] = o;
      c[state + j] = cc;
      h[state + j] = o * tanh_approx(cc);
    }
    if (!kept) {
      copy_units(c + state, c_prev + state, j0, j1);
      copy_units(h + state, h_prev + state, j0, j1);
    }
  }
}

// MI-GRU (App. A.2) with reset_after: uh = U hd + b', u = r * uh_h.
void gru_after_forward_units(int64_t j0, int64_t j1, int64_t B, int64_t H, Coefficients coef,
                             const uint8_t* keep, const float* RESTRICT wx,
                             const float* RESTRICT uh, const float* RESTRICT h_prev,
                             float* RESTRICT h, float* RESTRICT gates, float* RESTRICT uz,
                             float* RESTRICT uh_h) {
  LOCAL_COEFFICIENTS(coef);
  const int64_t G = 3 * H;
  for (int64_t n = 0; n < B; ++n) {
    const bool kept = keep == nullptr || keep[n];
    const int64_t row = n * G, state = n * H;
#pragma omp simd
    for (int64_t j = j0; j < j1; ++j) {
      const int64_t kz = row + j, kr = kz + H, kh = kr + H;
      const float z = sigmoid(MI_Z(j, wx[kz], uh[kz]));
      const float r = sigmoid(MI_Z(H + j, wx[kr], uh[kr]));
      const float u = r * uh[kh];
      const float cand = tanh_approx(MI_Z(2 * H + j, wx[kh], u));
      gates[kz] = z;
      gates[kr] = r;
      gates[kh] = cand;
      uz[kz] = uh[kz];
      uz[kr] = uh[kr];
      uz[kh] = u;
      uh_h[state + j] = uh[kh];
      // h = z h_prev + (1 - z) h~.
      h[state + j] = z * h_prev[state + j] + (1.0f - z) * cand;
    }
    if (!kept) copy_units(h + state, h_prev + state, j0, j1);
  }
}

// MI-GRU without reset_after, first half: z, r and r * hd.
void gru_gates_forward_units(int64_t j0, int64_t j1, int64_t B, int64_t H, Coefficients coef,
                             const float* RESTRICT wx, const float* RESTRICT uh_zr,
                             const float* RESTRICT hd, float* RESTRICT gates,
                             float* RESTRICT uz, float* RESTRICT rh) {
  LOCAL_COEFFICIENTS(coef);
  const int64_t G = 3 * H;
  for (int64_t n = 0; n < B; ++n) {
    const int64_t row = n * G, state = n * H, zr = n * 2 * H;
#pragma omp simd
    for (int64_t j = j0; j < j1; ++j) {
      const float z = sigmoid(MI_Z(j, wx[row + j], uh_zr[zr + j]));
      const float r = sigmoid(MI_Z(H + j, wx[row + H + j], uh_zr[zr + H + j]));
      gates[row + j] = z;
      gates[row + H + j] = r;
      uz[row + j] = uh_zr[zr + j];
      uz[row + H + j] = uh_zr[zr + H + j];
      rh[state + j] = r * hd[state + j];
    }
  }
}

// ... and second half: u = U_h (r * hd), the candidate and h.
void gru_candidate_forward_units(int64_t j0, int64_t j1, int64_t B, int64_t H,
                                 Coefficients coef, const uint8_t* keep,
                                 const float* RESTRICT wx, const float* RESTRICT u,
                                 const float* RESTRICT h_prev, float* RESTRICT h,
                                 float* RESTRICT gates, float* RESTRICT uz) {
  LOCAL_COEFFICIENTS(coef);
  const int64_t G = 3 * H;
  for (int64_t n = 0; n < B; ++n) {
    const bool kept = keep == nullptr || keep[n];
    const int64_t row = n * G, state = n * H;
#pragma omp simd
    for (int64_t j = j0; j < j1; ++j) {
      const int64_t kh = row + 2 * H + j;
      const float cand = tanh_approx(MI_Z(2 * H + j, wx[kh], u[state + j]));
      const float z = gates[row + j];
      gates[kh] = cand;
      uz[kh] = u[state + j];
      h[state + j] = z * h_prev[state + j] + (1.0f - z) * cand;
    }
    if (!kept) copy_units(h + state, h_prev + state, j0, j1);
  }
}

// What the forward loop writes. `hs`, `h_final` (and `c_final`, LSTM
// family) always; with `save`, what the backward loop needs: `cs` (LSTM
// family), `gates` (but the RNN), `uz`, and `extra`: uh_h (GRU with
// reset_after) or W_mh hd (mLSTM); all (T, B, .).
struct ForwardOutputs {
  float *hs, *h_final, *c_final, *cs, *gates, *uz, *extra;
};

// Floats of scratch space the forward loop needs.
inline int64_t forward_workspace(const Inputs& in) {
  return 3 * in.B * in.G + 5 * in.B * in.H;
}

template <typename Ops>
void forward_loop(Ops& ops, const Inputs& in, bool save, const ForwardOutputs& out,
                  float* work) {
  FlushDenormals flush;
  const int64_t T = in.T, B = in.B, D = in.D, H = in.H, G = in.G;
  const int64_t activation = in.activation;
  float* w_gates = work;
  float* w_uz = w_gates + B * G;
  float* uh_buf = w_uz + B * G;
  float* w_cs = uh_buf + B * G;  // two (B, H) states, in turn
  float* hd_buf = w_cs + 2 * B * H;
  float* m_buf = hd_buf + B * H;
  float* scratch = m_buf + B * H;
  float* cs = save ? out.cs : w_cs;
  float* gates = save ? out.gates : w_gates;
  float* uz = save ? out.uz : w_uz;
  const float* h = in.h0;
  const float* c = in.c0;
  for (int64_t t = 0; t < T; ++t) {
    const int64_t step = save ? t : 0;
    const uint8_t* keep_t = in.keep_row(t);
    const float* x_t = in.x + t * B * D;
    // W x_t: the input projection of this step.
    const float* wx_t = ops.product(0, x_t, B, 0, false);
    float* h_out = out.hs + t * B * H;
    float* uz_t = uz + step * B * G;
    const float* h_in = h;
    const float* hd = dropped(in, h, hd_buf);
    if (in.kind == RNN) {
      std::memcpy(uz_t, ops.product(1, hd, B, 1, false), sizeof(float) * B * G);
      over_units(ops, B, G, H, [&](int64_t j0, int64_t j1) {
        switch (activation) {
          case TANH: rnn_forward_units<TANH>(j0, j1, B, H, in.coef, keep_t, wx_t, uz_t, h_in, h_out); break;
          case SIGMOID: rnn_forward_units<SIGMOID>(j0, j1, B, H, in.coef, keep_t, wx_t, uz_t, h_in, h_out); break;
          case RELU: rnn_forward_units<RELU>(j0, j1, B, H, in.coef, keep_t, wx_t, uz_t, h_in, h_out); break;
          default: rnn_forward_units<LINEAR>(j0, j1, B, H, in.coef, keep_t, wx_t, uz_t, h_in, h_out); break;
        }
      });
    } else if (in.two_states()) {
      const float* u;
      if (in.kind == LSTM) {
        u = ops.product(1, hd, B, 1, false);
      } else {
        // m = (W_mx x) * (W_mh hd),  uz = U m.
        const float* wmh = ops.product(2, hd, B, 3, false);
        if (save) std::memcpy(out.extra + t * B * H, wmh, sizeof(float) * B * H);
        const float* wmx = ops.product(3, x_t, B, 2, false);
        for (int64_t i = 0; i < B * H; ++i) m_buf[i] = wmx[i] * wmh[i];
        u = ops.product(1, m_buf, B, 1, false);
      }
      std::memcpy(uz_t, u, sizeof(float) * B * G);
      float* c_out = cs + (save ? t : (t + 1) % 2) * B * H;
      float* gates_t = gates + step * B * G;
      const float* c_in = c;
      over_units(ops, B, G, H, [&](int64_t j0, int64_t j1) {
        lstm_forward_units(j0, j1, B, H, in.coef, keep_t, wx_t, uz_t, h_in, c_in, h_out, c_out, gates_t);
      });
      c = c_out;
    } else if (in.reset_after) {
      const float* uh = ops.product(1, hd, B, 1, false);
      if (in.b_rec != nullptr) {  // uh = U hd + b'
        for (int64_t r = 0; r < B; ++r)
          for (int64_t k = 0; k < G; ++k) uh_buf[r * G + k] = uh[r * G + k] + in.b_rec[k];
        uh = uh_buf;
      }
      float* gates_t = gates + step * B * G;
      float* uh_h = save ? out.extra + t * B * H : scratch;
      over_units(ops, B, G, H, [&](int64_t j0, int64_t j1) {
        gru_after_forward_units(j0, j1, B, H, in.coef, keep_t, wx_t, uh, h_in, h_out, gates_t, uz_t, uh_h);
      });
    } else {
      const float* uh_zr = ops.product(1, hd, B, 1, false);
      float* gates_t = gates + step * B * G;
      float* rh = scratch;
      over_units(ops, B, G, H, [&](int64_t j0, int64_t j1) {
        gru_gates_forward_units(j0, j1, B, H, in.coef, wx_t, uh_zr, hd, gates_t, uz_t, rh);
      });
      const float* u = ops.product(2, scratch, B, 2, false);
      over_units(ops, B, G, H, [&](int64_t j0, int64_t j1) {
        gru_candidate_forward_units(j0, j1, B, H, in.coef, keep_t, wx_t, u, h_in, h_out, gates_t, uz_t);
      });
    }
    h = h_out;
  }
  std::memcpy(out.h_final, h, sizeof(float) * B * H);
  if (in.two_states()) std::memcpy(out.c_final, c, sizeof(float) * B * H);
}

// --------------------------------------------------------------- backward
//
// Each kernel reads what the forward pass saved at this step and writes, in
// place, the gradient of the recurrent GEMM's output (duh, over uz) and the
// gradient of W x (dwx, over the gates; the RNN, which saves no gates, has
// its own buffer), adds this step's share of the gradients of alpha,
// beta1, beta2 and b (one column range per thread), and writes `skip`:
// what passes to h_(t-1) besides the GEMM (dh on masked rows). Each element
// is read before it is overwritten.

// Through Eq. 4 for one gate column k: d uz (over uz), d wx and the sums.
#define MI_BACKWARD(col, k, dz_value)                       \
  do {                                                      \
    const float dz_ = (dz_value), x_ = wx[k], u_ = uz_duh[k]; \
    uz_duh[k] = dz_ * MI_DZ_DUZ(col, x_);                   \
    dwx[k] = dz_ * MI_DZ_DWX(col, u_);                      \
    MI_ACCUMULATE(col, dz_, x_, u_);                        \
  } while (0)

// MI-RNN backward step: dz = dh phi'(h); d uz = dz (alpha wx + beta1).
template <int A>
void rnn_backward_units(int64_t j0, int64_t j1, int64_t B, int64_t H, Coefficients coef,
                        Accumulators acc, const uint8_t* keep, const float* RESTRICT wx,
                        const float* RESTRICT h, float* RESTRICT uz_duh,
                        const float* RESTRICT dh, float* RESTRICT dwx, float* RESTRICT skip) {
  LOCAL_COEFFICIENTS(coef);
  LOCAL_ACCUMULATORS(acc);
  for (int64_t n = 0; n < B; ++n) {
    const bool kept = keep == nullptr || keep[n];
    const int64_t row = n * H;
    if (!kept) {  // the state passes through: no gradient to the step
      zero_units(uz_duh + row, j0, j1);
      zero_units(dwx + row, j0, j1);
      copy_units(skip + row, dh + row, j0, j1);
      continue;
    }
#pragma omp simd
    for (int64_t j = j0; j < j1; ++j) {
      MI_BACKWARD(j, row + j, dh[row + j] * derivative<A>(h[row + j]));
      skip[row + j] = 0.0f;
    }
  }
}

// MI-LSTM cell backward: from dh_t and dc_t to dz (the four gates), then
// through Eq. 4. `dc` is updated in place to dc_(t-1); `gates_dwx` holds
// the gates and receives d wx.
void lstm_backward_units(int64_t j0, int64_t j1, int64_t B, int64_t H, Coefficients coef,
                         Accumulators acc, const uint8_t* keep, const float* RESTRICT wx,
                         float* RESTRICT gates_dwx, const float* RESTRICT c,
                         const float* RESTRICT c_prev, float* RESTRICT uz_duh,
                         const float* RESTRICT dh, float* RESTRICT dc, float* RESTRICT skip) {
  LOCAL_COEFFICIENTS(coef);
  LOCAL_ACCUMULATORS(acc);
  float* RESTRICT dwx = gates_dwx;
  const int64_t G = 4 * H;
  for (int64_t n = 0; n < B; ++n) {
    const bool kept = keep == nullptr || keep[n];
    const int64_t row = n * G, state = n * H;
    if (!kept) {  // the states pass through: no gradient to the step
      for (int64_t q = 0; q < 4; ++q) {
        zero_units(uz_duh + row + q * H, j0, j1);
        zero_units(dwx + row + q * H, j0, j1);
      }
      copy_units(skip + state, dh + state, j0, j1);
      continue;
    }
#pragma omp simd
    for (int64_t j = j0; j < j1; ++j) {
      const int64_t ki = row + j, kf = ki + H, kg = kf + H, ko = kg + H;
      const float i = dwx[ki], f = dwx[kf], g = dwx[kg], o = dwx[ko];
      const float dhj = dh[state + j];
      // h = o tanh(c): d o = dh tanh(c), dc += dh o (1 - tanh(c)^2).
      const float y = tanh_approx(c[state + j]);
      const float dct = dc[state + j] + dhj * o * (1.0f - y * y);
      // c = f c_prev + i g; the gates' derivatives from their outputs.
      MI_BACKWARD(j, ki, dct * g * i * (1.0f - i));
      MI_BACKWARD(H + j, kf, dct * c_prev[state + j] * f * (1.0f - f));
      MI_BACKWARD(2 * H + j, kg, dct * i * (1.0f - g * g));
      MI_BACKWARD(3 * H + j, ko, dhj * y * o * (1.0f - o));
      dc[state + j] = dct * f;
      skip[state + j] = 0.0f;
    }
  }
}

// MI-GRU backward with reset_after: u = r * uh_h, uh = U hd + b'. `uz_duh`
// receives d uh (the gradient of the GEMM's output).
void gru_after_backward_units(int64_t j0, int64_t j1, int64_t B, int64_t H, Coefficients coef,
                              Accumulators acc, const uint8_t* keep, const float* RESTRICT wx,
                              float* RESTRICT gates_dwx, float* RESTRICT uz_duh,
                              const float* RESTRICT uh_h, const float* RESTRICT h_prev,
                              const float* RESTRICT dh, float* RESTRICT direct) {
  LOCAL_COEFFICIENTS(coef);
  LOCAL_ACCUMULATORS(acc);
  float* RESTRICT dwx = gates_dwx;
  const int64_t G = 3 * H;
  for (int64_t n = 0; n < B; ++n) {
    const bool kept = keep == nullptr || keep[n];
    const int64_t row = n * G, state = n * H;
    if (!kept) {  // the state passes through: no gradient to the step
      for (int64_t q = 0; q < 3; ++q) {
        zero_units(uz_duh + row + q * H, j0, j1);
        zero_units(dwx + row + q * H, j0, j1);
      }
      copy_units(direct + state, dh + state, j0, j1);
      continue;
    }
#pragma omp simd
    for (int64_t j = j0; j < j1; ++j) {
      const int64_t kz = row + j, kr = kz + H, kh = kr + H;
      const float z = dwx[kz], r = dwx[kr], cand = dwx[kh];
      const float d = dh[state + j];
      // h = z h_prev + (1 - z) h~,  h~ = tanh(z_h).
      const float dz_h = d * (1.0f - z) * (1.0f - cand * cand);
      const float du = dz_h * MI_DZ_DUZ(2 * H + j, wx[kh]);
      const float dr = du * uh_h[state + j];
      MI_BACKWARD(j, kz, d * (h_prev[state + j] - cand) * z * (1.0f - z));
      MI_BACKWARD(H + j, kr, dr * r * (1.0f - r));
      MI_BACKWARD(2 * H + j, kh, dz_h);
      uz_duh[kh] = du * r;  // uh_h enters u = r * uh_h
      direct[state + j] = d * z;
    }
  }
}

// MI-GRU backward without reset_after, first half: the candidate, whose
// recurrent term u = U_h (r * hd) needs d(r * hd) = du U_h^T next. The
// candidate's value moves to `cand` before d wx overwrites it.
void gru_candidate_backward_units(int64_t j0, int64_t j1, int64_t B, int64_t H,
                                  Coefficients coef, Accumulators acc, const uint8_t* keep,
                                  const float* RESTRICT wx, float* RESTRICT gates_dwx,
                                  float* RESTRICT uz_duh, const float* RESTRICT dh,
                                  float* RESTRICT du, float* RESTRICT cand_out) {
  LOCAL_COEFFICIENTS(coef);
  LOCAL_ACCUMULATORS(acc);
  float* RESTRICT dwx = gates_dwx;
  const int64_t G = 3 * H;
  for (int64_t n = 0; n < B; ++n) {
    const bool kept = keep == nullptr || keep[n];
    const int64_t row = n * G, state = n * H;
    if (!kept) {
      zero_units(uz_duh + row + 2 * H, j0, j1);
      zero_units(dwx + row + 2 * H, j0, j1);
      zero_units(du + state, j0, j1);
      continue;
    }
#pragma omp simd
    for (int64_t j = j0; j < j1; ++j) {
      const int64_t kh = row + 2 * H + j;
      const float z = dwx[row + j], cand = dwx[kh];
      cand_out[state + j] = cand;
      const float dz_h = dh[state + j] * (1.0f - z) * (1.0f - cand * cand);
      MI_BACKWARD(2 * H + j, kh, dz_h);
      du[state + j] = uz_duh[kh];
    }
  }
}

// ... second half: the update and reset gates, given drh = d(r * hd);
// writes r * hd (for the gradient of U_h) before d wx overwrites r.
void gru_gates_backward_units(int64_t j0, int64_t j1, int64_t B, int64_t H, Coefficients coef,
                              Accumulators acc, const uint8_t* keep, const float* RESTRICT wx,
                              float* RESTRICT gates_dwx, float* RESTRICT uz_duh,
                              const float* RESTRICT cand_in, const float* RESTRICT h_prev,
                              const float* RESTRICT hd, const float* RESTRICT dh,
                              const float* RESTRICT drh, float* RESTRICT duh_zr,
                              float* RESTRICT dhd, float* RESTRICT direct, float* RESTRICT rh) {
  LOCAL_COEFFICIENTS(coef);
  LOCAL_ACCUMULATORS(acc);
  float* RESTRICT dwx = gates_dwx;
  const int64_t G = 3 * H;
  for (int64_t n = 0; n < B; ++n) {
    const bool kept = keep == nullptr || keep[n];
    const int64_t row = n * G, state = n * H, zr = n * 2 * H;
#pragma omp simd
    for (int64_t j = j0; j < j1; ++j) rh[state + j] = dwx[row + H + j] * hd[state + j];
    if (!kept) {
      for (int64_t q = 0; q < 2; ++q) {
        zero_units(uz_duh + row + q * H, j0, j1);
        zero_units(dwx + row + q * H, j0, j1);
        zero_units(duh_zr + zr + q * H, j0, j1);
      }
      zero_units(dhd + state, j0, j1);
      copy_units(direct + state, dh + state, j0, j1);
      continue;
    }
#pragma omp simd
    for (int64_t j = j0; j < j1; ++j) {
      const int64_t kz = row + j, kr = kz + H;
      const float z = dwx[kz], r = dwx[kr], cand = cand_in[state + j];
      const float d = dh[state + j];
      MI_BACKWARD(j, kz, d * (h_prev[state + j] - cand) * z * (1.0f - z));
      MI_BACKWARD(H + j, kr, drh[state + j] * hd[state + j] * r * (1.0f - r));
      duh_zr[zr + j] = uz_duh[kz];
      duh_zr[zr + H + j] = uz_duh[kr];
      dhd[state + j] = drh[state + j] * r;
      direct[state + j] = d * z;
    }
  }
}

// What the backward loop reads and writes. It reads the forward pass's `hs`
// and saved `cs`, `gates`, `uz`, `extra` and the gradients `d_hs`,
// `d_h_final`, `d_c_final`; it overwrites `gates` with d wx (the RNN writes
// `d_wx_rnn`) and `uz` with d uh, and writes `d_h0`, `d_c0`, `totals` (the
// gradients of alpha, beta1, beta2, b: 4 x G), and m, d W_mh hd, d W_mx x
// (mLSTM) or r * hd (GRU without reset_after) per step.
struct BackwardIO {
  const float *hs, *cs;
  float *gates, *uz;
  const float *extra, *d_hs, *d_h_final, *d_c_final;
  float *d_h0, *d_c0, *d_wx_rnn, *totals, *m_seq, *dwmh_seq, *dwmx_seq, *rh_seq;
};

// Floats of scratch space the backward loop needs.
inline int64_t backward_workspace(const Inputs& in) { return 9 * in.B * in.H; }

template <typename Ops>
void backward_loop(Ops& ops, const Inputs& in, const BackwardIO& io, float* work) {
  FlushDenormals flush;
  const int64_t T = in.T, B = in.B, D = in.D, H = in.H, G = in.G;
  const int64_t activation = in.activation;
  float* dh = work;
  float* skip = dh + B * H;
  float* du = skip + B * H;
  float* cand = du + B * H;
  float* duh_zr = cand + B * H;  // (B, 2H)
  float* dhd = duh_zr + 2 * B * H;
  float* hd_buf = dhd + B * H;
  float* scratch = hd_buf + B * H;
  std::memset(io.totals, 0, sizeof(float) * 4 * G);
  const Accumulators acc{io.totals, io.totals + G, io.totals + 2 * G, io.totals + 3 * G};
  float* dh_carry = io.d_h0;  // the gradient reaching h_(t-1); d h0 at the end
  std::memcpy(dh_carry, io.d_h_final, sizeof(float) * B * H);
  float* dc = io.d_c0;
  if (in.two_states()) std::memcpy(dc, io.d_c_final, sizeof(float) * B * H);
  float* d_wx = in.kind == RNN ? io.d_wx_rnn : io.gates;

  for (int64_t t = T - 1; t >= 0; --t) {
    const float* d_hs_t = io.d_hs + t * B * H;
    for (int64_t i = 0; i < B * H; ++i) dh[i] = dh_carry[i] + d_hs_t[i];
    const float* h_prev = t > 0 ? io.hs + (t - 1) * B * H : in.h0;
    const uint8_t* keep_t = in.keep_row(t);
    const float* x_t = in.x + t * B * D;
    const float* wx_t = ops.product(0, x_t, B, 0, false);  // W x_t, again
    float* uz_t = io.uz + t * B * G;
    float* dwx_t = d_wx + t * B * G;
    if (in.kind == RNN) {
      const float* h_t = io.hs + t * B * H;
      over_units(ops, B, G, H, [&](int64_t j0, int64_t j1) {
        switch (activation) {
          case TANH: rnn_backward_units<TANH>(j0, j1, B, H, in.coef, acc, keep_t, wx_t, h_t, uz_t, dh, dwx_t, skip); break;
          case SIGMOID: rnn_backward_units<SIGMOID>(j0, j1, B, H, in.coef, acc, keep_t, wx_t, h_t, uz_t, dh, dwx_t, skip); break;
          case RELU: rnn_backward_units<RELU>(j0, j1, B, H, in.coef, acc, keep_t, wx_t, h_t, uz_t, dh, dwx_t, skip); break;
          default: rnn_backward_units<LINEAR>(j0, j1, B, H, in.coef, acc, keep_t, wx_t, h_t, uz_t, dh, dwx_t, skip); break;
        }
      });
      // uz = U (rmask * h_prev).
      carry(in, ops.product(1, uz_t, B, 1, true), skip, dh_carry);
    } else if (in.two_states()) {
      const float* c_t = io.cs + t * B * H;
      const float* c_prev = t > 0 ? io.cs + (t - 1) * B * H : in.c0;
      over_units(ops, B, G, H, [&](int64_t j0, int64_t j1) {
        lstm_backward_units(j0, j1, B, H, in.coef, acc, keep_t, wx_t, dwx_t, c_t, c_prev, uz_t,
                            dh, dc, skip);
      });
      if (in.kind == LSTM) {
        carry(in, ops.product(1, uz_t, B, 1, true), skip, dh_carry);
      } else {
        // uz = U m, m = wmx * wmh, wmh = W_mh (rmask * h_prev).
        const float* wmx = ops.product(3, x_t, B, 2, false);
        const float* wmh = io.extra + t * B * H;
        const float* dm = ops.product(1, uz_t, B, 1, true);
        float* m_t = io.m_seq + t * B * H;
        float* dwmh_t = io.dwmh_seq + t * B * H;
        float* dwmx_t = io.dwmx_seq + t * B * H;
        for (int64_t i = 0; i < B * H; ++i) {
          m_t[i] = wmx[i] * wmh[i];
          dwmh_t[i] = dm[i] * wmx[i];
          dwmx_t[i] = dm[i] * wmh[i];
        }
        carry(in, ops.product(2, dwmh_t, B, 3, true), skip, dh_carry);
      }
    } else if (in.reset_after) {
      const float* uh_h = io.extra + t * B * H;
      over_units(ops, B, G, H, [&](int64_t j0, int64_t j1) {
        gru_after_backward_units(j0, j1, B, H, in.coef, acc, keep_t, wx_t, dwx_t, uz_t, uh_h,
                                 h_prev, dh, skip);
      });
      // uh = U hd + b'.
      carry(in, ops.product(1, uz_t, B, 1, true), skip, dh_carry);
    } else {
      const float* hd = dropped(in, h_prev, hd_buf);
      over_units(ops, B, G, H, [&](int64_t j0, int64_t j1) {
        gru_candidate_backward_units(j0, j1, B, H, in.coef, acc, keep_t, wx_t, dwx_t, uz_t, dh,
                                     du, cand);
      });
      // u = U_h (r * hd).
      const float* drh = ops.product(1, du, B, 2, true);
      float* rh_t = io.rh_seq + t * B * H;
      over_units(ops, B, G, H, [&](int64_t j0, int64_t j1) {
        gru_gates_backward_units(j0, j1, B, H, in.coef, acc, keep_t, wx_t, dwx_t, uz_t, cand,
                                 h_prev, hd, dh, drh, duh_zr, dhd, skip, rh_t);
      });
      // uh_zr = U_zr hd, and hd enters r * hd.
      const float* p = ops.product(2, duh_zr, B, 1, true);
      for (int64_t i = 0; i < B * H; ++i) scratch[i] = p[i] + dhd[i];
      carry(in, scratch, skip, dh_carry);
    }
  }
}

}  // namespace mi
