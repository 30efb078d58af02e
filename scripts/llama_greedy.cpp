// llama_greedy.cpp — tiny reference driver over libllama (llama.cpp C API).
//
// Built by scripts/build_llama_cpp.sh against the llama.cpp vendored in the
// pinned llama-cpp-python sdist. Used to produce the reference fixtures in
// tests/fixtures/llama_cpp/ (see scripts/llama_reference.sh).
//
// Usage:
//   llama-greedy greedy   -m MODEL.gguf -f PROMPTS.jsonl [-n 32] [-t THREADS] [-c N_CTX] [-v]
//   llama-greedy tokenize -m MODEL.gguf -f TEXT_FILE     [--name NAME_IN_OUTPUT] [-v]
//   llama-greedy info     -m MODEL.gguf   (vocab facts as llama.cpp sees them: bos/eos/eot, add_bos, EOG set, pre, template)
//
// greedy: PROMPTS.jsonl holds one object per line: {"id": "...", "mode": "raw"|"chat", "text": "..."}.
//   chat: if the line has "rendered", that text is used as is (tokenized with parse_special);
//         otherwise text is rendered as a single user message with the model's own chat template
//         (llama_chat_apply_template, add_ass=true), then tokenized with
//         add_special=true, parse_special=true.
//   raw:  text is tokenized as is with add_special=true (llama adds BOS/EOS only
//         where the vocab says so, i.e. llama_vocab_get_add_bos), parse_special=false.
//   Then greedy-decodes up to -n tokens (argmax sampler), stopping early only at an
//   end-of-generation token (which is kept as the last element of "greedy").
//   Prints one JSON object per prompt:
//     {"id", "mode", "rendered", "prompt_tokens", "greedy", "stop": "eog"|"length", "text",
//      "top5": per step, the five largest [id, logit] pairs}
//   where "text" is the detokenized greedy output without a trailing EOG token.
// tokenize: prints {"text_file": NAME, "ids": [...]} for the file's bytes, tokenized with
//   add_special=false, parse_special=false.

#include "llama.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

static bool g_verbose = false;

static void log_cb(enum ggml_log_level level, const char * text, void * /*user*/) {
    static ggml_log_level last = GGML_LOG_LEVEL_INFO;
    if (level != GGML_LOG_LEVEL_CONT) last = level;
    if (g_verbose || last == GGML_LOG_LEVEL_WARN || last == GGML_LOG_LEVEL_ERROR) {
        fputs(text, stderr);
    }
}

[[noreturn]] static void die(const std::string & msg) {
    fprintf(stderr, "llama-greedy: error: %s\n", msg.c_str());
    exit(1);
}

// ---------------------------------------------------------------- minimal JSON

static void append_utf8(std::string & out, uint32_t cp) {
    if (cp < 0x80) {
        out += (char) cp;
    } else if (cp < 0x800) {
        out += (char) (0xC0 | (cp >> 6));
        out += (char) (0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += (char) (0xE0 | (cp >> 12));
        out += (char) (0x80 | ((cp >> 6) & 0x3F));
        out += (char) (0x80 | (cp & 0x3F));
    } else {
        out += (char) (0xF0 | (cp >> 18));
        out += (char) (0x80 | ((cp >> 12) & 0x3F));
        out += (char) (0x80 | ((cp >> 6) & 0x3F));
        out += (char) (0x80 | (cp & 0x3F));
    }
}

struct JsonParser {
    const std::string & s;
    size_t i = 0;
    explicit JsonParser(const std::string & s) : s(s) {}

    void ws() { while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')) i++; }
    void expect(char c) {
        ws();
        if (i >= s.size() || s[i] != c) throw std::runtime_error(std::string("expected '") + c + "'");
        i++;
    }
    uint32_t hex4() {
        if (i + 4 > s.size()) throw std::runtime_error("bad \\u escape");
        uint32_t v = (uint32_t) std::stoul(s.substr(i, 4), nullptr, 16);
        i += 4;
        return v;
    }
    std::string str() {
        expect('"');
        std::string out;
        while (true) {
            if (i >= s.size()) throw std::runtime_error("unterminated string");
            char c = s[i++];
            if (c == '"') break;
            if (c != '\\') { out += c; continue; }
            if (i >= s.size()) throw std::runtime_error("bad escape");
            char e = s[i++];
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
                    if (cp >= 0xD800 && cp < 0xDC00 && i + 6 <= s.size() && s[i] == '\\' && s[i + 1] == 'u') {
                        i += 2;
                        uint32_t lo = hex4();
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    }
                    append_utf8(out, cp);
                    break;
                }
                default: throw std::runtime_error("bad escape");
            }
        }
        return out;
    }
    // flat object of string values (other scalar values are skipped)
    std::vector<std::pair<std::string, std::string>> flat_object() {
        std::vector<std::pair<std::string, std::string>> kv;
        expect('{');
        ws();
        if (i < s.size() && s[i] == '}') { i++; return kv; }
        while (true) {
            std::string k = str();
            expect(':');
            ws();
            if (i < s.size() && s[i] == '"') {
                kv.emplace_back(k, str());
            } else {
                while (i < s.size() && s[i] != ',' && s[i] != '}') i++;
            }
            ws();
            if (i < s.size() && s[i] == ',') { i++; continue; }
            expect('}');
            break;
        }
        return kv;
    }
};

