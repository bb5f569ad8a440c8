// The tiled attention kernel on every ISA path against the float64 reference: odd sizes, strided
// (interleaved-head) layouts, scale, softcap, short and broadcast biases, causal offsets, padded
// keys, fully masked rows, NaN, and the scores output at each stage.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <memory>
#include <random>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/attention.h"

using namespace normrt::kernels;

namespace {

std::vector<Isa> isas() { return normrt::test::available_isas(); }

struct Data {
  std::vector<float> q, k, v, y, bias, scores;
};

std::vector<float> random_vector(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, scale);
  std::vector<float> x(n);
  for (auto& v : x) v = nd(rng);
  return x;
}

// A head whose rows sit `pad` floats apart beyond their width, as in a [B, S, H * d] layout.
AttentionHead make_head(Data& d, int64_t q_len, int64_t kv_len, int64_t dk, int64_t dv, int64_t pad, uint32_t seed) {
  AttentionHead h;
  h.q_len = q_len, h.kv_len = kv_len, h.dk = dk, h.dv = dv;
  h.q_stride = dk + pad, h.k_stride = dk + pad, h.v_stride = dv + pad, h.y_stride = dv + pad;
  d.q = random_vector(q_len * h.q_stride, seed);
  d.k = random_vector(kv_len * h.k_stride, seed + 1);
  d.v = random_vector(kv_len * h.v_stride, seed + 2);
  d.y.assign(q_len * h.y_stride, -7.0f);
  h.q = d.q.data(), h.k = d.k.data(), h.v = d.v.data(), h.y = d.y.data();
  h.scale = 1.0f / std::sqrt(float(dk));
  return h;
}

// packed: K and V packed once for the GEMM (the path the ops take for longer query sequences);
// prescaled: the packed K already multiplied by the scale, as the ops do.
void run(Isa isa, const AttentionHead& h, bool packed = false, bool prescaled = true) {
  AttentionScratch scratch;
  const GemmPrimitives& g = gemm_primitives(isa);
  if (!packed || h.dk == 0 || h.dv == 0) {
    attention_rows(g, attention_primitives(isa), h, 0, h.q_len, scratch);
    return;
  }
  const size_t k_floats = attention_keys_floats(g, h.kv_len, h.dk);
  std::unique_ptr<float, void (*)(void*)> k_store(static_cast<float*>(std::aligned_alloc(64, (k_floats * 4 + 63) / 64 * 64)), std::free);
  const PackedB kp = pack_attention_keys(g, h.k, h.k_stride, h.kv_len, h.dk, k_store.get());
  const PackedB vp = pack_attention_values(g, h.v, h.v_stride, h.kv_len, h.dv);
  AttentionHead hp = h;
  hp.k_packed = &kp, hp.v_packed = &vp;
  if (prescaled) {
    attention_primitives(isa).scale(k_store.get(), static_cast<int64_t>(k_floats), h.scale);
    hp.k_packed_scaled = true;
  }
  attention_rows(g, attention_primitives(isa), hp, 0, h.q_len, scratch);
}

// Max abs difference against the reference; padding between rows must be untouched.
double check_against_reference(const AttentionHead& h, const Data& d) {
  std::vector<double> ref;
  attention_reference(h, ref);
  double err = 0;
  for (int64_t i = 0; i < h.q_len; ++i) {
    for (int64_t c = 0; c < h.dv; ++c) err = std::max(err, std::fabs(double(d.y[i * h.y_stride + c]) - ref[i * h.dv + c]));
    for (int64_t c = h.dv; c < h.y_stride; ++c) REQUIRE(d.y[i * h.y_stride + c] == -7.0f);
  }
  return err;
}

}  // namespace

