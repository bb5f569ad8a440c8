#include "onnx/loader.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "onnx.pb.h"  // generated at build time from Debian's /usr/include/onnx/onnx.proto
#include "runtime/error.h"
#include "runtime/op_kernel.h"

namespace normrt::onnx {

namespace fs = std::filesystem;

namespace {

// Protobuf refuses messages of 2 GiB and more; larger models must use external data.
constexpr size_t kMaxProtoBytes = static_cast<size_t>(std::numeric_limits<int>::max());

std::string read_file(const std::string& path, const std::string& what) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) fail(ErrorCode::IoError, what + " '" + path + "' is a directory");
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(ErrorCode::IoError, "cannot open " + what + " '" + path + "'");
  f.seekg(0, std::ios::end);
  const std::streamoff size = f.tellg();
  if (size < 0) fail(ErrorCode::IoError, "cannot read " + what + " '" + path + "'");
  if (static_cast<size_t>(size) > kMaxProtoBytes)
    fail(ErrorCode::InvalidModel, what + " '" + path + "' is larger than 2 GiB; store big tensors as external data");
  std::string bytes(static_cast<size_t>(size), '\0');
  f.seekg(0);
  f.read(bytes.data(), size);
  if (!f) fail(ErrorCode::IoError, "cannot read " + what + " '" + path + "'");
  return bytes;
}

struct TensorContext {
  const std::string& model;  // label for errors
  const LoadOptions& options;
};

// Where a tensor's bytes are in its external file.
struct ExternalRange {
  fs::path file;
  std::string location;
  int64_t offset = 0;
};

// Checks a tensor's external data, refusing locations outside the model folder and ranges the file
// does not hold: all before anything is allocated for it, so its dims cannot make us allocate more
// than the file has.
ExternalRange resolve_external(const ::onnx::TensorProto& tp, size_t bytes, const std::string& where, const TensorContext& tc) {
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto& kv : tp.external_data()) {
    auto parse_int = [&](const std::string& v) {
      try {
        size_t used = 0;
        long long x = std::stoll(v, &used);
        if (used != v.size() || x < 0) throw std::invalid_argument(v);
        return static_cast<int64_t>(x);
      } catch (const std::exception&) {
        fail(ErrorCode::InvalidModel, where + ": external data " + kv.key() + " '" + v + "' is not a non-negative integer");
      }
    };
    if (kv.key() == "location") location = kv.value();
    else if (kv.key() == "offset") offset = parse_int(kv.value());
    else if (kv.key() == "length") length = parse_int(kv.value());
  }
  if (location.empty()) fail(ErrorCode::InvalidModel, where + ": external data has no location");
  if (tc.options.external_data_dir.empty())
    fail(ErrorCode::InvalidModel, where + ": external data '" + location +
                                      "' cannot be resolved for a model loaded from memory without a folder");
  const fs::path rel(location);
  if (rel.is_absolute() || rel.has_root_name() || rel.has_root_directory())
    fail(ErrorCode::InvalidModel, where + ": external data location '" + location + "' is absolute; it must be relative to the model's folder");
  for (const auto& part : rel)
    if (part == "..")
      fail(ErrorCode::InvalidModel, where + ": external data location '" + location + "' escapes the model's folder");
  std::error_code ec;
  const fs::path base = fs::weakly_canonical(fs::path(tc.options.external_data_dir), ec);
  const fs::path full = fs::weakly_canonical(fs::path(tc.options.external_data_dir) / rel, ec);
  if (ec) fail(ErrorCode::IoError, where + ": cannot resolve external data '" + location + "'");
  // A symlink inside the folder may still point outside it.
  auto [b, f] = std::mismatch(base.begin(), base.end(), full.begin(), full.end());
  if (b != base.end())
    fail(ErrorCode::InvalidModel, where + ": external data '" + location + "' resolves outside the model's folder");
  std::ifstream in(full, std::ios::binary);
  if (!in) fail(ErrorCode::IoError, where + ": cannot open external data file '" + location + "'");
  in.seekg(0, std::ios::end);
  const int64_t file_size = static_cast<int64_t>(in.tellg());
  if (length >= 0 && static_cast<size_t>(length) != bytes)
    fail(ErrorCode::InvalidModel, where + ": external data length " + std::to_string(length) + " does not match the " +
                                      std::to_string(bytes) + " bytes its dims and type need");
  if (offset > file_size || static_cast<int64_t>(bytes) > file_size - offset)
    fail(ErrorCode::InvalidModel, where + ": external data range (offset " + std::to_string(offset) + ", " +
                                      std::to_string(bytes) + " bytes) is past the end of '" + location + "' (" +
                                      std::to_string(file_size) + " bytes)");
  return {full, location, offset};
}

