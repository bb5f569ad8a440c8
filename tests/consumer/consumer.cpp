// The same through the header-only C++ wrapper.
#include <normrt/normrt.hpp>

#include <cstdio>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  try {
    normrt::Session s(argv[1]);
    std::vector<float> x{5, 5, 0, 0, 0, 0, 0, 0};
    auto y = s.run({{"X", normrt::Tensor::borrow(x.data(), {1, 8})}});
    std::printf("normrt %s y0=%.6f\n", normrt::version().c_str(), y[0].data<float>()[0]);
  } catch (const normrt::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