// JSON string escaping; invalid UTF-8 bytes become U+FFFD.
static std::string json_str(const std::string & in) {
    std::string out = "\"";
    size_t i = 0;
    const size_t n = in.size();
    while (i < n) {
        unsigned char c = (unsigned char) in[i];
        if (c < 0x80) {
            switch (c) {
                case '"': out += "\\\""; break;
                case '\\': out += "\\\\"; break;
                case '\n': out += "\\n"; break;
                case '\r': out += "\\r"; break;
                case '\t': out += "\\t"; break;
                default:
                    if (c < 0x20 || c == 0x7F) {
                        char buf[8];
                        snprintf(buf, sizeof(buf), "\\u%04x", c);
                        out += buf;
                    } else {
                        out += (char) c;
                    }
            }
            i++;
            continue;
        }
        int len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        bool ok = len > 0 && i + len <= n;
        for (int k = 1; ok && k < len; k++) ok = (((unsigned char) in[i + k]) & 0xC0) == 0x80;
        if (ok) {
            out.append(in, i, len);
            i += len;
        } else {
            out += "\xEF\xBF\xBD";
            i++;
        }
    }
    out += "\"";
    return out;
}

static std::string json_ids(const std::vector<llama_token> & ids) {
    std::string out = "[";
    for (size_t k = 0; k < ids.size(); k++) {
        if (k) out += ",";
        out += std::to_string(ids[k]);
    }
    out += "]";
    return out;
}

// ---------------------------------------------------------------- llama helpers

