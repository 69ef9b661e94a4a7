// GGUF v3 reader and writer (see gguf.h). Assumes a little-endian host, as the format does.
#include "export/gguf.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>

#include "base/error.h"
#include "base/io.h"
#include "model/safetensors.h"  // f16_to_f32

namespace softslm {

namespace {

constexpr char kMagic[4] = {'G', 'G', 'U', 'F'};
constexpr size_t kMaxNameBytes = 63;  // ggml tensor names hold GGML_MAX_NAME = 64 with the NUL
constexpr const char* kAlignmentKey = "general.alignment";

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

bool known_value_type(uint32_t t) { return t <= (uint32_t)GgufType::kFloat64; }
bool known_tensor_type(uint32_t t) {
  return t == (uint32_t)GgmlType::kF32 || t == (uint32_t)GgmlType::kF16 ||
         t == (uint32_t)GgmlType::kQ8_0;
}

// bytes of a scalar value type; 0 for string and array
size_t scalar_bytes(GgufType t) {
  switch (t) {
    case GgufType::kUint8: case GgufType::kInt8: case GgufType::kBool: return 1;
    case GgufType::kUint16: case GgufType::kInt16: return 2;
    case GgufType::kUint32: case GgufType::kInt32: case GgufType::kFloat32: return 4;
    case GgufType::kUint64: case GgufType::kInt64: case GgufType::kFloat64: return 8;
    default: return 0;
  }
}

// ---- reading ----

struct Cursor {
  const std::string& b;
  const std::string& path;
  size_t pos = 0;

  void need(uint64_t n, const std::string& what) const {
    check(n <= b.size() - pos, path, ": file ends inside ", what, " (byte ", pos, ", needs ", n,
          " more, ", b.size() - pos, " left)");
  }
  template <typename T>
  T get(const std::string& what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, b.data() + pos, sizeof(T));
    pos += sizeof(T);
    return v;
  }
  std::string str(const std::string& what) {
    uint64_t n = get<uint64_t>(what + " length");
    need(n, what);
    std::string s = b.substr(pos, n);
    pos += n;
    return s;
  }
};

GgufType read_type(Cursor& c, const std::string& what) {
  uint32_t t = c.get<uint32_t>(what + " type");
  check(known_value_type(t), c.path, ": ", what, ": unknown value type ", t);
  return (GgufType)t;
}

GgufValue read_value(Cursor& c, GgufType type, const std::string& key, bool in_array) {
  GgufValue v;
  v.type = type;
  const std::string what = "value of '" + key + "'";
  switch (type) {
    case GgufType::kUint8: v.u = c.get<uint8_t>(what); break;
    case GgufType::kUint16: v.u = c.get<uint16_t>(what); break;
    case GgufType::kUint32: v.u = c.get<uint32_t>(what); break;
    case GgufType::kUint64: v.u = c.get<uint64_t>(what); break;
    case GgufType::kInt8: v.i = c.get<int8_t>(what); break;
    case GgufType::kInt16: v.i = c.get<int16_t>(what); break;
    case GgufType::kInt32: v.i = c.get<int32_t>(what); break;
    case GgufType::kInt64: v.i = c.get<int64_t>(what); break;
    case GgufType::kFloat32: v.f = c.get<float>(what); break;
    case GgufType::kFloat64: v.f = c.get<double>(what); break;
    case GgufType::kBool:
      v.u = c.get<uint8_t>(what);
      check(v.u <= 1, c.path, ": ", what, ": a bool must be 0 or 1, got ", v.u);
      break;
    case GgufType::kString: v.s = c.str(what); break;
    case GgufType::kArray: {
      check(!in_array, c.path, ": ", what, ": arrays of arrays are not supported");
      v.elem_type = read_type(c, what + " element");
      uint64_t n = c.get<uint64_t>(what + " count");
      // every element takes at least its scalar size (a string its 8-byte length)
      size_t least = std::max<size_t>(scalar_bytes(v.elem_type), 1);
      if (v.elem_type == GgufType::kString) least = 8;
      check(n <= (c.b.size() - c.pos) / least, c.path, ": ", what, ": array of ", n,
            " elements does not fit in the file");
      v.array.reserve(n);
      for (uint64_t k = 0; k < n; k++) v.array.push_back(read_value(c, v.elem_type, key, true));
      break;
    }
  }
  return v;
}

}  // namespace

