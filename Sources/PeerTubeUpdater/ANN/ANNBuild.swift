import Foundation
import GRDB
import Logging

public enum ANNError: Error, CustomStringConvertible, Equatable {
    case noEmbeddings(path: String)
    case nlistTooLarge(nlist: Int, vectors: Int, usable: Int)
    case badParameters(String)

    public var description: String {
        switch self {
        case .noEmbeddings(let path):
            return "ANN build: \(path) holds no usable embeddings"
        case let .nlistTooLarge(nlist, vectors, usable):
            return "ANN build: --nlist \(nlist) needs \(nlist * ANNBuild.pointsPerListWanted) training vectors (FAISS wants \(ANNBuild.pointsPerListWanted) per list) but \(vectors) are available; use --nlist \(usable) or less"
        case .badParameters(let message):
            return "ANN build: \(message)"
        }
    }
}

// MARK: - ANNMeta

/// The meta JSON written beside the index. `total` equals the vectors in the index.
public struct ANNMeta: Codable, Equatable, Sendable {
    public var builtAt: String
    public var total: Int
    public var embeddingDim: Int
    public var modelName: String
    public var indexType = "IVFPQ"
    public var nlist: Int
    public var m: Int
    public var nbits: Int
    public var normalized = true
    public var acceleration: String
    public var idSource = ANNMeta.rowidSource
    /// The index's ids are `video_embeddings` rowids.
    public static let rowidSource = "video_embeddings.rowid"
    /// `EmbeddingsFingerprint` of the prod the index was built from (absent in metas of earlier versions).
    public var embeddingsFingerprint: String?

    enum CodingKeys: String, CodingKey {
        case builtAt = "built_at", total, embeddingDim = "embedding_dim", modelName = "model_name",
             indexType = "index_type", nlist, m, nbits, normalized, acceleration, idSource = "id_source",
             embeddingsFingerprint = "embeddings_fingerprint"
    }

    /// - Throws: `ANNError` for parameters the data cannot train or no embeddings, `GPUUnavailable`,
    ///   `StorageError`, `FaissError`; the published index and meta stay as they were.
    public static func read(_ path: String) throws -> ANNMeta {
        try JSONDecoder().decode(ANNMeta.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }
}

// MARK: - ANNBuild

/// A full rebuild of the FAISS IVF-PQ index over prod's embeddings (inner
/// product on L2-normalised vectors, ids = `video_embeddings.rowid`), published atomically.
///
/// `mode=gpu` trains the codebooks and encodes every vector on a device (`DeviceKMeans`,
/// `DeviceEncoder`: the same steps, samples and seeds as the CPU trainer), then fills the same CPU
/// FAISS index from them, so the file is the one the CPU path, `serve` and FAISS itself read.
public enum ANNBuild {
    public struct Options: Sendable {
        public var nlist: Int
        public var m = 32
        public var nbits = 8
        public var trainSample = 200_000
        public var batchSize = 5_000
        /// Rows read and encoded at a time on a device (its GEMMs want large blocks).
        public var deviceBatchSize = 65_536
        public var device: ComputeDevice = .cpu
        /// How a GPU computes its GEMMs.
        public var precision: GEMMPrecision = .fp32
        /// An nlist (or nbits) the training vectors cannot train well is lowered to the largest one they
        /// can (with a warning) instead of refused: the worker's choice, so a small prod still gets an index.
        public var lowerNlistToFit = false
        public init(nlist: Int = 4096, m: Int = 32, nbits: Int = 8, trainSample: Int = 200_000, device: ComputeDevice = .cpu,
                    lowerNlistToFit: Bool = false) {
            self.nlist = nlist
            self.lowerNlistToFit = lowerNlistToFit
            self.m = m
            self.nbits = nbits
            self.trainSample = trainSample
            self.device = device
        }
    }

    public struct Result: Sendable {
        public var meta: ANNMeta
        public var skippedRows: Int
        public var trainingVectors: Int
        public var durationMs: Int
    }

    /// FAISS warns below this many training points per list (and trains coarse lists).
    public static let pointsPerListWanted = 39

    /// The largest nlist `trainingVectors` train well.
    public static func usableNlist(trainingVectors: Int) -> Int { max(1, trainingVectors / pointsPerListWanted) }