static std::string read_file(const std::string & path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) die("cannot open " + path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

static std::vector<llama_token> tokenize(const llama_vocab * vocab, const std::string & text, bool add_special, bool parse_special) {
    int n = -llama_tokenize(vocab, text.data(), (int32_t) text.size(), nullptr, 0, add_special, parse_special);
    if (n < 0) n = 0;  // non-negative return on a 0-capacity buffer means 0 tokens
    std::vector<llama_token> ids(n);
    int got = llama_tokenize(vocab, text.data(), (int32_t) text.size(), ids.data(), (int32_t) ids.size(), add_special, parse_special);
    if (got < 0) die("tokenize failed");
    ids.resize(got);
    return ids;
}

static std::string detokenize(const llama_vocab * vocab, const std::vector<llama_token> & ids) {
    if (ids.empty()) return "";
    std::string out(ids.size() * 16 + 16, '\0');
    int n = llama_detokenize(vocab, ids.data(), (int32_t) ids.size(), out.data(), (int32_t) out.size(), false, false);
    if (n < 0) {
        out.resize(-n);
        n = llama_detokenize(vocab, ids.data(), (int32_t) ids.size(), out.data(), (int32_t) out.size(), false, false);
    }
    if (n < 0) die("detokenize failed");
    out.resize(n);
    return out;
}

static std::string render_chat(const llama_model * model, const std::string & user_text) {
    const char * tmpl = llama_model_chat_template(model, nullptr);
    if (!tmpl) die("model has no tokenizer.chat_template");
    llama_chat_message msg = {"user", user_text.c_str()};
    std::vector<char> buf(user_text.size() * 2 + 1024);
    int n = llama_chat_apply_template(tmpl, &msg, 1, true, buf.data(), (int32_t) buf.size());
    if (n < 0) die("llama_chat_apply_template failed (template not supported by llama.cpp's built-in list?)");
    if ((size_t) n > buf.size()) {
        buf.resize(n);
        n = llama_chat_apply_template(tmpl, &msg, 1, true, buf.data(), (int32_t) buf.size());
    }
    return std::string(buf.data(), n);
}

// ---------------------------------------------------------------- main

int main(int argc, char ** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s greedy|tokenize|info -m MODEL.gguf -f FILE [-n N] [-t THREADS] [-c N_CTX] [--name NAME] [-v]\n", argv[0]);
        return 2;
    }
    const std::string cmd = argv[1];
    std::string model_path, file, name;
    int n_predict = 32, n_threads = 2, n_ctx = 2048;
    for (int a = 2; a < argc; a++) {
        std::string k = argv[a];
        auto next = [&]() -> std::string {
            if (a + 1 >= argc) die("missing value for " + k);
            return argv[++a];
        };
        if (k == "-m") model_path = next();
        else if (k == "-f") file = next();
        else if (k == "-n") n_predict = std::stoi(next());
        else if (k == "-t") n_threads = std::stoi(next());
        else if (k == "-c") n_ctx = std::stoi(next());
        else if (k == "--name") name = next();
        else if (k == "-v") g_verbose = true;
        else die("unknown argument " + k);
    }
    if (model_path.empty()) die("-m is required");
    if (file.empty() && cmd != "info") die("-f is required");
    if (cmd != "greedy" && cmd != "tokenize" && cmd != "info") die("unknown command " + cmd);

    llama_log_set(log_cb, nullptr);
    llama_backend_init();

    llama_model_params mparams = llama_model_default_params();
    mparams.n_gpu_layers = 0;
    llama_model * model = llama_model_load_from_file(model_path.c_str(), mparams);
    if (!model) die("failed to load " + model_path);
    const llama_vocab * vocab = llama_model_get_vocab(model);

    if (cmd == "info") {
        std::vector<llama_token> eog;
        for (llama_token t = 0; t < llama_vocab_n_tokens(vocab); t++) {
            if (llama_vocab_is_eog(vocab, t)) eog.push_back(t);
        }
        const char * tmpl = llama_model_chat_template(model, nullptr);
        char pre[256] = "";
        llama_model_meta_val_str(model, "tokenizer.ggml.pre", pre, sizeof(pre));
        printf("{\"n_vocab\":%d,\"bos\":%d,\"eos\":%d,\"eot\":%d,\"add_bos\":%s,\"add_eos\":%s,"
               "\"eog\":%s,\"pre\":%s,\"chat_template\":%s}\n",
               llama_vocab_n_tokens(vocab), llama_vocab_bos(vocab), llama_vocab_eos(vocab), llama_vocab_eot(vocab),
               llama_vocab_get_add_bos(vocab) ? "true" : "false", llama_vocab_get_add_eos(vocab) ? "true" : "false",
               json_ids(eog).c_str(), json_str(pre).c_str(), json_str(tmpl ? tmpl : "").c_str());
        llama_model_free(model);
        llama_backend_free();
        return 0;
    }

    if (cmd == "tokenize") {
        const std::string text = read_file(file);
        auto ids = tokenize(vocab, text, false, false);
        printf("{\"text_file\":%s,\"ids\":%s}\n", json_str(name.empty() ? file : name).c_str(), json_ids(ids).c_str());
        llama_model_free(model);
        llama_backend_free();
        return 0;
    }

    llama_context_params cparams = llama_context_default_params();
    cparams.n_ctx = n_ctx;
    cparams.n_batch = n_ctx;
    cparams.n_ubatch = 512;
    cparams.n_threads = n_threads;
    cparams.n_threads_batch = n_threads;
    cparams.no_perf = true;
    // f32 KV cache and no flash attention: attention is then plain f32 math, and the only
    // rounding that differs from an exact f32 forward is ggml's Q8 quantisation of activations
    // in quantised mat-muls (which kiln reproduces). With the defaults (f16 cache, flash
    // attention accumulating V in f16) near-tied argmaxes flip.
    cparams.type_k = GGML_TYPE_F32;
    cparams.type_v = GGML_TYPE_F32;
    cparams.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    llama_context * ctx = llama_init_from_model(model, cparams);
    if (!ctx) die("failed to create context");

    llama_sampler * smpl = llama_sampler_chain_init(llama_sampler_chain_default_params());
    llama_sampler_chain_add(smpl, llama_sampler_init_greedy());

    std::ifstream in(file, std::ios::binary);
    if (!in) die("cannot open " + file);
    std::string line;
    int lineno = 0;
    while (std::getline(in, line)) {
        lineno++;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        size_t p = line.find_first_not_of(" \t");
        if (p == std::string::npos || line[p] == '#') continue;

        std::string id, mode, text, pre_rendered;
        bool has_text = false, has_rendered = false;
        try {
            JsonParser jp(line);
            for (auto & kv : jp.flat_object()) {
                if (kv.first == "id") id = kv.second;
                else if (kv.first == "mode") mode = kv.second;
                else if (kv.first == "text") { text = kv.second; has_text = true; }
                else if (kv.first == "rendered") { pre_rendered = kv.second; has_rendered = true; }
            }
        } catch (const std::exception & e) {
            die(file + ":" + std::to_string(lineno) + ": bad JSON: " + e.what());
        }
        if (!has_text) die(file + ":" + std::to_string(lineno) + ": missing \"text\"");

        std::string rendered;
        std::vector<llama_token> prompt;
        if (mode == "chat" && has_rendered) {
            // Rendered outside (Jinja2, transformers' settings): the model's template verbatim.
            rendered = pre_rendered;
            prompt = tokenize(vocab, rendered, true, true);
        } else if (mode == "chat") {
            rendered = render_chat(model, text);
            prompt = tokenize(vocab, rendered, true, true);
        } else if (mode == "raw") {
            rendered = text;
            prompt = tokenize(vocab, rendered, true, false);
        } else {
            die(file + ":" + std::to_string(lineno) + ": mode must be raw or chat");
        }
        if (prompt.empty()) die("empty prompt for id " + id);
        if ((int) prompt.size() + n_predict > n_ctx) die("prompt too long for n_ctx, id " + id);

        llama_memory_clear(llama_get_memory(ctx), true);
        llama_sampler_reset(smpl);

        std::vector<llama_token> out;
        std::vector<llama_token> cur = prompt;
        std::string stop = "length";
        std::string tops = "[";
        const int n_vocab = llama_vocab_n_tokens(vocab);
        for (int step = 0; step < n_predict; step++) {
            if (llama_decode(ctx, llama_batch_get_one(cur.data(), (int32_t) cur.size())) != 0) {
                die("llama_decode failed for id " + id);
            }
            // The five largest logits of this step, for logit-level comparisons.
            const float * logits = llama_get_logits_ith(ctx, -1);
            std::vector<int> idx(n_vocab);
            for (int i = 0; i < n_vocab; i++) idx[i] = i;
            std::partial_sort(idx.begin(), idx.begin() + 5, idx.end(),
                              [&](int a, int b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
            tops += step ? ",[" : "[";
            for (int k = 0; k < 5; k++) {
                char buf[64];
                snprintf(buf, sizeof buf, "%s[%d,%.6g]", k ? "," : "", idx[k], logits[idx[k]]);
                tops += buf;
            }
            tops += "]";
            llama_token tok = llama_sampler_sample(smpl, ctx, -1);
            out.push_back(tok);
            if (llama_vocab_is_eog(vocab, tok)) { stop = "eog"; break; }
            cur.assign(1, tok);
        }
        std::vector<llama_token> shown = out;
        if (stop == "eog") shown.pop_back();
        tops += "]";

        printf("{\"id\":%s,\"mode\":%s,\"rendered\":%s,\"prompt_tokens\":%s,\"greedy\":%s,\"stop\":%s,\"text\":%s,\"top5\":%s}\n",
               json_str(id).c_str(), json_str(mode).c_str(), json_str(rendered).c_str(),
               json_ids(prompt).c_str(), json_ids(out).c_str(), json_str(stop).c_str(),
               json_str(detokenize(vocab, shown)).c_str(), tops.c_str());
        fflush(stdout);
    }

    llama_sampler_free(smpl);
    llama_free(ctx);
    llama_model_free(model);
    llama_backend_free();
    return 0;
}