void read_external(const ExternalRange& r, void* dst, size_t bytes, const std::string& where) {
  std::ifstream in(r.file, std::ios::binary);
  if (!in) fail(ErrorCode::IoError, where + ": cannot open external data file '" + r.location + "'");
  in.seekg(r.offset);
  in.read(static_cast<char*>(dst), static_cast<std::streamsize>(bytes));
  if (!in) fail(ErrorCode::IoError, where + ": reading external data '" + r.location + "' failed");
}

Tensor convert_tensor(const ::onnx::TensorProto& tp, const std::string& what, const TensorContext& tc) {
  const std::string where = tc.model + ": " + what;
  const DType t = static_cast<DType>(tp.data_type());
  if (!dtype_supported(t))
    fail(ErrorCode::NotImplemented, where + ": element type " + dtype_name(t) + " is not supported");
  if (tp.has_segment()) fail(ErrorCode::NotImplemented, where + ": segmented tensors are not supported");
  Shape shape(tp.dims().begin(), tp.dims().end());
  for (int64_t d : shape)
    if (d < 0) fail(ErrorCode::InvalidModel, where + ": negative dimension in " + shape_to_string(shape));
  int64_t numel;
  try {
    numel = checked_numel(shape, where);
  } catch (const Error& e) {
    fail(ErrorCode::InvalidModel, e.what());
  }
  const size_t bytes = checked_bytes(t, numel, where, tc.options.max_tensor_bytes);
  const size_t esize = dtype_size(t);

  auto count_error = [&](const char* field, size_t have) {
    fail(ErrorCode::InvalidModel, where + ": " + field + " has " + std::to_string(have) + " values but dims " +
                                      shape_to_string(shape) + " need " + std::to_string(numel));
  };
  const bool external = tp.data_location() == ::onnx::TensorProto::EXTERNAL;
  // Check the data's size against the dims before allocating, so a lying header cannot make
  // us allocate more than the file holds.
  if (!external) {
    if (tp.has_raw_data()) {
      if (tp.raw_data().size() != bytes)
        fail(ErrorCode::InvalidModel, where + ": raw_data has " + std::to_string(tp.raw_data().size()) + " bytes but dims " +
                                          shape_to_string(shape) + " of " + dtype_name(t) + " need " + std::to_string(bytes));
    } else {
      size_t have = 0;
      const char* field = "";
      switch (t) {
        case DType::Float32: have = tp.float_data_size(); field = "float_data"; break;
        case DType::Float64: have = tp.double_data_size(); field = "double_data"; break;
        case DType::Int64: have = tp.int64_data_size(); field = "int64_data"; break;
        case DType::UInt32:
        case DType::UInt64: have = tp.uint64_data_size(); field = "uint64_data"; break;
        default: have = tp.int32_data_size(); field = "int32_data"; break;
      }
      if (have != static_cast<size_t>(numel)) count_error(field, have);
    }
  }
  ExternalRange range;
  if (external) range = resolve_external(tp, bytes, where, tc);
  Tensor out = Tensor::allocate(t, shape, where);
  void* dst = out.raw();
  if (external) {
    read_external(range, dst, bytes, where);
  } else if (tp.has_raw_data()) {
    if (bytes) std::memcpy(dst, tp.raw_data().data(), bytes);  // little-endian, as ONNX stores it
  } else {
    for (int64_t i = 0; i < numel; ++i) {
      switch (t) {
        case DType::Float32: out.data<float>()[i] = tp.float_data(i); break;
        case DType::Float64: out.data<double>()[i] = tp.double_data(i); break;
        case DType::Int64: out.data<int64_t>()[i] = tp.int64_data(i); break;
        case DType::UInt64: out.data<uint64_t>()[i] = tp.uint64_data(i); break;
        case DType::UInt32: out.data<uint32_t>()[i] = static_cast<uint32_t>(tp.uint64_data(i)); break;
        case DType::Int32: out.data<int32_t>()[i] = tp.int32_data(i); break;
        case DType::Bool: out.data<uint8_t>()[i] = tp.int32_data(i) != 0; break;
        default: {
          // int8, uint8, int16, uint16, float16 and bfloat16 store their bits in int32_data.
          const int32_t v = tp.int32_data(i);
          std::memcpy(static_cast<char*>(dst) + i * esize, &v, esize);
        }
      }
    }
  }
  return out;
}

