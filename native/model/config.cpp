#include "model/config.h"

#include <climits>
#include <cmath>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/json.h"

namespace lfm2 {

int64_t Lfm2Config::num_attention_layers() const {
  int64_t n = 0;
  for (bool a : is_attention) n += a ? 1 : 0;
  return n;
}

int64_t Lfm2Config::attention_index(int64_t layer) const {
  if (!is_attention[size_t(layer)]) return -1;
  int64_t n = 0;
  for (int64_t l = 0; l < layer; ++l) n += is_attention[size_t(l)] ? 1 : 0;
  return n;
}

int64_t Lfm2Config::conv_index(int64_t layer) const {
  if (is_attention[size_t(layer)]) return -1;
  int64_t n = 0;
  for (int64_t l = 0; l < layer; ++l) n += is_attention[size_t(l)] ? 0 : 1;
  return n;
}

int64_t lfm2_ffn_width(int64_t ff, bool auto_adjust, double multiplier, int64_t multiple_of) {
  if (auto_adjust) {
    ff = int64_t(2 * ff / 3);  // Python int(2*ff/3): truncation toward zero of a float division
    if (multiplier != 0.0) ff = int64_t(multiplier * double(ff));
    ff = multiple_of * ((ff + multiple_of - 1) / multiple_of);
  }
  return ff;
}

namespace {

const json::Value* first_of(const json::Value& root, std::initializer_list<const char*> keys) {
  for (const char* k : keys) {
    const json::Value* v = root.find(k);
    if (v && !v->is_null()) return v;
  }
  return nullptr;
}

struct Reader {
  const json::Value& root;
  const std::string& source;

