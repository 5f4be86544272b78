// Fused MI recurrences for PyTorch on the CPU (float32): the forward loop and
// the backward loop of MI-RNN, MI-LSTM, MI-GRU and the mLSTM, each step one
// recurrent GEMM (two for the mLSTM and the GRU without reset_after) and one
// pass of elementwise work.
//
// The math is that of keras_mi/backend/recurrence.py, which is the reference
// these loops are tested against; the comments name the equation each line
// computes or differentiates (Wu et al. 2016: Eq. 4 and Appendix A).
// Tensors are time-major and contiguous: wx (T, B, G), states (B, H). The MI
// coefficients alpha, beta1, beta2 and the bias b are (G,) vectors (the
// caller materializes the constants of the fixed modes).

#include <torch/extension.h>

#include <ATen/Parallel.h>
#include <ATen/core/dispatch/Dispatcher.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

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

at::Tensor empty_like_seq(const at::Tensor& like, int64_t T, int64_t B, int64_t n) {
  return at::empty({T, B, n}, like.options());
}

// Runs fn(j0, j1) over unit ranges; small steps stay on one thread.
template <typename F>
void over_units(int64_t B, int64_t G, int64_t H, const F& fn) {
  const int64_t grain = B * G < 131072 ? H : std::max<int64_t>(16, H / 8);
  at::parallel_for(0, H, grain, fn);
}

struct Coefficients {
  const float *alpha, *beta1, *beta2, *bias;
  // Eq. 4: z = (alpha wx + beta1) uz + (beta2 wx + b).
  inline float z(int64_t k, float wx, float uz) const {
    return (alpha[k] * wx + beta1[k]) * uz + (beta2[k] * wx + bias[k]);
  }
  // dz/duz = alpha wx + beta1.
  inline float dz_duz(int64_t k, float wx) const { return alpha[k] * wx + beta1[k]; }
  // dz/dwx = alpha uz + beta2.
  inline float dz_dwx(int64_t k, float uz) const { return alpha[k] * uz + beta2[k]; }
};

struct Accumulators {
  float *alpha, *beta1, *beta2, *bias;
  // dz/dalpha = wx uz, dz/dbeta1 = uz, dz/dbeta2 = wx, dz/db = 1.
  inline void add(int64_t k, float dz, float wx, float uz) {
    alpha[k] += dz * wx * uz;
    beta1[k] += dz * uz;
    beta2[k] += dz * wx;
    bias[k] += dz;
  }
};

// What every loop shares: shapes, coefficients, masks, weights.
struct Problem {
  int64_t kind, T, B, H, G;
  bool reset_after;
  at::Tensor wx, wmx, h0, c0, b_rec, rmask, keep;
  std::vector<at::Tensor> weights, packed;
  Coefficients coef;
  const uint8_t* keep_ptr;  // (T, B) or nullptr

  inline bool kept(int64_t t, int64_t n) const { return keep_ptr == nullptr || keep_ptr[t * B + n]; }
  at::Tensor dropped(const at::Tensor& h) const { return rmask.defined() ? h * rmask : h; }
};

Problem make_problem(int64_t kind, bool reset_after, const at::Tensor& wx, const at::Tensor& wmx,
                     const at::Tensor& h0, const at::Tensor& c0,
                     const std::vector<at::Tensor>& weights, const std::vector<at::Tensor>& packed,
                     const at::Tensor& alpha, const at::Tensor& beta1, const at::Tensor& beta2,
                     const at::Tensor& bias, const at::Tensor& b_rec, const at::Tensor& rmask,
                     const at::Tensor& keep) {
  Problem p;
  p.kind = kind;
  p.reset_after = reset_after;
  p.wx = wx.contiguous();
  p.wmx = wmx.defined() ? wmx.contiguous() : wmx;
  p.h0 = h0.contiguous();
  p.c0 = c0.defined() ? c0.contiguous() : c0;
  p.T = wx.size(0);
  p.B = wx.size(1);
  p.G = wx.size(2);
  p.H = h0.size(1);
  p.weights = weights;
  p.packed = packed;
  p.coef = {alpha.data_ptr<float>(), beta1.data_ptr<float>(), beta2.data_ptr<float>(),
            bias.data_ptr<float>()};
  p.b_rec = b_rec;
  p.rmask = rmask.defined() ? rmask.contiguous() : rmask;
  p.keep = keep.defined() ? keep.to(at::kByte).contiguous() : keep;
  p.keep_ptr = p.keep.defined() ? p.keep.data_ptr<uint8_t>() : nullptr;
  return p;
}

