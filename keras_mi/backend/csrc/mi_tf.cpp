// The TensorFlow binding of the fused MI recurrences (mi_core.h), for the
// CPU: two custom ops, KerasMiForward and KerasMiBackward, whose gradient
// is wired in Python (tf.custom_gradient, tensorflow_recurrence.py). The
// products by OpenBLAS (mi_blas.h) spread over TensorFlow's intra-op
// threads (the CPU device's worker pool).
//
// An absent input (c0 but for the LSTM family, a matrix a cell does not
// have, b_rec, rmask, keep) is an empty tensor; so is an output a call does
// not write. Output shapes are set by the Python side.

#include <cstdint>
#include <cstring>

#include "mi_blas.h"
#include "tensorflow/core/framework/common_shape_fns.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tensorflow/core/platform/threadpool.h"

namespace {

using tensorflow::DEVICE_CPU;
using tensorflow::OpKernel;
using tensorflow::OpKernelConstruction;
using tensorflow::OpKernelContext;
using tensorflow::Tensor;
using tensorflow::TensorShape;

const float* in_data(const Tensor& t) {
  return t.NumElements() ? t.flat<float>().data() : nullptr;
}
float* out_data(Tensor* t) { return t->NumElements() ? t->flat<float>().data() : nullptr; }

// The products by OpenBLAS over the intra-op threads took, against
// Eigen's GEMM from TensorFlow's headers on the op's thread (the earlier
// form), 0.73x / 0.53x the MI-LSTM's train step and 0.67x / 0.49x its
// inference at (B, T, D, H) = (32, 100, 64, 256) / (64, 200, 128, 512), the
// MI-GRU's 0.70x / 0.60x and 0.66x / 0.42x (one interleaved run, 2-core AMD
// EPYC). An Eigen tensor contraction on the kernel's ThreadPoolDevice had
// measured slower than one thread: MILSTM train step 103.8 vs 87.4 ms,
// 964 vs 937 ms.
using BlasOps = mi::BlasOps<tensorflow::thread::ThreadPool>;

const bool kOneBlasThread = mi::one_blas_thread();

// The products' ops over the op's CPU device's intra-op threads.
BlasOps device_ops(OpKernelContext* context, const mi::Matrices& args, int64_t B,
                   float* slot_space) {
  BlasOps ops = args.ops<BlasOps>(B, slot_space);
  const auto* workers = context->device()->tensorflow_cpu_worker_threads();
  if (workers != nullptr && workers->workers != nullptr) {
    ops.pool = workers->workers;
    ops.threads = workers->workers->NumThreads();
  }
  return ops;
}

// The four matrices (inputs 3 to 6): data and sides.
mi::Matrices matrices_of(OpKernelContext* context) {
  mi::Matrices m;
  for (int i = 0; i < 4; ++i) {
    const Tensor& t = context->input(3 + i);
    if (t.dims() == 2 && t.NumElements() > 0) {
      m.data[i] = t.flat<float>().data();
      m.rows[i] = t.dim_size(0);
      m.cols[i] = t.dim_size(1);
    }
  }
  return m;
}

// `core` floats of scratch for the loops, then the slots.
float* workspace(OpKernelContext* context, Tensor* work, int64_t floats) {
  const auto status = context->allocate_temp(tensorflow::DT_FLOAT, TensorShape({floats}), work);
  if (!status.ok()) {
    context->SetStatus(status);
    return nullptr;
  }
  return work->flat<float>().data();
}

struct Attributes {
  int64_t kind, activation;
  bool reset_after;