TEST_CASE("attention kernel: odd sizes and strided heads match float64 on every ISA") {
  struct Size {
    int64_t q, kv, dk, dv, pad;
  };
  const Size sizes[] = {{1, 1, 1, 1, 0},     {1, 7, 8, 8, 0},       {4, 6, 8, 10, 16},   {7, 17, 17, 7, 3},
                        {65, 300, 64, 64, 0}, {1, 513, 64, 64, 128}, {130, 257, 33, 65, 5}, {255, 1000, 64, 64, 0},
                        {70, 600, 300, 20, 0},  // dk deeper than one GEMM depth block
                        // Empty heads: no values (y is null, the memcpy there was UB), no key
                        // depth (every score 0: the mean of V), no keys (every row fully masked).
                        {3, 5, 8, 0, 0},     {70, 9, 8, 0, 0},     {5, 6, 0, 4, 0},     {3, 0, 8, 4, 0}};
  for (Isa isa : isas())
    for (int path : {0, 1, 2})  // K and V read in place; packed; packed with the scale folded into K
      for (const Size& s : sizes) {
        INFO("isa " << std::string(isa_name(isa)) << " path " << path << " q " << s.q << " kv " << s.kv << " dk " << s.dk << " dv "
                    << s.dv << " pad " << s.pad);
        Data d;
        AttentionHead h = make_head(d, s.q, s.kv, s.dk, s.dv, s.pad, 11);
        run(isa, h, path > 0, path == 2);
        CHECK(check_against_reference(h, d) < 2e-5);
      }
}

namespace {

// The transposed loop of a plain head, as the op runs it: K and V packed for it once, the queries
// in blocks of kAttnQueryBlock (or of `block`). Returns how many blocks it took (the rest went to
// the general loop).
// h with K and V packed for the transposed loop into `kt` and `vt`, as the op packs them.
AttentionHead with_transposed_panels(const AttentionHead& h, std::vector<float>& kt, std::vector<float>& vt) {
  kt.resize(attention_keys_t_floats(h.kv_len, h.dk)), vt.resize(attention_values_t_floats(h.kv_len, h.dv));
  pack_attention_keys_t(h.k, h.k_stride, h.kv_len, h.dk, h.scale, kt.data());
  pack_attention_values_t(h.v, h.v_stride, h.kv_len, h.dv, vt.data());
  AttentionHead ht = h;
  ht.kt_panels = kt.data(), ht.vt_panels = vt.data();
  return ht;
}

int64_t run_transposed(Isa isa, const AttentionHead& h, int64_t block = kAttnQueryBlock) {
  std::vector<float> kt, vt;
  const AttentionHead ht = with_transposed_panels(h, kt, vt);
  const AttentionPrimitives& prim = attention_primitives(isa);
  AttentionScratch scratch;
  int64_t taken = 0;
  for (int64_t q0 = 0; q0 < h.q_len; q0 += block) {
    const int64_t q1 = std::min(h.q_len, q0 + block);
    if (prim.rows_transposed && prim.rows_transposed(ht, q0, q1, scratch)) ++taken;
    else attention_rows(gemm_primitives(isa), prim, ht, q0, q1, scratch);
  }
  return taken;
}

}  // namespace

TEST_CASE("attention kernel: the transposed loop of a plain head matches float64 on every ISA") {
  struct Size {
    int64_t q, kv, dk, dv, pad, block;
  };
  // Head sizes of 40 and 80 (Stable Diffusion's), 64, and odd ones; keys past a panel of 4 and past
  // a key block; query blocks shorter than a chunk, a whole chunk and ragged ones.
  const Size sizes[] = {{1, 1, 1, 1, 0, 96},      {5, 3, 7, 5, 0, 96},       {17, 130, 40, 40, 0, 96}, {100, 257, 13, 9, 3, 96},
                        {96, 128, 64, 64, 0, 96},  {200, 300, 40, 80, 8, 96}, {33, 1000, 3, 41, 0, 96}, {150, 129, 40, 40, 0, 50},
                        {64, 4, 2, 3, 1, 7}};
  for (Isa isa : isas()) {
    const bool has_loop = attention_primitives(isa).rows_transposed != nullptr;
    for (const Size& s : sizes) {
      INFO("isa " << std::string(isa_name(isa)) << " q " << s.q << " kv " << s.kv << " dk " << s.dk << " dv " << s.dv << " pad " << s.pad
                  << " block " << s.block);
      Data d;
      AttentionHead h = make_head(d, s.q, s.kv, s.dk, s.dv, s.pad, 17);
      CHECK(attention_is_plain(h));
      const int64_t blocks = (s.q + s.block - 1) / s.block;
      CHECK(run_transposed(isa, h, s.block) == (has_loop ? blocks : 0));
      CHECK(check_against_reference(h, d) < 2e-5);
    }
  }
}

