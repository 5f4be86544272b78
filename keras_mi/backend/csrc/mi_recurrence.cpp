// The PyTorch binding of the fused MI recurrences (mi_core.h): tensors in,
// tensors out, products by ATen (oneDNN's packed weights where the caller
// packed them), threads by ATen's parallel_for.

#include <torch/extension.h>

#include <ATen/Parallel.h>
#include <ATen/core/dispatch/Dispatcher.h>

#include <optional>
#include <vector>

#include "mi_core.h"

namespace {

using mi::GRU;
using mi::LSTM;
using mi::MLSTM;
using mi::RNN;
using Optional = std::optional<at::Tensor>;

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

at::Tensor value(const Optional& t) { return t.value_or(at::Tensor()); }

std::vector<at::Tensor> values(const std::vector<Optional>& ts) {
  std::vector<at::Tensor> result;
  for (const auto& t : ts) result.push_back(value(t));
  return result;
}

const float* data(const at::Tensor& t) { return t.defined() ? t.data_ptr<float>() : nullptr; }
float* mutable_data(const at::Tensor& t) { return t.defined() ? t.data_ptr<float>() : nullptr; }

// The core's products and threads. Each slot keeps its last result alive.
struct TorchOps {
  std::vector<at::Tensor> weights, packed, weights_t, packed_t;
  at::Tensor slots[4];

  const float* product(int slot, const float* a, int64_t rows, int index, bool transposed) {
    const at::Tensor& w = transposed ? weights_t[index] : weights[index];
    const at::Tensor& p = transposed ? packed_t[index] : packed[index];
    const at::Tensor a_t = at::from_blob(const_cast<float*>(a), {rows, w.size(0)},
                                         at::TensorOptions().dtype(at::kFloat));
    slots[slot] = matmul(a_t, w, p).contiguous();
    return slots[slot].data_ptr<float>();
  }