ValueType value_type_of(const ::onnx::ValueInfoProto& vi, const std::string& model, const char* role);

struct Loader {
  const std::string& model;
  const LoadOptions& options;
  TensorContext tc{model, options};

  Attribute convert_attribute(const ::onnx::AttributeProto& a, const Node& node) {
    using AP = ::onnx::AttributeProto;
    const std::string where = node.label() + " attribute '" + a.name() + "'";
    if (!a.ref_attr_name().empty())
      fail(ErrorCode::InvalidModel, model + ": " + where + " refers to a function attribute outside a function");
    AP::AttributeType type = a.type();
    if (type == AP::UNDEFINED) {  // very old files leave the type out
      if (a.has_f()) type = AP::FLOAT;
      else if (a.has_i()) type = AP::INT;
      else if (a.has_s()) type = AP::STRING;
      else if (a.has_t()) type = AP::TENSOR;
      else if (a.has_g()) type = AP::GRAPH;
      else if (a.floats_size()) type = AP::FLOATS;
      else if (a.ints_size()) type = AP::INTS;
      else if (a.strings_size()) type = AP::STRINGS;
    }
    Attribute r;
    switch (type) {
      case AP::FLOAT: r.kind = Attribute::Kind::Float; r.f = a.f(); break;
      case AP::INT: r.kind = Attribute::Kind::Int; r.i = a.i(); break;
      case AP::STRING: r.kind = Attribute::Kind::String; r.s = a.s(); break;
      case AP::TENSOR:
        r.kind = Attribute::Kind::Tensor;
        r.t = std::make_shared<Tensor>(convert_tensor(a.t(), where, tc));
        break;
      case AP::FLOATS: r.kind = Attribute::Kind::Floats; r.floats.assign(a.floats().begin(), a.floats().end()); break;
      case AP::INTS: r.kind = Attribute::Kind::Ints; r.ints.assign(a.ints().begin(), a.ints().end()); break;
      case AP::STRINGS: r.kind = Attribute::Kind::Strings; r.strings.assign(a.strings().begin(), a.strings().end()); break;
      case AP::GRAPH:
      case AP::GRAPHS: r.kind = Attribute::Kind::Graph; break;  // subgraphs: kept as a marker, no op uses them yet
      default:
        fail(ErrorCode::NotImplemented, model + ": " + where + " has attribute type " + std::to_string(type) + ", which normrt does not support");
    }
    return r;
  }