TEST_CASE("attention kernel: non-finite inputs in a plain head give exactly the general loop's result") {
  const int64_t q = 40, kv = 70, dk = 12, dv = 40;
  const float inf = std::numeric_limits<float>::infinity();
  struct Poison {
    const char* what;
    char tensor;
    int64_t row, col;
    float value;
    bool transposed_gives_back;  // the transposed loop must hand the block to the general loop
  };
  const Poison cases[] = {{"NaN query", 'q', 7, 3, NAN, true},  {"NaN key", 'k', 69, 0, NAN, true}, {"+inf key", 'k', 5, 11, inf, true},
                          {"-inf query", 'q', 0, 2, -inf, true}, {"NaN value", 'v', 3, 39, NAN, false}, {"+inf value", 'v', 0, 0, inf, false}};
  for (Isa isa : isas())
    for (const Poison& c : cases) {
      INFO("isa " << std::string(isa_name(isa)) << " " << std::string(c.what));
      Data d;
      AttentionHead h = make_head(d, q, kv, dk, dv, 0, 23);
      std::vector<float>& t = c.tensor == 'q' ? d.q : c.tensor == 'k' ? d.k : d.v;
      t[c.row * (c.tensor == 'v' ? h.v_stride : h.k_stride) + c.col] = c.value;
      attention_rows(gemm_primitives(isa), attention_primitives(isa), h, 0, q, *std::make_unique<AttentionScratch>());
      const std::vector<float> general = d.y;
      std::fill(d.y.begin(), d.y.end(), -7.0f);
      const int64_t taken = run_transposed(isa, h, q);
      if (attention_primitives(isa).rows_transposed) CHECK(taken == (c.transposed_gives_back ? 0 : 1));
      int64_t non_finite = 0;
      for (size_t i = 0; i < general.size(); ++i) {
        non_finite += !std::isfinite(general[i]);
        if (std::isnan(general[i])) CHECK(std::isnan(d.y[i]));
        else if (std::isinf(general[i])) CHECK(d.y[i] == general[i]);
        else CHECK(d.y[i] == doctest::Approx(general[i]).epsilon(1e-5));
      }
      CHECK(non_finite > 0);  // each poison reaches the output
    }
}

TEST_CASE("attention kernel: scale, softcap, biases, causal offsets and padded keys") {
  const int64_t q = 70, kv = 300, dk = 16, dv = 12;
  for (Isa isa : isas()) {
    INFO("isa " << std::string(isa_name(isa)));
    Data d;
    AttentionHead base = make_head(d, q, kv, dk, dv, 0, 21);
    d.bias = random_vector(q * kv, 5, 2.0f);
    for (size_t i = 0; i < d.bias.size(); i += 7) d.bias[i] = -std::numeric_limits<float>::infinity();
    // A Where mask: 0 keeps the score, the fill (-inf or float's lowest) replaces it.
    static std::vector<float> where_fill;
    where_fill.assign(q * kv, 0.0f);
    for (size_t i = 0; i < where_fill.size(); ++i)
      if (i % 5 == 1) where_fill[i] = i % 3 ? -3.4e38f : -std::numeric_limits<float>::infinity();
    struct Variant {
      const char* name;
      void (*apply)(AttentionHead&, Data&);
      // Scores shifted by -10000 keep only ~1e-3 of their precision in float32 (as in ONNX Runtime).
      double tolerance = 2e-5;
    };
    const Variant variants[] = {
        {"scale 0.01", [](AttentionHead& h, Data&) { h.scale = 0.01f; }},
        {"softcap 2", [](AttentionHead& h, Data&) { h.softcap = 2.0f; h.scale = 1.0f; }},
        {"full bias", [](AttentionHead& h, Data& d) { h.bias = d.bias.data(), h.bias_stride = h.kv_len, h.bias_cols = h.kv_len; }},
        {"short bias (padded with -inf)", [](AttentionHead& h, Data& d) { h.bias = d.bias.data(), h.bias_stride = h.kv_len, h.bias_cols = 200; }},
        {"one bias row for all queries", [](AttentionHead& h, Data& d) { h.bias = d.bias.data(), h.bias_stride = 0, h.bias_cols = h.kv_len; }},
        {"causal", [](AttentionHead& h, Data&) { h.causal = true; }},
        {"causal after a past of 230", [](AttentionHead& h, Data&) { h.causal = true, h.causal_offset = 230; }},
        {"causal, negative offset (early rows see nothing)", [](AttentionHead& h, Data&) { h.causal = true, h.causal_offset = -20; }},
        {"padded keys", [](AttentionHead& h, Data&) { h.kv_valid = 129; }},
        {"ONNX Runtime's finite mask fill: causal + padded", [](AttentionHead& h, Data&) {
           h.mask_fill = -10000.0f, h.causal = true, h.causal_offset = 5, h.kv_valid = 100;
         }},
        {"finite mask fill, every key padded (softmax over all, as ONNX Runtime)", [](AttentionHead& h, Data&) {
           h.mask_fill = -10000.0f, h.kv_valid = 0;
         }, 2e-3},
        {"Where mask: the fill replaces masked scores", [](AttentionHead& h, Data&) {
           h.bias = where_fill.data(), h.bias_stride = h.kv_len, h.bias_cols = h.kv_len, h.bias_replaces = true;
         }},
        {"causal + padded + bias + softcap", [](AttentionHead& h, Data& d) {
           h.causal = true, h.causal_offset = 100, h.kv_valid = 260, h.softcap = 3.0f;
           h.bias = d.bias.data(), h.bias_stride = h.kv_len, h.bias_cols = h.kv_len;
         }},
    };
    for (bool packed : {false, true})
      for (const Variant& v : variants) {
        INFO(std::string(v.name) << (packed ? " (packed K/V)" : ""));
        AttentionHead h = base;
        v.apply(h, d);
        std::fill(d.y.begin(), d.y.end(), -7.0f);
        run(isa, h, packed);
        CHECK(check_against_reference(h, d) < v.tolerance);
      }
  }
}

