// Safetensors reader (mmap + the full validation of the reference implementation) and canonical writer.
// The writer's bytes are identical to lib/io/safetensors.ts writeSafetensors for the same input.
#include "io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>
#include <string_view>

#include "core/bf16.h"
#include "core/error.h"
#include "core/json.h"

namespace lfm2::io {

namespace {

constexpr uint64_t kMaxHeaderSize = 100'000'000;

struct DTypeEntry {
  const char* name;
  StDType type;
  unsigned bits;
};

// Every dtype of the format; the ones the engine does not use map to OTHER but still validate by size.
constexpr DTypeEntry kDTypes[] = {
    {"F64", StDType::F64, 64},     {"F32", StDType::F32, 32},         {"F16", StDType::F16, 16},
    {"BF16", StDType::BF16, 16},   {"I64", StDType::I64, 64},         {"I32", StDType::I32, 32},
    {"I16", StDType::OTHER, 16},   {"I8", StDType::I8, 8},            {"U64", StDType::OTHER, 64},
    {"U32", StDType::OTHER, 32},   {"U16", StDType::OTHER, 16},       {"U8", StDType::U8, 8},
    {"BOOL", StDType::BOOL, 8},    {"C64", StDType::OTHER, 64},       {"F8_E4M3", StDType::OTHER, 8},
    {"F8_E5M2", StDType::OTHER, 8}, {"F8_E8M0", StDType::OTHER, 8},   {"F8_E4M3FNUZ", StDType::OTHER, 8},
    {"F8_E5M2FNUZ", StDType::OTHER, 8}, {"F6_E2M3", StDType::OTHER, 6}, {"F6_E3M2", StDType::OTHER, 6},
    {"F4", StDType::OTHER, 4},
};

const DTypeEntry* find_dtype(std::string_view s) {
  for (const auto& d : kDTypes)
    if (s == d.name) return &d;
  return nullptr;
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); i++) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string quoted(std::string_view s) {
  std::string out;
  json::append_quoted(out, s);
  return out;
}

}  // namespace

const char* dtype_name(StDType t) {
  switch (t) {
    case StDType::F32: return "F32";
    case StDType::F16: return "F16";
    case StDType::BF16: return "BF16";
    case StDType::F64: return "F64";
    case StDType::I32: return "I32";
    case StDType::I64: return "I64";
    case StDType::U8: return "U8";
    case StDType::I8: return "I8";
    case StDType::BOOL: return "BOOL";
    case StDType::OTHER: return "OTHER";
  }
  return "OTHER";
}

