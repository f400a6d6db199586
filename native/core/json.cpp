// Strict recursive-descent JSON parser; see json.h for the rules it enforces.
#include "core/json.h"

#include <charconv>
#include <cmath>
#include <system_error>
#include <limits>
#include <unordered_set>

#include "core/error.h"

namespace lfm2::json {

const char* type_name(Type t) {
  switch (t) {
    case Type::Null: return "null";
    case Type::Bool: return "boolean";
    case Type::Number: return "number";
    case Type::String: return "string";
    case Type::Array: return "array";
    case Type::Object: return "object";
  }
  return "?";
}

namespace {
[[noreturn]] void type_error(Type want, Type got) {
  fail("JSON: expected ", type_name(want), ", got ", type_name(got));
}
}  // namespace

bool Value::as_bool() const {
  if (type_ != Type::Bool) type_error(Type::Bool, type_);
  return bool_;
}
double Value::as_number() const {
  if (type_ != Type::Number) type_error(Type::Number, type_);
  return number_;
}
const std::string& Value::number_text() const {
  if (type_ != Type::Number) type_error(Type::Number, type_);
  return text_;
}
uint64_t Value::as_uint() const {
  const std::string& t = number_text();
  LFM2_CHECK(t.find_first_of(".eE-") == std::string::npos, "JSON: expected a non-negative integer, got ", t);
  uint64_t v = 0;
  for (char c : t) {
    uint64_t d = uint64_t(c - '0');
    LFM2_CHECK(v <= (std::numeric_limits<uint64_t>::max() - d) / 10, "JSON: integer ", t, " does not fit in 64 bits");
    v = v * 10 + d;
  }
  return v;
}
int64_t Value::as_int() const {
  const std::string& t = number_text();
  LFM2_CHECK(t.find_first_of(".eE") == std::string::npos, "JSON: expected an integer, got ", t);
  bool neg = t[0] == '-';
  uint64_t v = 0;
  for (size_t i = neg ? 1 : 0; i < t.size(); i++) {
    uint64_t d = uint64_t(t[i] - '0');
    LFM2_CHECK(v <= (uint64_t(1) << 63) / 10, "JSON: integer ", t, " does not fit in 64 bits");
    v = v * 10 + d;
  }
  LFM2_CHECK(neg ? v <= (uint64_t(1) << 63) : v < (uint64_t(1) << 63), "JSON: integer ", t, " does not fit in 64 bits");
  return neg ? int64_t(0 - v) : int64_t(v);
}
const std::string& Value::as_string() const {
  if (type_ != Type::String) type_error(Type::String, type_);
  return text_;
}
const std::vector<Value>& Value::array() const {
  if (type_ != Type::Array) type_error(Type::Array, type_);
  return array_;
}
const std::vector<std::pair<std::string, Value>>& Value::items() const {
  if (type_ != Type::Object) type_error(Type::Object, type_);
  return object_;
}
size_t Value::size() const {
  if (type_ == Type::Array) return array_.size();
  if (type_ == Type::Object) return object_.size();
  fail("JSON: size() of a ", type_name(type_));
}
const Value* Value::find(std::string_view key) const {
  for (const auto& kv : items())
    if (kv.first == key) return &kv.second;
  return nullptr;
}
const Value& Value::get(std::string_view key) const {
  const Value* v = find(key);
  LFM2_CHECK(v, "JSON: missing key ", key);
  return *v;
}
const Value& Value::at(size_t i) const {
  const auto& a = array();
  LFM2_CHECK(i < a.size(), "JSON: index ", i, " out of range (array of ", a.size(), ")");
  return a[i];
}

Value Value::boolean(bool b) {
  Value v;
  v.type_ = Type::Bool;
  v.bool_ = b;
  return v;
}
Value Value::number(std::string text) {
  Value v;
  v.type_ = Type::Number;
  // from_chars is locale-independent (strtod would read "1.5" as 1 under a comma-decimal locale). Out-of-range
  // values come back as result_out_of_range; they are mapped to infinity so the parser can reject them.
  double d = 0;
  auto r = std::from_chars(text.data(), text.data() + text.size(), d);
  if (r.ec == std::errc::result_out_of_range) {
    // Overflow (huge exponent) is an error for the parser; underflow (1e-999) rounds to zero like JSON.parse.
    size_t e = text.find_first_of("eE");
    bool negative_exponent = e != std::string::npos && e + 1 < text.size() && text[e + 1] == '-';
    d = std::copysign(negative_exponent ? 0.0 : HUGE_VAL, text[0] == '-' ? -1.0 : 1.0);
  }
  v.number_ = d;
  v.text_ = std::move(text);
  return v;
}
Value Value::string(std::string s) {
  Value v;
  v.type_ = Type::String;
  v.text_ = std::move(s);
  return v;
}
Value Value::array(std::vector<Value> elems) {
  Value v;
  v.type_ = Type::Array;
  v.array_ = std::move(elems);
  return v;
}
Value Value::object(std::vector<std::pair<std::string, Value>> members) {
  Value v;
  v.type_ = Type::Object;
  v.object_ = std::move(members);
  return v;
}

namespace {

constexpr int kMaxDepth = 128;

struct Parser {
  std::string_view s;
  size_t i = 0;