TEST_CASE("attention kernel: fully masked rows give zeros; NaN stays in its row") {
  const int64_t q = 5, kv = 9, dk = 8, dv = 8;
  for (Isa isa : isas()) {
    INFO("isa " << std::string(isa_name(isa)));
    Data d;
    AttentionHead h = make_head(d, q, kv, dk, dv, 0, 31);
    d.bias.assign(q * kv, 0.0f);
    for (int64_t j = 0; j < kv; ++j) d.bias[2 * kv + j] = -std::numeric_limits<float>::infinity();  // row 2 sees nothing
    h.bias = d.bias.data(), h.bias_stride = kv, h.bias_cols = kv;
    d.q[4 * dk + 3] = NAN;  // row 4 has a NaN query
    run(isa, h, true);
    for (int64_t i = 0; i < q; ++i)
      for (int64_t c = 0; c < dv; ++c) {
        const float y = d.y[i * dv + c];
        if (i == 2) CHECK(y == 0.0f);
        else if (i == 4) CHECK(std::isnan(y));
        else CHECK(std::isfinite(y));
      }
    // Every key padded away: all zeros, no NaN.
    h.bias = nullptr;
    h.kv_valid = 0;
    run(isa, h);
    for (int64_t i = 0; i < q * dv; ++i) CHECK(d.y[i] == 0.0f);
  }
}

TEST_CASE("is_causal_mask: exactly the causal pattern aligned to the last key, either polarity") {
  for (const auto& size : {std::pair<int64_t, int64_t>{1, 1}, {5, 5}, {3, 8}, {64, 300}}) {
    const int64_t q = size.first, kv = size.second;  // not a structured binding: clang 14 cannot capture one in INFO
    INFO("q " << q << " kv " << kv);
    for (bool keep : {true, false}) {
      std::unique_ptr<bool[]> m(new bool[q * kv]);
      for (int64_t i = 0; i < q; ++i)
        for (int64_t j = 0; j < kv; ++j) m[i * kv + j] = (j <= i + kv - q) == keep;
      CHECK(is_causal_mask(m.get(), keep, q, kv));
      CHECK_FALSE(is_causal_mask(m.get(), !keep, q, kv));
      for (int64_t at : {int64_t(0), q * kv / 2, q * kv - 1}) {  // any single flip breaks it
        m[at] = !m[at];
        CHECK_FALSE(is_causal_mask(m.get(), keep, q, kv));
        m[at] = !m[at];
      }
    }
  }
}