  // Consumes mp's initializer bytes as it goes (each one's raw_data is released once copied), so a
  // model's weights are not held twice while loading.
  Graph convert(::onnx::ModelProto& mp) {
    Graph g;
    g.model_label = model;
    g.producer = mp.producer_name();
    g.producer_version = mp.producer_version();
    g.domain = mp.domain();
    g.doc_string = mp.doc_string();
    g.model_version = mp.model_version();
    for (const auto& p : mp.metadata_props()) g.metadata_props.emplace_back(p.key(), p.value());
    for (const auto& op : mp.opset_import()) {
      const std::string d = op.domain() == "ai.onnx" ? "" : op.domain();
      if (g.opsets.count(d)) fail(ErrorCode::InvalidModel, model + ": opset for domain '" + op.domain() + "' is imported twice");
      g.opsets[d] = op.version();
    }
    if (mp.opset_import_size() == 0) g.opsets[""] = 1;  // IR version 1-2 models imply opset 1
    if (!mp.has_graph()) fail(ErrorCode::InvalidModel, model + ": the file holds no graph");
    const ::onnx::GraphProto& gp = mp.graph();
    g.name = gp.name();

    for (int i = 0; i < gp.initializer_size(); ++i) {
      const auto& init = gp.initializer(i);
      Value v;
      v.name = init.name();
      if (v.name.empty()) fail(ErrorCode::InvalidModel, model + ": an initializer has no name");
      auto t = std::make_shared<Tensor>(convert_tensor(init, "initializer '" + v.name + "'", tc));
      std::string().swap(*mp.mutable_graph()->mutable_initializer(i)->mutable_raw_data());
      v.dtype = t->dtype();
      v.shape = to_sym_shape(t->shape());
      v.constant = std::move(t);
      g.add_value(std::move(v));
    }
    if (gp.sparse_initializer_size())
      fail(ErrorCode::NotImplemented, model + ": sparse initializers are not supported");
    for (const auto& in : gp.input()) {
      // Inputs that name an initializer are defaults the caller could override; normrt treats
      // them as constants so they can be folded and packed.
      if (g.find_value(in.name()) >= 0) continue;
      ValueType vt = value_type_of(in, model, "graph input");
      Value v;
      v.name = in.name();
      v.dtype = vt.dtype;
      v.shape = vt.shape;
      g.inputs.push_back(g.add_value(std::move(v)));
    }
    // Node outputs first, so inputs can refer to them whatever the file's node order.
    g.nodes.resize(gp.node_size());
    for (int i = 0; i < gp.node_size(); ++i) {
      const auto& np = gp.node(i);
      Node& n = g.nodes[i];
      n.name = np.name().empty() ? np.op_type() + "_" + std::to_string(i) : np.name();
      n.op_type = np.op_type();
      n.domain = np.domain() == "ai.onnx" ? "" : np.domain();
      for (const auto& out : np.output()) {
        if (out.empty()) {
          n.outputs.push_back(-1);
          continue;
        }
        if (g.find_value(out) >= 0)
          fail(ErrorCode::InvalidModel, model + ": " + n.label() + " output '" + out + "' is already defined by another node, input or initializer");
        Value v;
        v.name = out;
        v.producer = i;
        n.outputs.push_back(g.add_value(std::move(v)));
      }
    }
    for (int i = 0; i < gp.node_size(); ++i) {
      const auto& np = gp.node(i);
      Node& n = g.nodes[i];
      for (const auto& in : np.input()) {
        if (in.empty()) {
          n.inputs.push_back(-1);
          continue;
        }
        int id = g.find_value(in);
        if (id < 0) fail(ErrorCode::InvalidModel, model + ": " + n.label() + " input '" + in + "' is not produced by any node, input or initializer");
        n.inputs.push_back(id);
      }
      for (const auto& a : np.attribute()) {
        if (n.attributes.count(a.name()))
          fail(ErrorCode::InvalidModel, model + ": " + n.label() + " has attribute '" + a.name() + "' twice");
        n.attributes[a.name()] = convert_attribute(a, n);
      }
    }
    for (const auto& out : gp.output()) {
      int id = g.find_value(out.name());
      if (id < 0) fail(ErrorCode::InvalidModel, model + ": graph output '" + out.name() + "' is not produced by any node, input or initializer");
      ValueType vt = value_type_of(out, model, "graph output");
      Value& v = g.values[id];
      if (v.dtype == DType::Undefined) v.dtype = vt.dtype;
      if (!v.shape) v.shape = vt.shape;
      g.outputs.push_back(id);
    }
    return g;
  }

  static SymShape to_sym_shape(const Shape& s) {
    SymShape r;
    for (int64_t d : s) r.push_back(Dim::of(d));
    return r;
  }
};

