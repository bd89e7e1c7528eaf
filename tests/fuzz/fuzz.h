/* fuzz.h — what every harness in tests/fuzz/ shares.
 *
 * A harness defines LLVMFuzzerTestOneInput(data, size): it hands the bytes to
 * one parser or loader of the project and exercises what a successful parse
 * returns. Built with clang -DPTQ_FUZZ=ON it links libFuzzer
 * (scripts/fuzz.sh); otherwise driver.c gives it a main() that runs every
 * file of the directories on its command line, which is how ctest replays
 * the committed corpora and crash reproducers under ASan/UBSan. A harness
 * must never crash, hang, leak or read out of bounds on any input; errors
 * are expected and ignored. */
#ifndef PTQ_FUZZ_H
#define PTQ_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

/* The bytes as a file: a memfd, reachable through the returned path
 * (/proc/self/fd/N) by every open/fopen/mmap in the project. Close it with
 * fuzz_file_close. Returns NULL when the system refuses a memfd. */
const char *fuzz_file(const uint8_t *data, size_t size, int *fd);
void fuzz_file_close(int fd);

/* Encode each text with t, check every id is inside the vocabulary (abort
 * otherwise), decode it back; then free t. */
struct ptq_tokenizer;
void fuzz_tokenizer_texts(struct ptq_tokenizer *t, const char *const *texts, int ntexts);

/* Run a 2-token forward pass (1 when max_seq is 1) on a loaded model, then
 * free it: a model that loaded must also run. */
void fuzz_forward_and_free(ptq_model *m);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
