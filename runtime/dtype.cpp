#include "runtime/dtype.h"

namespace normrt {

namespace {
struct DTypeInfo {
  DType type;
  const char* name;
  size_t size;
};
constexpr DTypeInfo kTypes[] = {
    {DType::Float32, "float", 4},   {DType::UInt8, "uint8", 1},     {DType::Int8, "int8", 1},
    {DType::UInt16, "uint16", 2},   {DType::Int16, "int16", 2},     {DType::Int32, "int32", 4},
    {DType::Int64, "int64", 8},     {DType::Bool, "bool", 1},       {DType::Float16, "float16", 2},
    {DType::Float64, "double", 8},  {DType::UInt32, "uint32", 4},   {DType::UInt64, "uint64", 8},
    {DType::BFloat16, "bfloat16", 2},
};
}  // namespace

size_t dtype_size(DType t) {
  for (const auto& i : kTypes)
    if (i.type == t) return i.size;
  return 0;
}

bool dtype_supported(DType t) { return dtype_size(t) != 0; }

std::string dtype_name(DType t) {
  for (const auto& i : kTypes)
    if (i.type == t) return i.name;
  if (t == DType::String) return "string";
  return "type(" + std::to_string(static_cast<int>(t)) + ")";
}

}  // namespace normrt