const char* gguf_type_name(GgufType t) {
  static const char* names[] = {"uint8", "int8",   "uint16", "int16", "uint32", "int32", "float32",
                                "bool",  "string", "array",  "uint64", "int64", "float64"};
  return (uint32_t)t <= 12 ? names[(uint32_t)t] : "unknown";
}

const char* ggml_type_name(GgmlType t) {
  switch (t) {
    case GgmlType::kF32: return "f32";
    case GgmlType::kF16: return "f16";
    case GgmlType::kQ8_0: return "q8_0";
  }
  return "unknown";
}

GgufValue gguf_uint32(uint32_t v) {
  GgufValue x;
  x.type = GgufType::kUint32;
  x.u = v;
  return x;
}
GgufValue gguf_float32(float v) {
  GgufValue x;
  x.type = GgufType::kFloat32;
  x.f = v;
  return x;
}
GgufValue gguf_bool(bool v) {
  GgufValue x;
  x.type = GgufType::kBool;
  x.u = v;
  return x;
}
GgufValue gguf_string(std::string v) {
  GgufValue x;
  x.type = GgufType::kString;
  x.s = std::move(v);
  return x;
}
GgufValue gguf_string_array(std::vector<std::string> v) {
  GgufValue x;
  x.type = GgufType::kArray;
  x.elem_type = GgufType::kString;
  x.array.reserve(v.size());
  for (auto& s : v) x.array.push_back(gguf_string(std::move(s)));
  return x;
}
GgufValue gguf_int32_array(const std::vector<int32_t>& v) {
  GgufValue x;
  x.type = GgufType::kArray;
  x.elem_type = GgufType::kInt32;
  x.array.resize(v.size());
  for (size_t k = 0; k < v.size(); k++) {
    x.array[k].type = GgufType::kInt32;
    x.array[k].i = v[k];
  }
  return x;
}

uint64_t gguf_numel(const std::vector<uint64_t>& dims) {
  uint64_t n = 1;
  for (uint64_t d : dims) {
    check(d == 0 || n <= (uint64_t)std::numeric_limits<int64_t>::max() / d,
          "tensor dims overflow 2^63 elements");
    n *= d;
  }
  return n;
}

uint64_t ggml_type_bytes(GgmlType t, uint64_t n) {
  switch (t) {
    case GgmlType::kF32: check(n <= UINT64_MAX / 4, "tensor too large"); return 4 * n;
    case GgmlType::kF16: check(n <= UINT64_MAX / 2, "tensor too large"); return 2 * n;
    case GgmlType::kQ8_0:
      check(n % kQ8_0Block == 0, "q8_0 needs a multiple of ", kQ8_0Block, " elements, got ", n);
      return n / kQ8_0Block * kQ8_0BlockBytes;
  }
  fail("unknown tensor type ", (uint32_t)t);
}