  explicit Attributes(OpKernelConstruction* context) {
    OP_REQUIRES_OK(context, context->GetAttr("kind", &kind));
    OP_REQUIRES_OK(context, context->GetAttr("activation", &activation));
    OP_REQUIRES_OK(context, context->GetAttr("reset_after", &reset_after));
  }
};

mi::Inputs make_inputs(const Attributes& a, OpKernelContext* context, bool with_b_rec) {
  mi::Inputs in;
  in.kind = a.kind;
  in.activation = a.activation;
  in.reset_after = a.reset_after;
  const Tensor& x = context->input(0);
  in.T = x.dim_size(0);
  in.B = x.dim_size(1);
  in.D = x.dim_size(2);
  in.H = context->input(1).dim_size(1);
  in.G = context->input(7).NumElements();
  in.x = x.flat<float>().data();
  in.h0 = context->input(1).flat<float>().data();
  in.c0 = in_data(context->input(2));
  in.coef = {context->input(7).flat<float>().data(), context->input(8).flat<float>().data(),
             context->input(9).flat<float>().data(), context->input(10).flat<float>().data()};
  const int rmask_index = with_b_rec ? 12 : 11;
  in.b_rec = with_b_rec ? in_data(context->input(11)) : nullptr;
  in.rmask = in_data(context->input(rmask_index));
  const Tensor& keep = context->input(rmask_index + 1);
  in.keep = keep.NumElements() ? keep.flat<uint8_t>().data() : nullptr;
  return in;
}

Tensor* output(OpKernelContext* context, int index, std::initializer_list<int64_t> dims,
               bool present) {
  Tensor* t = nullptr;
  TensorShape shape;
  if (present) {
    for (int64_t d : dims) shape.AddDim(d);
  } else {
    shape.AddDim(0);
  }
  const auto status = context->allocate_output(index, shape, &t);
  if (!status.ok()) {
    context->SetStatus(status);
    return nullptr;
  }
  return t;
}

class ForwardOp : public OpKernel {
 public:
  explicit ForwardOp(OpKernelConstruction* context) : OpKernel(context), attributes_(context) {
    OP_REQUIRES_OK(context, context->GetAttr("save", &save_));
  }

  void Compute(OpKernelContext* context) override {
    const mi::Inputs in = make_inputs(attributes_, context, true);
    const mi::Matrices args = matrices_of(context);
    const int64_t T = in.T, B = in.B, H = in.H, G = in.G;
    const bool two = in.two_states(), save = save_;
    const bool extra = save && (in.kind == mi::MLSTM || (in.kind == mi::GRU && in.reset_after));
    Tensor* hs = output(context, 0, {T, B, H}, true);
    Tensor* h_final = output(context, 1, {B, H}, true);
    Tensor* c_final = output(context, 2, {B, H}, two);
    Tensor* cs = output(context, 3, {T, B, H}, save && two);
    Tensor* gates = output(context, 4, {T, B, G}, save && in.kind != mi::RNN);
    Tensor* uz = output(context, 5, {T, B, G}, save);
    Tensor* extra_seq = output(context, 6, {T, B, H}, extra);
    if (!context->status().ok()) return;
    Tensor work;
    const int64_t core = mi::forward_workspace(in);
    float* space = workspace(context, &work, core + args.slot_floats(B));
    if (space == nullptr) return;
    const mi::ForwardOutputs outs{out_data(hs), out_data(h_final), out_data(c_final), out_data(cs),
                      out_data(gates), out_data(uz), out_data(extra_seq)};
    BlasOps ops = device_ops(context, args, B, space + core);
    mi::forward_loop(ops, in, save, outs, space);
  }

 private:
  Attributes attributes_;
  bool save_;
};

// Inputs 15 (gates) and 16 (uz) become outputs 3 (d W x) and 4 (d uh),
// which the loop overwrites in place (their buffers are taken over when
// nothing else holds them).
class BackwardOp : public OpKernel {
 public:
  explicit BackwardOp(OpKernelConstruction* context) : OpKernel(context), attributes_(context) {}

