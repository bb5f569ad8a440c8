// A tensor is an element type, a concrete shape and a pointer into storage that it may share with
// other tensors (views, planned buffers, caller memory). Owned storage is 64-byte aligned.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "runtime/dtype.h"

namespace normrt {

using Shape = std::vector<int64_t>;

constexpr size_t kTensorAlignment = 64;

// Number of elements of `shape`; throws InvalidArgument naming `what` if a dim is negative or the
// product overflows int64.
int64_t checked_numel(const Shape& shape, const std::string& what);
// Bytes for `numel` elements of `t`; throws on overflow or if larger than `max_bytes`.
size_t checked_bytes(DType t, int64_t numel, const std::string& what,
                     size_t max_bytes = SIZE_MAX);
std::string shape_to_string(const Shape& shape);

// 64-byte aligned heap block; shared so that views keep it alive.
std::shared_ptr<void> allocate_aligned(size_t bytes);
// Gives the large blocks kept for reuse back to the system allocator (after a session drops
// weights it no longer needs, so the next allocations can use them).
void release_cached_blocks();
// Returns the system allocator's free pages to the system, inside its heap too (glibc malloc_trim).
// It walks the heap: once after a batch of frees, not per free.
void trim_heap();

class Tensor {
 public:
  Tensor() = default;
  // Owned, zero-filled storage.
  static Tensor allocate(DType t, Shape shape, const std::string& what = "tensor");
  // Caller memory, not owned; it must outlive every use of the tensor.
  static Tensor borrow(DType t, Shape shape, void* data);
  // A view of `storage` (kept alive) at `data`.
  static Tensor view(DType t, Shape shape, std::shared_ptr<void> storage, void* data);

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  size_t rank() const { return shape_.size(); }
  int64_t numel() const { return numel_; }
  size_t byte_size() const { return static_cast<size_t>(numel_) * dtype_size(dtype_); }

  void* raw() { return data_; }
  const void* raw() const { return data_; }
  template <class T> T* data() { return static_cast<T*>(data_); }
  template <class T> const T* data() const { return static_cast<const T*>(data_); }
  template <class T> std::span<const T> span() const { return {data<T>(), static_cast<size_t>(numel_)}; }

  // Same storage, another shape with the same element count.
  Tensor reshaped(Shape shape) const;
  // A deep copy into owned storage.
  Tensor clone() const;
  // The same type and shape with no data: what inference still needs of a weight whose bytes are
  // gone (packed, or split into parts).
  Tensor without_data() const { return borrow(dtype_, shape_, nullptr); }
  const std::shared_ptr<void>& storage() const { return storage_; }

  // Reads element i of any numeric type as int64 / double (for shape tensors, test comparisons).
  int64_t int_at(int64_t i) const;
  double double_at(int64_t i) const;

 private:
  DType dtype_ = DType::Undefined;
  Shape shape_;
  int64_t numel_ = 0;
  std::shared_ptr<void> storage_;
  void* data_ = nullptr;
};

}  // namespace normrt
