/*
 * paligemma: run a PaliGemma checkpoint on one image and one prompt.
 *
 *   paligemma --model DIR --image photo.png --prompt "caption en"
 *
 * The request is built as PaliGemma expects (image tokens, <bos>, prompt,
 * "\n"), the model generates, and the answer is printed on stdout. Progress
 * and timings go to stderr. Run with --help for every option.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "12_paligemma/activation_dump.h"
#include "12_paligemma/boxes.h"
#include "12_paligemma/paligemma.h"
#include "13_image_preprocessing/image_preprocessing.h"
#include "14_tokenizer/tokenizer.h"
#include "io.h"
#include "npy.h"

#define PROGRAM "paligemma"
/* Status for every error: bad options, unreadable or invalid inputs, failed runs. */
#define EXIT_ERROR 2

static void print_help(FILE *out)
{
    fprintf(out,
            "usage: paligemma --model DIR (--image FILE | --pixel-values FILE.npy)\n"
            "                 (--prompt TEXT | --input-ids IDS) [options]\n"
            "\n"
            "Runs a PaliGemma checkpoint in the Hugging Face layout on one image and prints the answer.\n"
            "\n"
            "  --model DIR           checkpoint folder: config.json, model.safetensors (or shards with\n"
            "                        model.safetensors.index.json) and tokenizer.model\n"
            "  --image FILE          image (PNG, JPEG, BMP, GIF, PNM), resized to the model's image_size\n"
            "  --pixel-values FILE   preprocessed pixels instead of --image: float32 .npy of shape\n"
            "                        [3, image_size, image_size]\n"
            "  --prompt TEXT         task prompt, e.g. \"caption en\"; the image tokens, <bos> and the\n"
            "                        final newline are added as PaliGemma expects\n"
            "  --input-ids IDS       the whole prompt as comma-separated token ids (image tokens, <bos>,\n"
            "                        text, newline) instead of --prompt\n"
            "  --max-tokens N        most tokens to generate (default 32)\n"
            "  --temperature T       0 for greedy decoding (default); above 0 samples from\n"
            "                        softmax(logits / T)\n"
            "  --top-p P             with sampling, keep the most likely tokens up to mass P, in (0, 1]\n"
            "                        (default 1)\n"
            "  --seed S              seed of the sampling random numbers (default 0)\n"
            "  --print-ids           also print the generated token ids on a line of their own\n"
            "  --ignore-eos          keep generating after <eos> until --max-tokens (for benchmarks)\n"
            "  --dump-activations DIR\n"
            "                        write every intermediate tensor as DIR/<name>.npy, and their\n"
            "                        order, dtype and shape to DIR/index.txt (see docs/numerics.md)\n"
            "  --boxes OUT.png       for a detection answer (<locY1><locX1><locY2><locX2> label ; ...),\n"
            "                        draw the boxes and labels on the --image and write it to OUT.png\n"
            "  --help                print this help\n"
            "\n"
            "Exit status: 0 on success, 2 on any error (the message says what and where).\n");
}

typedef struct {
    const char *model;
    const char *image;
    const char *pixel_values;
    const char *prompt;
    const char *input_ids;
    int max_tokens;
    float temperature;
    float top_p;
    unsigned long long seed;
    int print_ids;
    int ignore_eos;
    const char *dump_activations;
    const char *boxes;
} options;

static void usage_error(const char *format, const char *value)
{
    fprintf(stderr, PROGRAM ": ");
    fprintf(stderr, format, value);
    fprintf(stderr, "\nRun 'paligemma --help' for the options.\n");
    exit(EXIT_ERROR);
}

/* Parses an integer option value in [min, max] or exits with a message. */
static long parse_long(const char *option, const char *text, long min, long max)
{
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < min || value > max) {
        fprintf(stderr, PROGRAM ": invalid value '%s' for %s: expected an integer from %ld to %ld\n", text, option,
                min, max);
        exit(EXIT_ERROR);
    }
    return value;
}

/* Parses a number option value in [min, max] or exits with a message. */
static float parse_float(const char *option, const char *text, float min, float max)
{
    char *end;
    errno = 0;
    float value = strtof(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !(value >= min && value <= max)) {
        fprintf(stderr, PROGRAM ": invalid value '%s' for %s: expected a number from %g to %g\n", text, option,
                (double)min, (double)max);
        exit(EXIT_ERROR);
    }
    return value;
}

