#!/usr/bin/env bash
# Checks the layering rules of DEVELOPERS.md:
#  - protobuf types (and onnx.pb.h) appear only under onnx/;
#  - kernels/ includes neither TBB nor anything of runtime/ or onnx/.
set -u
root=$1
cd "$root" || exit 2
bad=0
hits=$(grep -rnE 'onnx\.pb\.h|google/protobuf|(^|[^A-Za-z0-9_])::onnx::|TensorProto\b|ModelProto\b' \
         --include='*.h' --include='*.cpp' --include='*.c' --include='*.hpp' \
         kernels runtime include cli perf examples tests 2>/dev/null \
       | grep -v '^tests/check_layout.sh' | grep -vE '^[^:]+:[0-9]+: *(//|\*|/\*)' || true)
# Comments may mention TensorProto by name; code may not use the types.
if [ -n "$hits" ]; then echo "protobuf outside onnx/:"; echo "$hits"; bad=1; fi
hits=$(grep -rnE '#include *[<"](tbb/|oneapi/|runtime/|onnx/)' kernels || true)
if [ -n "$hits" ]; then echo "kernels/ includes TBB, runtime/ or onnx/:"; echo "$hits"; bad=1; fi
if [ "$bad" -eq 0 ]; then echo "layout: 2 passed, 0 failed"; else echo "layout: failed"; fi
exit $bad
