import Foundation

/// A kernel of `kernels.cu`. `parameters` mirrors its declaration there, in order (a test reads the
/// source and compares), so every launch passes what the kernel expects on CUDA and on the host.
public enum Kernel: String, CaseIterable, Sendable {
    case embedLayerNorm = "embed_layernorm"
    case biasResidualLayerNorm = "bias_residual_layernorm"
    case biasGELU = "bias_gelu"
    case scatterQKV = "scatter_qkv"
    case maskedSoftmax = "masked_softmax"
    case gatherContext = "gather_context"
    case meanPoolNormalize = "mean_pool_normalize"
    // The ANN build.
    case rowArgmax = "row_argmax"
    case clusterMeans = "cluster_means"
    case normalizeRows = "normalize_rows"
    case l2Operand = "l2_operand"
    case subtractAssigned = "subtract_assigned"
    case subColumns = "sub_columns"
    // Exact similarity.
    case topkPartial = "topk_partial"
    case topkMerge = "topk_merge"
    case offersScan = "offers_scan"

    /// The CUDA C++ source of every kernel (compiled by NVRTC at run time).
    public static var source: String { String(decoding: PackageResources.kernels_cu, as: UTF8.self) }

    public enum Parameter: Sendable, Equatable {
        case floats(String), ints(String), int(String), float(String)
    }

    /// How a launch covers its work: one warp per row (8 warps a block), a grid-stride loop over
    /// elements (or rows, one thread each), or exactly one thread per item.
    enum Shape { case warpPerRow, elementwise, threadPerItem }

    var shape: Shape {
        switch self {
        case .embedLayerNorm, .biasResidualLayerNorm, .maskedSoftmax, .meanPoolNormalize, .rowArgmax: .warpPerRow
        case .biasGELU, .scatterQKV, .gatherContext, .clusterMeans, .normalizeRows, .l2Operand, .subtractAssigned, .subColumns,
             .topkMerge, .offersScan: .elementwise
        case .topkPartial: .threadPerItem
        }
    }

    public var parameters: [Parameter] {
        switch self {
        case .embedLayerNorm:
            [.ints("ids"), .ints("positions"), .floats("word"), .floats("position"), .floats("type0"), .floats("gamma"),
             .floats("beta"), .floats("x"), .int("rows"), .int("cols"), .float("eps")]
        case .biasResidualLayerNorm:
            [.floats("x"), .floats("delta"), .floats("bias"), .floats("gamma"), .floats("beta"), .int("rows"), .int("cols"), .float("eps")]
        case .biasGELU:
            [.floats("x"), .floats("bias"), .int("rows"), .int("cols")]
        case .scatterQKV:
            [.floats("qkv"), .floats("bias"), .ints("sequence"), .ints("positions"), .floats("q"), .floats("k"), .floats("v"),
             .int("rows"), .int("heads"), .int("d"), .int("length")]
        case .maskedSoftmax:
            [.floats("s"), .ints("lengths"), .int("sequences"), .int("heads"), .int("length")]
        case .gatherContext:
            [.floats("context"), .ints("sequence"), .ints("positions"), .floats("out"), .int("rows"), .int("heads"), .int("d"),
             .int("length")]
        case .meanPoolNormalize:
            [.floats("x"), .ints("offsets"), .floats("out"), .int("sequences"), .int("cols")]
        case .rowArgmax:
            [.floats("scores"), .int("rows"), .int("cols"), .ints("out")]
        case .clusterMeans:
            [.floats("points"), .ints("order"), .ints("offsets"), .floats("centroids"), .int("k"), .int("d")]
        case .normalizeRows:
            [.floats("x"), .int("rows"), .int("cols")]
        case .l2Operand:
            [.floats("centroids"), .floats("out"), .int("k"), .int("d")]
        case .subtractAssigned:
            [.floats("x"), .floats("centroids"), .ints("assignment"), .floats("out"), .int("rows"), .int("d")]
        case .subColumns:
            [.floats("x"), .floats("out"), .int("rows"), .int("d"), .int("first"), .int("width"), .int("augment")]
        case .topkPartial:
            [.floats("scores"), .int("queries"), .int("columns"), .int("firstColumn"), .ints("exclude"), .floats("partScores"),
             .ints("partIndex"), .int("k"), .int("parts")]
        case .topkMerge:
            [.floats("partScores"), .ints("partIndex"), .int("queries"), .int("parts"), .int("k"), .floats("outScores"), .ints("outIndex")]
        case .offersScan:
            [.floats("scores"), .int("queries"), .int("columns"), .int("firstColumn"), .floats("floors"), .ints("floorIndex"), .ints("exclude"),
             .ints("counter"), .ints("offerQuery"), .ints("offerColumn"), .floats("offerScore"), .int("capacity")]
        }
    }

