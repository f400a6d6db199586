#pragma once
// Safetensors reading (mmap, strict validation) and writing (canonical layout, atomic rename).
// Format: [u64 LE header length N][N bytes JSON header][data]; offsets in the header are relative to the data.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace lfm2::io {

enum class StDType { F32, F16, BF16, F64, I32, I64, U8, I8, BOOL, OTHER };

const char* dtype_name(StDType t);
size_t dtype_size(StDType t);  // bytes per element (0 for OTHER)

struct TensorInfo {
  std::string name;
  StDType dtype;
  std::string dtype_str;       // as written in the header
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte offsets relative to the data section
  int64_t numel() const;
};

// A read-only, memory-mapped safetensors file. Every check of the format is done in open(); a malformed file
// throws lfm2::Error naming the file and the problem (truncated header, bad JSON, unknown dtype, shape/size
// mismatch, overlapping or out-of-range offsets, trailing bytes, ...).
class SafetensorsFile {
 public:
  static std::shared_ptr<SafetensorsFile> open(const std::string& path);
  ~SafetensorsFile();

  const std::string& path() const { return path_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const TensorInfo* find(const std::string& name) const;      // nullptr when absent
  const TensorInfo& get(const std::string& name) const;       // throws "missing tensor <name> in <file>"
  const uint8_t* data(const TensorInfo& t) const;              // pointer into the mapping (may be unaligned)
  uint64_t header_length() const { return data_offset_ - 8; }  // N, the JSON header's size in bytes (padding included)

  // Copies a tensor into FP32 (F32/F16/BF16 sources) after checking its shape; throws on mismatch.
  void read_f32(const std::string& name, const std::vector<int64_t>& expected_shape, float* out) const;
  // Copies a tensor into BF16 (BF16 exact; F32/F16 rounded to nearest even).
  void read_bf16(const std::string& name, const std::vector<int64_t>& expected_shape, uint16_t* out) const;

 private:
  SafetensorsFile() = default;
  std::string path_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  uint64_t data_offset_ = 0;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

struct TensorToWrite {
  std::string name;
  StDType dtype;
  std::vector<int64_t> shape;
  const void* data;  // numel * dtype_size bytes, little-endian row-major
};

// Writes a canonical file: tensors sorted by (dtype alignment desc, name), header space-padded to a multiple of
// 8 bytes, __metadata__ first (always containing "format":"pt"). Writes to <path>.tmp then renames.
void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace lfm2::io