static options parse_options(int argc, char **argv)
{
    options o = {.max_tokens = 32, .temperature = 0.0f, .top_p = 1.0f};
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            print_help(stdout);
            exit(0);
        }
        if (strcmp(arg, "--ignore-eos") == 0) {
            o.ignore_eos = 1;
            continue;
        }
        if (strcmp(arg, "--print-ids") == 0) {
            o.print_ids = 1;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0)
            usage_error("unexpected argument '%s': every value follows its option, as in --prompt TEXT", arg);
        static const char *const valued[] = {"--model", "--image", "--pixel-values", "--prompt", "--input-ids",
                                             "--max-tokens", "--temperature", "--top-p", "--seed",
                                             "--dump-activations", "--boxes"};
        int known = 0;
        for (size_t k = 0; k < sizeof valued / sizeof valued[0]; k++)
            known = known || strcmp(arg, valued[k]) == 0;
        if (!known)
            usage_error("unknown option %s", arg);
        if (i + 1 >= argc)
            usage_error("option %s needs a value", arg);
        const char *value = argv[++i];
        if (strcmp(arg, "--model") == 0)
            o.model = value;
        else if (strcmp(arg, "--image") == 0)
            o.image = value;
        else if (strcmp(arg, "--pixel-values") == 0)
            o.pixel_values = value;
        else if (strcmp(arg, "--prompt") == 0)
            o.prompt = value;
        else if (strcmp(arg, "--input-ids") == 0)
            o.input_ids = value;
        else if (strcmp(arg, "--max-tokens") == 0)
            o.max_tokens = (int)parse_long(arg, value, 1, 1000000);
        else if (strcmp(arg, "--temperature") == 0)
            o.temperature = parse_float(arg, value, 0.0f, 100.0f);
        else if (strcmp(arg, "--top-p") == 0)
            o.top_p = parse_float(arg, value, 1e-6f, 1.0f);
        else if (strcmp(arg, "--dump-activations") == 0)
            o.dump_activations = value;
        else if (strcmp(arg, "--boxes") == 0)
            o.boxes = value;
        else if (strcmp(arg, "--seed") == 0)
            o.seed = (unsigned long long)parse_long(arg, value, 0, LONG_MAX);
        else
            usage_error("unknown option %s", arg);
    }
    if (o.model == NULL)
        usage_error("%s", "missing --model DIR");
    if ((o.image == NULL) == (o.pixel_values == NULL))
        usage_error("%s", "give exactly one of --image FILE and --pixel-values FILE.npy");
    if ((o.prompt == NULL) == (o.input_ids == NULL))
        usage_error("%s", "give exactly one of --prompt TEXT and --input-ids IDS");
    if (o.boxes != NULL && o.image == NULL)
        usage_error("%s", "--boxes draws on the --image FILE: give --image instead of --pixel-values");
    return o;
}

/* Parses "1,2,3" into a new array. */
static int *parse_id_list(const char *text, int *count)
{
    int capacity = 1;
    for (const char *c = text; *c; c++)
        capacity += *c == ',';
    int *ids = pg_xcalloc((size_t)capacity, sizeof(int), "the prompt ids");
    *count = 0;
    const char *cursor = text;
    while (*cursor) {
        char *end;
        errno = 0;
        long value = strtol(cursor, &end, 10);
        if (errno != 0 || end == cursor || value < 0 || value > INT_MAX || (*end != ',' && *end != '\0')) {
            fprintf(stderr, PROGRAM ": invalid value for --input-ids at '%s': expected comma-separated "
                    "non-negative integers\n", cursor);
            exit(EXIT_ERROR);
        }
        ids[(*count)++] = (int)value;
        cursor = *end == ',' ? end + 1 : end;
    }
    if (*count == 0)
        usage_error("%s", "--input-ids is empty");
    return ids;
}

/* Reads --pixel-values and checks it is float32 [3, S, S]. */
static float *load_pixel_values(const char *path, int image_size)
{
    npy_array array;
    pg_error err;
    if (npy_load(path, &array, &err) != 0)
        pg_die(PROGRAM, &err, EXIT_ERROR);
    if (array.dtype != NPY_FLOAT32 || array.ndim != 3 || array.shape[0] != 3 ||
        array.shape[1] != (size_t)image_size || array.shape[2] != (size_t)image_size) {
        fprintf(stderr, PROGRAM ": %s: expected float32 pixel values of shape (3, %d, %d) for this model\n", path,
                image_size, image_size);
        exit(EXIT_ERROR);
    }
    return array.data;
}