TEST_CASE("attention kernel: a Where mask hides a NaN key it masks; an added mask does not") {
  const int64_t q = 5, kv = 9, dk = 8, dv = 8;
  for (Isa isa : isas()) {
    INFO("isa " << std::string(isa_name(isa)));
    Data d;
    AttentionHead h = make_head(d, q, kv, dk, dv, 0, 41);
    d.k[6 * dk + 2] = NAN;  // key 6 is NaN; every query masks it
    d.bias.assign(q * kv, 0.0f);
    for (int64_t i = 0; i < q; ++i) d.bias[i * kv + 6] = -std::numeric_limits<float>::infinity();
    h.bias = d.bias.data(), h.bias_stride = kv, h.bias_cols = kv, h.bias_replaces = true;
    for (bool packed : {false, true}) {
      run(isa, h, packed);
      CHECK(check_against_reference(h, d) < 2e-5);
      for (int64_t i = 0; i < q * dv; ++i) CHECK(std::isfinite(d.y[i]));
    }
    h.bias_replaces = false;  // ONNX's bool and float masks add: NaN + -inf is NaN
    run(isa, h, true);
    for (int64_t i = 0; i < q * dv; ++i) CHECK(std::isnan(d.y[i]));
  }
}

TEST_CASE("attention kernel: the scores output at each stage") {
  const int64_t q = 6, kv = 300, dk = 8, dv = 4;  // kv spans two key blocks
  for (Isa isa : isas()) {
    INFO("isa " << std::string(isa_name(isa)));
    Data d;
    AttentionHead h = make_head(d, q, kv, dk, dv, 0, 41);
    d.bias = random_vector(q * kv, 6);
    h.bias = d.bias.data(), h.bias_stride = kv, h.bias_cols = kv;
    h.softcap = 1.5f;
    h.causal = true, h.causal_offset = 200;
    d.scores.assign(q * kv, 0.0f);
    h.scores = d.scores.data(), h.scores_stride = kv;
    for (ScoreStage stage : {ScoreStage::Scaled, ScoreStage::Softcapped, ScoreStage::Masked, ScoreStage::Softmax}) {
      INFO("stage " << int(stage));
      h.stage = stage;
      run(isa, h, stage == ScoreStage::Softmax);
      CHECK(check_against_reference(h, d) < 2e-5);
      double err = 0;
      for (int64_t i = 0; i < q; ++i) {
        std::vector<double> s(kv);
        double m = -INFINITY;
        for (int64_t j = 0; j < kv; ++j) {
          double v = 0;
          for (int64_t c = 0; c < dk; ++c) v += double(d.q[i * dk + c]) * d.k[j * dk + c];
          v *= h.scale;
          if (stage >= ScoreStage::Softcapped) v = h.softcap * std::tanh(v / h.softcap);
          if (stage >= ScoreStage::Masked) v = j > i + h.causal_offset ? -INFINITY : v + d.bias[i * kv + j];
          s[j] = v;
          m = std::max(m, v);
        }
        if (stage == ScoreStage::Softmax) {
          double l = 0;
          for (double& v : s) l += (v = std::exp(v - m));
          for (double& v : s) v /= l;
        }
        for (int64_t j = 0; j < kv; ++j) {
          const double got = d.scores[i * kv + j];
          if (std::isinf(s[j])) CHECK(got == s[j]);
          else err = std::max(err, std::fabs(got - s[j]) / std::max(1.0, std::fabs(s[j])));
        }
      }
      CHECK(err < 1e-5);
    }
  }
}

TEST_CASE("attention kernel: scratch memory does not grow with the sequence") {
  for (int64_t seq : {256, 2048}) {
    Data d;
    AttentionHead h = make_head(d, seq, seq, 16, 16, 0, 51);
    h.causal = true;
    AttentionScratch scratch;
    attention_rows(gemm_primitives(Isa::Auto), attention_primitives(Isa::Auto), h, 0, seq, scratch);
    const size_t floats = scratch.s.size() + scratch.o.size() + scratch.pv.size() + scratch.m.size() + scratch.l.size();
    CHECK(floats == size_t(kAttnQueryBlock * kAttnKeyBlock + 2 * kAttnQueryBlock * 16 + 4 * kAttnQueryBlock));
    // Spot-check the last rows (the longest causal spans) against the reference.
    std::vector<double> ref;
    AttentionHead tail = h;
    attention_reference(tail, ref);
    double err = 0;
    for (int64_t i = seq - 3; i < seq; ++i)
      for (int64_t c = 0; c < 16; ++c) err = std::max(err, std::fabs(d.y[i * 16 + c] - ref[i * 16 + c]));
    CHECK(err < 2e-5);
  }
}