    /// The widest row a warp-per-row LayerNorm holds in registers (`LN_PER_LANE` × 32 in the source).
    public static let maxRowWidth = 512
    /// The longest top-k list and the most partial lists a top-k kernel keeps (`TOPK_MAX`).
    public static let maxTopK = 64
}

public enum KernelArgument: Sendable, Equatable {
    case buffer(DeviceBuffer), int(Int32), float(Float)
}

/// One kernel launch: the kernel, its 1-D geometry and its arguments in declaration order.
public struct KernelLaunch: Sendable {
    public let kernel: Kernel
    public let blocks: Int
    public let threads: Int
    public let arguments: [KernelArgument]

    static let threadsPerBlock = 256
    /// Grid-stride kernels need no more blocks than this to fill any current GPU.
    static let maxBlocks = 65_535

    /// - Throws: `DeviceError.invalidArgument` when `arguments` do not match the kernel's parameters.
    init(_ kernel: Kernel, items: Int, _ arguments: [KernelArgument]) throws {
        guard arguments.count == kernel.parameters.count else {
            throw DeviceError.invalidArgument("\(kernel.rawValue) takes \(kernel.parameters.count) arguments, got \(arguments.count)")
        }
        for (argument, parameter) in zip(arguments, kernel.parameters) {
            switch (argument, parameter) {
            case (.buffer, .floats), (.buffer, .ints), (.int, .int), (.float, .float): continue
            default: throw DeviceError.invalidArgument("\(kernel.rawValue): \(argument) for \(parameter)")
            }
        }
        self.kernel = kernel
        self.arguments = arguments
        threads = Self.threadsPerBlock
        switch kernel.shape {
        case .warpPerRow: blocks = max(1, (items + threads / 32 - 1) / (threads / 32))
        case .elementwise: blocks = max(1, min(Self.maxBlocks, (items + threads - 1) / threads))
        case .threadPerItem: blocks = max(1, (items + threads - 1) / threads)
        }
    }

    /// Argument `index` as a buffer, an integer or a float (host references decode launches so).
    func buffer(_ index: Int) -> DeviceBuffer {
        guard case .buffer(let buffer) = arguments[index] else { preconditionFailure("\(kernel.rawValue) argument \(index) is not a buffer") }
        return buffer
    }
    func int(_ index: Int) -> Int {
        guard case .int(let value) = arguments[index] else { preconditionFailure("\(kernel.rawValue) argument \(index) is not an int") }
        return Int(value)
    }
    func float(_ index: Int) -> Float {
        guard case .float(let value) = arguments[index] else { preconditionFailure("\(kernel.rawValue) argument \(index) is not a float") }
        return value
    }
}

// MARK: - The launches, one builder per kernel (argument order as in `kernels.cu`)

