// The XLA binding of the fused MI recurrences (mi_core.h), for JAX on the
// CPU: two FFI handlers, KerasMiForward and KerasMiBackward, over XLA's
// buffers; the products by OpenBLAS (mi_blas.h) spread over XLA's own
// intra-op threads (the handlers' ThreadPool).
//
// An absent input (c0 but for the LSTM family, a matrix a cell does not
// have, b_rec, rmask, keep) is an empty buffer; so is an output a call does
// not write.

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "mi_blas.h"
#include "xla/ffi/api/ffi.h"

namespace {

namespace ffi = xla::ffi;
using F32 = ffi::Buffer<ffi::F32>;
using U8 = ffi::Buffer<ffi::U8>;
using F32Out = ffi::ResultBuffer<ffi::F32>;

const float* in_data(const F32& b) { return b.element_count() ? b.typed_data() : nullptr; }
float* out_data(F32Out& b) { return b->element_count() ? b->typed_data() : nullptr; }

using BlasOps = mi::BlasOps<ffi::ThreadPool>;

const bool kOneBlasThread = mi::one_blas_thread();

// The four matrices' data and sides.
mi::Matrices matrices_of(const F32* const matrices[4]) {
  mi::Matrices m;
  for (int i = 0; i < 4; ++i) {
    const auto dims = matrices[i]->dimensions();
    if (dims.size() == 2 && matrices[i]->element_count() > 0) {
      m.data[i] = matrices[i]->typed_data();
      m.rows[i] = dims[0];
      m.cols[i] = dims[1];
    }
  }
  return m;
}

mi::Inputs make_inputs(int64_t kind, int64_t activation, bool reset_after, const F32& x,
                       const F32& h0, const F32& c0, const F32& alpha, const F32& beta1,
                       const F32& beta2, const F32& bias, const F32* b_rec, const F32& rmask,
                       const U8& keep) {
  mi::Inputs in;
  in.kind = kind;
  in.activation = activation;
  in.reset_after = reset_after;
  const auto dims = x.dimensions();
  in.T = dims[0];
  in.B = dims[1];
  in.D = dims[2];
  in.H = h0.dimensions()[1];
  in.G = alpha.element_count();
  in.x = x.typed_data();
  in.h0 = h0.typed_data();
  in.c0 = in_data(c0);
  in.coef = {alpha.typed_data(), beta1.typed_data(), beta2.typed_data(), bias.typed_data()};
  in.b_rec = b_rec == nullptr ? nullptr : in_data(*b_rec);
  in.rmask = in_data(rmask);
  in.keep = keep.element_count() ? keep.typed_data() : nullptr;
  return in;
}

ffi::Error Forward(ffi::ThreadPool pool, F32 x, F32 h0, F32 c0, F32 w0, F32 w1, F32 w2, F32 w3, F32 alpha, F32 beta1,
                   F32 beta2, F32 bias, F32 b_rec, F32 rmask, U8 keep, F32Out hs, F32Out h_final,
                   F32Out c_final, F32Out cs, F32Out gates, F32Out uz, F32Out extra, F32Out work,
                   int64_t kind, int64_t activation, bool reset_after, bool save) {
  const F32* matrices[4] = {&w0, &w1, &w2, &w3};
  const mi::Matrices args = matrices_of(matrices);
  const mi::Inputs in = make_inputs(kind, activation, reset_after, x, h0, c0, alpha, beta1,
                                    beta2, bias, &b_rec, rmask, keep);
  const int64_t core = mi::forward_workspace(in);
  if (work->element_count() < static_cast<size_t>(core + args.slot_floats(in.B)))
    return ffi::Error::InvalidArgument("keras_mi: the forward workspace is too small");
  float* space = work->typed_data();
  BlasOps ops = args.ops<BlasOps>(in.B, space + core);
  ops.pool = &pool;
  ops.threads = pool.num_threads();
  mi::forward_loop(ops, in, save,
                   {hs->typed_data(), h_final->typed_data(), out_data(c_final), out_data(cs),
                    out_data(gates), out_data(uz), out_data(extra)},
                   space);
  return ffi::Error::Success();
}

// `gates` and `uz` are the forward pass's, aliased to the outputs `d_wx`
// and `duh`, which the loop overwrites in place (as the core does).
ffi::Error Backward(ffi::ThreadPool pool, F32 x, F32 h0, F32 c0, F32 w0, F32 w1, F32 w2, F32 w3, F32 alpha,
                    F32 beta1, F32 beta2, F32 bias, F32 rmask, U8 keep, F32 hs, F32 cs,
                    F32 gates, F32 uz, F32 extra, F32 d_hs, F32 d_h_final, F32 d_c_final,
                    F32Out d_h0, F32Out d_c0, F32Out d_wx_rnn, F32Out d_wx, F32Out duh,
                    F32Out totals, F32Out m_seq, F32Out dwmh_seq, F32Out dwmx_seq,
                    F32Out rh_seq, F32Out work, int64_t kind, int64_t activation,
                    bool reset_after) {
  const F32* matrices[4] = {&w0, &w1, &w2, &w3};
  const mi::Matrices args = matrices_of(matrices);
  const mi::Inputs in = make_inputs(kind, activation, reset_after, x, h0, c0, alpha, beta1,
                                    beta2, bias, nullptr, rmask, keep);
  const int64_t core = mi::backward_workspace(in);
  if (work->element_count() < static_cast<size_t>(core + args.slot_floats(in.B)))
    return ffi::Error::InvalidArgument("keras_mi: the backward workspace is too small");
  // Where XLA could not alias, the outputs start as copies of the inputs.
  if (d_wx->element_count() && d_wx->typed_data() != gates.typed_data())
    std::memcpy(d_wx->typed_data(), gates.typed_data(), sizeof(float) * gates.element_count());
  if (duh->typed_data() != uz.typed_data())
    std::memcpy(duh->typed_data(), uz.typed_data(), sizeof(float) * uz.element_count());
  float* space = work->typed_data();
  BlasOps ops = args.ops<BlasOps>(in.B, space + core);
  ops.pool = &pool;
  ops.threads = pool.num_threads();
  mi::BackwardIO io{hs.typed_data(),      in_data(cs),          out_data(d_wx),
                    duh->typed_data(),    in_data(extra),       d_hs.typed_data(),
                    d_h_final.typed_data(), in_data(d_c_final), d_h0->typed_data(),
                    out_data(d_c0),       out_data(d_wx_rnn),   totals->typed_data(),
                    out_data(m_seq),      out_data(dwmh_seq),   out_data(dwmx_seq),
                    out_data(rh_seq)};
  mi::backward_loop(ops, in, io, space);
  return ffi::Error::Success();
}

}  // namespace