  [[noreturn]] void error(const char* what) const { fail("JSON: ", what, " at offset ", i); }

  void ws() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')) i++;
  }

  static void put_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += char(cp);
    } else if (cp < 0x800) {
      out += char(0xc0 | (cp >> 6));
      out += char(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      out += char(0xe0 | (cp >> 12));
      out += char(0x80 | ((cp >> 6) & 0x3f));
      out += char(0x80 | (cp & 0x3f));
    } else {
      out += char(0xf0 | (cp >> 18));
      out += char(0x80 | ((cp >> 12) & 0x3f));
      out += char(0x80 | ((cp >> 6) & 0x3f));
      out += char(0x80 | (cp & 0x3f));
    }
  }

  uint32_t hex4() {
    if (i + 4 > s.size()) error("truncated \\u escape");
    uint32_t v = 0;
    for (int k = 0; k < 4; k++) {
      char c = s[i++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= uint32_t(c - '0');
      else if (c >= 'a' && c <= 'f') v |= uint32_t(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= uint32_t(c - 'A' + 10);
      else error("bad \\u escape");
    }
    return v;
  }

  // Validates one UTF-8 sequence starting at s[i] (lead byte >= 0x80), appends it, advances.
  void utf8_char(std::string& out) {
    auto b = [&](size_t k) { return uint8_t(s[i + k]); };
    uint8_t c = b(0);
    size_t n;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) n = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef) n = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4) n = 4, cp = c & 0x07;
    else error("invalid UTF-8");
    if (i + n > s.size()) error("invalid UTF-8 (truncated sequence)");
    for (size_t k = 1; k < n; k++) {
      if ((b(k) & 0xc0) != 0x80) error("invalid UTF-8");
      cp = (cp << 6) | (b(k) & 0x3f);
    }
    // Reject overlong forms, surrogates and code points above U+10FFFF.
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
      error("invalid UTF-8");
    out.append(s.data() + i, n);
    i += n;
  }

  std::string str() {
    i++;  // opening quote
    std::string out;
    for (;;) {
      if (i >= s.size()) error("unterminated string");
      uint8_t c = uint8_t(s[i]);
      if (c == '"') {
        i++;
        return out;
      }
      if (c < 0x20) error("control character in string");
      if (c >= 0x80) {
        utf8_char(out);
        continue;
      }
      if (c != '\\') {
        out += char(c);
        i++;
        continue;
      }
      if (i + 1 >= s.size()) error("unterminated string");
      char e = s[i + 1];
      i += 2;
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t cp = hex4();
          if (cp >= 0xd800 && cp <= 0xdbff) {
            if (i + 2 > s.size() || s[i] != '\\' || s[i + 1] != 'u') error("unpaired surrogate in \\u escape");
            i += 2;
            uint32_t lo = hex4();
            if (lo < 0xdc00 || lo > 0xdfff) error("unpaired surrogate in \\u escape");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          } else if (cp >= 0xdc00 && cp <= 0xdfff) {
            error("unpaired surrogate in \\u escape");
          }
          put_utf8(out, cp);
          break;
        }
        default:
          i -= 2;
          error("bad escape");
      }
    }
  }

  Value num() {
    size_t start = i;
    auto digit = [&] { return i < s.size() && s[i] >= '0' && s[i] <= '9'; };
    if (s[i] == '-') i++;
    if (i < s.size() && s[i] == '0') {
      i++;
    } else if (digit()) {
      while (digit()) i++;
    } else {
      error("invalid number");
    }
    if (i < s.size() && s[i] == '.') {
      i++;
      if (!digit()) error("invalid number");
      while (digit()) i++;
    }
    if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
      i++;
      if (i < s.size() && (s[i] == '+' || s[i] == '-')) i++;
      if (!digit()) error("invalid number");
      while (digit()) i++;
    }
    Value v = Value::number(std::string(s.substr(start, i - start)));
    if (!std::isfinite(v.as_number())) {
      i = start;
      error("number out of range");
    }
    return v;
  }

  void literal(std::string_view word) {
    if (s.substr(i, word.size()) != word) error("invalid literal");
    i += word.size();
  }

  Value value(int depth) {
    if (depth > kMaxDepth) error("nesting too deep");
    ws();
    if (i >= s.size()) error("unexpected end of input");
    char c = s[i];
    if (c == '{') {
      i++;
      std::vector<std::pair<std::string, Value>> members;
      std::unordered_set<std::string> keys;
      ws();
      if (i < s.size() && s[i] == '}') {
        i++;
        return Value::object(std::move(members));
      }
      for (;;) {
        ws();
        if (i >= s.size() || s[i] != '"') error("expected a string key");
        size_t key_pos = i;
        std::string key = str();
        if (!keys.insert(key).second) {
          i = key_pos;
          fail("JSON: duplicate key \"", key, "\" at offset ", key_pos);
        }
        ws();
        if (i >= s.size() || s[i] != ':') error("expected ':'");
        i++;
        Value v = value(depth + 1);
        members.emplace_back(std::move(key), std::move(v));
        ws();
        if (i < s.size() && s[i] == ',') {
          i++;
          continue;
        }
        if (i < s.size() && s[i] == '}') {
          i++;
          return Value::object(std::move(members));
        }
        error("expected ',' or '}'");
      }
    }
    if (c == '[') {
      i++;
      std::vector<Value> elems;
      ws();
      if (i < s.size() && s[i] == ']') {
        i++;
        return Value::array(std::move(elems));
      }
      for (;;) {
        elems.push_back(value(depth + 1));
        ws();
        if (i < s.size() && s[i] == ',') {
          i++;
          continue;
        }
        if (i < s.size() && s[i] == ']') {
          i++;
          return Value::array(std::move(elems));
        }
        error("expected ',' or ']'");
      }
    }
    if (c == '"') return Value::string(str());
    if (c == 't') return literal("true"), Value::boolean(true);
    if (c == 'f') return literal("false"), Value::boolean(false);
    if (c == 'n') return literal("null"), Value::null();
    if (c == '-' || (c >= '0' && c <= '9')) return num();
    error("unexpected character");
  }
};

}  // namespace

Value parse(std::string_view text) {
  Parser p{text};
  Value v = p.value(0);
  p.ws();
  if (p.i != text.size()) p.error("trailing characters after the JSON value");
  return v;
}

bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    uint8_t c = uint8_t(s[i]);
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t n;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) n = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef) n = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4) n = 4, cp = c & 0x07;
    else return false;
    if (i + n > s.size()) return false;
    for (size_t k = 1; k < n; k++) {
      uint8_t b = uint8_t(s[i + k]);
      if ((b & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += n;
  }
  return true;
}

void append_quoted(std::string& out, std::string_view s) {
  static const char* hex = "0123456789abcdef";
  out += '"';
  for (char ch : s) {
    uint8_t c = uint8_t(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

}  // namespace lfm2::json