  template <typename F>
  void parallel(int64_t begin, int64_t end, int64_t grain, const F& fn) {
    at::parallel_for(begin, end, grain, fn);
  }
};

// out[index] if the caller passed a buffer there (PyTorch's side keeps a pool
// of them: a fresh large buffer costs its page faults at every call), else
// a new tensor.
at::Tensor buffer(const std::vector<Optional>& out, size_t index, const at::Tensor& like,
                  int64_t T, int64_t B, int64_t n) {
  if (index < out.size() && out[index].has_value()) {
    const at::Tensor& given = *out[index];
    TORCH_CHECK(given.is_contiguous() && given.size(0) == T && given.size(1) == B &&
                    given.size(2) == n && given.scalar_type() == like.scalar_type(),
                "keras_mi: a buffer of the wrong shape or dtype was passed");
    return given;
  }
  return at::empty({T, B, n}, like.options());
}

// The tensors one call reads, and the core's view of them.
struct Call {
  at::Tensor x, h0, c0, b_rec, rmask, keep;
  mi::Inputs in;
};

Call make_call(int64_t kind, int64_t activation, bool reset_after, const at::Tensor& x,
               const at::Tensor& h0, const Optional& c0, const at::Tensor& alpha,
               const at::Tensor& beta1, const at::Tensor& beta2, const at::Tensor& bias,
               const Optional& b_rec, const Optional& rmask, const Optional& keep) {
  Call call;
  call.x = x.contiguous();
  call.h0 = h0.contiguous();
  call.c0 = c0.has_value() ? c0->contiguous() : at::Tensor();
  call.b_rec = b_rec.has_value() ? b_rec->contiguous() : at::Tensor();
  call.rmask = rmask.has_value() ? rmask->contiguous() : at::Tensor();
  call.keep = keep.has_value() ? keep->to(at::kByte).contiguous() : at::Tensor();
  mi::Inputs& in = call.in;
  in.kind = kind;
  in.activation = activation;
  in.reset_after = reset_after;
  in.T = x.size(0);
  in.B = x.size(1);
  in.D = x.size(2);
  in.H = h0.size(1);
  in.G = alpha.size(0);
  in.x = data(call.x);
  in.h0 = data(call.h0);
  in.c0 = data(call.c0);
  in.coef = {alpha.data_ptr<float>(), beta1.data_ptr<float>(), beta2.data_ptr<float>(),
             bias.data_ptr<float>()};
  in.b_rec = data(call.b_rec);
  in.rmask = data(call.rmask);
  in.keep = call.keep.defined() ? call.keep.data_ptr<uint8_t>() : nullptr;
  return call;
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
  const Call call = make_call(kind, activation, reset_after, x, h0, c0, alpha, beta1, beta2,
                              bias, b_rec, rmask, keep);
  const mi::Inputs& in = call.in;
  const int64_t T = in.T, B = in.B, H = in.H, G = in.G;
  const bool two_states = in.two_states();
  const auto options = call.x.options();
  TorchOps ops{weights, values(packed), {}, {}};
  at::Tensor hs = at::empty({T, B, H}, options);
  at::Tensor h_final = at::empty({B, H}, options);
  at::Tensor c_final = two_states ? at::empty({B, H}, options) : at::Tensor();
  at::Tensor cs, gates, uz, extra;
  if (save) {
    if (two_states) cs = buffer(out, 0, call.x, T, B, H);
    if (kind != RNN) gates = buffer(out, 1, call.x, T, B, G);
    uz = buffer(out, 2, call.x, T, B, G);
    if ((kind == GRU && reset_after) || kind == MLSTM) extra = buffer(out, 3, call.x, T, B, H);
  }
  at::Tensor work = at::empty({mi::forward_workspace(in)}, options);
  mi::forward_loop(ops, in, save,
                   {hs.data_ptr<float>(), h_final.data_ptr<float>(), mutable_data(c_final),
                    mutable_data(cs), mutable_data(gates), mutable_data(uz), mutable_data(extra)},
                   work.data_ptr<float>());
  std::vector<at::Tensor> result{hs, h_final};
  if (two_states) result.push_back(c_final);
  if (!save) return result;
  if (two_states) result.push_back(cs);
  if (kind != RNN) result.push_back(gates);
  result.push_back(uz);
  if (extra.defined()) result.push_back(extra);
  return result;
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
  const Call call = make_call(kind, activation, reset_after, x, h0, c0, alpha, beta1, beta2,
                              bias, Optional(), rmask, keep);
  const mi::Inputs& in = call.in;
  const int64_t T = in.T, B = in.B, H = in.H, G = in.G;
  const bool two_states = in.two_states();
  const auto options = call.x.options();
  TorchOps ops{weights, values(packed), weights_t, values(packed_t)};
  size_t next = 0;
  const at::Tensor cs = two_states ? residuals[next++].contiguous() : at::Tensor();
  at::Tensor gates = kind != RNN ? residuals[next++] : at::Tensor();
  at::Tensor uz = residuals[next++];
  const at::Tensor extra = next < residuals.size() ? residuals[next++].contiguous() : at::Tensor();
  TORCH_CHECK(uz.is_contiguous() && (!gates.defined() || gates.is_contiguous()),
              "keras_mi: the saved tensors must be contiguous");
  const at::Tensor hs_c = hs.contiguous(), d_hs_c = d_hs.contiguous();
  const at::Tensor d_h_final_c = d_h_final.contiguous();
  const at::Tensor d_c_final_c = two_states ? value(d_c_final).contiguous() : at::Tensor();

  at::Tensor d_wx_rnn = kind == RNN ? buffer(out, 0, call.x, T, B, G) : at::Tensor();
  at::Tensor totals = at::empty({4, G}, options);
  at::Tensor m_seq, dwmh_seq, dwmx_seq, rh_seq;
  if (kind == MLSTM) {
    m_seq = buffer(out, 1, call.x, T, B, H);
    dwmh_seq = buffer(out, 2, call.x, T, B, H);
    dwmx_seq = buffer(out, 3, call.x, T, B, H);
  }
  if (kind == GRU && !reset_after) rh_seq = buffer(out, 4, call.x, T, B, H);
  at::Tensor d_h0 = at::empty({B, H}, options);
  at::Tensor d_c0 = two_states ? at::empty({B, H}, options) : at::Tensor();
  at::Tensor work = at::empty({mi::backward_workspace(in)}, options);
  mi::BackwardIO io{data(hs_c), data(cs), mutable_data(gates), mutable_data(uz), data(extra),
                    data(d_hs_c), data(d_h_final_c), data(d_c_final_c), d_h0.data_ptr<float>(),
                    mutable_data(d_c0), mutable_data(d_wx_rnn), totals.data_ptr<float>(),
                    mutable_data(m_seq), mutable_data(dwmh_seq), mutable_data(dwmx_seq),
                    mutable_data(rh_seq)};
  mi::backward_loop(ops, in, io, work.data_ptr<float>());
  std::vector<at::Tensor> result{d_h0};
  if (two_states) result.push_back(d_c0);
  result.push_back(kind == RNN ? d_wx_rnn : gates);
  result.push_back(uz);
  for (int q = 0; q < 4; ++q) result.push_back(totals[q]);
  if (kind == MLSTM) {
    result.push_back(m_seq);
    result.push_back(dwmh_seq);
    result.push_back(dwmx_seq);
  }
  if (rh_seq.defined()) result.push_back(rh_seq);
  return result;
}

// Subnormal floats flushed to zero (on) or kept (off) on this thread, for
// the products and the weight gradients of a call that run here; returns
// whether this thread flushed before.
bool flush_denormals(bool on) {
  const bool previous = mi::flushing_denormals();
  mi::flush_denormals(on);
  return previous;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &forward, "Fused MI recurrence: the forward loop");
  m.def("backward", &backward, "Fused MI recurrence: the backward loop");
  m.def("flush_denormals", &flush_denormals,
        "Flush subnormal floats to zero on this thread (on) or not; the previous setting");
}