// What both handlers take first: x, h0, c0, the four matrices, alpha,
// beta1, beta2 and the bias.
#define EVERY_CALL_ARGS                                                              \
  .Arg<F32>().Arg<F32>().Arg<F32>().Arg<F32>().Arg<F32>().Arg<F32>().Arg<F32>()    \
      .Arg<F32>().Arg<F32>().Arg<F32>().Arg<F32>()

XLA_FFI_DEFINE_HANDLER_SYMBOL(KerasMiForward, Forward,
                              ffi::Ffi::Bind().Ctx<ffi::ThreadPool>() EVERY_CALL_ARGS
                                  .Arg<F32>()  // b_rec
                                  .Arg<F32>()  // rmask
                                  .Arg<U8>()   // keep
                                  .Ret<F32>()  // hs
                                  .Ret<F32>()  // h_final
                                  .Ret<F32>()  // c_final
                                  .Ret<F32>()  // cs
                                  .Ret<F32>()  // gates
                                  .Ret<F32>()  // uz
                                  .Ret<F32>()  // extra
                                  .Ret<F32>()  // work
                                  .Attr<int64_t>("kind")
                                  .Attr<int64_t>("activation")
                                  .Attr<bool>("reset_after")
                                  .Attr<bool>("save"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(KerasMiBackward, Backward,
                              ffi::Ffi::Bind().Ctx<ffi::ThreadPool>() EVERY_CALL_ARGS
                                  .Arg<F32>()  // rmask
                                  .Arg<U8>()   // keep
                                  .Arg<F32>()  // hs
                                  .Arg<F32>()  // cs
                                  .Arg<F32>()  // gates
                                  .Arg<F32>()  // uz
                                  .Arg<F32>()  // extra
                                  .Arg<F32>()  // d_hs
                                  .Arg<F32>()  // d_h_final
                                  .Arg<F32>()  // d_c_final
                                  .Ret<F32>()  // d_h0
                                  .Ret<F32>()  // d_c0
                                  .Ret<F32>()  // d_wx_rnn
                                  .Ret<F32>()  // d_wx (aliases gates)
                                  .Ret<F32>()  // duh (aliases uz)
                                  .Ret<F32>()  // totals
                                  .Ret<F32>()  // m_seq
                                  .Ret<F32>()  // dwmh_seq
                                  .Ret<F32>()  // dwmx_seq
                                  .Ret<F32>()  // rh_seq
                                  .Ret<F32>()  // work
                                  .Attr<int64_t>("kind")
                                  .Attr<int64_t>("activation")
                                  .Attr<bool>("reset_after"));