// ---------------------------------------------------------------- forward

// MI-RNN step: h = phi(MI(wx, U h_prev)).
template <int A>
void rnn_forward_step(const Problem& p, int64_t t, const float* uz, const float* h_prev, float* h) {
  const int64_t B = p.B, H = p.H;
  const float* wx = data(p.wx) + t * B * H;
  over_units(B, H, H, [&](int64_t j0, int64_t j1) {
    for (int64_t n = 0; n < B; ++n) {
      const bool keep = p.kept(t, n);
      const int64_t row = n * H;
#pragma omp simd
      for (int64_t j = j0; j < j1; ++j) {
        const float y = activate<A>(p.coef.z(j, wx[row + j], uz[row + j]));
        h[row + j] = keep ? y : h_prev[row + j];
      }
    }
  });
}

// MI-LSTM cell (App. A.1) on z = MI(wx, uz): gates i, f, c, o.
void lstm_cell_forward(const Problem& p, int64_t t, const float* uz, const float* h_prev,
                       const float* c_prev, float* h, float* c, float* gates) {
  const int64_t B = p.B, H = p.H, G = p.G;
  const float* wx = data(p.wx) + t * B * G;
  over_units(B, G, H, [&](int64_t j0, int64_t j1) {
    for (int64_t n = 0; n < B; ++n) {
      const bool keep = p.kept(t, n);
      const int64_t row = n * G, state = n * H;
#pragma omp simd
      for (int64_t j = j0; j < j1; ++j) {
        const int64_t ki = row + j, kf = ki + H, kg = kf + H, ko = kg + H;
        const float i = sigmoid(p.coef.z(j, wx[ki], uz[ki]));
        const float f = sigmoid(p.coef.z(H + j, wx[kf], uz[kf]));
        const float g = tanh_approx(p.coef.z(2 * H + j, wx[kg], uz[kg]));
        const float o = sigmoid(p.coef.z(3 * H + j, wx[ko], uz[ko]));
        // c_t = f c_(t-1) + i g,  h_t = o tanh(c_t).
        const float cc = f * c_prev[state + j] + i * g;
        const float hh = o * tanh_approx(cc);
        gates[ki] = i;
        gates[kf] = f;
        gates[kg] = g;
        gates[ko] = o;
        c[state + j] = keep ? cc : c_prev[state + j];
        h[state + j] = keep ? hh : h_prev[state + j];
      }
    }
  });
}

// MI-GRU (App. A.2) with reset_after: uh = U hd + b', u = r * uh_h.
void gru_forward_step_after(const Problem& p, int64_t t, const float* uh, const float* h_prev,
                            float* h, float* gates, float* uz, float* uh_h) {
  const int64_t B = p.B, H = p.H, G = p.G;
  const float* wx = data(p.wx) + t * B * G;
  over_units(B, G, H, [&](int64_t j0, int64_t j1) {
    for (int64_t n = 0; n < B; ++n) {
      const bool keep = p.kept(t, n);
      const int64_t row = n * G, state = n * H;
#pragma omp simd
      for (int64_t j = j0; j < j1; ++j) {
        const int64_t kz = row + j, kr = kz + H, kh = kr + H;
        const float z = sigmoid(p.coef.z(j, wx[kz], uh[kz]));
        const float r = sigmoid(p.coef.z(H + j, wx[kr], uh[kr]));
        const float u = r * uh[kh];
        const float cand = tanh_approx(p.coef.z(2 * H + j, wx[kh], u));
        // h = z h_prev + (1 - z) h~.
        const float hh = z * h_prev[state + j] + (1.0f - z) * cand;
        gates[kz] = z;
        gates[kr] = r;
        gates[kh] = cand;
        uz[kz] = uh[kz];
        uz[kr] = uh[kr];
        uz[kh] = u;
        uh_h[state + j] = uh[kh];
        h[state + j] = keep ? hh : h_prev[state + j];
      }
    }
  });
}