size_t dtype_size(StDType t) {
  switch (t) {
    case StDType::F64:
    case StDType::I64: return 8;
    case StDType::F32:
    case StDType::I32: return 4;
    case StDType::F16:
    case StDType::BF16: return 2;
    case StDType::U8:
    case StDType::I8:
    case StDType::BOOL: return 1;
    case StDType::OTHER: return 0;
  }
  return 0;
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;  // cannot overflow: checked when the file was opened
  return n;
}

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  auto err = [&](const auto&... parts) { fail("safetensors ", path, ": ", parts...); };
  std::shared_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = path;

  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) err("cannot open: ", std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    err("cannot stat: ", std::strerror(e));
  }
  const uint64_t file_size = uint64_t(st.st_size);
  if (file_size < 8) {
    ::close(fd);
    err("file is ", file_size, " bytes, too small for the 8-byte header length");
  }
  void* map = mmap(nullptr, size_t(file_size), PROT_READ, MAP_PRIVATE, fd, 0);
  int map_errno = errno;
  ::close(fd);  // the mapping stays valid after close
  if (map == MAP_FAILED) err("mmap failed: ", std::strerror(map_errno));
  f->map_ = map;
  f->map_size_ = size_t(file_size);
  const auto* bytes = static_cast<const uint8_t*>(map);

  uint64_t n = 0;
  for (int k = 7; k >= 0; k--) n = (n << 8) | bytes[k];  // little-endian u64
  if (n > kMaxHeaderSize) err("header length ", n, " exceeds ", kMaxHeaderSize);
  if (8 + n > file_size) err("header length ", n, " runs past the end of the file (", file_size, " bytes)");
  std::string_view header(reinterpret_cast<const char*>(bytes + 8), size_t(n));
  if (header.empty() || header[0] != '{') err("header does not start with '{'");
  if (!json::valid_utf8(header)) err("header is not valid UTF-8");

  json::Value root;
  try {
    root = json::parse(header);
  } catch (const Error& e) {
    err("header is not valid JSON: ", e.what());
  }
  if (!root.is_object()) err("header is not a JSON object");

  for (const auto& [name, info] : root.items()) {
    if (name == "__metadata__") {
      if (!info.is_object()) err("__metadata__ is not an object of strings");
      for (const auto& [k, v] : info.items()) {
        if (!v.is_string()) err("__metadata__ value for ", quoted(k), " is not a string");
        f->metadata_[k] = v.as_string();
      }
      continue;
    }
    const std::string qn = quoted(name);
    if (!info.is_object()) err("tensor ", qn, ": entry is not an object");
    for (const auto& kv : info.items()) {
      if (kv.first != "dtype" && kv.first != "shape" && kv.first != "data_offsets")
        err("tensor ", qn, ": unexpected field ", quoted(kv.first));
    }
    const json::Value* dt = info.find("dtype");
    const json::Value* shape = info.find("shape");
    const json::Value* offs = info.find("data_offsets");
    if (!dt || !dt->is_string()) err("tensor ", qn, ": missing or non-string \"dtype\"");
    const DTypeEntry* d = find_dtype(dt->as_string());
    if (!d) err("tensor ", qn, ": unknown dtype ", quoted(dt->as_string()));
    auto is_index = [](const json::Value& v) {
      if (!v.is_number()) return false;
      const std::string& t = v.number_text();
      // Plain non-negative integer text below 2^63 (safetensors offsets/dims are usize; 19 digits keeps int64 exact).
      return t.find_first_not_of("0123456789") == std::string::npos && (t.size() < 19 || (t.size() == 19 && t <= "9223372036854775807"));
    };
    if (!shape || !shape->is_array()) err("tensor ", qn, ": \"shape\" must be an array of non-negative integers");
    for (const auto& dim : shape->array())
      if (!is_index(dim)) err("tensor ", qn, ": \"shape\" must be an array of non-negative integers");
    if (!offs || !offs->is_array() || offs->size() != 2 || !is_index(offs->at(0)) || !is_index(offs->at(1)))
      err("tensor ", qn, ": \"data_offsets\" must be [begin, end] with non-negative integers");

    TensorInfo t;
    t.name = name;
    t.dtype = d->type;
    t.dtype_str = d->name;
    for (const auto& dim : shape->array()) t.shape.push_back(int64_t(dim.as_uint()));
    t.begin = offs->at(0).as_uint();
    t.end = offs->at(1).as_uint();
    f->tensors_.push_back(std::move(t));
  }

  std::sort(f->tensors_.begin(), f->tensors_.end(), [](const TensorInfo& a, const TensorInfo& b) {
    if (a.begin != b.begin) return a.begin < b.begin;
    if (a.end != b.end) return a.end < b.end;
    return a.name < b.name;
  });
  uint64_t expected_begin = 0;
  for (const auto& t : f->tensors_) {
    const std::string qn = quoted(t.name);
    // Elements and bits with overflow checks; 2^53 matches the TypeScript reader's limit.
    uint64_t numel = 1;
    bool overflow = false;
    for (int64_t dim : t.shape) overflow |= __builtin_mul_overflow(numel, uint64_t(dim), &numel);
    uint64_t bits = 0;
    overflow |= __builtin_mul_overflow(numel, uint64_t(find_dtype(t.dtype_str)->bits), &bits);
    if (overflow || bits > (uint64_t(1) << 53) - 1) err("tensor ", qn, ": shape ", shape_str(t.shape), " is too large");
    if (bits % 8 != 0)
      err("tensor ", qn, ": ", t.dtype_str, " shape ", shape_str(t.shape), " is not a whole number of bytes");
    if (t.end < t.begin) err("tensor ", qn, ": data_offsets [", t.begin, ", ", t.end, "] end before begin");
    if (t.end - t.begin != bits / 8)
      err("tensor ", qn, ": ", t.dtype_str, " shape ", shape_str(t.shape), " needs ", bits / 8,
          " bytes but data_offsets [", t.begin, ", ", t.end, "] span ", t.end - t.begin);
    if (t.begin != expected_begin)
      err("tensor ", qn, ": data_offsets [", t.begin, ", ", t.end, "] leave a ",
          t.begin > expected_begin ? "hole" : "overlap", " (expected begin ", expected_begin, ")");
    expected_begin = t.end;
  }
  const uint64_t data_size = file_size - 8 - n;
  for (const auto& t : f->tensors_) {
    if (t.end > data_size)
      err("tensor ", quoted(t.name), ": data_offsets [", t.begin, ",", t.end, "] run past the data section (",
          data_size, " bytes; file truncated?)");
  }
  if (expected_begin < data_size) err(data_size - expected_begin, " trailing bytes after the last tensor");

  f->data_offset_ = 8 + n;
  for (size_t i = 0; i < f->tensors_.size(); i++) f->index_[f->tensors_[i].name] = i;
  return f;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) munmap(map_, map_size_);
}

