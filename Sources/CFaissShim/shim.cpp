#include "CFaissShim.h"

#include <dlfcn.h>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <stdexcept>

#include <faiss/IndexFlat.h>
#include <faiss/IndexIDMap.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/index_io.h>

extern "C" int omp_get_max_threads(void);
extern "C" void omp_set_num_threads(int);

struct FaissShimIndex {
    std::unique_ptr<faiss::IndexIDMap2> idmap;
    faiss::IndexIVF *ivf;  // owned by idmap
};

namespace {
void report(char *error, size_t size, const char *message) {
    if (error && size) std::snprintf(error, size, "%s", message);
}

template <typename Body>
int guarded(char *error, size_t size, Body body) {
    try {
        body();
        return 0;
    } catch (const std::exception &e) {
        report(error, size, e.what());
    } catch (...) {
        report(error, size, "unknown C++ exception");
    }
    return -1;
}
}  // namespace

extern "C" {

FaissShimIndex *fs_ivfpq_create(int d, int nlist, int m, int nbits, char *error, size_t error_size) {
    FaissShimIndex *result = nullptr;
    guarded(error, error_size, [&] {
        auto quantizer = new faiss::IndexFlatIP(d);
        auto ivfpq = new faiss::IndexIVFPQ(quantizer, d, nlist, m, nbits, faiss::METRIC_INNER_PRODUCT);
        ivfpq->own_fields = true;
        // FAISS prints one warning per PQ sub-quantizer when training data is short; the Swift side
        // logs a single one instead.
        ivfpq->pq.cp.min_points_per_centroid = 1;
        ivfpq->cp.min_points_per_centroid = 1;
        auto idmap = std::make_unique<faiss::IndexIDMap2>(ivfpq);
        idmap->own_fields = true;
        result = new FaissShimIndex{std::move(idmap), ivfpq};
    });
    return result;
}

FaissShimIndex *fs_read(const char *path, char *error, size_t error_size) {
    FaissShimIndex *result = nullptr;
    guarded(error, error_size, [&] {
        std::unique_ptr<faiss::Index> index(faiss::read_index(path));
        auto idmap = dynamic_cast<faiss::IndexIDMap2 *>(index.get());
        auto ivf = idmap ? dynamic_cast<faiss::IndexIVF *>(idmap->index) : nullptr;
        if (!ivf) throw std::runtime_error("not an IndexIDMap2 over an IVF index");
        index.release();
        result = new FaissShimIndex{std::unique_ptr<faiss::IndexIDMap2>(idmap), ivf};
    });
    return result;
}

void fs_free(FaissShimIndex *index) { delete index; }

int fs_train(FaissShimIndex *index, int64_t n, const float *x, char *error, size_t error_size) {
    return guarded(error, error_size, [&] { index->idmap->train(n, x); });
}

int fs_ivfpq_set_codebooks(FaissShimIndex *index, const float *coarse, const float *pq, char *error, size_t error_size) {
    return guarded(error, error_size, [&] {
        auto ivfpq = dynamic_cast<faiss::IndexIVFPQ *>(index->ivf);
        if (!ivfpq) throw std::runtime_error("not an IVF-PQ index");
        if (ivfpq->is_trained || ivfpq->ntotal > 0) throw std::runtime_error("index is already trained");
        ivfpq->quantizer->reset();
        ivfpq->quantizer->add(ivfpq->nlist, coarse);
        std::memcpy(ivfpq->pq.centroids.data(), pq, ivfpq->pq.centroids.size() * sizeof(float));
        ivfpq->precompute_table();
        ivfpq->is_trained = true;
        index->idmap->is_trained = true;
    });
}

int fs_add_encoded(FaissShimIndex *index, int64_t n, const int64_t *lists, const uint8_t *codes, const int64_t *ids,
                   char *error, size_t error_size) {
    return guarded(error, error_size, [&] {
        auto ivf = index->ivf;
        auto idmap = index->idmap.get();
        if (!ivf->is_trained) throw std::runtime_error("index is not trained");
        for (int64_t i = 0; i < n; i++)
            if (lists[i] < 0 || lists[i] >= static_cast<int64_t>(ivf->nlist)) throw std::runtime_error("list number out of range");
        // What IndexIDMap2::add_with_ids and IndexIVF::add_core do, with the codes already computed:
        // the IVF stores sequential internal ids, the map turns them into the caller's ids.
        const faiss::Index::idx_t first = ivf->ntotal;
        for (int64_t i = 0; i < n; i++) {
            ivf->invlists->add_entry(lists[i], first + i, codes + i * ivf->code_size);
            idmap->id_map.push_back(ids[i]);
            idmap->rev_map[ids[i]] = first + i;
        }
        ivf->ntotal += n;
        idmap->ntotal += n;
    });
}

int fs_code_size(const FaissShimIndex *index) { return static_cast<int>(index->ivf->code_size); }

int fs_add_with_ids(FaissShimIndex *index, int64_t n, const float *x, const int64_t *ids, char *error, size_t error_size) {
    return guarded(error, error_size, [&] { index->idmap->add_with_ids(n, x, ids); });
}

int fs_search(const FaissShimIndex *index, int64_t nq, const float *queries, int64_t k, int nprobe,
              float *distances, int64_t *ids, char *error, size_t error_size) {
    return guarded(error, error_size, [&] {
        // faiss 1.7.3's IndexIDMap2::search refuses search parameters, so search the IVF index with a
        // per-call nprobe (thread-safe, unlike setting ivf->nprobe) and map ids as IDMap does.
        faiss::SearchParametersIVF params;
        params.nprobe = nprobe;
        index->ivf->search(nq, queries, k, distances, ids, &params);
        const auto &map = index->idmap->id_map;
        for (int64_t i = 0; i < nq * k; i++) ids[i] = ids[i] < 0 ? ids[i] : map[ids[i]];
    });
}

int fs_write(const FaissShimIndex *index, const char *path, char *error, size_t error_size) {
    return guarded(error, error_size, [&] { faiss::write_index(index->idmap.get(), path); });
}

int64_t fs_ntotal(const FaissShimIndex *index) { return index->idmap->ntotal; }
int fs_dimension(const FaissShimIndex *index) { return index->idmap->d; }
int fs_nlist(const FaissShimIndex *index) { return static_cast<int>(index->ivf->nlist); }

int fs_coarse_centroids(const FaissShimIndex *index, float *out, char *error, size_t error_size) {
    return guarded(error, error_size, [&] {
        if (!index->ivf->quantizer || index->ivf->quantizer->ntotal != static_cast<faiss::Index::idx_t>(index->ivf->nlist))
            throw std::runtime_error("the index's quantizer holds no trained centroids");
        index->ivf->quantizer->reconstruct_n(0, index->ivf->nlist, out);
    });
}
int fs_is_trained(const FaissShimIndex *index) { return index->idmap->is_trained ? 1 : 0; }

int64_t fs_ids(const FaissShimIndex *index, int64_t *ids, int64_t capacity) {
    const auto &map = index->idmap->id_map;
    int64_t count = static_cast<int64_t>(map.size());
    for (int64_t i = 0; i < count && i < capacity; i++) ids[i] = map[i];
    return count;
}

int64_t fs_list_assignment(const FaissShimIndex *index, int64_t *ids, int32_t *lists, int64_t capacity, char *error,
                           size_t error_size) {
    int64_t written = 0;
    int status = guarded(error, error_size, [&] {
        const faiss::InvertedLists *inverted = index->ivf->invlists;
        if (!inverted) throw std::runtime_error("the index holds no inverted lists");
        const auto &map = index->idmap->id_map;
        for (size_t list = 0; list < inverted->nlist; list++) {
            size_t size = inverted->list_size(list);
            if (size == 0) continue;
            faiss::InvertedLists::ScopedIds internal(inverted, list);
            for (size_t j = 0; j < size; j++) {
                if (written >= capacity) throw std::runtime_error("the inverted lists hold more entries than the index counts");
                auto id = internal[j];
                if (id < 0 || static_cast<size_t>(id) >= map.size()) throw std::runtime_error("an inverted list names an id the index does not map");
                ids[written] = map[id];
                lists[written] = static_cast<int32_t>(list);
                written++;
            }
        }
    });
    return status == 0 ? written : -1;
}

void fs_set_threads(int omp_threads, int blas_threads) {
    if (omp_threads > 0) omp_set_num_threads(omp_threads);
    using SetThreads = void (*)(int);
    if (auto set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) set(blas_threads);
}

const char *fs_blas_description(void) {
    using GetConfig = char *(*)(void);
    if (auto get = reinterpret_cast<GetConfig>(dlsym(RTLD_DEFAULT, "openblas_get_config"))) return get();
    return "not OpenBLAS (reference BLAS is 5-13x slower for FAISS training: install libopenblas0)";
}

}  // extern "C"