// MI-GRU without reset_after, first half: z, r and r * hd.
void gru_forward_gates(const Problem& p, int64_t t, const float* uh_zr, const float* hd,
                       float* gates, float* uz, float* rh) {
  const int64_t B = p.B, H = p.H, G = p.G;
  const float* wx = data(p.wx) + t * B * G;
  over_units(B, G, H, [&](int64_t j0, int64_t j1) {
    for (int64_t n = 0; n < B; ++n) {
      const int64_t row = n * G, state = n * H, zr = n * 2 * H;
#pragma omp simd
      for (int64_t j = j0; j < j1; ++j) {
        const float z = sigmoid(p.coef.z(j, wx[row + j], uh_zr[zr + j]));
        const float r = sigmoid(p.coef.z(H + j, wx[row + H + j], uh_zr[zr + H + j]));
        gates[row + j] = z;
        gates[row + H + j] = r;
        uz[row + j] = uh_zr[zr + j];
        uz[row + H + j] = uh_zr[zr + H + j];
        rh[state + j] = r * hd[state + j];
      }
    }
  });
}

// ... and second half: u = U_h (r * hd), the candidate and h.
void gru_forward_candidate(const Problem& p, int64_t t, const float* u, const float* h_prev,
                           float* h, float* gates, float* uz) {
  const int64_t B = p.B, H = p.H, G = p.G;
  const float* wx = data(p.wx) + t * B * G;
  over_units(B, G, H, [&](int64_t j0, int64_t j1) {
    for (int64_t n = 0; n < B; ++n) {
      const bool keep = p.kept(t, n);
      const int64_t row = n * G, state = n * H;
#pragma omp simd
      for (int64_t j = j0; j < j1; ++j) {
        const int64_t kh = row + 2 * H + j;
        const float cand = tanh_approx(p.coef.z(2 * H + j, wx[kh], u[state + j]));
        const float z = gates[row + j];
        const float hh = z * h_prev[state + j] + (1.0f - z) * cand;
        gates[kh] = cand;
        uz[kh] = u[state + j];
        h[state + j] = keep ? hh : h_prev[state + j];
      }
    }
  });
}

// The forward loop. Returns [h_sequence, final states..., saved...]:
// rnn: uz; lstm: c_sequence, gates, uz; mlstm: c_sequence, gates, uz, wmh;
// gru: gates, uz (+ uh_h with reset_after). Without `save`, only
// [h_sequence, final states...].
using Optional = std::optional<at::Tensor>;

at::Tensor value(const Optional& t) { return t.value_or(at::Tensor()); }

std::vector<at::Tensor> values(const std::vector<Optional>& ts) {
  std::vector<at::Tensor> out;
  for (const auto& t : ts) out.push_back(value(t));
  return out;
}