const TensorInfo* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

const TensorInfo& SafetensorsFile::get(const std::string& name) const {
  const TensorInfo* t = find(name);
  LFM2_CHECK(t, "missing tensor ", name, " in ", path_);
  return *t;
}

const uint8_t* SafetensorsFile::data(const TensorInfo& t) const {
  return static_cast<const uint8_t*>(map_) + data_offset_ + t.begin;
}

namespace {

void check_shape(const SafetensorsFile& f, const TensorInfo& t, const std::vector<int64_t>& expected) {
  LFM2_CHECK(t.shape == expected, "safetensors ", f.path(), ": tensor ", t.name, " has shape ", shape_str(t.shape),
             ", expected ", shape_str(expected));
}

// Unaligned-safe element loads: the data section of a third-party file may start at any byte.
template <typename T>
inline T load(const uint8_t* p, int64_t i) {
  T v;
  std::memcpy(&v, p + i * int64_t(sizeof(T)), sizeof(T));
  return v;
}

}  // namespace

void SafetensorsFile::read_f32(const std::string& name, const std::vector<int64_t>& expected_shape, float* out) const {
  const TensorInfo& t = get(name);
  check_shape(*this, t, expected_shape);
  const uint8_t* p = data(t);
  const int64_t n = t.numel();
  switch (t.dtype) {
    case StDType::F32: std::memcpy(out, p, size_t(n) * 4); break;
    case StDType::BF16:
      for (int64_t i = 0; i < n; i++) out[i] = bf16_to_f32(load<uint16_t>(p, i));
      break;
    case StDType::F16:
      for (int64_t i = 0; i < n; i++) out[i] = f16_to_f32(load<uint16_t>(p, i));
      break;
    case StDType::F64:
      for (int64_t i = 0; i < n; i++) out[i] = float(load<double>(p, i));
      break;
    default: fail("safetensors ", path_, ": tensor ", name, " has dtype ", t.dtype_str, ", not a float type");
  }
}

