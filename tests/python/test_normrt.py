"""The Python package (python/normrt) over libnormrt.so; run by ctest with NORMRT_LIBRARY,
NORMRT_TEST_MODELS and NORMRT_SOURCE_DIR set."""
import os
import threading
import unittest

import numpy as np

import normrt

MODELS = os.environ["NORMRT_TEST_MODELS"]
SOURCE = os.environ["NORMRT_SOURCE_DIR"]


class SessionTest(unittest.TestCase):
    def test_seed_example(self):
        with normrt.Session(os.path.join(MODELS, "layernorm_seed.onnx"), threads=1) as s:
            self.assertEqual(s.inputs, [normrt.IoInfo("X", np.float32, ["batch", 8])])
            self.assertEqual(s.outputs[0].name, "Y")
            x = np.array([[5, 5, 0, 0, 0, 0, 0, 0]], np.float32)
            y = s.run({"X": x})["Y"]
            self.assertEqual(y.shape, (1, 8))
            self.assertEqual(y.dtype, np.float32)
            self.assertAlmostEqual(float(y[0, 0]), 1.7320508, places=5)
            self.assertAlmostEqual(float(y[0, 2]), -0.57735026, places=5)
            self.assertAlmostEqual(float(np.mean(y)), 0.0, places=6)

    def test_non_contiguous_input_and_selected_outputs(self):
        s = normrt.Session(os.path.join(MODELS, "add_broadcast.onnx"))
        x = np.arange(12, dtype=np.float32).reshape(3, 4)[:, :3]  # a strided view
        out = s.run({"X": x, "Y": np.float32([1, 2, 3])}, outputs=["Z"])
        np.testing.assert_array_equal(out["Z"], x + np.float32([1, 2, 3]))

    def test_metadata(self):
        md = normrt.Session(os.path.join(MODELS, "add_broadcast.onnx")).metadata
        self.assertEqual(md["producer_version"], "1.2.3")
        self.assertEqual(md["model_version"], 7)
        self.assertEqual(md["properties"], {"author": "normrt tests", "license": "MIT"})

    def test_errors(self):
        with self.assertRaises(normrt.Error) as e:
            normrt.Session(os.path.join(MODELS, "unsupported_op.onnx"))
        self.assertEqual(e.exception.code, 3)
        self.assertIn("NoSuchOp", str(e.exception))
        s = normrt.Session(os.path.join(MODELS, "layernorm_seed.onnx"))
        with self.assertRaises(normrt.Error) as e:
            s.run({"X": np.zeros((2, 3), np.float32)})
        self.assertIn("'X'", str(e.exception))
        with self.assertRaises(normrt.Error):
            s.run({"X": np.zeros((2, 8), np.complex64)})
        with self.assertRaises(ValueError):
            normrt.Session(os.path.join(MODELS, "layernorm_seed.onnx"), optimization="max")

    def test_tiny_bert_matches_its_reference_and_threads_agree(self):
        d = os.path.join(SOURCE, "models", "tiny_bert")
        s = normrt.Session(os.path.join(d, "model.onnx"), threads=2)
        names = [i.name for i in s.inputs]
        self.assertEqual(names, ["input_ids", "attention_mask"])
        ids = np.random.default_rng(1).integers(0, 100, size=(2, 16)).astype(np.int64)
        mask = np.ones((2, 16), np.int64)
        want = s.run({"input_ids": ids, "attention_mask": mask})
        results = []
        threads = [threading.Thread(target=lambda: results.append(s.run({"input_ids": ids, "attention_mask": mask})))
                   for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(len(results), 3)
        for r in results:
            for k in want:
                np.testing.assert_array_equal(r[k], want[k])

    def test_version(self):
        self.assertRegex(normrt.version(), r"^\d+\.\d+\.\d+$")
        self.assertTrue(os.path.exists(normrt.library_path) or not os.path.isabs(normrt.library_path))


if __name__ == "__main__":
    unittest.main()