std::vector<at::Tensor> forward(int64_t kind, int64_t activation, bool reset_after,
                                const at::Tensor& wx, const Optional& wmx, const at::Tensor& h0,
                                const Optional& c0, const std::vector<at::Tensor>& weights,
                                const std::vector<Optional>& packed, const at::Tensor& alpha,
                                const at::Tensor& beta1, const at::Tensor& beta2,
                                const at::Tensor& bias, const Optional& b_rec,
                                const Optional& rmask, const Optional& keep, bool save) {
  at::NoGradGuard no_grad;
  const Problem p = make_problem(kind, reset_after, wx, value(wmx), h0, value(c0), weights,
                                 values(packed), alpha, beta1, beta2, bias, value(b_rec),
                                 value(rmask), value(keep));
  const int64_t T = p.T, B = p.B, H = p.H, G = p.G;
  const bool two_states = kind == LSTM || kind == MLSTM;
  at::Tensor hs = empty_like_seq(p.wx, T, B, H);
  at::Tensor cs = two_states ? (save ? empty_like_seq(p.wx, T, B, H) : at::empty({2, B, H}, wx.options()))
                             : at::Tensor();
  at::Tensor gates = kind != RNN ? (save ? empty_like_seq(p.wx, T, B, G) : at::empty({B, G}, wx.options()))
                                 : at::Tensor();
  at::Tensor uz = save ? empty_like_seq(p.wx, T, B, G) : at::empty({B, G}, wx.options());
  at::Tensor extra;  // uh_h (GRU reset_after) or wmh (mLSTM)
  if (save && ((kind == GRU && reset_after) || kind == MLSTM)) extra = empty_like_seq(p.wx, T, B, H);
  at::Tensor scratch = at::empty({B, H}, wx.options());

  at::Tensor h = p.h0, c = p.c0;
  for (int64_t t = 0; t < T; ++t) {
    const int64_t step = save ? t : 0;
    float* h_out = hs.data_ptr<float>() + t * B * H;
    float* uz_t = uz.data_ptr<float>() + step * B * G;
    const at::Tensor hd = p.dropped(h);
    if (kind == RNN) {
      at::Tensor u = matmul(hd, p.weights[0], p.packed[0]);
      std::memcpy(uz_t, u.data_ptr<float>(), sizeof(float) * B * G);
      switch (activation) {
        case TANH: rnn_forward_step<TANH>(p, t, uz_t, data(h), h_out); break;
        case SIGMOID: rnn_forward_step<SIGMOID>(p, t, uz_t, data(h), h_out); break;
        case RELU: rnn_forward_step<RELU>(p, t, uz_t, data(h), h_out); break;
        default: rnn_forward_step<LINEAR>(p, t, uz_t, data(h), h_out); break;
      }
    } else if (kind == LSTM || kind == MLSTM) {
      at::Tensor u;
      if (kind == LSTM) {
        u = matmul(hd, p.weights[0], p.packed[0]);
      } else {
        // m = wmx * (W_mh hd),  uz = U m.
        at::Tensor wmh = matmul(hd, p.weights[1], p.packed[1]);
        if (save) std::memcpy(extra.data_ptr<float>() + t * B * H, wmh.data_ptr<float>(), sizeof(float) * B * H);
        u = matmul(p.wmx[t] * wmh, p.weights[0], p.packed[0]);
      }
      std::memcpy(uz_t, u.data_ptr<float>(), sizeof(float) * B * G);
      float* c_out = cs.data_ptr<float>() + (save ? t : (t + 1) % 2) * B * H;
      lstm_cell_forward(p, t, uz_t, data(h), data(c), h_out, c_out,
                        gates.data_ptr<float>() + step * B * G);
      c = save ? cs[t] : cs[(t + 1) % 2];
    } else if (reset_after) {
      at::Tensor uh = matmul(hd, p.weights[0], p.packed[0]);
      if (p.b_rec.defined()) uh.add_(p.b_rec);
      gru_forward_step_after(p, t, uh.data_ptr<float>(), data(h), h_out,
                             gates.data_ptr<float>() + step * B * G, uz_t,
                             save ? extra.data_ptr<float>() + t * B * H : scratch.data_ptr<float>());
    } else {
      at::Tensor uh_zr = matmul(hd, p.weights[0], p.packed[0]);
      float* gates_t = gates.data_ptr<float>() + step * B * G;
      gru_forward_gates(p, t, uh_zr.data_ptr<float>(), hd.contiguous().data_ptr<float>(), gates_t, uz_t,
                        scratch.data_ptr<float>());
      at::Tensor u = matmul(scratch, p.weights[1], p.packed[1]);
      gru_forward_candidate(p, t, u.data_ptr<float>(), data(h), h_out, gates_t, uz_t);
    }
    h = hs[t];
  }
  std::vector<at::Tensor> out{hs, h.clone()};
  if (two_states) out.push_back(c.clone());
  if (!save) return out;
  if (two_states) out.push_back(cs);
  if (kind != RNN) out.push_back(gates);
  out.push_back(uz);
  if (extra.defined()) out.push_back(extra);
  return out;
}

// --------------------------------------------------------------- backward