extension KernelLaunch {
    static func embedLayerNorm(ids: DeviceBuffer, positions: DeviceBuffer, word: DeviceBuffer, position: DeviceBuffer, type0: DeviceBuffer,
                               gamma: DeviceBuffer, beta: DeviceBuffer, x: DeviceBuffer, rows: Int, cols: Int, eps: Float) throws -> KernelLaunch {
        try KernelLaunch(.embedLayerNorm, items: rows, [.buffer(ids), .buffer(positions), .buffer(word), .buffer(position), .buffer(type0),
                                                        .buffer(gamma), .buffer(beta), .buffer(x), .int(Int32(rows)), .int(Int32(cols)), .float(eps)])
    }

    static func biasResidualLayerNorm(x: DeviceBuffer, delta: DeviceBuffer, bias: DeviceBuffer, gamma: DeviceBuffer, beta: DeviceBuffer,
                                      rows: Int, cols: Int, eps: Float) throws -> KernelLaunch {
        try KernelLaunch(.biasResidualLayerNorm, items: rows, [.buffer(x), .buffer(delta), .buffer(bias), .buffer(gamma), .buffer(beta),
                                                               .int(Int32(rows)), .int(Int32(cols)), .float(eps)])
    }

    static func biasGELU(x: DeviceBuffer, bias: DeviceBuffer, rows: Int, cols: Int) throws -> KernelLaunch {
        try KernelLaunch(.biasGELU, items: rows * cols, [.buffer(x), .buffer(bias), .int(Int32(rows)), .int(Int32(cols))])
    }

    static func scatterQKV(qkv: DeviceBuffer, bias: DeviceBuffer, sequence: DeviceBuffer, positions: DeviceBuffer, q: DeviceBuffer,
                           k: DeviceBuffer, v: DeviceBuffer, rows: Int, heads: Int, d: Int, length: Int) throws -> KernelLaunch {
        try KernelLaunch(.scatterQKV, items: rows * 3 * heads * d,
                         [.buffer(qkv), .buffer(bias), .buffer(sequence), .buffer(positions), .buffer(q), .buffer(k), .buffer(v),
                          .int(Int32(rows)), .int(Int32(heads)), .int(Int32(d)), .int(Int32(length))])
    }

    static func maskedSoftmax(s: DeviceBuffer, lengths: DeviceBuffer, sequences: Int, heads: Int, length: Int) throws -> KernelLaunch {
        try KernelLaunch(.maskedSoftmax, items: sequences * heads * length,
                         [.buffer(s), .buffer(lengths), .int(Int32(sequences)), .int(Int32(heads)), .int(Int32(length))])
    }

    static func gatherContext(context: DeviceBuffer, sequence: DeviceBuffer, positions: DeviceBuffer, out: DeviceBuffer, rows: Int,
                              heads: Int, d: Int, length: Int) throws -> KernelLaunch {
        try KernelLaunch(.gatherContext, items: rows * heads * d,
                         [.buffer(context), .buffer(sequence), .buffer(positions), .buffer(out), .int(Int32(rows)), .int(Int32(heads)),
                          .int(Int32(d)), .int(Int32(length))])
    }

    static func meanPoolNormalize(x: DeviceBuffer, offsets: DeviceBuffer, out: DeviceBuffer, sequences: Int, cols: Int) throws -> KernelLaunch {
        try KernelLaunch(.meanPoolNormalize, items: sequences,
                         [.buffer(x), .buffer(offsets), .buffer(out), .int(Int32(sequences)), .int(Int32(cols))])
    }

    static func rowArgmax(scores: DeviceBuffer, rows: Int, cols: Int, out: DeviceBuffer) throws -> KernelLaunch {
        try KernelLaunch(.rowArgmax, items: rows, [.buffer(scores), .int(Int32(rows)), .int(Int32(cols)), .buffer(out)])
    }

    static func clusterMeans(points: DeviceBuffer, order: DeviceBuffer, offsets: DeviceBuffer, centroids: DeviceBuffer,
                             k: Int, d: Int) throws -> KernelLaunch {
        try KernelLaunch(.clusterMeans, items: k * d,
                         [.buffer(points), .buffer(order), .buffer(offsets), .buffer(centroids), .int(Int32(k)), .int(Int32(d))])
    }

