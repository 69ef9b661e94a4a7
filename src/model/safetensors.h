// safetensors files (https://github.com/huggingface/safetensors), a small general module:
//   [8 bytes little-endian header length N] [N bytes JSON header] [data buffer]
// header: {"<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
//          "__metadata__": {"<key>": "<value>"}}   (offsets are relative to the data buffer)
// The reader validates the whole header (dtypes, sizes, bounds, overlaps, a fully indexed
// buffer) and throws Error("<path>: <problem>"). The writer is atomic.
#pragma once
#include "ops/bf16.h"
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace softslm {

struct SafetensorsTensor {
  std::string name;
  std::string dtype;          // "F32", "F16", "BF16", "I64", ...
  std::vector<size_t> shape;  // [] for a scalar
  size_t begin = 0, end = 0;  // byte range in the data buffer
};

size_t safetensors_numel(const SafetensorsTensor& t);

struct SafetensorsFile {
  std::string path;                        // for messages
  std::string bytes;                       // the whole file
  size_t data_start = 0;                   // 8 + N: where the data buffer starts in bytes
  std::vector<SafetensorsTensor> tensors;  // sorted by name
  std::map<std::string, std::string> metadata;
};

// Bytes per element of a safetensors dtype; 0 for an unknown dtype.
size_t safetensors_dtype_size(std::string_view dtype);

// Reads and validates a file (read once, kept in memory).
SafetensorsFile safetensors_read(const std::string& path);
// Validates in-memory file bytes; `path` only names the source in messages.
SafetensorsFile safetensors_parse(std::string bytes, const std::string& path);

// nullptr when absent.
const SafetensorsTensor* safetensors_find(const SafetensorsFile& f, std::string_view name);
// Raw (little-endian, possibly unaligned) bytes of a tensor.
const char* safetensors_data(const SafetensorsFile& f, const SafetensorsTensor& t);
// Converts an F32 / F16 / BF16 / F64 tensor to floats: out[safetensors_numel(t)].
// Throws Error naming the file and tensor for other dtypes.
void safetensors_to_f32(const SafetensorsFile& f, const SafetensorsTensor& t, float* out);

// IEEE half bit patterns -> float (exact; subnormals, inf and NaN preserved). bfloat16:
// bf16_to_f32 in ops/bf16.h.
float f16_to_f32(uint16_t h);

// A tensor to write: raw little-endian bytes, viewed (not owned).
struct SafetensorsEntry {
  std::string name;
  std::string dtype;
  std::vector<size_t> shape;
  std::string_view data;  // dtype size * prod(shape) bytes
};

// An F32 entry viewing n = prod(shape) floats at `data`.
SafetensorsEntry safetensors_f32_entry(std::string name, std::vector<size_t> shape,
                                       const float* data);

// File bytes: tensors laid out in name order (deterministic), header JSON padded with spaces
// to a multiple of 8 bytes so the data buffer is 8-byte aligned. Throws on duplicate names,
// unknown dtypes or a data size that does not match dtype * shape.
std::string safetensors_serialize(const std::vector<SafetensorsEntry>& entries,
                                  const std::map<std::string, std::string>& metadata = {});
// safetensors_serialize + write_file_atomic (nothing is left behind on failure).
void safetensors_write(const std::string& path, const std::vector<SafetensorsEntry>& entries,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace softslm