TEST_CASE("attention kernel: the transposed loop's scratch does not grow with the sequence") {
  const AttentionPrimitives& prim = attention_primitives(Isa::Auto);
  if (!prim.rows_transposed) {
    MESSAGE("skipped: this machine's best ISA (" << std::string(isa_name(prim.isa)) << ") has no transposed loop");
    return;
  }
  std::vector<size_t> floats;
  for (int64_t seq : {256, 2048}) {
    Data d;
    std::vector<float> kt, vt;
    const AttentionHead h = with_transposed_panels(make_head(d, seq, seq, 40, 40, 0, 53), kt, vt);
    AttentionScratch scratch;
    CHECK(prim.rows_transposed(h, seq - kAttnQueryBlock, seq, scratch));
    floats.push_back(scratch.s.size() + scratch.o.size() + scratch.m.size() + scratch.qa.size());
    std::vector<double> ref;
    attention_reference(h, ref);
    double err = 0;
    for (int64_t i = seq - kAttnQueryBlock; i < seq; ++i)
      for (int64_t c = 0; c < 40; ++c) err = std::max(err, std::fabs(d.y[i * 40 + c] - ref[i * 40 + c]));
    CHECK(err < 2e-5);
  }
  CHECK(floats[0] == floats[1]);
}

TEST_CASE("attention row operations: exp_sum against std::exp, masked and NaN entries, every ISA") {
  std::vector<float> base;
  for (int i = 0; i <= 2000; ++i) base.push_back(-90.0f + 0.045f * i);  // -90 .. 0
  base.push_back(-std::numeric_limits<float>::infinity());
  base.push_back(3.5f);  // above the row max (m = 0) happens only transiently; still exact enough
  for (Isa isa : isas()) {
    INFO("isa " << std::string(isa_name(isa)));
    const AttentionPrimitives& p = attention_primitives(isa);
    std::vector<float> s = base;
    const float sum = p.exp_sum(s.data(), static_cast<int64_t>(s.size()), 0.0f);
    double want_sum = 0, worst = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      const double want = std::exp(double(base[i]));
      want_sum += want;
      if (want < 1e-37) CHECK(s[i] < 1e-37f);  // underflow region: (near) zero, never garbage
      else worst = std::max(worst, std::fabs(s[i] - want) / want);
    }
    CHECK(s[base.size() - 2] == 0.0f);  // exp(-inf) is exactly 0
    CHECK(worst < 1e-6);
    CHECK(std::fabs(sum - want_sum) / want_sum < 1e-6);
    std::vector<float> with_nan = {-1.0f, NAN, -2.0f};
    CHECK(std::isnan(p.exp_sum(with_nan.data(), 3, 0.0f)));
    // replace: nonzero entries of b overwrite s (NaN and inf scores included), zeros keep it;
    // 37 values: full vectors and a tail on every width, from an odd offset.
    std::vector<float> r(38), b(38);
    for (int i = 0; i < 38; ++i) {
      r[i] = i % 4 == 0 ? NAN : i % 4 == 1 ? std::numeric_limits<float>::infinity() : float(i);
      b[i] = i % 3 == 0 ? 0.0f : i % 3 == 1 ? -3.4e38f : -std::numeric_limits<float>::infinity();
    }
    std::vector<float> got = r;
    p.replace(got.data() + 1, b.data() + 1, 37);
    CHECK(std::isnan(got[0]));
    for (int i = 1; i < 38; ++i) {
      INFO("entry " << i);
      if (b[i] != 0.0f) CHECK(got[i] == b[i]);
      else if (std::isnan(r[i])) CHECK(std::isnan(got[i]));
      else CHECK(got[i] == r[i]);
    }
  }
}