// MI-RNN backward step: dz = dh phi'(h); d uz = dz (alpha wx + beta1).
template <int A>
void rnn_backward_step(const Problem& p, int64_t t, const float* h, const float* uz, const float* dh,
                       float* duh, float* dwx, float* skip, Accumulators acc) {
  const int64_t B = p.B, H = p.H;
  const float* wx = data(p.wx) + t * B * H;
  over_units(B, H, H, [&](int64_t j0, int64_t j1) {
    for (int64_t n = 0; n < B; ++n) {
      const bool keep = p.kept(t, n);
      const int64_t row = n * H;
#pragma omp simd
      for (int64_t j = j0; j < j1; ++j) {
        const float dz = keep ? dh[row + j] * derivative<A>(h[row + j]) : 0.0f;
        const float x = wx[row + j], u = uz[row + j];
        duh[row + j] = dz * p.coef.dz_duz(j, x);
        dwx[row + j] = dz * p.coef.dz_dwx(j, u);
        acc.add(j, dz, x, u);
        skip[row + j] = keep ? 0.0f : dh[row + j];
      }
    }
  });
}

// MI-LSTM cell backward: from dh_t and dc_t to dz (the four gates), then
// through Eq. 4. `dc` is updated in place to dc_(t-1).
void lstm_cell_backward(const Problem& p, int64_t t, const float* gates, const float* c,
                        const float* c_prev, const float* uz, const float* dh, float* dc,
                        float* duh, float* dwx, float* skip, Accumulators acc) {
  const int64_t B = p.B, H = p.H, G = p.G;
  const float* wx = data(p.wx) + t * B * G;
  over_units(B, G, H, [&](int64_t j0, int64_t j1) {
    for (int64_t n = 0; n < B; ++n) {
      const bool keep = p.kept(t, n);
      const int64_t row = n * G, state = n * H;
#pragma omp simd
      for (int64_t j = j0; j < j1; ++j) {
        const int64_t ki = row + j, kf = ki + H, kg = kf + H, ko = kg + H;
        const float i = gates[ki], f = gates[kf], g = gates[kg], o = gates[ko];
        const float dhj = keep ? dh[state + j] : 0.0f;
        const float dcj = keep ? dc[state + j] : 0.0f;
        // h = o tanh(c): d o = dh tanh(c), dc += dh o (1 - tanh(c)^2).
        const float y = tanh_approx(c[state + j]);
        const float dct = dcj + dhj * o * (1.0f - y * y);
        // c = f c_prev + i g.
        const float dz[4] = {dct * g * i * (1.0f - i), dct * c_prev[state + j] * f * (1.0f - f),
                             dct * i * (1.0f - g * g), dhj * y * o * (1.0f - o)};
        const int64_t k[4] = {ki, kf, kg, ko};
        for (int q = 0; q < 4; ++q) {
          const int64_t col = q * H + j;
          const float x = wx[k[q]], u = uz != nullptr ? uz[k[q]] : 0.0f;
          duh[k[q]] = dz[q] * p.coef.dz_duz(col, x);
          dwx[k[q]] = dz[q] * p.coef.dz_dwx(col, u);
          acc.add(col, dz[q], x, u);
        }
        dc[state + j] = keep ? dct * f : dc[state + j];
        skip[state + j] = keep ? 0.0f : dh[state + j];
      }
    }
  });
}

