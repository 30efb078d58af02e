// Prints llama.cpp's residual stream after every layer (`l_out-N`, last row: first 4 values) for
// one prompt, through the eval callback. Used with emulate.py (docs/TESTING.md, "Why llama.cpp's
// greedy tokens are matched up to near-ties"). Same context settings as llama_greedy.cpp.
// Build (after scripts/build_llama_cpp.sh; L = its vendor/llama.cpp, B = its build/bin):
//   c++ -std=c++17 -O2 -I $L/include -I $L/ggml/include dump_layers.cpp -o dump_layers
//     -L $B -lllama -lggml -lggml-base -Wl,-rpath,$B   (one line)
// Run: ./dump_layers MODEL.gguf ID ID ... > llama_layers.txt
#include "ggml-backend.h"
#include "ggml.h"
#include "llama.h"
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

static bool on_tensor(struct ggml_tensor * t, bool ask, void *) {
    const std::string n = t->name;
    const bool want = n.rfind("l_out-", 0) == 0;
    if (ask || !want || t->type != GGML_TYPE_F32) return ask ? want : true;
    std::vector<float> buf(ggml_nelements(t));
    ggml_backend_tensor_get(t, buf.data(), 0, ggml_nbytes(t));
    const long ne0 = t->ne[0], last = ggml_nelements(t) / ne0 - 1;
    printf("%s", n.c_str());
    for (int i = 0; i < 4; i++) printf(" %.6f", buf[last * ne0 + i]);
    printf("\n");
    return true;
}

int main(int argc, char ** argv) {
    if (argc < 3) { fprintf(stderr, "usage: %s MODEL.gguf ID...\n", argv[0]); return 2; }
    llama_backend_init();
    llama_model * model = llama_model_load_from_file(argv[1], llama_model_default_params());
    if (!model) return 1;
    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 512; cp.n_batch = 512; cp.n_threads = 1; cp.n_threads_batch = 1;
    cp.type_k = GGML_TYPE_F32; cp.type_v = GGML_TYPE_F32;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cp.cb_eval = on_tensor;
    llama_context * ctx = llama_init_from_model(model, cp);
    std::vector<llama_token> ids;
    for (int i = 2; i < argc; i++) ids.push_back(atoi(argv[i]));
    if (llama_decode(ctx, llama_batch_get_one(ids.data(), (int32_t) ids.size())) != 0) return 1;
    llama_free(ctx);
    llama_model_free(model);
    llama_backend_free();
    return 0;
}
