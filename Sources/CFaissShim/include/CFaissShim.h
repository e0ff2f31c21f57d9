// A small C surface over the parts of FAISS (Debian's libfaiss-dev, C++ only) the updater uses:
// IndexIDMap2 over IndexIVFPQ with an inner-product flat quantizer. Every function catches C++
// exceptions and reports them as a message in `error` (size `error_size`): an exception crossing
// into Swift would abort the process.
#ifndef CFAISS_SHIM_H
#define CFAISS_SHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct FaissShimIndex FaissShimIndex;

/// IDMap2(IVFPQ(FlatIP(d), d, nlist, m, nbits, inner product)). NULL on error.
FaissShimIndex *fs_ivfpq_create(int d, int nlist, int m, int nbits, char *error, size_t error_size);
/// Reads an index written by fs_write. NULL on error (missing, truncated, not an IDMap over IVF).
FaissShimIndex *fs_read(const char *path, char *error, size_t error_size);
void fs_free(FaissShimIndex *index);

/// 0 on success, -1 on error.
int fs_train(FaissShimIndex *index, int64_t n, const float *x, char *error, size_t error_size);
/// Makes an untrained index trained from codebooks computed outside FAISS: `coarse` is nlist*d
/// centroids (the inner-product quantizer), `pq` is m * 2^nbits * (d/m) sub-centroids (FAISS's layout).
int fs_ivfpq_set_codebooks(FaissShimIndex *index, const float *coarse, const float *pq, char *error, size_t error_size);
/// Appends n vectors already encoded with those codebooks: their inverted list, their PQ code
/// (code_size bytes each, back to back) and their id.
int fs_add_encoded(FaissShimIndex *index, int64_t n, const int64_t *lists, const uint8_t *codes, const int64_t *ids,
                   char *error, size_t error_size);
/// Bytes per PQ code.
int fs_code_size(const FaissShimIndex *index);
int fs_add_with_ids(FaissShimIndex *index, int64_t n, const float *x, const int64_t *ids, char *error, size_t error_size);
/// k nearest by inner product for nq queries, probing nprobe lists; distances and ids are nq*k,
/// id -1 where fewer than k were found. Safe to call from several threads at once.
int fs_search(const FaissShimIndex *index, int64_t nq, const float *queries, int64_t k, int nprobe,
              float *distances, int64_t *ids, char *error, size_t error_size);
int fs_write(const FaissShimIndex *index, const char *path, char *error, size_t error_size);

int64_t fs_ntotal(const FaissShimIndex *index);
int fs_dimension(const FaissShimIndex *index);
int fs_nlist(const FaissShimIndex *index);
/// The coarse quantizer's nlist × d centroids (the inverted lists' centres) into `out`. 0, or -1 with `error` set.
int fs_coarse_centroids(const FaissShimIndex *index, float *out, char *error, size_t error_size);
int fs_is_trained(const FaissShimIndex *index);
/// Copies up to `capacity` stored ids into `ids`; returns how many the index holds.
int64_t fs_ids(const FaissShimIndex *index, int64_t *ids, int64_t capacity);
/// Each stored vector's id and the inverted list holding it (its nearest coarse centroid when it was
/// added), `capacity` (fs_ntotal) entries at most. Returns how many were written, or -1 with `error` set.
int64_t fs_list_assignment(const FaissShimIndex *index, int64_t *ids, int32_t *lists, int64_t capacity, char *error,
                           size_t error_size);

/// OpenMP threads for FAISS, and OpenBLAS threads (through dlsym, so reference BLAS also works).
void fs_set_threads(int omp_threads, int blas_threads);
/// "OpenBLAS 0.3.21 …" when OpenBLAS serves BLAS at run time, else a note that it does not.
const char *fs_blas_description(void);

#ifdef __cplusplus
}
#endif
#endif