/* Decodes the answer into a new string (the caller frees it). The embedding
 * matrix can have more rows than the tokenizer has pieces (paligemma-3b-pt-224
 * pads 257153 ids to 257216), and a model may pick such an id; it becomes
 * <id:N>, with a warning. */
static char *decode_answer(const tokenizer *tok, const int *ids, int count)
{
    /* An id prints at most one piece (at most 1024 bytes, the loader's limit). */
    size_t text_size = 64 + 1024 * (size_t)count;
    char *answer = pg_xcalloc(text_size, 1, "the answer text");
    char *run_text = pg_xcalloc(text_size, 1, "the answer text");
    size_t used = 0;
    pg_error err;
    int start = 0;
    while (start < count) {
        /* The longest run of ids that have tokenizer pieces, decoded together so that
         * byte pieces join into UTF-8 characters. */
        int end = start;
        while (end < count && ids[end] >= 0 && ids[end] < tok->vocab_size)
            end++;
        if (end > start) {
            if (tokenizer_decode(tok, ids + start, end - start, run_text, text_size, &err) != 0)
                pg_die(PROGRAM, &err, EXIT_ERROR);
            used += (size_t)snprintf(answer + used, text_size - used, "%s", run_text);
        }
        if (end < count) {
            used += (size_t)snprintf(answer + used, text_size - used, "<id:%d>", ids[end]);
            fprintf(stderr, PROGRAM ": warning: generated id %d has no piece in the tokenizer (ids 0..%d); "
                    "printed as <id:%d>\n", ids[end], tok->vocab_size - 1, ids[end]);
        }
        start = end + 1;
    }
    free(run_text);
    return answer;
}

/* Draws the boxes of a detection answer on the image; prints how many on stderr. */
static void draw_answer_boxes(const char *image_path, const char *answer, const char *out_path)
{
    paligemma_box boxes[64];
    int num_boxes = paligemma_parse_boxes(answer, boxes, 64);
    pg_error err;
    if (paligemma_draw_boxes(image_path, boxes, num_boxes, out_path, &err) != 0)
        pg_die(PROGRAM, &err, EXIT_ERROR);
    fprintf(stderr, "%d box%s drawn into %s\n", num_boxes, num_boxes == 1 ? "" : "es", out_path);
    if (num_boxes == 0)
        fprintf(stderr, PROGRAM ": warning: the answer has no <locYYYY> x 4 box, so %s is the image "
                "unchanged; --boxes is for detection prompts such as \"detect cat\"\n", out_path);
}