GgufFile gguf_parse(std::string bytes, const std::string& path) {
  GgufFile f;
  f.path = path;
  f.bytes = std::move(bytes);
  Cursor c{f.bytes, path};
  c.need(4, "the magic");
  check(std::memcmp(f.bytes.data(), kMagic, 4) == 0, path, ": not a GGUF file (no 'GGUF' magic)");
  c.pos = 4;
  f.version = c.get<uint32_t>("the version");
  check(f.version == kGgufVersion, path, ": GGUF version ", f.version, " (softslm reads version ",
        kGgufVersion, ")");
  uint64_t n_tensors = c.get<uint64_t>("the tensor count");
  uint64_t n_kv = c.get<uint64_t>("the metadata count");
  // a key-value takes at least 12 bytes (key length, type), a tensor info at least 28
  check(n_kv <= (f.bytes.size() - c.pos) / 12, path, ": metadata count ", n_kv,
        " does not fit in the file");
  check(n_tensors <= (f.bytes.size() - c.pos) / 28, path, ": tensor count ", n_tensors,
        " does not fit in the file");

  std::set<std::string> keys;
  for (uint64_t k = 0; k < n_kv; k++) {
    GgufKv kv;
    kv.key = c.str("metadata key " + std::to_string(k));
    check(keys.insert(kv.key).second, path, ": duplicate metadata key '", kv.key, "'");
    GgufType t = read_type(c, "'" + kv.key + "'");
    kv.value = read_value(c, t, kv.key, false);
    f.kvs.push_back(std::move(kv));
  }
  if (const GgufKv* a = gguf_find_kv(f, kAlignmentKey)) {
    check(a->value.type == GgufType::kUint32, path, ": ", kAlignmentKey, " must be uint32, is ",
          gguf_type_name(a->value.type));
    check(a->value.u > 0 && std::has_single_bit(a->value.u), path, ": ", kAlignmentKey, " = ",
          a->value.u, " is not a power of two");
    f.alignment = (uint32_t)a->value.u;
  }

  std::set<std::string> names;
  for (uint64_t k = 0; k < n_tensors; k++) {
    GgufTensorInfo t;
    t.name = c.str("tensor name " + std::to_string(k));
    const std::string what = "tensor '" + t.name + "'";
    check(t.name.size() <= kMaxNameBytes, path, ": ", what, ": name longer than ", kMaxNameBytes,
          " bytes");
    check(names.insert(t.name).second, path, ": duplicate ", what);
    uint32_t n_dims = c.get<uint32_t>(what + " dims count");
    check(n_dims >= 1 && n_dims <= (uint32_t)kGgufMaxDims, path, ": ", what, ": ", n_dims,
          " dims (1 to ", kGgufMaxDims, ")");
    for (uint32_t d = 0; d < n_dims; d++) {
      t.dims.push_back(c.get<uint64_t>(what + " dims"));
      check(t.dims.back() >= 1, path, ": ", what, ": dim ", d, " is 0");
    }
    uint32_t type = c.get<uint32_t>(what + " type");
    check(known_tensor_type(type), path, ": ", what, ": ggml type ", type,
          " (softslm reads f32 = 0, f16 = 1, q8_0 = 8)");
    t.type = (GgmlType)type;
    t.offset = c.get<uint64_t>(what + " offset");
    check(t.type != GgmlType::kQ8_0 || t.dims[0] % kQ8_0Block == 0, path, ": ", what,
          ": q8_0 rows of ", t.dims[0], " elements (a multiple of ", kQ8_0Block, " is needed)");
    try {
      t.nbytes = ggml_type_bytes(t.type, gguf_numel(t.dims));
    } catch (const Error& e) {
      fail(path, ": ", what, ": ", e.what());
    }
    check(t.offset % f.alignment == 0, path, ": ", what, ": offset ", t.offset,
          " is not a multiple of the alignment ", f.alignment);
    f.tensors.push_back(std::move(t));
  }

  f.data_start = align_up(c.pos, f.alignment);
  const uint64_t size = f.bytes.size();
  std::vector<const GgufTensorInfo*> by_offset;
  for (const auto& t : f.tensors) {
    check(f.data_start <= size && t.offset <= size - f.data_start &&
              t.nbytes <= size - f.data_start - t.offset,
          path, ": tensor '", t.name, "': data [", t.offset, ", +", t.nbytes,
          ") runs past the end of the file (data section ", size - std::min(size, f.data_start),
          " bytes)");
    by_offset.push_back(&t);
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](auto* a, auto* b) { return a->offset < b->offset; });
  for (size_t k = 1; k < by_offset.size(); k++)
    check(by_offset[k - 1]->offset + by_offset[k - 1]->nbytes <= by_offset[k]->offset, path,
          ": tensors '", by_offset[k - 1]->name, "' and '", by_offset[k]->name, "' overlap");
  return f;
}

GgufFile gguf_read(const std::string& path) {
  return gguf_parse(read_file(path, std::max(kReadLimitDefault, memory_available_bytes() / 2)),
                    path);
}

const GgufKv* gguf_find_kv(const GgufFile& f, std::string_view key) {
  for (const auto& kv : f.kvs)
    if (kv.key == key) return &kv;
  return nullptr;
}

const GgufTensorInfo* gguf_find_tensor(const GgufFile& f, std::string_view name) {
  for (const auto& t : f.tensors)
    if (t.name == name) return &t;
  return nullptr;
}

