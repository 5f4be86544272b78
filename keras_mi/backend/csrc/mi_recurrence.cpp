// Fused MI recurrences for PyTorch on the CPU (float32): the forward loop and
// the backward loop of MI-RNN, MI-LSTM, MI-GRU and the mLSTM, each step one
// recurrent GEMM (two for the mLSTM and the GRU without reset_after) and one
// pass of elementwise work.
//
// The math is that of keras_mi/backend/cell_steps.py (each cell's step and
// its derivative, run over a sequence by keras_mi/backend/recurrence.py),
// the reference these loops are tested against; the comments name the equation each line
// computes or differentiates (Wu et al. 2016: Eq. 4 and Appendix A).
// Tensors are time-major and contiguous: inputs x (T, B, D), states (B, H).
// The input projection W x_t is computed step by step (one small GEMM), so no
// (T, B, G) sequence of it is ever stored; the backward pass computes it
// again. What the forward pass saves for the backward pass (the gates and
// the recurrent terms uz) is overwritten in place, step by step, by the
// gradients the weights need after the loop (d W x and d uh). The MI
// coefficients alpha, beta1, beta2 and the bias b are (G,) vectors (the
// caller materializes the constants of the fixed modes).

#include <torch/extension.h>

#include <ATen/Parallel.h>
#include <ATen/core/dispatch/Dispatcher.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

#define RESTRICT __restrict__

