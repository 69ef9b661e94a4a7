// GGUF v3 files (ggml's docs/gguf.md), a small general module: the format, not a model.
//   "GGUF" | u32 version = 3 | u64 tensor_count | u64 kv_count
//   kv_count x  { string key | u32 value_type | value }
//   tensor_count x { string name | u32 n_dims | u64 dims[n_dims] | u32 ggml_type | u64 offset }
//   zero padding to `alignment` | tensor data (each tensor at its offset, padded to alignment)
// All little-endian; a string is u64 length + bytes (no terminator); an array value is
// u32 element type | u64 count | elements. Dims are listed fastest-first (ggml's ne[0] is the
// row length), so a row-major [rows, cols] matrix has dims {cols, rows}. Offsets are relative
// to the start of the data section. alignment is general.alignment (u32) or 32.
// The reader validates everything and throws Error("<path>: <problem>"); the writer lays the
// tensors out in the given order, each padded to the alignment, as ggml's own reader requires.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace softslm {

// gguf_type: the type of a metadata value
enum class GgufType : uint32_t {
  kUint8 = 0, kInt8 = 1, kUint16 = 2, kInt16 = 3, kUint32 = 4, kInt32 = 5, kFloat32 = 6,
  kBool = 7, kString = 8, kArray = 9, kUint64 = 10, kInt64 = 11, kFloat64 = 12,
};
const char* gguf_type_name(GgufType t);

// ggml_type: the element type of a tensor (the subset softslm writes and reads)
enum class GgmlType : uint32_t { kF32 = 0, kF16 = 1, kQ8_0 = 8 };
const char* ggml_type_name(GgmlType t);

constexpr uint32_t kGgufVersion = 3;
constexpr uint32_t kGgufDefaultAlignment = 32;
constexpr int kGgufMaxDims = 4;    // GGML_MAX_DIMS
constexpr int kQ8_0Block = 32;     // elements per q8_0 block
constexpr int kQ8_0BlockBytes = 34;  // f16 scale d + 32 int8 q

// A metadata value. Scalars use the field of their kind; an array holds its elements (all of
// elem_type) in `array`.
struct GgufValue {
  GgufType type = GgufType::kUint32;
  uint64_t u = 0;  // kUint8..kUint64, kBool (0 / 1)
  int64_t i = 0;   // kInt8..kInt64
  double f = 0;    // kFloat32, kFloat64
  std::string s;   // kString
  GgufType elem_type = GgufType::kUint8;  // kArray
  std::vector<GgufValue> array;           // kArray
};

GgufValue gguf_uint32(uint32_t v);
GgufValue gguf_float32(float v);
GgufValue gguf_bool(bool v);
GgufValue gguf_string(std::string v);
GgufValue gguf_string_array(std::vector<std::string> v);
GgufValue gguf_int32_array(const std::vector<int32_t>& v);

struct GgufKv {
  std::string key;
  GgufValue value;
};

struct GgufTensorInfo {
  std::string name;
  std::vector<uint64_t> dims;  // fastest-first (ne[0] first)
  GgmlType type = GgmlType::kF32;
  uint64_t offset = 0;  // from the start of the data section; a multiple of the alignment
  uint64_t nbytes = 0;  // bytes of data (before padding)
};

struct GgufFile {
  std::string path;  // for messages
  std::string bytes;  // the whole file
  uint32_t version = 0;
  uint32_t alignment = kGgufDefaultAlignment;
  std::vector<GgufKv> kvs;              // in file order
  std::vector<GgufTensorInfo> tensors;  // in file order
  uint64_t data_start = 0;              // file offset of the data section
};

// Elements in a tensor of these dims; bytes of n elements of type t (n a multiple of the block
// size for q8_0). Both throw Error on overflow or a partial block.
uint64_t gguf_numel(const std::vector<uint64_t>& dims);
uint64_t ggml_type_bytes(GgmlType t, uint64_t n);

// Reads and validates a file: magic, version 3, counts and lengths within the file, known value
// and tensor types, unique keys and tensor names, 1..4 positive dims with whole q8_0 blocks
// per row, general.alignment a power of two (u32), offsets aligned, data within the file and
// not overlapping.
GgufFile gguf_read(const std::string& path);
// The same checks on in-memory bytes; `path` only names the source in messages.
GgufFile gguf_parse(std::string bytes, const std::string& path);

// nullptr when absent.
const GgufKv* gguf_find_kv(const GgufFile& f, std::string_view key);
const GgufTensorInfo* gguf_find_tensor(const GgufFile& f, std::string_view name);
// A tensor's data bytes, in the file.
const char* gguf_tensor_data(const GgufFile& f, const GgufTensorInfo& t);
// A tensor as floats: out[gguf_numel(t.dims)] (f16 and q8_0 dequantized).
void gguf_tensor_to_f32(const GgufFile& f, const GgufTensorInfo& t, float* out);

// A tensor to write: its data already encoded in `type`.
struct GgufTensorData {
  std::string name;
  std::vector<uint64_t> dims;  // fastest-first
  GgmlType type = GgmlType::kF32;
  std::string data;  // ggml_type_bytes(type, numel(dims)) bytes
};

// File bytes. Writes general.alignment only when it is not 32 (add it to kvs yourself and it
// must agree). Throws on duplicate keys or names, or data of the wrong size.
std::string gguf_serialize(const std::vector<GgufKv>& kvs,
                           const std::vector<GgufTensorData>& tensors,
                           uint32_t alignment = kGgufDefaultAlignment);
// gguf_serialize + write_file_atomic (nothing is left behind on failure).
void gguf_write(const std::string& path, const std::vector<GgufKv>& kvs,
                const std::vector<GgufTensorData>& tensors,
                uint32_t alignment = kGgufDefaultAlignment);

// ---- Element encodings (ggml's reference conversions) ----

// float -> IEEE half: round to nearest, ties to even; overflow -> inf; NaN stays NaN.
uint16_t f32_to_f16(float x);
// n floats -> type's bytes: f32 as is, f16 rounded, q8_0 in blocks of 32: d = max|x| / 127
// (stored as f16), q = round(x / d) (half away from zero), d = 0 for an all-zero block.
// n must be a multiple of 32 for q8_0.
std::string ggml_encode(GgmlType type, const float* x, size_t n);
// The inverse: out[n] from type's bytes (q8_0: q * f16(d)).
void ggml_decode(GgmlType type, const char* bytes, size_t n, float* out);

}  // namespace softslm