const char* gguf_tensor_data(const GgufFile& f, const GgufTensorInfo& t) {
  return f.bytes.data() + f.data_start + t.offset;
}

void gguf_tensor_to_f32(const GgufFile& f, const GgufTensorInfo& t, float* out) {
  ggml_decode(t.type, gguf_tensor_data(f, t), gguf_numel(t.dims), out);
}

// ---- writing ----

namespace {

template <typename T>
void put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof(T));
}

void put_str(std::string& out, std::string_view s) {
  put<uint64_t>(out, s.size());
  out.append(s);
}

void put_value(std::string& out, const GgufValue& v, const std::string& key) {
  switch (v.type) {
    case GgufType::kUint8: put<uint8_t>(out, (uint8_t)v.u); break;
    case GgufType::kUint16: put<uint16_t>(out, (uint16_t)v.u); break;
    case GgufType::kUint32: put<uint32_t>(out, (uint32_t)v.u); break;
    case GgufType::kUint64: put<uint64_t>(out, v.u); break;
    case GgufType::kInt8: put<int8_t>(out, (int8_t)v.i); break;
    case GgufType::kInt16: put<int16_t>(out, (int16_t)v.i); break;
    case GgufType::kInt32: put<int32_t>(out, (int32_t)v.i); break;
    case GgufType::kInt64: put<int64_t>(out, v.i); break;
    case GgufType::kFloat32: put<float>(out, (float)v.f); break;
    case GgufType::kFloat64: put<double>(out, v.f); break;
    case GgufType::kBool: put<uint8_t>(out, v.u ? 1 : 0); break;
    case GgufType::kString: put_str(out, v.s); break;
    case GgufType::kArray:
      check(v.elem_type != GgufType::kArray, "'", key, "': arrays of arrays are not supported");
      put<uint32_t>(out, (uint32_t)v.elem_type);
      put<uint64_t>(out, v.array.size());
      for (const auto& e : v.array) {
        check(e.type == v.elem_type, "'", key, "': an element of type ", gguf_type_name(e.type),
              " in an array of ", gguf_type_name(v.elem_type));
        put_value(out, e, key);
      }
      break;
  }
}

}  // namespace

std::string gguf_serialize(const std::vector<GgufKv>& kvs,
                           const std::vector<GgufTensorData>& tensors, uint32_t alignment) {
  check(alignment > 0 && std::has_single_bit(alignment), "GGUF alignment ", alignment,
        " is not a power of two");
  std::vector<const GgufKv*> all;
  std::set<std::string> keys;
  for (const auto& kv : kvs) {
    check(keys.insert(kv.key).second, "duplicate metadata key '", kv.key, "'");
    if (kv.key == kAlignmentKey)
      check(kv.value.type == GgufType::kUint32 && kv.value.u == alignment, kAlignmentKey,
            " must be the uint32 ", alignment);
    all.push_back(&kv);
  }
  GgufKv align_kv{kAlignmentKey, gguf_uint32(alignment)};
  if (alignment != kGgufDefaultAlignment && !keys.count(kAlignmentKey)) all.push_back(&align_kv);

  std::string out;
  out.append(kMagic, 4);
  put<uint32_t>(out, kGgufVersion);
  put<uint64_t>(out, tensors.size());
  put<uint64_t>(out, all.size());
  for (const GgufKv* kv : all) {
    put_str(out, kv->key);
    put<uint32_t>(out, (uint32_t)kv->value.type);
    put_value(out, kv->value, kv->key);
  }
  std::set<std::string> names;
  uint64_t offset = 0;  // each tensor padded to the alignment, in order (ggml requires it)
  for (const auto& t : tensors) {
    check(names.insert(t.name).second, "duplicate tensor '", t.name, "'");
    check(t.name.size() <= kMaxNameBytes, "tensor name '", t.name, "' is longer than ",
          kMaxNameBytes, " bytes");
    check(!t.dims.empty() && t.dims.size() <= (size_t)kGgufMaxDims, "tensor '", t.name, "': ",
          t.dims.size(), " dims (1 to ", kGgufMaxDims, ")");
    check(t.data.size() == ggml_type_bytes(t.type, gguf_numel(t.dims)), "tensor '", t.name,
          "': ", t.data.size(), " bytes of data for its ", ggml_type_name(t.type), " dims");
    put_str(out, t.name);
    put<uint32_t>(out, (uint32_t)t.dims.size());
    for (uint64_t d : t.dims) put<uint64_t>(out, d);
    put<uint32_t>(out, (uint32_t)t.type);
    put<uint64_t>(out, offset);
    offset += align_up(t.data.size(), alignment);
  }
  out.resize(align_up(out.size(), alignment), '\0');
  for (const auto& t : tensors) {
    out.append(t.data);
    out.resize(align_up(out.size(), alignment), '\0');
  }
  return out;
}