  void Compute(OpKernelContext* context) override {
    const mi::Inputs in = make_inputs(attributes_, context, false);
    const mi::Matrices args = matrices_of(context);
    const int64_t T = in.T, B = in.B, H = in.H, G = in.G;
    const bool two = in.two_states(), mlstm = in.kind == mi::MLSTM;
    const bool rh = in.kind == mi::GRU && !in.reset_after;
    Tensor* d_h0 = output(context, 0, {B, H}, true);
    Tensor* d_c0 = output(context, 1, {B, H}, two);
    Tensor* d_wx_rnn = output(context, 2, {T, B, G}, in.kind == mi::RNN);
    Tensor* d_wx = nullptr;
    Tensor* duh = nullptr;
    OP_REQUIRES_OK(context, context->forward_input_or_allocate_output(
                                {15}, 3, context->input(15).shape(), &d_wx));
    OP_REQUIRES_OK(context, context->forward_input_or_allocate_output(
                                {16}, 4, context->input(16).shape(), &duh));
    Tensor* totals = output(context, 5, {4, G}, true);
    Tensor* m_seq = output(context, 6, {T, B, H}, mlstm);
    Tensor* dwmh_seq = output(context, 7, {T, B, H}, mlstm);
    Tensor* dwmx_seq = output(context, 8, {T, B, H}, mlstm);
    Tensor* rh_seq = output(context, 9, {T, B, H}, rh);
    if (!context->status().ok()) return;
    const Tensor& gates = context->input(15);
    const Tensor& uz = context->input(16);
    if (d_wx->NumElements() && out_data(d_wx) != in_data(gates))
      std::memcpy(out_data(d_wx), in_data(gates), sizeof(float) * gates.NumElements());
    if (out_data(duh) != in_data(uz))
      std::memcpy(out_data(duh), in_data(uz), sizeof(float) * uz.NumElements());
    Tensor work;
    const int64_t core = mi::backward_workspace(in);
    float* space = workspace(context, &work, core + args.slot_floats(B));
    if (space == nullptr) return;
    mi::BackwardIO io{in_data(context->input(13)), in_data(context->input(14)), out_data(d_wx),
                      out_data(duh), in_data(context->input(17)), in_data(context->input(18)),
                      in_data(context->input(19)), in_data(context->input(20)), out_data(d_h0),
                      out_data(d_c0), out_data(d_wx_rnn), out_data(totals), out_data(m_seq),
                      out_data(dwmh_seq), out_data(dwmx_seq), out_data(rh_seq)};
    BlasOps ops = device_ops(context, args, B, space + core);
    mi::backward_loop(ops, in, io, space);
  }

 private:
  Attributes attributes_;
};

}  // namespace

// What both ops take first: x, h0, c0, the four matrices, alpha, beta1,
// beta2 and the bias.
#define EVERY_CALL_INPUTS                                                         \
  .Input("x: float").Input("h0: float").Input("c0: float").Input("w0: float")     \
      .Input("w1: float").Input("w2: float").Input("w3: float").Input("alpha: float") \
      .Input("beta1: float").Input("beta2: float").Input("bias: float")

REGISTER_OP("KerasMiForward") EVERY_CALL_INPUTS
    .Input("b_rec: float")
    .Input("rmask: float")
    .Input("keep: uint8")
    .Output("hs: float")
    .Output("h_final: float")
    .Output("c_final: float")
    .Output("cs: float")
    .Output("gates: float")
    .Output("uz: float")
    .Output("extra: float")
    .Attr("kind: int")
    .Attr("activation: int")
    .Attr("reset_after: bool")
    .Attr("save: bool")
    .SetShapeFn(tensorflow::shape_inference::UnknownShape);

REGISTER_OP("KerasMiBackward") EVERY_CALL_INPUTS
    .Input("rmask: float")
    .Input("keep: uint8")
    .Input("hs: float")
    .Input("cs: float")
    .Input("gates: float")
    .Input("uz: float")
    .Input("extra: float")
    .Input("d_hs: float")
    .Input("d_h_final: float")
    .Input("d_c_final: float")
    .Output("d_h0: float")
    .Output("d_c0: float")
    .Output("d_wx_rnn: float")
    .Output("d_wx: float")
    .Output("duh: float")
    .Output("totals: float")
    .Output("m_seq: float")
    .Output("dwmh_seq: float")
    .Output("dwmx_seq: float")
    .Output("rh_seq: float")
    .Attr("kind: int")
    .Attr("activation: int")
    .Attr("reset_after: bool")
    .SetShapeFn(tensorflow::shape_inference::UnknownShape);

REGISTER_KERNEL_BUILDER(Name("KerasMiForward").Device(DEVICE_CPU), ForwardOp);
REGISTER_KERNEL_BUILDER(Name("KerasMiBackward").Device(DEVICE_CPU), BackwardOp);
