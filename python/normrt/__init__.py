"""normrt for Python: ctypes over the C API (libnormrt.so), numpy arrays in and out.

    import numpy as np, normrt
    s = normrt.Session("model.onnx", threads=2)
    print(s.inputs)                      # [IoInfo(name='X', dtype=float32, shape=['batch', 8])]
    y = s.run({"X": np.ones((1, 8), np.float32)})["Y"]

The library is found from NORMRT_LIBRARY (a path), next to this package (an installed tree's
lib/ or a build/ folder), or the system's library path.
"""
import ctypes
import ctypes.util
import os
from collections import namedtuple

import numpy as np

__all__ = ["Session", "Error", "IoInfo", "version", "library_path"]


class Error(RuntimeError):
    """A failed normrt call; `code` is the C API's normrt_code."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


IoInfo = namedtuple("IoInfo", "name dtype shape")  # shape: ints, dim names (str) or None; None if the rank is unknown

_TYPES = {1: np.float32, 2: np.uint8, 3: np.int8, 4: np.uint16, 5: np.int16, 6: np.int32, 7: np.int64, 9: np.bool_,
          10: np.float16, 11: np.float64, 12: np.uint32, 13: np.uint64}
_CODES = {np.dtype(t): c for c, t in _TYPES.items()}
_OPT_LEVELS = {"off": 0, "basic": 1, "all": 2}


class _IoInfoC(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("type", ctypes.c_int), ("rank", ctypes.c_int64),
                ("dims", ctypes.POINTER(ctypes.c_int64)), ("dim_names", ctypes.POINTER(ctypes.c_char_p))]


class _MetadataC(ctypes.Structure):
    _fields_ = [("producer_name", ctypes.c_char_p), ("producer_version", ctypes.c_char_p), ("graph_name", ctypes.c_char_p),
                ("domain", ctypes.c_char_p), ("description", ctypes.c_char_p), ("model_version", ctypes.c_int64),
                ("property_count", ctypes.c_size_t)]


def _candidates():
    env = os.environ.get("NORMRT_LIBRARY")
    if env:
        yield env
    here = os.path.dirname(os.path.abspath(__file__))
    for rel in ("../../lib", "../../../lib", "../../build", "../../../lib/x86_64-linux-gnu", "../../../lib/aarch64-linux-gnu"):
        yield os.path.normpath(os.path.join(here, rel, "libnormrt.so"))
    found = ctypes.util.find_library("normrt")
    if found:
        yield found


def _load():
    tried = []
    for path in _candidates():
        if os.path.isabs(path) and not os.path.exists(path):
            tried.append(path)
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            tried.append("%s (%s)" % (path, e))
    raise ImportError("normrt: libnormrt.so not found; set NORMRT_LIBRARY to its path (tried: %s)" % ", ".join(tried))


_lib, library_path = _load()
_P = ctypes.c_void_p
_S = ctypes.c_void_p  # normrt_status*


def _sig(name, restype, *argtypes):
    f = getattr(_lib, name)
    f.restype, f.argtypes = restype, list(argtypes)
    return f


_version = _sig("normrt_version", ctypes.c_char_p)
_status_code = _sig("normrt_status_code", ctypes.c_int, _S)
_status_message = _sig("normrt_status_message", ctypes.c_char_p, _S)
_status_release = _sig("normrt_status_release", None, _S)
_opts_create = _sig("normrt_session_options_create", _S, ctypes.POINTER(_P))
_opts_threads = _sig("normrt_session_options_set_threads", _S, _P, ctypes.c_int)
_opts_isa = _sig("normrt_session_options_set_isa", _S, _P, ctypes.c_char_p)
_opts_level = _sig("normrt_session_options_set_optimization_level", _S, _P, ctypes.c_int)
_opts_release = _sig("normrt_session_options_release", None, _P)
_session_create = _sig("normrt_session_create", _S, ctypes.c_char_p, _P, ctypes.POINTER(_P))
_session_release = _sig("normrt_session_release", None, _P)
_count = {True: _sig("normrt_session_input_count", _S, _P, ctypes.POINTER(ctypes.c_size_t)),
          False: _sig("normrt_session_output_count", _S, _P, ctypes.POINTER(ctypes.c_size_t))}
_info = {True: _sig("normrt_session_input_info", _S, _P, ctypes.c_size_t, ctypes.POINTER(_IoInfoC)),
         False: _sig("normrt_session_output_info", _S, _P, ctypes.c_size_t, ctypes.POINTER(_IoInfoC))}
_metadata = _sig("normrt_session_metadata", _S, _P, ctypes.POINTER(_MetadataC))
_metadata_prop = _sig("normrt_session_metadata_property", _S, _P, ctypes.c_size_t, ctypes.POINTER(ctypes.c_char_p),
                      ctypes.POINTER(ctypes.c_char_p))
_run = _sig("normrt_session_run", _S, _P, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(_P), ctypes.c_size_t,
            ctypes.POINTER(ctypes.c_char_p), ctypes.c_size_t, ctypes.POINTER(_P))
_tensor_borrow = _sig("normrt_tensor_borrow", _S, ctypes.c_int, ctypes.POINTER(ctypes.c_int64), ctypes.c_size_t, _P,
                      ctypes.c_size_t, ctypes.POINTER(_P))
_tensor_type = _sig("normrt_tensor_type", ctypes.c_int, _P)
_tensor_rank = _sig("normrt_tensor_rank", ctypes.c_size_t, _P)
_tensor_dims = _sig("normrt_tensor_dims", ctypes.POINTER(ctypes.c_int64), _P)
_tensor_bytes = _sig("normrt_tensor_byte_size", ctypes.c_size_t, _P)
_tensor_data = _sig("normrt_tensor_data", _P, _P)
_tensor_release = _sig("normrt_tensor_release", None, _P)


def _check(status):
    if status:
        code, message = _status_code(status), _status_message(status).decode("utf-8", "replace")
        _status_release(status)
        raise Error(code, message)


def version():
    return _version().decode()


class Session:
    """A loaded model. run() may be called from several threads at once."""

    def __init__(self, model_path, threads=0, isa=None, optimization="all"):
        self._handle = None
        if optimization not in _OPT_LEVELS:
            raise ValueError("optimization must be one of %s" % ", ".join(_OPT_LEVELS))
        opts = _P()
        _check(_opts_create(ctypes.byref(opts)))
        self._handle = None
        try:
            _check(_opts_threads(opts, int(threads)))
            if isa:
                _check(_opts_isa(opts, isa.encode()))
            _check(_opts_level(opts, _OPT_LEVELS[optimization]))
            handle = _P()
            _check(_session_create(os.fsencode(model_path), opts, ctypes.byref(handle)))
            self._handle = handle
        finally:
            _opts_release(opts)
        self.inputs = self._infos(True)
        self.outputs = self._infos(False)

    def _infos(self, inputs):
        n = ctypes.c_size_t()
        _check(_count[inputs](self._handle, ctypes.byref(n)))
        result = []
        for i in range(n.value):
            c = _IoInfoC()
            _check(_info[inputs](self._handle, i, ctypes.byref(c)))
            shape = None
            if c.rank >= 0:
                shape = [c.dims[d] if c.dims[d] >= 0 else (c.dim_names[d].decode() or None) for d in range(c.rank)]
            result.append(IoInfo(c.name.decode(), _TYPES.get(c.type), shape))
        return result

    @property
    def metadata(self):
        m = _MetadataC()
        _check(_metadata(self._handle, ctypes.byref(m)))
        props = {}
        for i in range(m.property_count):
            k, v = ctypes.c_char_p(), ctypes.c_char_p()
            _check(_metadata_prop(self._handle, i, ctypes.byref(k), ctypes.byref(v)))
            props[k.value.decode()] = v.value.decode()
        return {"producer_name": m.producer_name.decode(), "producer_version": m.producer_version.decode(),
                "graph_name": m.graph_name.decode(), "domain": m.domain.decode(), "description": m.description.decode(),
                "model_version": m.model_version, "properties": props}

    def run(self, feeds, outputs=None):
        """feeds: {input name: array}; returns {output name: new numpy array} for `outputs` (all by default)."""
        names = list(outputs) if outputs is not None else [o.name for o in self.outputs]
        arrays, tensors = [], []
        try:
            for name, value in feeds.items():
                a = np.ascontiguousarray(value)
                if a.dtype not in _CODES:
                    raise Error(1, "input '%s': numpy dtype %s has no normrt element type" % (name, a.dtype))
                dims = (ctypes.c_int64 * max(a.ndim, 1))(*a.shape)
                t = _P()
                _check(_tensor_borrow(_CODES[a.dtype], dims, a.ndim, a.ctypes.data_as(_P), a.nbytes, ctypes.byref(t)))
                arrays.append(a)  # kept alive through the run
                tensors.append(t)
            in_names = (ctypes.c_char_p * max(len(feeds), 1))(*[k.encode() for k in feeds])
            in_tensors = (_P * max(len(tensors), 1))(*tensors)
            out_names = (ctypes.c_char_p * max(len(names), 1))(*[n.encode() for n in names])
            outs = (_P * max(len(names), 1))()
            _check(_run(self._handle, in_names, in_tensors, len(tensors), out_names, len(names), outs))
            result = {}
            for name, t in zip(names, outs[:len(names)]):
                try:
                    code = _tensor_type(t)
                    if code not in _TYPES:
                        raise Error(3, "output '%s' has element type %d, which numpy cannot hold" % (name, code))
                    rank = _tensor_rank(t)
                    shape = tuple(_tensor_dims(t)[d] for d in range(rank))
                    nbytes = _tensor_bytes(t)
                    buf = (ctypes.c_char * nbytes).from_address(_tensor_data(t)) if nbytes else b""
                    result[name] = np.frombuffer(bytes(buf), dtype=_TYPES[code]).reshape(shape)
                finally:
                    _tensor_release(t)
            return result
        finally:
            for t in tensors:
                _tensor_release(t)

    def close(self):
        if self._handle:
            _session_release(self._handle)
            self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()