    static func normalizeRows(x: DeviceBuffer, rows: Int, cols: Int) throws -> KernelLaunch {
        try KernelLaunch(.normalizeRows, items: rows, [.buffer(x), .int(Int32(rows)), .int(Int32(cols))])
    }

    static func l2Operand(centroids: DeviceBuffer, out: DeviceBuffer, k: Int, d: Int) throws -> KernelLaunch {
        try KernelLaunch(.l2Operand, items: k, [.buffer(centroids), .buffer(out), .int(Int32(k)), .int(Int32(d))])
    }

    static func subtractAssigned(x: DeviceBuffer, centroids: DeviceBuffer, assignment: DeviceBuffer, out: DeviceBuffer,
                                 rows: Int, d: Int) throws -> KernelLaunch {
        try KernelLaunch(.subtractAssigned, items: rows * d,
                         [.buffer(x), .buffer(centroids), .buffer(assignment), .buffer(out), .int(Int32(rows)), .int(Int32(d))])
    }

    static func subColumns(x: DeviceBuffer, out: DeviceBuffer, rows: Int, d: Int, first: Int, width: Int, augment: Bool) throws -> KernelLaunch {
        try KernelLaunch(.subColumns, items: rows * (width + (augment ? 1 : 0)),
                         [.buffer(x), .buffer(out), .int(Int32(rows)), .int(Int32(d)), .int(Int32(first)), .int(Int32(width)),
                          .int(augment ? 1 : 0)])
    }

    static func topkPartial(scores: DeviceBuffer, queries: Int, columns: Int, firstColumn: Int, exclude: DeviceBuffer,
                            partScores: DeviceBuffer, partIndex: DeviceBuffer, k: Int, parts: Int) throws -> KernelLaunch {
        guard (1...Kernel.maxTopK).contains(k), (1...Kernel.maxTopK).contains(parts) else {
            throw DeviceError.invalidArgument("topk_partial: k \(k) and parts \(parts) must be 1...\(Kernel.maxTopK)")
        }
        return try KernelLaunch(.topkPartial, items: queries * parts,
                                [.buffer(scores), .int(Int32(queries)), .int(Int32(columns)), .int(Int32(firstColumn)), .buffer(exclude),
                                 .buffer(partScores), .buffer(partIndex), .int(Int32(k)), .int(Int32(parts))])
    }

    static func topkMerge(partScores: DeviceBuffer, partIndex: DeviceBuffer, queries: Int, parts: Int, k: Int,
                          outScores: DeviceBuffer, outIndex: DeviceBuffer) throws -> KernelLaunch {
        try KernelLaunch(.topkMerge, items: queries,
                         [.buffer(partScores), .buffer(partIndex), .int(Int32(queries)), .int(Int32(parts)), .int(Int32(k)),
                          .buffer(outScores), .buffer(outIndex)])
    }

    static func offersScan(scores: DeviceBuffer, queries: Int, columns: Int, firstColumn: Int, floors: DeviceBuffer, floorIndex: DeviceBuffer,
                           exclude: DeviceBuffer, counter: DeviceBuffer, offerQuery: DeviceBuffer, offerColumn: DeviceBuffer,
                           offerScore: DeviceBuffer, capacity: Int) throws -> KernelLaunch {
        try KernelLaunch(.offersScan, items: queries * columns,
                         [.buffer(scores), .int(Int32(queries)), .int(Int32(columns)), .int(Int32(firstColumn)), .buffer(floors),
                          .buffer(floorIndex), .buffer(exclude), .buffer(counter), .buffer(offerQuery), .buffer(offerColumn),
                          .buffer(offerScore), .int(Int32(capacity))])
    }
}