int main(int argc, char **argv)
{
    options o = parse_options(argc, argv);
    pg_error err;
    int interactive = isatty(fileno(stderr));

    /* config.json first: it is small, and it gives the sizes that the
     * inputs are checked against before the weights are loaded. */
    char path[4096];
    paligemma_config file_config;
    snprintf(path, sizeof path, "%s/config.json", o.model);
    if (paligemma_config_load(&file_config, path, &err) != 0)
        pg_die(PROGRAM, &err, EXIT_ERROR);
    int image_size = file_config.vision_config.image_size;
    int num_image_tokens = paligemma_num_image_tokens(&file_config);

    /* The tokenizer, needed for --prompt and for printing text. */
    char tokenizer_path[4096];
    snprintf(tokenizer_path, sizeof tokenizer_path, "%s/tokenizer.model", o.model);
    tokenizer tok;
    int have_tokenizer = tokenizer_load(&tok, tokenizer_path, &err) == 0;
    if (!have_tokenizer && o.prompt != NULL)
        pg_die(PROGRAM, &err, EXIT_ERROR);

    /* The prompt ids: image tokens, <bos>, the prompt, "\n". */
    int num_ids = 0;
    int *ids;
    if (o.prompt != NULL) {
        int max_ids = num_image_tokens + 2 + 3 * (int)strlen(o.prompt) + 3;
        ids = pg_xcalloc((size_t)max_ids, sizeof(int), "the prompt ids");
        if (paligemma_prompt_ids(&tok, o.prompt, num_image_tokens, ids, max_ids, &num_ids, &err) != 0)
            pg_die(PROGRAM, &err, EXIT_ERROR);
    } else {
        ids = parse_id_list(o.input_ids, &num_ids);
    }
    if (have_tokenizer && tok.image_token_id != file_config.image_token_index) {
        fprintf(stderr, PROGRAM ": %s: <image> is id %d but config.json's image_token_index is %d\n",
                tokenizer_path, tok.image_token_id, file_config.image_token_index);
        return EXIT_ERROR;
    }

    /* The pixels: decoded, resized with Pillow's bicubic and normalized, or given. */
    float *pixel_values;
    if (o.image != NULL) {
        pixel_values = pg_xcalloc((size_t)3 * image_size * image_size, sizeof(float), "the pixel values");
        if (image_preprocess(o.image, image_size, pixel_values, &err) != 0)
            pg_die(PROGRAM, &err, EXIT_ERROR);
    } else {
        pixel_values = load_pixel_values(o.pixel_values, image_size);
    }

    /* The model: config.json again and the safetensors files. */
    paligemma_model model;
    if (paligemma_model_load(&model, o.model, stderr, &err) != 0)
        pg_die(PROGRAM, &err, EXIT_ERROR);
    const paligemma_config *config = &model.config;

    /* Generate. */
    paligemma_generation_options generation = {
        .max_new_tokens = o.max_tokens, .temperature = o.temperature, .top_p = o.top_p,
        .seed = o.seed, .progress = interactive ? stderr : NULL, .ignore_eos = o.ignore_eos,
    };
    activation_dump dump;
    if (o.dump_activations != NULL) {
        size_t pixel_shape[3] = {3, (size_t)image_size, (size_t)image_size};
        if (activation_dump_open(&dump, o.dump_activations, &err) != 0)
            pg_die(PROGRAM, &err, EXIT_ERROR);
        activation_dump_save(&dump, "pixel_values", NPY_FLOAT32, 3, pixel_shape, pixel_values);
        activation_dump_ids(&dump, "input_ids", ids, num_ids);
        generation.hook = activation_dump_hook;
        generation.hook_user_data = &dump;
    }
    int *output = pg_xcalloc((size_t)o.max_tokens, sizeof(int), "the generated ids");
    int num_output = 0;
    paligemma_timings timings;
    if (paligemma_generate(&model, pixel_values, ids, num_ids, &generation, output, &num_output, &timings, &err) != 0)
        pg_die(PROGRAM, &err, EXIT_ERROR);
    if (o.dump_activations != NULL) {
        activation_dump_ids(&dump, "generated_ids", output, num_output);
        if (activation_dump_close(&dump, &err) != 0)
            pg_die(PROGRAM, &err, EXIT_ERROR);
    }

    /* The answer: text without the eos, then the ids if asked. */
    int num_answer = num_output;
    if (num_answer > 0 && output[num_answer - 1] == config->eos_token_id)
        num_answer--;
    if (have_tokenizer) {
        char *answer = decode_answer(&tok, output, num_answer);
        printf("%s\n", answer);
        if (o.boxes != NULL)
            draw_answer_boxes(o.image, answer, o.boxes);
        free(answer);
    }
    if (o.print_ids || !have_tokenizer) {
        for (int i = 0; i < num_output; i++)
            printf(i ? " %d" : "%d", output[i]);
        printf("\n");
    }

    /* Timings, and the peak resident memory, which counts the pages of the
     * memory-mapped checkpoint that were read. */
    double tokens_per_second = timings.decode_seconds > 0 ? timings.decode_steps / timings.decode_seconds : 0.0;
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    fprintf(stderr, "vision %.3f s, prefill %.3f s (%d tokens), decode %d token%s in %.3f s (%.2f tokens/s), "
            "peak memory %.0f MiB\n", timings.vision_seconds, timings.prefill_seconds, num_ids, timings.decode_steps,
            timings.decode_steps == 1 ? "" : "s", timings.decode_seconds, tokens_per_second, usage.ru_maxrss / 1024.0);

    free(output);
    free(pixel_values);
    free(ids);
    if (have_tokenizer)
        tokenizer_free(&tok);
    paligemma_model_free(&model);
    return 0;
}