// MI-GRU backward with reset_after: u = r * uh_h, uh = U hd + b'.
void gru_backward_step_after(const Problem& p, int64_t t, const float* gates, const float* uz,
                             const float* uh_h, const float* h_prev, const float* dh, float* duh,
                             float* dwx, float* direct, Accumulators acc) {
  const int64_t B = p.B, H = p.H, G = p.G;
  const float* wx = data(p.wx) + t * B * G;
  over_units(B, G, H, [&](int64_t j0, int64_t j1) {
    for (int64_t n = 0; n < B; ++n) {
      const bool keep = p.kept(t, n);
      const int64_t row = n * G, state = n * H;
#pragma omp simd
      for (int64_t j = j0; j < j1; ++j) {
        const int64_t kz = row + j, kr = kz + H, kh = kr + H;
        const float z = gates[kz], r = gates[kr], cand = gates[kh];
        const float d = keep ? dh[state + j] : 0.0f;
        // h = z h_prev + (1 - z) h~,  h~ = tanh(z_h).
        const float dz_h = d * (1.0f - z) * (1.0f - cand * cand);
        const float du = dz_h * p.coef.dz_duz(2 * H + j, wx[kh]);
        const float dr = du * uh_h[state + j];
        const float dz_z = d * (h_prev[state + j] - cand) * z * (1.0f - z);
        const float dz_r = dr * r * (1.0f - r);
        duh[kz] = dz_z * p.coef.dz_duz(j, wx[kz]);
        duh[kr] = dz_r * p.coef.dz_duz(H + j, wx[kr]);
        duh[kh] = du * r;
        dwx[kz] = dz_z * p.coef.dz_dwx(j, uz[kz]);
        dwx[kr] = dz_r * p.coef.dz_dwx(H + j, uz[kr]);
        dwx[kh] = dz_h * p.coef.dz_dwx(2 * H + j, uz[kh]);
        acc.add(j, dz_z, wx[kz], uz[kz]);
        acc.add(H + j, dz_r, wx[kr], uz[kr]);
        acc.add(2 * H + j, dz_h, wx[kh], uz[kh]);
        direct[state + j] = keep ? d * z : dh[state + j];
      }
    }
  });
}

// MI-GRU backward without reset_after, first half: the candidate, whose
// recurrent term u = U_h (r * hd) needs d(r * hd) = du U_h^T next.
void gru_backward_candidate(const Problem& p, int64_t t, const float* gates, const float* uz,
                            const float* dh, float* du, float* dwx, Accumulators acc) {
  const int64_t B = p.B, H = p.H, G = p.G;
  const float* wx = data(p.wx) + t * B * G;
  over_units(B, G, H, [&](int64_t j0, int64_t j1) {
    for (int64_t n = 0; n < B; ++n) {
      const bool keep = p.kept(t, n);
      const int64_t row = n * G, state = n * H;
#pragma omp simd
      for (int64_t j = j0; j < j1; ++j) {
        const int64_t kh = row + 2 * H + j;
        const float z = gates[row + j], cand = gates[kh];
        const float d = keep ? dh[state + j] : 0.0f;
        const float dz_h = d * (1.0f - z) * (1.0f - cand * cand);
        du[state + j] = dz_h * p.coef.dz_duz(2 * H + j, wx[kh]);
        dwx[kh] = dz_h * p.coef.dz_dwx(2 * H + j, uz[kh]);
        acc.add(2 * H + j, dz_h, wx[kh], uz[kh]);
      }
    }
  });
}

// ... second half: the update and reset gates, given drh = d(r * hd).
void gru_backward_gates(const Problem& p, int64_t t, const float* gates, const float* uz,
                        const float* h_prev, const float* hd, const float* dh, const float* drh,
                        float* duh_zr, float* dwx, float* dhd, float* direct, Accumulators acc) {
  const int64_t B = p.B, H = p.H, G = p.G;
  const float* wx = data(p.wx) + t * B * G;
  over_units(B, G, H, [&](int64_t j0, int64_t j1) {
    for (int64_t n = 0; n < B; ++n) {
      const bool keep = p.kept(t, n);
      const int64_t row = n * G, state = n * H, zr = n * 2 * H;
#pragma omp simd
      for (int64_t j = j0; j < j1; ++j) {
        const int64_t kz = row + j, kr = kz + H;
        const float z = gates[kz], r = gates[kr], cand = gates[row + 2 * H + j];
        const float d = keep ? dh[state + j] : 0.0f;
        const float dz_z = d * (h_prev[state + j] - cand) * z * (1.0f - z);
        const float dz_r = drh[state + j] * hd[state + j] * r * (1.0f - r);
        duh_zr[zr + j] = dz_z * p.coef.dz_duz(j, wx[kz]);
        duh_zr[zr + H + j] = dz_r * p.coef.dz_duz(H + j, wx[kr]);
        dwx[kz] = dz_z * p.coef.dz_dwx(j, uz[kz]);
        dwx[kr] = dz_r * p.coef.dz_dwx(H + j, uz[kr]);
        acc.add(j, dz_z, wx[kz], uz[kz]);
        acc.add(H + j, dz_r, wx[kr], uz[kr]);
        dhd[state + j] = drh[state + j] * r;
        direct[state + j] = keep ? d * z : dh[state + j];
      }
    }
  });
}

