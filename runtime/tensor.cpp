#include "runtime/tensor.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <vector>

#include "kernels/half.h"
#include "runtime/error.h"

namespace normrt {

int64_t checked_numel(const Shape& shape, const std::string& what) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) fail(ErrorCode::InvalidArgument, what + ": negative dimension in shape " + shape_to_string(shape));
    if (__builtin_mul_overflow(n, d, &n))
      fail(ErrorCode::InvalidArgument, what + ": element count of shape " + shape_to_string(shape) + " overflows int64");
  }
  return n;
}

size_t checked_bytes(DType t, int64_t numel, const std::string& what, size_t max_bytes) {
  size_t esize = dtype_size(t);
  if (esize == 0) fail(ErrorCode::NotImplemented, what + ": element type " + dtype_name(t) + " is not supported");
  size_t bytes;
  if (numel < 0 || __builtin_mul_overflow(static_cast<size_t>(numel), esize, &bytes))
    fail(ErrorCode::InvalidArgument, what + ": byte size overflows");
  if (bytes > max_bytes)
    fail(ErrorCode::OutOfMemory, what + ": needs " + std::to_string(bytes) + " bytes, above the limit of " +
                                     std::to_string(max_bytes));
  return bytes;
}

std::string shape_to_string(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

namespace {

// Large blocks freed by tensors are kept for reuse: a fresh block costs a page fault per 4 KiB on
// first touch, which for a normalization or a copy is slower than the work itself. Blocks are
// reused only for requests of the same rounded size, and the cache holds at most kBlockCacheBytes,
// so it cannot grow without bound. From 64 KiB: below 1 MiB, glibc's heap gave blocks back on
// every free (the top of the heap trimmed once 1.2 MB was free there, two 605 KB outputs of a
// SkipLayerNormalization [1,197,768]) and faulted them in again on the next run: 1.5 brk calls
// per run, and page faults were most of the op's time (median 0.50-0.76 ms against 0.10 ms
// minimum).
class BlockCache {
 public:
  static constexpr size_t kMinBytes = size_t(64) << 10;  // smaller blocks go straight to malloc
  static constexpr size_t kBlockCacheBytes = size_t(256) << 20;

  // Whole pages below 1 MiB, 64 KiB granules above: at most 1/16 of a block is rounding.
  static size_t round(size_t bytes) {
    const size_t granule = bytes < (size_t(1) << 20) ? size_t(4) << 10 : size_t(64) << 10;
    return (bytes + granule - 1) / granule * granule;
  }

  void* take(size_t rounded) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (size_t i = 0; i < blocks_.size(); ++i)
      if (blocks_[i].bytes == rounded) {
        void* p = blocks_[i].ptr;
        cached_ -= rounded;
        blocks_.erase(blocks_.begin() + static_cast<std::ptrdiff_t>(i));
        return p;
      }
    return nullptr;
  }

  void give(void* p, size_t rounded) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      // Oldest blocks make room for the newest.
      while (!blocks_.empty() && cached_ + rounded > kBlockCacheBytes) {
        std::free(blocks_.front().ptr);
        cached_ -= blocks_.front().bytes;
        blocks_.erase(blocks_.begin());
      }
      if (rounded <= kBlockCacheBytes) {
        blocks_.push_back({p, rounded});
        cached_ += rounded;
        return;
      }
    }
    std::free(p);
  }

  void clear() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& b : blocks_) std::free(b.ptr);
    blocks_.clear();
    cached_ = 0;
  }

  ~BlockCache() {
    for (auto& b : blocks_) std::free(b.ptr);
  }

 private:
  struct Block {
    void* ptr;
    size_t bytes;
  };
  std::mutex mutex_;
  std::vector<Block> blocks_;
  size_t cached_ = 0;
};

BlockCache& block_cache() {
  static BlockCache* cache = new BlockCache();  // never destroyed: tensors may outlive static destruction
  return *cache;
}

}  // namespace

void release_cached_blocks() { block_cache().clear(); }

void trim_heap() {
#ifdef __GLIBC__
  malloc_trim(0);  // freed chunks inside the heap go back too, not just its top
#endif
}

