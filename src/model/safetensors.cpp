#include "model/safetensors.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/io.h"

namespace softslm {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; big-endian hosts are not supported");

namespace {

using json = nlohmann::json;

constexpr uint64_t kMaxHeaderBytes = 100u << 20;  // the format's own limit (100 MB)

std::string shape_str(const std::vector<size_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); i++) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// Reads a non-negative integer array; false if `v` is not one.
bool read_uint_array(const json& v, std::vector<size_t>& out) {
  if (!v.is_array()) return false;
  out.clear();
  for (const json& x : v) {
    if (!x.is_number_unsigned()) return false;
    out.push_back(x.get<size_t>());
  }
  return true;
}

// Parses one header entry into t (t.name already set).
void parse_entry(const json& v, SafetensorsTensor& t, const std::string& path) {
  const std::string where = path + ": tensor '" + t.name + "'";
  check(v.is_object(), where, ": header entry is not a JSON object");
  for (const char* key : {"dtype", "shape", "data_offsets"})
    check(v.contains(key), where, ": header entry lacks \"", key, "\"");
  check(v["dtype"].is_string(), where, ": \"dtype\" is not a string");
  t.dtype = v["dtype"].get<std::string>();
  size_t esize = safetensors_dtype_size(t.dtype);
  check(esize != 0, where, ": unsupported dtype '", t.dtype, "'");
  check(read_uint_array(v["shape"], t.shape), where,
        ": \"shape\" is not an array of non-negative integers");
  std::vector<size_t> offs;
  check(read_uint_array(v["data_offsets"], offs) && offs.size() == 2, where,
        ": \"data_offsets\" is not a pair of non-negative integers");
  t.begin = offs[0];
  t.end = offs[1];
  check(t.begin <= t.end, where, ": data_offsets [", t.begin, ", ", t.end, "] are reversed");
  size_t bytes = esize;  // esize * prod(shape), with overflow checks
  for (size_t d : t.shape) {
    check(d == 0 || bytes <= std::numeric_limits<size_t>::max() / d, where, ": shape ",
          shape_str(t.shape), " is too large");
    bytes *= d;
  }
  check(bytes == t.end - t.begin, where, ": dtype ", t.dtype, " x shape ", shape_str(t.shape),
        " needs ", bytes, " bytes but data_offsets [", t.begin, ", ", t.end, "] span ",
        t.end - t.begin);
}

// Every byte of the data buffer must belong to exactly one tensor.
void check_layout(const std::vector<SafetensorsTensor>& tensors, size_t data_size,
                  const std::string& path) {
  std::vector<const SafetensorsTensor*> order;
  for (const auto& t : tensors) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](const auto* a, const auto* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  size_t pos = 0;
  const SafetensorsTensor* prev = nullptr;
  for (const auto* t : order) {
    check(t->end <= data_size, path, ": tensor '", t->name, "': data_offsets [", t->begin, ", ",
          t->end, "] are out of bounds of the ", data_size, "-byte data buffer");
    check(t->begin >= pos, path, ": tensor '", t->name, "' (bytes [", t->begin, ", ", t->end,
          "]) overlaps tensor '", prev ? prev->name : "", "' (ends at ", pos, ")");
    check(t->begin == pos, path, ": data buffer bytes [", pos, ", ", t->begin,
          ") belong to no tensor");
    pos = t->end;
    prev = t;
  }
  check(pos == data_size, path, ": data buffer bytes [", pos, ", ", data_size,
        ") belong to no tensor (trailing bytes)");
}

uint16_t load_u16(const char* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

}  // namespace

size_t safetensors_numel(const SafetensorsTensor& t) {
  size_t n = 1;
  for (size_t d : t.shape) n *= d;
  return n;
}

size_t safetensors_dtype_size(std::string_view dtype) {
  static const std::pair<std::string_view, size_t> kSizes[] = {
      {"F64", 8}, {"F32", 4}, {"F16", 2},  {"BF16", 2},    {"I64", 8},
      {"I32", 4}, {"I16", 2}, {"I8", 1},   {"U64", 8},     {"U32", 4},
      {"U16", 2}, {"U8", 1},  {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1}};
  for (const auto& [name, size] : kSizes)
    if (name == dtype) return size;
  return 0;
}

SafetensorsFile safetensors_read(const std::string& path) {
  return safetensors_parse(read_file(path, memory_available_bytes()), path);
}

SafetensorsFile safetensors_parse(std::string bytes, const std::string& path) {
  SafetensorsFile f;
  f.path = path;
  check(bytes.size() >= 8, path, ": file too short for a safetensors header (", bytes.size(),
        " bytes)");
  uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  check(n <= kMaxHeaderBytes, path, ": header length ", n, " is absurd (limit ", kMaxHeaderBytes,
        ")");
  check(n <= bytes.size() - 8, path, ": header length ", n, " runs past the end of the file (",
        bytes.size(), " bytes)");
  f.data_start = 8 + n;

  json header;
  try {
    header = json::parse(bytes.begin() + 8, bytes.begin() + 8 + n);
  } catch (const json::exception& e) {
    fail(path, ": safetensors header is not valid JSON (", library_message(e), ")");
  }
  check(header.is_object(), path, ": safetensors header is not a JSON object");

  for (const auto& [key, v] : header.items()) {
    if (key == "__metadata__") {
      check(v.is_object(), path, ": \"__metadata__\" is not a JSON object");
      for (const auto& [mk, mv] : v.items()) {
        check(mv.is_string(), path, ": __metadata__[\"", mk, "\"] is not a string");
        f.metadata[mk] = mv.get<std::string>();
      }
      continue;
    }
    SafetensorsTensor t;
    t.name = key;
    parse_entry(v, t, path);
    f.tensors.push_back(std::move(t));
  }
  std::sort(f.tensors.begin(), f.tensors.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  check_layout(f.tensors, bytes.size() - f.data_start, path);
  f.bytes = std::move(bytes);
  return f;
}

const SafetensorsTensor* safetensors_find(const SafetensorsFile& f, std::string_view name) {
  auto it =
      std::lower_bound(f.tensors.begin(), f.tensors.end(), name,
                       [](const SafetensorsTensor& t, std::string_view n) { return t.name < n; });
  return it != f.tensors.end() && it->name == name ? &*it : nullptr;
}

const char* safetensors_data(const SafetensorsFile& f, const SafetensorsTensor& t) {
  return f.bytes.data() + f.data_start + t.begin;
}

float f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;  // 5 bits, bias 15
  uint32_t mant = h & 0x3ff;        // 10 bits
  if (exp == 0) {                   // zero or subnormal: mant * 2^-24 (exact in float)
    float v = std::ldexp((float)mant, -24);
    return sign ? -v : v;
  }
  uint32_t bits;
  if (exp == 31)  // inf (mant 0) or NaN (payload kept, so it stays a NaN)
    bits = sign | 0x7f800000u | (mant << 13);
  else  // normal: rebias the exponent 15 -> 127
    bits = sign | ((exp - 15 + 127) << 23) | (mant << 13);
  return std::bit_cast<float>(bits);
}

void safetensors_to_f32(const SafetensorsFile& f, const SafetensorsTensor& t, float* out) {
  const char* src = safetensors_data(f, t);
  size_t n = safetensors_numel(t);
  if (t.dtype == "F32") {
    if (n) std::memcpy(out, src, n * 4);  // out may be null for an empty tensor
  } else if (t.dtype == "F16") {
    for (size_t i = 0; i < n; i++) out[i] = f16_to_f32(load_u16(src + 2 * i));
  } else if (t.dtype == "BF16") {
    for (size_t i = 0; i < n; i++) out[i] = bf16_to_f32(load_u16(src + 2 * i));
  } else if (t.dtype == "F64") {
    for (size_t i = 0; i < n; i++) {
      double d;
      std::memcpy(&d, src + 8 * i, 8);
      out[i] = (float)d;
    }
  } else {
    fail(f.path, ": tensor '", t.name, "' has dtype ", t.dtype,
         ", expected a floating-point dtype (F32, F16, BF16 or F64)");
  }
}

SafetensorsEntry safetensors_f32_entry(std::string name, std::vector<size_t> shape,
                                       const float* data) {
  size_t n = 1;
  for (size_t d : shape) n *= d;
  return {std::move(name), "F32", std::move(shape),
          std::string_view(reinterpret_cast<const char*>(data), n * sizeof(float))};
}

std::string safetensors_serialize(const std::vector<SafetensorsEntry>& entries,
                                  const std::map<std::string, std::string>& metadata) {
  std::vector<const SafetensorsEntry*> order;
  for (const auto& e : entries) order.push_back(&e);
  std::sort(order.begin(), order.end(),
            [](const auto* a, const auto* b) { return a->name < b->name; });

  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  size_t offset = 0;
  for (size_t i = 0; i < order.size(); i++) {
    const SafetensorsEntry& e = *order[i];
    check(e.name != "__metadata__", "safetensors: '__metadata__' is not a valid tensor name");
    check(i == 0 || order[i - 1]->name != e.name, "safetensors: duplicate tensor name '", e.name,
          "'");
    size_t bytes = safetensors_dtype_size(e.dtype);
    check(bytes != 0, "safetensors: tensor '", e.name, "': unsupported dtype '", e.dtype, "'");
    for (size_t d : e.shape) bytes *= d;
    check(bytes == e.data.size(), "safetensors: tensor '", e.name, "': ", e.data.size(),
          " bytes of data for dtype ", e.dtype, " x shape ", shape_str(e.shape), " (", bytes,
          " expected)");
    header[e.name] = {
        {"dtype", e.dtype}, {"shape", e.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // data buffer starts 8-byte aligned

  std::string out;
  out.reserve(8 + text.size() + offset);
  uint64_t n = text.size();
  out.append(reinterpret_cast<const char*>(&n), 8);
  out += text;
  for (const auto* e : order) out.append(e->data);
  return out;
}

void safetensors_write(const std::string& path, const std::vector<SafetensorsEntry>& entries,
                       const std::map<std::string, std::string>& metadata) {
  std::string bytes;
  try {
    bytes = safetensors_serialize(entries, metadata);
  } catch (const Error& e) {
    fail(path, ": ", e.what());
  }
  write_file_atomic(path, bytes);
}

}  // namespace softslm
