#pragma once
// A small strict JSON parser (RFC 8259) producing a tree; used for safetensors headers and config.json.
// Strict means: no comments, no trailing commas, no NaN/Infinity, no duplicate object keys, valid UTF-8 only,
// nesting limited to 128 levels. Errors throw lfm2::Error("JSON: <problem> at offset <n>").
//
//   auto root = lfm2::json::parse(text);
//   int64_t layers = root.get("num_hidden_layers").as_int();
//   for (const auto& [key, value] : root.items()) ...       // object members in document order
//   for (const auto& v : root.get("layer_types").array()) ... // array elements
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lfm2::json {

enum class Type { Null, Bool, Number, String, Array, Object };

const char* type_name(Type t);

class Value {
 public:
  Value() = default;

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::Null; }
  bool is_bool() const { return type_ == Type::Bool; }
  bool is_number() const { return type_ == Type::Number; }
  bool is_string() const { return type_ == Type::String; }
  bool is_array() const { return type_ == Type::Array; }
  bool is_object() const { return type_ == Type::Object; }

  // Accessors throw lfm2::Error when the type does not match.
  bool as_bool() const;
  double as_number() const;
  // Exact integer value of a number written without fraction/exponent (e.g. 123, -4); throws otherwise or on overflow.
  int64_t as_int() const;
  uint64_t as_uint() const;
  const std::string& as_string() const;
  // The number exactly as written in the document.
  const std::string& number_text() const;

  const std::vector<Value>& array() const;                             // array elements
  const std::vector<std::pair<std::string, Value>>& items() const;     // object members, document order
  size_t size() const;                                                 // array or object length

  const Value* find(std::string_view key) const;   // object member or nullptr
  const Value& get(std::string_view key) const;    // object member; throws "missing key <key>"
  bool has(std::string_view key) const { return find(key) != nullptr; }
  const Value& at(size_t i) const;                 // array element; throws when out of range

  // Builders (used by the parser and tests).
  static Value null() { return Value(); }
  static Value boolean(bool b);
  static Value number(std::string text);
  static Value string(std::string s);
  static Value array(std::vector<Value> elems);
  static Value object(std::vector<std::pair<std::string, Value>> members);

 private:
  Type type_ = Type::Null;
  bool bool_ = false;
  double number_ = 0;
  std::string text_;  // string value or number text
  std::vector<Value> array_;
  std::vector<std::pair<std::string, Value>> object_;
};

Value parse(std::string_view text);

// True when `s` is well-formed UTF-8 (no overlong forms, surrogates or code points above U+10FFFF).
bool valid_utf8(std::string_view s);

// Appends `s` as a JSON string literal (quotes included) with the same escaping as JavaScript's JSON.stringify:
// \" \\ \b \f \n \r \t, other control characters as \u00xx, everything else (UTF-8) as is.
void append_quoted(std::string& out, std::string_view s);

}  // namespace lfm2::json