    /// `tensorDevice`: where `mode=gpu` runs (default: the CUDA device; tests pass `HostDevice`).
    ///
    /// - Throws: `ANNError` for parameters the data cannot train or no embeddings, `GPUUnavailable`,
    ///   `StorageError`, `FaissError`, `DeviceError` when the GPU fails (no CPU fallback); the published
    ///   index and meta stay as they were.
    public static func run(dbPath: String, indexPath: String, metaPath: String, options: Options,
                           logger: Logger, on tensorDevice: TensorDevice? = nil) throws -> Result {
        // Refuse before reading or touching anything: the published index stays as it is.
        if options.device == .gpu, tensorDevice == nil { try GPUStages.require([.annBuild]) }
        guard options.nlist > 0, options.m > 0, (1...16).contains(options.nbits), options.trainSample > 0 else {
            throw ANNError.badParameters("nlist, m and train-sample must be > 0 and nbits in 1...16")
        }
        let clock = ContinuousClock.now
        let prod = try DatabaseFile.open(dbPath, role: "prod DB", access: .readOnly)
        // The fingerprint is read before the vectors: should prod change meanwhile, a reader sees a difference.
        guard let (scan, fingerprint) = try prod.read({ db -> (EmbeddingScan, String)? in
            try DatabaseFile.requireTables(["video_embeddings"], in: db, role: "prod DB", path: dbPath)
            return try EmbeddingScan(db).map { ($0, try EmbeddingsFingerprint.current(db)) }
        }), scan.valid > 0 else { throw ANNError.noEmbeddings(path: dbPath) }
        guard scan.dimension % options.m == 0 else {
            throw ANNError.badParameters("--m \(options.m) does not divide the embedding dimension \(scan.dimension)")
        }
        let trainingVectors = min(options.trainSample, scan.valid)
        let usable = usableNlist(trainingVectors: trainingVectors)
        var nlist = options.nlist
        if nlist > usable {
            guard options.lowerNlistToFit else {
                throw ANNError.nlistTooLarge(nlist: nlist, vectors: trainingVectors, usable: usable)
            }
            logger.warning("ann: --nlist \(nlist) lowered to \(usable): \(trainingVectors) training vectors train at most \(usable) lists well (\(pointsPerListWanted) per list)")
            nlist = usable
        }
        // PQ trains 2^nbits centroids per sub-quantizer from the same vectors, and FAISS refuses fewer
        // points than centroids.
        var nbits = options.nbits
        if 1 << nbits > trainingVectors {
            let fitting = max(1, Int(log2(Double(trainingVectors))))
            guard options.lowerNlistToFit else {
                throw ANNError.badParameters("--nbits \(nbits) trains \(1 << nbits) PQ centroids but \(trainingVectors) training vectors are available; use --nbits \(fitting) or less")
            }
            logger.warning("ann: --nbits \(nbits) lowered to \(fitting): \(trainingVectors) training vectors cannot train \(1 << nbits) PQ centroids")
            nbits = fitting
        }
        FaissIndex.setThreads(openMP: 1, blas: 1)
        let device = options.device == .gpu ? try tensorDevice ?? CUDADevice.open(precision: options.precision) : nil
        logger.info("ann: mode=\(options.device.annMarker) vectors=\(scan.valid) skipped=\(scan.skipped) dim=\(scan.dimension) nlist=\(nlist) m=\(options.m) nbits=\(nbits) \(device.map { "device=\($0.name)" } ?? "blas=\(FaissIndex.blasDescription)")")
        let pqWanted = pointsPerListWanted << nbits
        if min(options.trainSample, scan.valid) < pqWanted {
            logger.warning("ann: \(min(options.trainSample, scan.valid)) training vectors for \(1 << nbits) PQ centroids is under \(pqWanted); codes will be coarse")
        }
        if scan.skipped > 0 { logger.warning("ann: skipped \(scan.skipped) embeddings whose dimension is not \(scan.dimension)") }

        let index = try FaissIndex.ivfpq(dimension: scan.dimension, nlist: nlist, m: options.m, nbits: nbits)
        let sampleSize = trainingVectors
        var sample: [Float] = []
        sample.reserveCapacity(sampleSize * scan.dimension)
        var position = 0
        try scan.forEachBatch(prod, batchSize: options.batchSize) { _, vectors, _ in
            // Row i joins the sample when floor(i·S/N) steps: S rows spread evenly over the table.
            for row in 0..<(vectors.count / scan.dimension) {
                if (position + 1) * sampleSize / scan.valid != position * sampleSize / scan.valid {
                    sample.append(contentsOf: vectors[(row * scan.dimension)..<((row + 1) * scan.dimension)])
                }
                position += 1
            }
        }
        let trainClock = ContinuousClock.now
        let codebooks = try device.map { try IVFPQCodebooks.train(sample: sample, dimension: scan.dimension, nlist: nlist, m: options.m,
                                                                   nbits: nbits, on: $0) }
            ?? IVFPQCodebooks.train(sample: sample, dimension: scan.dimension, nlist: nlist, m: options.m, nbits: nbits)
        sample = []
        try index.setCodebooks(codebooks)
        logger.info("ann: trained on \(trainingVectors) vectors in \(trainClock.elapsedMilliseconds)ms")
        try FaultPlan.reach(.annTrained)
        var progress = ProgressLine(label: "ann", total: scan.valid, unit: "vectors")
        let deviceEncoder = try device.map { try DeviceEncoder(codebooks: codebooks, device: $0, blockRows: options.deviceBatchSize) }
        try scan.forEachBatch(prod, batchSize: deviceEncoder == nil ? options.batchSize : options.deviceBatchSize) { rowids, vectors, _ in
            let encoded = try deviceEncoder?.encode(vectors) ?? codebooks.encode(vectors)
            try index.addEncoded(lists: encoded.lists, codes: encoded.codes, ids: rowids)
            progress.advance(by: rowids.count, logger: logger)
        }

        let meta = ANNMeta(builtAt: Date().formatted(Date.ISO8601FormatStyle()), total: index.count,
                           embeddingDim: scan.dimension, modelName: scan.modelName, nlist: nlist, m: options.m,
                           nbits: nbits, acceleration: options.device.annMarker, embeddingsFingerprint: fingerprint)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        // The index and the meta that describes it switch together, in one rename (ArtifactGenerations);
        // the previous pair stays as .prev.
        try ArtifactGenerations(paths: [indexPath, metaPath]).publish { temporaries in
            try index.write(to: temporaries[0])
            try FaultPlan.reach(.annIndexWritten)
            try (encoder.encode(meta) + Data("\n".utf8)).write(to: URL(fileURLWithPath: temporaries[1]))
        }
        let result = Result(meta: meta, skippedRows: scan.skipped, trainingVectors: trainingVectors,
                            durationMs: clock.elapsedMilliseconds)
        logger.info("ann: wrote \(indexPath) (\(meta.total) vectors) and \(metaPath) in \(result.durationMs)ms")
        return result
    }
}