// The backward loop. `residuals` are the saved tensors of `forward` (after
// the final states). Returns [d_h0, d_c0 (LSTM family), d_wx, duh,
// d_alpha, d_beta1, d_beta2, d_bias, extras...] where duh is the gradient of
// the recurrent GEMM's output at every step and the extras are, for the
// mLSTM, m, dwmh and dwmx, and for the GRU without reset_after, r * hd.
std::vector<at::Tensor> backward(int64_t kind, int64_t activation, bool reset_after,
                                 const at::Tensor& wx, const Optional& wmx, const at::Tensor& h0,
                                 const Optional& c0, const std::vector<at::Tensor>& weights_t,
                                 const std::vector<Optional>& packed_t, const at::Tensor& alpha,
                                 const at::Tensor& beta1, const at::Tensor& beta2,
                                 const at::Tensor& bias, const Optional& rmask,
                                 const Optional& keep, const at::Tensor& hs,
                                 const std::vector<at::Tensor>& residuals, const at::Tensor& d_hs,
                                 const at::Tensor& d_h_final, const Optional& d_c_final) {
  at::NoGradGuard no_grad;
  const Problem p = make_problem(kind, reset_after, wx, value(wmx), h0, value(c0), weights_t,
                                 values(packed_t), alpha, beta1, beta2, bias, at::Tensor(),
                                 value(rmask), value(keep));
  const int64_t T = p.T, B = p.B, H = p.H, G = p.G;
  const bool two_states = kind == LSTM || kind == MLSTM;
  // Residuals, in the order `forward` returns them.
  size_t next = 0;
  const at::Tensor cs = two_states ? residuals[next++].contiguous() : at::Tensor();
  const at::Tensor gates = kind != RNN ? residuals[next++].contiguous() : at::Tensor();
  const at::Tensor uz = residuals[next++].contiguous();
  const at::Tensor extra = next < residuals.size() ? residuals[next++].contiguous() : at::Tensor();
  const at::Tensor hs_c = hs.contiguous(), d_hs_c = d_hs.contiguous();

  at::Tensor d_wx = empty_like_seq(p.wx, T, B, G);
  at::Tensor duh = empty_like_seq(p.wx, T, B, G);
  std::vector<at::Tensor> totals;
  for (int q = 0; q < 4; ++q) totals.push_back(at::zeros({G}, wx.options()));
  Accumulators acc{totals[0].data_ptr<float>(), totals[1].data_ptr<float>(),
                   totals[2].data_ptr<float>(), totals[3].data_ptr<float>()};
  at::Tensor m_seq, dwmh_seq, dwmx_seq, rh_seq;
  if (kind == MLSTM) {
    m_seq = empty_like_seq(p.wx, T, B, H);
    dwmh_seq = empty_like_seq(p.wx, T, B, H);
    dwmx_seq = empty_like_seq(p.wx, T, B, H);
  }
  if (kind == GRU && !reset_after) rh_seq = empty_like_seq(p.wx, T, B, H);

  at::Tensor dh_carry = d_h_final.contiguous().clone();
  at::Tensor dc = two_states ? value(d_c_final).contiguous().clone() : at::Tensor();
  at::Tensor dh = at::empty({B, H}, wx.options());
  at::Tensor skip = at::empty({B, H}, wx.options());
  at::Tensor du = at::empty({B, H}, wx.options());
  at::Tensor duh_zr = at::empty({B, 2 * H}, wx.options());
  at::Tensor dhd = at::empty({B, H}, wx.options());

  for (int64_t t = T - 1; t >= 0; --t) {
    at::add_out(dh, dh_carry, d_hs_c[t]);
    const at::Tensor h_prev = t > 0 ? hs_c[t - 1] : p.h0;
    const float* uz_t = uz.data_ptr<float>() + t * B * G;
    float* duh_t = duh.data_ptr<float>() + t * B * G;
    float* dwx_t = d_wx.data_ptr<float>() + t * B * G;
    if (kind == RNN) {
      const float* h_t = hs_c.data_ptr<float>() + t * B * H;
      switch (activation) {
        case TANH: rnn_backward_step<TANH>(p, t, h_t, uz_t, data(dh), duh_t, dwx_t, mutable_data(skip), acc); break;
        case SIGMOID: rnn_backward_step<SIGMOID>(p, t, h_t, uz_t, data(dh), duh_t, dwx_t, mutable_data(skip), acc); break;
        case RELU: rnn_backward_step<RELU>(p, t, h_t, uz_t, data(dh), duh_t, dwx_t, mutable_data(skip), acc); break;
        default: rnn_backward_step<LINEAR>(p, t, h_t, uz_t, data(dh), duh_t, dwx_t, mutable_data(skip), acc); break;
      }
      // uz = U (rmask * h_prev).
      dh_carry = p.dropped(matmul(duh[t], p.weights[0], p.packed[0])) + skip;
    } else if (two_states) {
      const float* c_t = cs.data_ptr<float>() + t * B * H;
      const float* c_prev = t > 0 ? cs.data_ptr<float>() + (t - 1) * B * H : data(p.c0);
      lstm_cell_backward(p, t, gates.data_ptr<float>() + t * B * G, c_t, c_prev,
                         uz.numel() > 0 ? uz_t : nullptr, data(dh), mutable_data(dc), duh_t, dwx_t,
                         mutable_data(skip), acc);
      if (kind == LSTM) {
        dh_carry = p.dropped(matmul(duh[t], p.weights[0], p.packed[0])) + skip;
      } else {
        // uz = U m, m = wmx * wmh, wmh = W_mh (rmask * h_prev).
        const at::Tensor wmh = extra[t];
        at::Tensor dm = matmul(duh[t], p.weights[0], p.packed[0]);
        at::Tensor dwmh = dm * p.wmx[t];
        m_seq[t].copy_(p.wmx[t] * wmh);
        dwmh_seq[t].copy_(dwmh);
        dwmx_seq[t].copy_(dm * wmh);
        dh_carry = p.dropped(matmul(dwmh, p.weights[1], p.packed[1])) + skip;
      }
    } else if (reset_after) {
      gru_backward_step_after(p, t, gates.data_ptr<float>() + t * B * G, uz_t,
                              extra.data_ptr<float>() + t * B * H, data(h_prev), data(dh), duh_t,
                              dwx_t, mutable_data(skip), acc);
      // uh = U hd + b'.
      dh_carry = p.dropped(matmul(duh[t], p.weights[0], p.packed[0])) + skip;
    } else {
      const float* gates_t = gates.data_ptr<float>() + t * B * G;
      const at::Tensor hd = p.dropped(h_prev).contiguous();
      gru_backward_candidate(p, t, gates_t, uz_t, data(dh), mutable_data(du), dwx_t, acc);
      // u = U_h (r * hd).
      at::Tensor drh = matmul(du, p.weights[1], p.packed[1]);
      gru_backward_gates(p, t, gates_t, uz_t, data(h_prev), data(hd), data(dh), data(drh),
                         mutable_data(duh_zr), dwx_t, mutable_data(dhd), mutable_data(skip), acc);
      duh[t].narrow(1, 0, 2 * H).copy_(duh_zr);
      duh[t].narrow(1, 2 * H, H).copy_(du);
      rh_seq[t].copy_(hd * gates[t].narrow(1, H, H));
      // uh_zr = U_zr hd, and hd enters r * hd.
      dh_carry = p.dropped(matmul(duh_zr, p.weights[0], p.packed[0]) + dhd) + skip;
    }
  }
  std::vector<at::Tensor> out{dh_carry};
  if (two_states) out.push_back(dc);
  out.push_back(d_wx);
  out.push_back(duh);
  for (auto& total : totals) out.push_back(total);
  if (kind == MLSTM) {
    out.push_back(m_seq);
    out.push_back(dwmh_seq);
    out.push_back(dwmx_seq);
  }
  if (rh_seq.defined()) out.push_back(rh_seq);
  return out;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &forward, "Fused MI recurrence: the forward loop");
  m.def("backward", &backward, "Fused MI recurrence: the backward loop");
}