void gguf_write(const std::string& path, const std::vector<GgufKv>& kvs,
                const std::vector<GgufTensorData>& tensors, uint32_t alignment) {
  write_file_atomic(path, gguf_serialize(kvs, tensors, alignment));
}

// ---- element encodings ----

uint16_t f32_to_f16(float x) {
  const uint32_t u = std::bit_cast<uint32_t>(x);
  const uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
  const uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return sign | 0x7e00 | (uint16_t)((a >> 13) & 0x3ff);  // NaN, quiet
  if (a >= 0x477ff000u) return sign | 0x7c00;  // >= 65520 (halfway past 65504): inf
  if (a >= 0x38800000u) {                      // normal half (>= 2^-14)
    uint32_t h = ((((a >> 23) - 127 + 15) << 10) | ((a & 0x7fffff) >> 13));
    uint32_t rem = a & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;  // a carry moves into the exponent
    return sign | (uint16_t)h;
  }
  if (a <= 0x33000000u) return sign;  // <= 2^-25 (half the smallest subnormal): zero
  // subnormal half: round(mant * 2^(e - 126)) units of 2^-24
  uint32_t e = a >> 23, mant = (a & 0x7fffff) | 0x800000, shift = 126 - e;  // shift 14..24
  uint32_t q = mant >> shift, rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
  if (rem > half || (rem == half && (q & 1))) q++;
  return sign | (uint16_t)q;
}

std::string ggml_encode(GgmlType type, const float* x, size_t n) {
  std::string out(ggml_type_bytes(type, n), '\0');
  char* p = out.data();
  switch (type) {
    case GgmlType::kF32:
      if (n) std::memcpy(p, x, 4 * n);
      break;
    case GgmlType::kF16:
      for (size_t k = 0; k < n; k++) {
        uint16_t h = f32_to_f16(x[k]);
        std::memcpy(p + 2 * k, &h, 2);
      }
      break;
    case GgmlType::kQ8_0:
      for (size_t b = 0; b < n / kQ8_0Block; b++) {
        const float* xb = x + b * kQ8_0Block;  // [32]
        char* block = p + b * kQ8_0BlockBytes;  // f16 d | int8 q[32]
        float amax = 0;
        for (int k = 0; k < kQ8_0Block; k++) amax = std::max(amax, std::fabs(xb[k]));
        const float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
        uint16_t dh = f32_to_f16(d);
        std::memcpy(block, &dh, 2);
        for (int k = 0; k < kQ8_0Block; k++) block[2 + k] = (char)(int8_t)std::round(xb[k] * id);
      }
      break;
  }
  return out;
}

void ggml_decode(GgmlType type, const char* bytes, size_t n, float* out) {
  switch (type) {
    case GgmlType::kF32:
      if (n) std::memcpy(out, bytes, 4 * n);
      break;
    case GgmlType::kF16:
      for (size_t k = 0; k < n; k++) {
        uint16_t h;
        std::memcpy(&h, bytes + 2 * k, 2);
        out[k] = f16_to_f32(h);
      }
      break;
    case GgmlType::kQ8_0:
      check(n % kQ8_0Block == 0, "q8_0 needs a multiple of ", kQ8_0Block, " elements, got ", n);
      for (size_t b = 0; b < n / kQ8_0Block; b++) {
        const char* block = bytes + b * kQ8_0BlockBytes;
        uint16_t dh;
        std::memcpy(&dh, block, 2);
        const float d = f16_to_f32(dh);
        for (int k = 0; k < kQ8_0Block; k++)
          out[b * kQ8_0Block + k] = (float)(int8_t)block[2 + k] * d;
      }
      break;
  }
}

}  // namespace softslm