  const json::Value& require(std::initializer_list<const char*> keys) const {
    const json::Value* v = first_of(root, keys);
    if (!v) fail(source, ": missing key \"", *keys.begin(), "\"");
    return *v;
  }
  int64_t to_int(const json::Value& v, const char* key) const {
    LFM2_CHECK(v.is_number(), source, ": \"", key, "\" must be a number, got ", json::type_name(v.type()));
    double d = v.as_number();
    LFM2_CHECK(std::floor(d) == d && std::fabs(d) < 9e15, source, ": \"", key, "\" must be an integer, got ",
               v.number_text());
    return int64_t(d);
  }
  int64_t integer(std::initializer_list<const char*> keys) const { return to_int(require(keys), *keys.begin()); }
  int64_t integer_or(std::initializer_list<const char*> keys, int64_t dflt) const {
    const json::Value* v = first_of(root, keys);
    return v ? to_int(*v, *keys.begin()) : dflt;
  }
  double number_or(std::initializer_list<const char*> keys, double dflt) const {
    const json::Value* v = first_of(root, keys);
    if (!v) return dflt;
    LFM2_CHECK(v->is_number(), source, ": \"", *keys.begin(), "\" must be a number");
    return v->as_number();
  }
  bool boolean_or(std::initializer_list<const char*> keys, bool dflt) const {
    const json::Value* v = first_of(root, keys);
    if (!v) return dflt;
    LFM2_CHECK(v->is_bool(), source, ": \"", *keys.begin(), "\" must be true or false");
    return v->as_bool();
  }
};

}  // namespace

Lfm2Config parse_lfm2_config(std::string_view text, const std::string& source) {
  json::Value root;
  try {
    root = json::parse(text);
  } catch (const Error& e) {
    fail(source, ": ", e.what());
  }
  LFM2_CHECK(root.is_object(), source, ": expected a JSON object");
  Reader rd{root, source};
  if (const json::Value* mt = root.find("model_type"))
    LFM2_CHECK(mt->is_string() && mt->as_string() == "lfm2", source, ": model_type must be \"lfm2\"");

  Lfm2Config c;
  c.vocab_size = rd.integer({"vocab_size"});
  c.hidden_size = rd.integer({"hidden_size", "block_dim", "conv_dim"});
  c.num_layers = rd.integer({"num_hidden_layers"});
  c.num_heads = rd.integer({"num_attention_heads", "num_heads"});
  c.num_kv_heads = rd.integer_or({"num_key_value_heads"}, c.num_heads);
  LFM2_CHECK(c.vocab_size > 0 && c.hidden_size > 0 && c.num_layers > 0 && c.num_heads > 0 && c.num_kv_heads > 0,
             source, ": vocab_size, hidden_size, num_hidden_layers and head counts must be positive");
  LFM2_CHECK(c.hidden_size % c.num_heads == 0, source, ": hidden_size ", c.hidden_size,
             " is not divisible by num_attention_heads ", c.num_heads);
  LFM2_CHECK(c.num_heads % c.num_kv_heads == 0, source, ": num_attention_heads ", c.num_heads,
             " is not a multiple of num_key_value_heads ", c.num_kv_heads);
  c.head_dim = c.hidden_size / c.num_heads;
  LFM2_CHECK(c.head_dim % 2 == 0, source, ": head_dim ", c.head_dim, " must be even for RoPE");

  // Layer kinds: layer_types (newer) or full_attn_idxs (older); both must agree when present.
  c.is_attention.assign(size_t(c.num_layers), false);
  const json::Value* types = first_of(root, {"layer_types"});
  const json::Value* idxs = first_of(root, {"full_attn_idxs"});
  LFM2_CHECK(types || idxs, source, ": missing key \"layer_types\" (or \"full_attn_idxs\")");
  if (types) {
    LFM2_CHECK(types->is_array() && int64_t(types->size()) == c.num_layers, source,
               ": \"layer_types\" must be an array of num_hidden_layers = ", c.num_layers, " strings");
    for (int64_t l = 0; l < c.num_layers; ++l) {
      const json::Value& t = types->at(size_t(l));
      LFM2_CHECK(t.is_string() && (t.as_string() == "conv" || t.as_string() == "full_attention"), source,
                 ": layer_types[", l, "] must be \"conv\" or \"full_attention\"");
      c.is_attention[size_t(l)] = t.as_string() == "full_attention";
    }
  }
  if (idxs) {
    LFM2_CHECK(idxs->is_array(), source, ": \"full_attn_idxs\" must be an array");
    std::vector<bool> from_idx(size_t(c.num_layers), false);
    for (const auto& v : idxs->array()) {
      int64_t i = rd.to_int(v, "full_attn_idxs");
      LFM2_CHECK(i >= 0 && i < c.num_layers, source, ": full_attn_idxs entry ", i, " is out of range");
      from_idx[size_t(i)] = true;
    }
    LFM2_CHECK(!types || from_idx == c.is_attention, source, ": layer_types and full_attn_idxs disagree");
    c.is_attention = from_idx;
  }

  c.block_ff_dim = rd.integer({"intermediate_size", "block_ff_dim"});
  c.block_auto_adjust_ff_dim = rd.boolean_or({"block_auto_adjust_ff_dim"}, true);
  c.block_ffn_dim_multiplier = rd.number_or({"block_ffn_dim_multiplier"}, 0.0);
  c.block_multiple_of = rd.integer_or({"block_multiple_of"}, 256);
  LFM2_CHECK(c.block_ff_dim > 0 && c.block_multiple_of > 0, source,
             ": intermediate_size and block_multiple_of must be positive");
  c.ff_dim = lfm2_ffn_width(c.block_ff_dim, c.block_auto_adjust_ff_dim, c.block_ffn_dim_multiplier,
                            c.block_multiple_of);

  c.conv_L_cache = rd.integer_or({"conv_L_cache"}, 3);
  c.norm_eps = rd.number_or({"norm_eps", "block_norm_eps"}, 1e-5);
  double theta = rd.number_or({"rope_theta", "theta"}, 1e6);
  if (const json::Value* rp = first_of(root, {"rope_parameters"}))  // transformers v5 layout
    if (rp->is_object() && rp->find("rope_theta")) theta = rp->get("rope_theta").as_number();
  c.rope_theta = theta;
  LFM2_CHECK(c.norm_eps > 0 && c.rope_theta > 0, source, ": norm_eps and rope_theta must be positive");
  c.tie_embedding = rd.boolean_or({"tie_word_embeddings", "tie_embedding"}, true);
  c.max_position_embeddings = rd.integer_or({"max_position_embeddings"}, 128000);
  LFM2_CHECK(c.max_position_embeddings > 0 && c.max_position_embeddings <= INT32_MAX, source,
             ": max_position_embeddings must be in [1, 2^31)");
  c.bos_token_id = rd.integer_or({"bos_token_id"}, 1);
  // eos_token_id may be a list in some configs; the first entry is the primary stop token.
  if (const json::Value* eos = first_of(root, {"eos_token_id"}); eos && eos->is_array()) {
    LFM2_CHECK(eos->size() > 0, source, ": \"eos_token_id\" is an empty list");
    c.eos_token_id = rd.to_int(eos->at(0), "eos_token_id");
  } else {
    c.eos_token_id = rd.integer_or({"eos_token_id"}, 7);
  }
  c.pad_token_id = rd.integer_or({"pad_token_id"}, 0);
  return c;
}

Lfm2Config load_lfm2_config(const std::string& model_dir) {
  const std::string path = model_dir + "/config.json";
  std::ifstream f(path, std::ios::binary);
  LFM2_CHECK(f.good(), "cannot open ", path);
  std::ostringstream ss;
  ss << f.rdbuf();
  return parse_lfm2_config(ss.str(), path);
}

}  // namespace lfm2