void SafetensorsFile::read_bf16(const std::string& name, const std::vector<int64_t>& expected_shape,
                                uint16_t* out) const {
  const TensorInfo& t = get(name);
  check_shape(*this, t, expected_shape);
  const uint8_t* p = data(t);
  const int64_t n = t.numel();
  switch (t.dtype) {
    case StDType::BF16: std::memcpy(out, p, size_t(n) * 2); break;
    case StDType::F32:
      for (int64_t i = 0; i < n; i++) out[i] = f32_to_bf16(load<float>(p, i));
      break;
    case StDType::F16:  // f16 -> f32 is exact, so this rounds once
      for (int64_t i = 0; i < n; i++) out[i] = f32_to_bf16(f16_to_f32(load<uint16_t>(p, i)));
      break;
    default: fail("safetensors ", path_, ": tensor ", name, " has dtype ", t.dtype_str, ", not F32/F16/BF16");
  }
}

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  auto err = [&](const auto&... parts) { fail("safetensors ", path, ": ", parts...); };
  std::set<std::string> names;
  for (const auto& t : tensors) {
    if (t.name.empty()) err("tensor name must be a non-empty string");
    if (t.name == "__metadata__") err("\"__metadata__\" is not a valid tensor name");
    if (!names.insert(t.name).second) err("duplicate tensor name ", quoted(t.name));
    if (dtype_size(t.dtype) == 0) err("tensor ", quoted(t.name), ": dtype ", dtype_name(t.dtype), " cannot be written");
    uint64_t numel = 1;
    for (int64_t d : t.shape) {
      if (d < 0) err("tensor ", quoted(t.name), ": shape must be non-negative integers");
      if (__builtin_mul_overflow(numel, uint64_t(d), &numel)) err("tensor ", quoted(t.name), ": shape is too large");
    }
    uint64_t bytes = 0;
    if (__builtin_mul_overflow(numel, uint64_t(dtype_size(t.dtype)), &bytes)) err("tensor ", quoted(t.name), ": shape is too large");
    if (bytes > 0 && !t.data) err("tensor ", quoted(t.name), ": data is null");
  }
  std::vector<const TensorToWrite*> ordered;
  for (const auto& t : tensors) ordered.push_back(&t);
  std::sort(ordered.begin(), ordered.end(), [](const TensorToWrite* a, const TensorToWrite* b) {
    size_t sa = dtype_size(a->dtype), sb = dtype_size(b->dtype);
    if (sa != sb) return sa > sb;
    return a->name < b->name;  // std::string compares bytes = UTF-8 order, as the TypeScript writer does
  });

  std::map<std::string, std::string> meta = metadata;
  meta.emplace("format", "pt");  // keeps a caller-given value
  std::string h = "{\"__metadata__\":{";
  bool first = true;
  for (const auto& [k, v] : meta) {
    if (!first) h += ',';
    first = false;
    json::append_quoted(h, k);
    h += ':';
    json::append_quoted(h, v);
  }
  h += '}';
  std::vector<uint64_t> sizes;
  uint64_t offset = 0;
  for (const auto* t : ordered) {
    uint64_t numel = 1;
    for (int64_t d : t->shape) numel *= uint64_t(d);
    uint64_t bytes = numel * dtype_size(t->dtype);
    sizes.push_back(bytes);
    h += ',';
    json::append_quoted(h, t->name);
    h += ":{\"dtype\":\"";
    h += dtype_name(t->dtype);
    h += "\",\"shape\":[";
    for (size_t i = 0; i < t->shape.size(); i++) h += (i ? "," : "") + std::to_string(t->shape[i]);
    h += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + bytes) + "]}";
    offset += bytes;
  }
  h += '}';
  if (!json::valid_utf8(h)) err("a tensor name or metadata entry is not valid UTF-8");
  h.append((8 - h.size() % 8) % 8, ' ');
  if (h.size() > kMaxHeaderSize) err("header of ", h.size(), " bytes exceeds ", kMaxHeaderSize);

  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) err("cannot create ", tmp, ": ", std::strerror(errno));
  auto write_all = [&](const void* p, uint64_t n) {
    const auto* c = static_cast<const uint8_t*>(p);
    while (n > 0) {
      ssize_t w = ::write(fd, c, size_t(std::min<uint64_t>(n, uint64_t(1) << 30)));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        int e = errno;
        ::close(fd);
        ::unlink(tmp.c_str());
        err("write failed: ", std::strerror(e));
      }
      c += w;
      n -= uint64_t(w);
    }
  };
  uint8_t len[8];
  uint64_t hl = h.size();
  for (int k = 0; k < 8; k++) len[k] = uint8_t(hl >> (8 * k));
  write_all(len, 8);
  write_all(h.data(), h.size());
  for (size_t i = 0; i < ordered.size(); i++) write_all(ordered[i]->data, sizes[i]);
  int sync_rc = ::fsync(fd);
  int sync_errno = errno;
  int close_rc = ::close(fd);
  if (sync_rc != 0 || close_rc != 0) {
    int e = sync_rc != 0 ? sync_errno : errno;
    ::unlink(tmp.c_str());
    err("write failed: ", std::strerror(e));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    err("cannot rename ", tmp, " to ", path, ": ", std::strerror(e));
  }
}

}  // namespace lfm2::io
