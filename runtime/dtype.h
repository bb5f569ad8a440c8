// Element types. The numbering is ONNX's TensorProto.DataType so that the loader, the C API
// (normrt_type) and the runtime agree without translation tables.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace normrt {

enum class DType : int {
  Undefined = 0,
  Float32 = 1,
  UInt8 = 2,
  Int8 = 3,
  UInt16 = 4,
  Int16 = 5,
  Int32 = 6,
  Int64 = 7,
  String = 8,  // recognised so errors can name it; tensors of strings are not supported
  Bool = 9,
  Float16 = 10,
  Float64 = 11,
  UInt32 = 12,
  UInt64 = 13,
  BFloat16 = 16,
};

// Size in bytes of one element; 0 for types normrt cannot hold in a tensor.
size_t dtype_size(DType t);
// ONNX spelling ("float", "int64", "float16"...), or "type(N)" for an unknown code.
std::string dtype_name(DType t);
// True for the types a normrt tensor can hold.
bool dtype_supported(DType t);

}  // namespace normrt