ValueType value_type_of(const ::onnx::ValueInfoProto& vi, const std::string& model, const char* role) {
  const std::string where = model + ": " + role + " '" + vi.name() + "'";
  ValueType vt;
  if (!vi.has_type()) return vt;  // outputs may leave their type to inference
  const auto& type = vi.type();
  if (!type.has_tensor_type())
    fail(ErrorCode::NotImplemented, where + " is not a tensor (sequence, map and optional values are not supported)");
  const auto& tt = type.tensor_type();
  vt.dtype = static_cast<DType>(tt.elem_type());
  if (!dtype_supported(vt.dtype))
    fail(ErrorCode::NotImplemented, where + " has element type " + dtype_name(vt.dtype) + ", which normrt does not support");
  if (tt.has_shape()) {
    SymShape s;
    for (const auto& d : tt.shape().dim()) {
      if (d.has_dim_value()) {
        if (d.dim_value() < 0) fail(ErrorCode::InvalidModel, where + " has a negative dimension");
        s.push_back(Dim::of(d.dim_value()));
      } else {
        s.push_back(Dim::named(d.dim_param()));
      }
    }
    vt.shape = s;
  }
  return vt;
}

}  // namespace

Graph load_model_buffer(const void* data, size_t size, const LoadOptions& options, const std::string& label) {
  if (data == nullptr && size != 0) fail(ErrorCode::InvalidArgument, label + ": model buffer is null");
  if (size == 0) fail(ErrorCode::InvalidModel, label + ": the model is empty (0 bytes)");
  if (size > kMaxProtoBytes) fail(ErrorCode::InvalidModel, label + ": the model is larger than 2 GiB");
  ::onnx::ModelProto mp;
  if (!mp.ParseFromArray(data, static_cast<int>(size)))
    fail(ErrorCode::InvalidModel, label + ": not a valid ONNX model (protobuf parse failed: truncated or corrupt)");
  Loader loader{label, options};
  return loader.convert(mp);
}

Graph load_model_file(const std::string& path, LoadOptions options) {
  // Parsed straight from the file (not read into memory first), so the peak while loading is the
  // parsed message plus the tensors, not the file's bytes on top.
  std::error_code ec;
  if (fs::is_directory(path, ec)) fail(ErrorCode::IoError, "model '" + path + "' is a directory");
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(ErrorCode::IoError, "cannot open model '" + path + "'");
  f.seekg(0, std::ios::end);
  const std::streamoff size = f.tellg();
  if (size < 0) fail(ErrorCode::IoError, "cannot read model '" + path + "'");
  if (size == 0) fail(ErrorCode::InvalidModel, path + ": the model is empty (0 bytes)");
  if (static_cast<size_t>(size) > kMaxProtoBytes)
    fail(ErrorCode::InvalidModel, "model '" + path + "' is larger than 2 GiB; store big tensors as external data");
  f.seekg(0);
  ::onnx::ModelProto mp;
  if (!mp.ParseFromIstream(&f))
    fail(ErrorCode::InvalidModel, path + ": not a valid ONNX model (protobuf parse failed: truncated or corrupt)");
  if (options.external_data_dir.empty()) {
    fs::path dir = fs::path(path).parent_path();
    options.external_data_dir = dir.empty() ? "." : dir.string();
  }
  Loader loader{path, options};
  return loader.convert(mp);
}

Tensor parse_tensor(const void* data, size_t size, const std::string& label, std::string* name) {
  ::onnx::TensorProto tp;
  if (size > kMaxProtoBytes || !tp.ParseFromArray(data, static_cast<int>(size)))
    fail(ErrorCode::InvalidArgument, label + ": not a valid serialized TensorProto");
  if (name) *name = tp.name();
  LoadOptions options;
  TensorContext tc{label, options};
  return convert_tensor(tp, "tensor '" + tp.name() + "'", tc);
}

Tensor load_tensor_file(const std::string& path, std::string* name) {
  const std::string bytes = read_file(path, "tensor file");
  return parse_tensor(bytes.data(), bytes.size(), path, name);
}

void save_tensor_file(const Tensor& t, const std::string& name, const std::string& path) {
  ::onnx::TensorProto tp;
  tp.set_name(name);
  tp.set_data_type(static_cast<int>(t.dtype()));
  for (int64_t d : t.shape()) tp.add_dims(d);
  tp.set_raw_data(t.raw(), t.byte_size());
  std::string bytes;
  if (!tp.SerializeToString(&bytes)) fail(ErrorCode::InvalidArgument, "tensor '" + name + "' cannot be serialized");
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) fail(ErrorCode::IoError, "cannot write tensor file '" + path + "'");
}

}  // namespace normrt::onnx
