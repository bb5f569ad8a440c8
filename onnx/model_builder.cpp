#include "onnx/model_builder.h"

#include <fstream>

#include "onnx.pb.h"
#include "runtime/error.h"

namespace normrt::onnx {

TensorSpec tensor_spec(const std::string& name, const Tensor& t) {
  TensorSpec s;
  s.name = name;
  s.data_type = static_cast<int>(t.dtype());
  s.dims = t.shape();
  s.raw_data.assign(static_cast<const char*>(t.raw()), t.byte_size());
  return s;
}

namespace {

void fill_tensor(const TensorSpec& s, ::onnx::TensorProto* tp) {
  tp->set_name(s.name);
  tp->set_data_type(s.data_type);
  for (int64_t d : s.dims) tp->add_dims(d);
  if (!s.external.empty()) {
    tp->set_data_location(::onnx::TensorProto::EXTERNAL);
    for (auto& [k, v] : s.external) {
      auto* e = tp->add_external_data();
      e->set_key(k);
      e->set_value(v);
    }
    return;
  }
  const bool typed = !s.float_data.empty() || !s.int64_data.empty() || !s.int32_data.empty() || !s.double_data.empty();
  if (!typed) {
    tp->set_raw_data(s.raw_data);
    return;
  }
  for (float v : s.float_data) tp->add_float_data(v);
  for (int64_t v : s.int64_data) tp->add_int64_data(v);
  for (int32_t v : s.int32_data) tp->add_int32_data(v);
  for (double v : s.double_data) tp->add_double_data(v);
}

void fill_value(const ValueSpec& s, ::onnx::ValueInfoProto* vi) {
  vi->set_name(s.name);
  auto* tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(s.elem_type);
  if (!s.has_shape) return;
  auto* shape = tt->mutable_shape();
  for (const auto& d : s.dims) {
    auto* dim = shape->add_dim();
    if (std::holds_alternative<int64_t>(d)) dim->set_dim_value(std::get<int64_t>(d));
    else dim->set_dim_param(std::get<std::string>(d));
  }
}

void fill_attribute(const std::string& name, const Attribute& a, ::onnx::AttributeProto* ap) {
  using AP = ::onnx::AttributeProto;
  ap->set_name(name);
  switch (a.kind) {
    case Attribute::Kind::Float: ap->set_type(AP::FLOAT); ap->set_f(a.f); break;
    case Attribute::Kind::Int: ap->set_type(AP::INT); ap->set_i(a.i); break;
    case Attribute::Kind::String: ap->set_type(AP::STRING); ap->set_s(a.s); break;
    case Attribute::Kind::Tensor: ap->set_type(AP::TENSOR); fill_tensor(tensor_spec("", *a.t), ap->mutable_t()); break;
    case Attribute::Kind::Floats: ap->set_type(AP::FLOATS); for (float v : a.floats) ap->add_floats(v); break;
    case Attribute::Kind::Ints: ap->set_type(AP::INTS); for (int64_t v : a.ints) ap->add_ints(v); break;
    case Attribute::Kind::Strings: ap->set_type(AP::STRINGS); for (auto& v : a.strings) ap->add_strings(v); break;
    case Attribute::Kind::Graph: ap->set_type(AP::GRAPH); ap->mutable_g(); break;
  }
}

}  // namespace

std::string serialize_model(const ModelSpec& spec) {
  ::onnx::ModelProto mp;
  mp.set_ir_version(spec.ir_version);
  mp.set_producer_name(spec.producer);
  mp.set_producer_version(spec.producer_version);
  mp.set_doc_string(spec.doc_string);
  mp.set_model_version(spec.model_version);
  for (const auto& [k, v] : spec.metadata_props) {
    auto* p = mp.add_metadata_props();
    p->set_key(k);
    p->set_value(v);
  }
  for (auto& [domain, version] : spec.opsets) {
    auto* op = mp.add_opset_import();
    op->set_domain(domain);
    op->set_version(version);
  }
  auto* g = mp.mutable_graph();
  g->set_name(spec.graph_name);
  for (const auto& v : spec.inputs) fill_value(v, g->add_input());
  for (const auto& v : spec.outputs) fill_value(v, g->add_output());
  for (const auto& t : spec.initializers) fill_tensor(t, g->add_initializer());
  for (const auto& n : spec.nodes) {
    auto* np = g->add_node();
    np->set_op_type(n.op_type);
    np->set_name(n.name);
    np->set_domain(n.domain);
    for (auto& i : n.inputs) np->add_input(i);
    for (auto& o : n.outputs) np->add_output(o);
    for (auto& [name, a] : n.attributes) fill_attribute(name, a, np->add_attribute());
  }
  std::string bytes;
  if (!mp.SerializeToString(&bytes)) fail(ErrorCode::InvalidArgument, "serialize_model: model cannot be serialized");
  return bytes;
}

void save_model(const ModelSpec& spec, const std::string& path) {
  const std::string bytes = serialize_model(spec);
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) fail(ErrorCode::IoError, "cannot write model file '" + path + "'");
}

}  // namespace normrt::onnx
