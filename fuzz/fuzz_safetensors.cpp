// safetensors files: safetensors_parse on the bytes, then every tensor through
// safetensors_to_f32 (F32/F16/BF16/F64 convert; other dtypes must throw Error).
#include <vector>

#include "fuzz_util.h"
#include "model/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace softslm;
  fuzz::expect_ok_or_error([&] {
    SafetensorsFile f = safetensors_parse(fuzz::text(data, size), "fuzz.safetensors");
    for (const SafetensorsTensor& t : f.tensors) {
      fuzz::require(safetensors_find(f, t.name) == &t, "safetensors_find finds each tensor");
      fuzz::require(t.end <= f.bytes.size() - f.data_start, "tensor within the data buffer");
      std::vector<float> out(safetensors_numel(t));
      fuzz::expect_ok_or_error([&] { safetensors_to_f32(f, t, out.data()); });
    }
  });
  return 0;
}