namespace {

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

// The product a @ w, by oneDNN's packed weight when the caller packed one.
at::Tensor matmul(const at::Tensor& a, const at::Tensor& w, const at::Tensor& packed) {
  if (!packed.defined()) return at::mm(a, w);
  static const auto op =
      c10::Dispatcher::singleton().findSchemaOrThrow("mkldnn::_linear_pointwise", "");
  std::vector<c10::IValue> stack{a.contiguous(), packed, c10::IValue(), std::string("none"),
                                 c10::List<std::optional<at::Scalar>>(), c10::IValue()};
  op.callBoxed(&stack);
  return stack[0].toTensor();
}

const float* data(const at::Tensor& t) { return t.defined() ? t.data_ptr<float>() : nullptr; }
float* mutable_data(at::Tensor& t) { return t.defined() ? t.data_ptr<float>() : nullptr; }

// out[index] if the caller passed a buffer there (PyTorch's side keeps a pool
// of them: a fresh large buffer costs its page faults at every call), else
// a new tensor.
at::Tensor buffer(const std::vector<std::optional<at::Tensor>>& out, size_t index,
                  const at::Tensor& like, int64_t T, int64_t B, int64_t n) {
  if (index < out.size() && out[index].has_value()) {
    const at::Tensor& given = *out[index];
    TORCH_CHECK(given.is_contiguous() && given.size(0) == T && given.size(1) == B &&
                    given.size(2) == n && given.scalar_type() == like.scalar_type(),
                "keras_mi: a buffer of the wrong shape or dtype was passed");
    return given;
  }
  return at::empty({T, B, n}, like.options());
}

// Runs fn(j0, j1) over unit ranges; small steps stay on one thread.
template <typename F>
void over_units(int64_t B, int64_t G, int64_t H, const F& fn) {
  const int64_t grain = B * G < 131072 ? H : std::max<int64_t>(16, H / 8);
  at::parallel_for(0, H, grain, fn);
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

// What every loop shares: shapes, coefficients, masks, weights.
struct Problem {
  int64_t kind, T, B, H, G;
  bool reset_after;
  at::Tensor x, h0, c0, b_rec, rmask, keep;
  // The matrices: W, U (rnn, lstm, gru with reset_after), W, U_zr, U_h
  // (gru without), W, U, W_mx, W_mh (mlstm); transposed in the backward
  // pass. `packed` holds their oneDNN forms (undefined: at::mm).
  std::vector<at::Tensor> weights, packed;
  Coefficients coef;
  const uint8_t* keep_ptr;  // (T, B) or nullptr

  inline const uint8_t* keep_row(int64_t t) const { return keep_ptr == nullptr ? nullptr : keep_ptr + t * B; }
  at::Tensor dropped(const at::Tensor& h) const { return rmask.defined() ? h * rmask : h; }
  at::Tensor product(const at::Tensor& a, size_t index) const { return matmul(a, weights[index], packed[index]); }
};

using Optional = std::optional<at::Tensor>;

at::Tensor value(const Optional& t) { return t.value_or(at::Tensor()); }

std::vector<at::Tensor> values(const std::vector<Optional>& ts) {
  std::vector<at::Tensor> result;
  for (const auto& t : ts) result.push_back(value(t));
  return result;
}

Problem make_problem(int64_t kind, bool reset_after, const at::Tensor& x, const at::Tensor& h0,
                     const Optional& c0, const std::vector<at::Tensor>& weights,
                     const std::vector<Optional>& packed, const at::Tensor& alpha,
                     const at::Tensor& beta1, const at::Tensor& beta2, const at::Tensor& bias,
                     const Optional& b_rec, const Optional& rmask, const Optional& keep,
                     int64_t G) {
  Problem p;
  p.kind = kind;
  p.reset_after = reset_after;
  p.x = x.contiguous();
  p.h0 = h0.contiguous();
  p.c0 = c0.has_value() ? c0->contiguous() : at::Tensor();
  p.T = x.size(0);
  p.B = x.size(1);
  p.H = h0.size(1);
  p.G = G;
  p.weights = weights;
  p.packed = values(packed);
  p.coef = {alpha.data_ptr<float>(), beta1.data_ptr<float>(), beta2.data_ptr<float>(),
            bias.data_ptr<float>()};
  p.b_rec = value(b_rec);
  p.rmask = rmask.has_value() ? rmask->contiguous() : at::Tensor();
  p.keep = keep.has_value() ? keep->to(at::kByte).contiguous() : at::Tensor();
  p.keep_ptr = p.keep.defined() ? p.keep.data_ptr<uint8_t>() : nullptr;
  return p;
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

// The forward loop. Returns [h_sequence, final states...] and, with `save`,
// what the backward pass needs: the c sequence (LSTM family), the gates
// (but for the RNN), uz, and uh_h (GRU with reset_after) or wmh (mLSTM).
// `out` may hold pooled buffers for those, in that order.
std::vector<at::Tensor> forward(int64_t kind, int64_t activation, bool reset_after,
                                const at::Tensor& x, const at::Tensor& h0, const Optional& c0,
                                const std::vector<at::Tensor>& weights,
                                const std::vector<Optional>& packed, const at::Tensor& alpha,
                                const at::Tensor& beta1, const at::Tensor& beta2,
                                const at::Tensor& bias, const Optional& b_rec,
                                const Optional& rmask, const Optional& keep, bool save,
                                const std::vector<Optional>& out) {
  at::NoGradGuard no_grad;
  const Problem p = make_problem(kind, reset_after, x, h0, c0, weights, packed, alpha, beta1,
                                 beta2, bias, b_rec, rmask, keep, alpha.size(0));
  const int64_t T = p.T, B = p.B, H = p.H, G = p.G;
  const bool two_states = kind == LSTM || kind == MLSTM;
  const auto options = p.x.options();
  at::Tensor hs = at::empty({T, B, H}, options);
  at::Tensor cs = two_states ? (save ? buffer(out, 0, p.x, T, B, H) : at::empty({2, B, H}, options))
                             : at::Tensor();
  at::Tensor gates = kind != RNN ? (save ? buffer(out, 1, p.x, T, B, G) : at::empty({B, G}, options))
                                 : at::Tensor();
  at::Tensor uz = save ? buffer(out, 2, p.x, T, B, G) : at::empty({B, G}, options);
  at::Tensor extra;  // uh_h (GRU reset_after) or wmh (mLSTM)
  if (save && ((kind == GRU && reset_after) || kind == MLSTM)) extra = buffer(out, 3, p.x, T, B, H);
  at::Tensor scratch = at::empty({B, H}, options);

  at::Tensor h = p.h0, c = p.c0;
  for (int64_t t = 0; t < T; ++t) {
    const int64_t step = save ? t : 0;
    const uint8_t* keep_t = p.keep_row(t);
    // W x_t: the input projection of this step.
    const at::Tensor wx = p.product(p.x[t], 0);
    const float* wx_t = wx.data_ptr<float>();
    float* h_out = hs.data_ptr<float>() + t * B * H;
    float* uz_t = uz.data_ptr<float>() + step * B * G;
    const float* h_in = data(h);
    const at::Tensor hd = p.dropped(h);
    if (kind == RNN) {
      std::memcpy(uz_t, p.product(hd, 1).data_ptr<float>(), sizeof(float) * B * G);
      over_units(B, G, H, [&](int64_t j0, int64_t j1) {
        switch (activation) {
          case TANH: rnn_forward_units<TANH>(j0, j1, B, H, p.coef, keep_t, wx_t, uz_t, h_in, h_out); break;
          case SIGMOID: rnn_forward_units<SIGMOID>(j0, j1, B, H, p.coef, keep_t, wx_t, uz_t, h_in, h_out); break;
          case RELU: rnn_forward_units<RELU>(j0, j1, B, H, p.coef, keep_t, wx_t, uz_t, h_in, h_out); break;
          default: rnn_forward_units<LINEAR>(j0, j1, B, H, p.coef, keep_t, wx_t, uz_t, h_in, h_out); break;
        }
      });
    } else if (two_states) {
      at::Tensor u;
      if (kind == LSTM) {
        u = p.product(hd, 1);
      } else {
        // m = (W_mx x) * (W_mh hd),  uz = U m.
        const at::Tensor wmh = p.product(hd, 3);
        if (save) std::memcpy(extra.data_ptr<float>() + t * B * H, wmh.data_ptr<float>(), sizeof(float) * B * H);
        u = p.product(p.product(p.x[t], 2) * wmh, 1);
      }
      std::memcpy(uz_t, u.data_ptr<float>(), sizeof(float) * B * G);
      float* c_out = cs.data_ptr<float>() + (save ? t : (t + 1) % 2) * B * H;
      float* gates_t = gates.data_ptr<float>() + step * B * G;
      const float* c_in = data(c);
      over_units(B, G, H, [&](int64_t j0, int64_t j1) {
        lstm_forward_units(j0, j1, B, H, p.coef, keep_t, wx_t, uz_t, h_in, c_in, h_out, c_out, gates_t);
      });
      c = save ? cs[t] : cs[(t + 1) % 2];
    } else if (reset_after) {
      at::Tensor uh = p.product(hd, 1);
      if (p.b_rec.defined()) uh.add_(p.b_rec);
      const float* uh_ptr = uh.data_ptr<float>();
      float* gates_t = gates.data_ptr<float>() + step * B * G;
      float* uh_h = save ? extra.data_ptr<float>() + t * B * H : scratch.data_ptr<float>();
      over_units(B, G, H, [&](int64_t j0, int64_t j1) {
        gru_after_forward_units(j0, j1, B, H, p.coef, keep_t, wx_t, uh_ptr, h_in, h_out, gates_t, uz_t, uh_h);
      });
    } else {
      const at::Tensor uh_zr = p.product(hd, 1);
      const at::Tensor hd_c = hd.contiguous();
      const float* uh_zr_ptr = uh_zr.data_ptr<float>();
      const float* hd_ptr = hd_c.data_ptr<float>();
      float* gates_t = gates.data_ptr<float>() + step * B * G;
      float* rh = scratch.data_ptr<float>();
      over_units(B, G, H, [&](int64_t j0, int64_t j1) {
        gru_gates_forward_units(j0, j1, B, H, p.coef, wx_t, uh_zr_ptr, hd_ptr, gates_t, uz_t, rh);
      });
      const at::Tensor u = p.product(scratch, 2);
      const float* u_ptr = u.data_ptr<float>();
      over_units(B, G, H, [&](int64_t j0, int64_t j1) {
        gru_candidate_forward_units(j0, j1, B, H, p.coef, keep_t, wx_t, u_ptr, h_in, h_out, gates_t, uz_t);
      });
    }
    h = hs[t];
  }
  std::vector<at::Tensor> result{hs, h.clone()};
  if (two_states) result.push_back(c.clone());
  if (!save) return result;
  if (two_states) result.push_back(cs);
  if (kind != RNN) result.push_back(gates);
  result.push_back(uz);
  if (extra.defined()) result.push_back(extra);
  return result;
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

// The backward loop. `residuals` are the saved tensors of `forward` (after
// the final states); their gates and uz are overwritten in place with d wx
// and d uh. `weights_t` are the transposed matrices (W^T is unused: W x_t is
// computed again with `weights[0]`). Returns [d_h0, d_c0 (LSTM family),
// d_wx, duh, d_alpha, d_beta1, d_beta2, d_bias, extras...], the extras
// being m, dwmh and dwmx (mLSTM) or r * hd (GRU without reset_after).
// `out` may hold pooled buffers for: d_wx (RNN), m, dwmh, dwmx, r * hd.
std::vector<at::Tensor> backward(int64_t kind, int64_t activation, bool reset_after,
                                 const at::Tensor& x, const at::Tensor& h0, const Optional& c0,
                                 const std::vector<at::Tensor>& weights,
                                 const std::vector<Optional>& packed,
                                 const std::vector<at::Tensor>& weights_t,
                                 const std::vector<Optional>& packed_t, const at::Tensor& alpha,
                                 const at::Tensor& beta1, const at::Tensor& beta2,
                                 const at::Tensor& bias, const Optional& rmask,
                                 const Optional& keep, const at::Tensor& hs,
                                 const std::vector<at::Tensor>& residuals, const at::Tensor& d_hs,
                                 const at::Tensor& d_h_final, const Optional& d_c_final,
                                 const std::vector<Optional>& out) {
  at::NoGradGuard no_grad;
  const Problem p = make_problem(kind, reset_after, x, h0, c0, weights, packed, alpha, beta1,
                                 beta2, bias, Optional(), rmask, keep, alpha.size(0));
  const Problem pt = make_problem(kind, reset_after, x, h0, c0, weights_t, packed_t, alpha,
                                  beta1, beta2, bias, Optional(), rmask, keep, alpha.size(0));
  const int64_t T = p.T, B = p.B, H = p.H, G = p.G;
  const bool two_states = kind == LSTM || kind == MLSTM;
  const auto options = p.x.options();
  size_t next = 0;
  const at::Tensor cs = two_states ? residuals[next++] : at::Tensor();
  at::Tensor gates = kind != RNN ? residuals[next++] : at::Tensor();
  at::Tensor uz = residuals[next++];
  const at::Tensor extra = next < residuals.size() ? residuals[next++] : at::Tensor();
  TORCH_CHECK(uz.is_contiguous() && (!gates.defined() || gates.is_contiguous()),
              "keras_mi: the saved tensors must be contiguous");
  const at::Tensor hs_c = hs.contiguous(), d_hs_c = d_hs.contiguous();

  at::Tensor d_wx = kind == RNN ? buffer(out, 0, p.x, T, B, G) : gates;
  std::vector<at::Tensor> totals;
  for (int q = 0; q < 4; ++q) totals.push_back(at::zeros({G}, options));
  const Accumulators acc{totals[0].data_ptr<float>(), totals[1].data_ptr<float>(),
                         totals[2].data_ptr<float>(), totals[3].data_ptr<float>()};
  at::Tensor m_seq, dwmh_seq, dwmx_seq, rh_seq;
  if (kind == MLSTM) {
    m_seq = buffer(out, 1, p.x, T, B, H);
    dwmh_seq = buffer(out, 2, p.x, T, B, H);
    dwmx_seq = buffer(out, 3, p.x, T, B, H);
  }
  if (kind == GRU && !reset_after) rh_seq = buffer(out, 4, p.x, T, B, H);

  at::Tensor dh_carry = d_h_final.contiguous().clone();
  at::Tensor dc = two_states ? value(d_c_final).contiguous().clone() : at::Tensor();
  at::Tensor dh = at::empty({B, H}, options);
  at::Tensor skip = at::empty({B, H}, options);
  at::Tensor du = at::empty({B, H}, options);
  at::Tensor cand = at::empty({B, H}, options);
  at::Tensor duh_zr = at::empty({B, 2 * H}, options);
  at::Tensor dhd = at::empty({B, H}, options);

  for (int64_t t = T - 1; t >= 0; --t) {
    at::add_out(dh, dh_carry, d_hs_c[t]);
    const at::Tensor h_prev = t > 0 ? hs_c[t - 1] : p.h0;
    const uint8_t* keep_t = p.keep_row(t);
    const at::Tensor wx = p.product(p.x[t], 0);  // W x_t, again
    const float* wx_t = wx.data_ptr<float>();
    const float* dh_ptr = dh.data_ptr<float>();
    const float* h_prev_ptr = data(h_prev);
    float* uz_t = uz.data_ptr<float>() + t * B * G;
    float* dwx_t = d_wx.data_ptr<float>() + t * B * G;
    float* skip_ptr = skip.data_ptr<float>();
    if (kind == RNN) {
      const float* h_t = hs_c.data_ptr<float>() + t * B * H;
      over_units(B, G, H, [&](int64_t j0, int64_t j1) {
        switch (activation) {
          case TANH: rnn_backward_units<TANH>(j0, j1, B, H, p.coef, acc, keep_t, wx_t, h_t, uz_t, dh_ptr, dwx_t, skip_ptr); break;
          case SIGMOID: rnn_backward_units<SIGMOID>(j0, j1, B, H, p.coef, acc, keep_t, wx_t, h_t, uz_t, dh_ptr, dwx_t, skip_ptr); break;
          case RELU: rnn_backward_units<RELU>(j0, j1, B, H, p.coef, acc, keep_t, wx_t, h_t, uz_t, dh_ptr, dwx_t, skip_ptr); break;
          default: rnn_backward_units<LINEAR>(j0, j1, B, H, p.coef, acc, keep_t, wx_t, h_t, uz_t, dh_ptr, dwx_t, skip_ptr); break;
        }
      });
      // uz = U (rmask * h_prev).
      dh_carry = p.dropped(pt.product(uz[t], 1)) + skip;
    } else if (two_states) {
      const float* c_t = cs.data_ptr<float>() + t * B * H;
      const float* c_prev = t > 0 ? cs.data_ptr<float>() + (t - 1) * B * H : data(p.c0);
      float* dc_ptr = dc.data_ptr<float>();
      over_units(B, G, H, [&](int64_t j0, int64_t j1) {
        lstm_backward_units(j0, j1, B, H, p.coef, acc, keep_t, wx_t, dwx_t, c_t, c_prev, uz_t,
                            dh_ptr, dc_ptr, skip_ptr);
      });
      if (kind == LSTM) {
        dh_carry = p.dropped(pt.product(uz[t], 1)) + skip;
      } else {
        // uz = U m, m = wmx * wmh, wmh = W_mh (rmask * h_prev).
        const at::Tensor wmx = p.product(p.x[t], 2);
        const at::Tensor wmh = extra[t];
        const at::Tensor dm = pt.product(uz[t], 1);
        const at::Tensor dwmh = dm * wmx;
        m_seq[t].copy_(wmx * wmh);
        dwmh_seq[t].copy_(dwmh);
        dwmx_seq[t].copy_(dm * wmh);
        dh_carry = p.dropped(pt.product(dwmh, 3)) + skip;
      }
    } else if (reset_after) {
      const float* uh_h = extra.data_ptr<float>() + t * B * H;
      over_units(B, G, H, [&](int64_t j0, int64_t j1) {
        gru_after_backward_units(j0, j1, B, H, p.coef, acc, keep_t, wx_t, dwx_t, uz_t, uh_h,
                                 h_prev_ptr, dh_ptr, skip_ptr);
      });
      // uh = U hd + b'.
      dh_carry = p.dropped(pt.product(uz[t], 1)) + skip;
    } else {
      const at::Tensor hd = p.dropped(h_prev).contiguous();
      const float* hd_ptr = hd.data_ptr<float>();
      float* du_ptr = du.data_ptr<float>();
      float* cand_ptr = cand.data_ptr<float>();
      over_units(B, G, H, [&](int64_t j0, int64_t j1) {
        gru_candidate_backward_units(j0, j1, B, H, p.coef, acc, keep_t, wx_t, dwx_t, uz_t, dh_ptr,
                                     du_ptr, cand_ptr);
      });
      // u = U_h (r * hd).
      const at::Tensor drh = pt.product(du, 2);
      const float* drh_ptr = drh.data_ptr<float>();
      float* duh_zr_ptr = duh_zr.data_ptr<float>();
      float* dhd_ptr = dhd.data_ptr<float>();
      float* rh_ptr = rh_seq.data_ptr<float>() + t * B * H;
      over_units(B, G, H, [&](int64_t j0, int64_t j1) {
        gru_gates_backward_units(j0, j1, B, H, p.coef, acc, keep_t, wx_t, dwx_t, uz_t, cand_ptr,
                                 h_prev_ptr, hd_ptr, dh_ptr, drh_ptr, duh_zr_ptr, dhd_ptr, skip_ptr,
                                 rh_ptr);
      });
      // uh_zr = U_zr hd, and hd enters r * hd.
      dh_carry = p.dropped(pt.product(duh_zr, 1) + dhd) + skip;
    }
  }
  std::vector<at::Tensor> result{dh_carry};
  if (two_states) result.push_back(dc);
  result.push_back(d_wx);
  result.push_back(uz);
  for (auto& total : totals) result.push_back(total);
  if (kind == MLSTM) {
    result.push_back(m_seq);
    result.push_back(dwmh_seq);
    result.push_back(dwmx_seq);
  }
  if (rh_seq.defined()) result.push_back(rh_seq);
  return result;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &forward, "Fused MI recurrence: the forward loop");
  m.def("backward", &backward, "Fused MI recurrence: the backward loop");
}