std::shared_ptr<void> allocate_aligned(size_t bytes) {
  // Round up so aligned_alloc's size requirement holds; never ask for 0 bytes.
  size_t rounded = (bytes + kTensorAlignment - 1) / kTensorAlignment * kTensorAlignment;
  if (rounded == 0) rounded = kTensorAlignment;
  if (rounded >= BlockCache::kMinBytes) {
    rounded = BlockCache::round(rounded);
    void* p = block_cache().take(rounded);
    if (!p) p = std::aligned_alloc(kTensorAlignment, rounded);
    if (!p) fail(ErrorCode::OutOfMemory, "allocation of " + std::to_string(bytes) + " bytes failed");
    return std::shared_ptr<void>(p, [rounded](void* q) { block_cache().give(q, rounded); });
  }
  void* p = std::aligned_alloc(kTensorAlignment, rounded);
  if (!p) fail(ErrorCode::OutOfMemory, "allocation of " + std::to_string(bytes) + " bytes failed");
  return std::shared_ptr<void>(p, [](void* q) { std::free(q); });
}

Tensor Tensor::allocate(DType t, Shape shape, const std::string& what) {
  Tensor r;
  r.dtype_ = t;
  r.numel_ = checked_numel(shape, what);
  size_t bytes = checked_bytes(t, r.numel_, what);
  r.shape_ = std::move(shape);
  r.storage_ = allocate_aligned(bytes);
  r.data_ = r.storage_.get();
  std::memset(r.data_, 0, bytes);
  return r;
}

Tensor Tensor::borrow(DType t, Shape shape, void* data) { return view(t, std::move(shape), nullptr, data); }

Tensor Tensor::view(DType t, Shape shape, std::shared_ptr<void> storage, void* data) {
  Tensor r;
  r.dtype_ = t;
  r.numel_ = checked_numel(shape, "tensor");
  r.shape_ = std::move(shape);
  r.storage_ = std::move(storage);
  r.data_ = data;
  return r;
}

Tensor Tensor::reshaped(Shape shape) const {
  Tensor r = *this;
  if (checked_numel(shape, "reshape") != numel_)
    fail(ErrorCode::InvalidArgument,
         "cannot view shape " + shape_to_string(shape_) + " as " + shape_to_string(shape));
  r.shape_ = std::move(shape);
  return r;
}

Tensor Tensor::clone() const {
  Tensor r = allocate(dtype_, shape_);
  if (byte_size()) std::memcpy(r.data_, data_, byte_size());
  return r;
}

int64_t Tensor::int_at(int64_t i) const {
  switch (dtype_) {
    case DType::Int64: return data<int64_t>()[i];
    case DType::Int32: return data<int32_t>()[i];
    case DType::Int16: return data<int16_t>()[i];
    case DType::Int8: return data<int8_t>()[i];
    case DType::UInt8: return data<uint8_t>()[i];
    case DType::UInt16: return data<uint16_t>()[i];
    case DType::UInt32: return data<uint32_t>()[i];
    case DType::UInt64: return static_cast<int64_t>(data<uint64_t>()[i]);
    case DType::Bool: return data<uint8_t>()[i] != 0;
    default: {
      // A float read as an integer (a shape-like input given as float): NaN, infinities and
      // values past int64 have no integer, and converting them is undefined behaviour.
      const double v = double_at(i);
      if (!(std::fabs(v) < 9.2e18))
        fail(ErrorCode::InvalidArgument,
             "value " + std::to_string(v) + " of a " + dtype_name(dtype_) + " tensor is not an integer in range");
      return static_cast<int64_t>(v);
    }
  }
}

double Tensor::double_at(int64_t i) const {
  switch (dtype_) {
    case DType::Float32: return data<float>()[i];
    case DType::Float64: return data<double>()[i];
    case DType::Float16: return kernels::half_to_float(data<uint16_t>()[i]);
    case DType::BFloat16: return kernels::bfloat16_to_float(data<uint16_t>()[i]);
    case DType::UInt64: return static_cast<double>(data<uint64_t>()[i]);
    default: return static_cast<double>(int_at(i));
  }
}

}  // namespace normrt
