import Foundation
import GRDB
import CKernelEmulator
import Synchronization
import Testing
@testable import PeerTubeUpdater

/// The GPU code without a GPU: the kernels' declared parameters against their CUDA source, every
/// kernel compiled by NVRTC for sm_80 and sm_90, `HostDevice`'s GEMM against plain loops, and the
/// whole GPU embedding pipeline on `HostDevice` against the CPU path.
@Suite struct DeviceTests {
    /// `extern "C" __global__ void name(type name, …)` of `kernels.cu`, parsed.
    static func declaredKernels() -> [String: [Kernel.Parameter]] {
        let source = Kernel.source
        var kernels: [String: [Kernel.Parameter]] = [:]
        var rest = source[...]
        while let start = rest.range(of: "extern \"C\" __global__ void ") {
            let afterName = rest[start.upperBound...]
            guard let open = afterName.firstIndex(of: "("), let close = afterName.firstIndex(of: ")") else { break }
            let name = String(afterName[..<open])
            let parameters = afterName[afterName.index(after: open)..<close].split(separator: ",").map { declaration -> Kernel.Parameter in
                let words = declaration.split(whereSeparator: { $0 == " " || $0 == "\n" }).filter { $0 != "const" }
                let type = words.dropLast().joined(separator: " "), name = String(words.last ?? "")
                switch type {
                case "float*": return .floats(name)
                case "int*": return .ints(name)
                case "int": return .int(name)
                case "float": return .float(name)
                default: return .int("unknown type \(type) of \(name)")
                }
            }
            kernels[name] = parameters
            rest = afterName[close...]
        }
        return kernels
    }

    @Test("every kernel's parameters, as launches pass them, are those kernels.cu declares")
    func parametersMatchTheSource() {
        let declared = Self.declaredKernels()
        #expect(Set(declared.keys) == Set(Kernel.allCases.map(\.rawValue)), "kernels in the source vs the catalogue")
        for kernel in Kernel.allCases {
            #expect(declared[kernel.rawValue] == kernel.parameters, "\(kernel.rawValue)")
        }
    }

    /// `make test` installs NVRTC (`make deps`, the PyPI wheel) and names its folder in
    /// `PEERTUBE_UPDATER_CUDA_LIBS`: there a kernel that does not compile fails the test run.
    static let nvrtcRequired = ProcessInfo.processInfo.environment[CUDALibraries.environmentVariable] != nil

    @Test("NVRTC compiles every kernel to cubins for sm_80 and sm_90 (no GPU needed)",
          .enabled(if: nvrtcRequired || (try? NVRTC()) != nil))
    func everyKernelCompiles() throws {
        let nvrtc = try NVRTC()
        for architecture in ["sm_80", "sm_90"] {
            let cubin = try nvrtc.cubin(Kernel.source, architecture: architecture)
            #expect(cubin.count > 10_000, "\(architecture): \(cubin.count) bytes")
            #expect(cubin.prefix(4) == [0x7F, 0x45, 0x4C, 0x46], "an ELF cubin")
            // Every kernel is in it by name.
            let text = String(decoding: cubin, as: UTF8.self)
            for kernel in Kernel.allCases { #expect(text.contains(kernel.rawValue), "\(architecture) has \(kernel.rawValue)") }
        }
        // A source error comes back with NVRTC's log, not a crash.
        let error = #expect(throws: DeviceError.self) { try nvrtc.cubin("extern \"C\" __global__ void broken( { }", architecture: "sm_90") }
        #expect(error?.description.contains("NVRTC could not compile") == true, "\(String(describing: error))")
    }

    @Test("the kernel cache keys by source, architecture and NVRTC version, and serves the second ask from disk",
          .enabled(if: nvrtcRequired || (try? NVRTC()) != nil))
    func compiledKernelsAreCached() throws {
        let dir = try TempDir()
        let cache = KernelCache(environment: ["PEERTUBE_UPDATER_CACHE_DIR": dir.path("cache")])
        let nvrtc = try NVRTC()
        let first = try cache.cubin(source: Kernel.source, architecture: "sm_90", nvrtc: nvrtc)
        let second = try cache.cubin(source: Kernel.source, architecture: "sm_90", nvrtc: nvrtc)
        #expect(!first.cached && second.cached && first.bytes == second.bytes)
        #expect(cache.path(source: Kernel.source, architecture: "sm_80", nvrtc: nvrtc) != cache.path(source: Kernel.source, architecture: "sm_90", nvrtc: nvrtc))
        #expect(cache.path(source: Kernel.source + " ", architecture: "sm_90", nvrtc: nvrtc) != cache.path(source: Kernel.source, architecture: "sm_90", nvrtc: nvrtc))
    }

    @Test("HostDevice's gemm has cuBLAS's semantics: column-major, transposes, alpha and beta, strided batches")
    func hostGEMMHasCuBLASSemantics() throws {
        let device = HostDevice()
        var random = SplitMix64(state: 7)
        func values(_ count: Int) -> [Float] { (0..<count).map { _ in Float.random(in: -1...1, using: &random) } }
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let (m, n, k, batch) = (5, 7, 3, 3)
            let (lda, ldb, ldc) = ((ta ? k : m) + 1, (tb ? n : k) + 2, m + 1)
            let (sa, sb, sc) = (lda * (ta ? m : k) + 3, ldb * (tb ? k : n) + 1, ldc * n + 2)
            let (a, b, c) = (values(sa * batch), values(sb * batch), values(sc * batch))
            var expected = c
            for i in 0..<batch {
                for row in 0..<m {
                    for col in 0..<n {
                        var sum: Float = 0
                        for t in 0..<k {
                            let av = ta ? a[i * sa + t + row * lda] : a[i * sa + row + t * lda]
                            let bv = tb ? b[i * sb + col + t * ldb] : b[i * sb + t + col * ldb]
                            sum += av * bv
                        }
                        expected[i * sc + row + col * ldc] = 0.5 * sum + 2 * c[i * sc + row + col * ldc]
                    }
                }
            }
            let (ba, bb, bc) = (try device.upload(a), try device.upload(b), try device.upload(c))
            try device.gemm(GEMM(transposeA: ta, transposeB: tb, m: m, n: n, k: k, alpha: 0.5, beta: 2, a: ba, lda: lda, strideA: sa,
                                 b: bb, ldb: ldb, strideB: sb, c: bc, ldc: ldc, strideC: sc, batch: batch))
            let got: [Float] = try device.download(bc, count: c.count)
            let worst = zip(got, expected).map { abs($0 - $1) }.max() ?? 0
            #expect(worst < 1e-5, "transposeA \(ta) transposeB \(tb): max diff \(worst)")
        }
    }

    @Test("a buffer outside the device's allocations is refused by name, not read")
    func foreignBuffersAreRefused() throws {
        let device = HostDevice()
        let small = try device.allocate(bytes: 16)
        let error = #expect(throws: DeviceError.self) {
            try device.launch(.biasGELU(x: DeviceBuffer(address: small.address, bytes: 64), bias: small, rows: 4, cols: 4))
        }
        #expect(error?.description.contains("not inside an allocation") == true)
        #expect(throws: DeviceError.self) { _ = try device.allocate(bytes: 8 << 30) }
    }

    @Test("device batches: longest first, within the row and padded-slot limits, every sequence once")
    func batchesRespectTheLimits() {
        var random = SplitMix64(state: 3)
        let lengths = (0..<500).map { _ in 2 + Int(random.next() % 255) }
        let limits = MiniLMDeviceEncoder.BatchLimits(rows: 1_000, paddedRows: 1_300)
        let batches = MiniLMDeviceEncoder.batches(lengths, limits: limits)
        #expect(batches.flatMap { $0 }.sorted() == Array(lengths.indices))
        for batch in batches {
            let longest = batch.map { lengths[$0] }.max()!
            #expect(batch.map { lengths[$0] }.reduce(0, +) <= limits.rows)
            #expect(batch.count * longest <= limits.paddedRows)
            #expect(lengths[batch[0]] == longest, "each batch starts with its longest")
        }
    }
}

/// The GPU embedding pipeline (packing, layouts, strides, transposes, attention per sequence,
/// pooling) on `HostDevice`, against the CPU path on the real model.
@Suite struct DevicePipelineTests {
    static func cosine(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }

    /// Small batch limits, so the texts span many batches of different padded lengths.
    static let hostEmbedder: Result<SentenceEmbedder, Error> = Result {
        try SentenceEmbedder(modelDirectory: InstalledModel.directory, on: HostDevice(),
                             limits: .init(rows: 1_200, paddedRows: 1_500))
    }

    @Test("every committed text: cosine >= 0.9999 against the CPU path, in the order given")
    func matchesTheCPUPath() throws {
        let texts = EmbeddingExactnessTests.texts
        let cpu = try InstalledModel.embedder.get().embed(texts)
        let device = try Self.hostEmbedder.get().embed(texts)
        #expect(device.count == texts.count)
        let cosines = zip(cpu, device).map(Self.cosine)
        let worst = cosines.enumerated().min { $0.element < $1.element }!
        #expect(worst.element >= 0.9999, "text \(worst.offset): cosine \(worst.element)")
        #expect(device.allSatisfy { abs(Self.cosine($0, $0) - 1) < 1e-4 }, "normalised")
    }

    @Test("odd shapes: one token, 256 tokens, a batch of one, batches that are no multiple of anything")
    func oddShapes() throws {
        let cpu = try InstalledModel.embedder.get(), device = try Self.hostEmbedder.get()
        let longest = try #require(EmbeddingExactnessTests.referenceIDs.first { $0.count == 256 })
        let shapes: [[[Int32]]] = [
            [[101]],                          // one token
            [longest],                        // the longest sequence, alone
            [[101, 7592, 102]],               // a batch of one
            Array(EmbeddingExactnessTests.referenceIDs.prefix(37)),
            Array(EmbeddingExactnessTests.referenceIDs.suffix(13)) + [[101, 102], longest],
        ]
        for (index, shape) in shapes.enumerated() {
            let expected = try cpu.embed(tokenIDs: shape), got = try device.embed(tokenIDs: shape)
            let worst = zip(expected, got).map(Self.cosine).min() ?? 0
            #expect(worst >= 0.9999, "shape \(index) (\(shape.count) sequences): worst cosine \(worst)")
        }
    }

    @Test("the embedding stage on the device writes what the CPU stage writes")
    func theStageRunsOnTheDevice() throws {
        let dir = try TempDir()
        let texts = Array(EmbeddingExactnessTests.texts.prefix(60))
        var vectors: [String: [[Float]]] = [:]
        for (name, embedder) in [("cpu", try InstalledModel.embedder.get()), ("device", try Self.hostEmbedder.get())] {
            let path = dir.path("\(name).db")
            let queue = try makeDatabase(at: path, prod: false, embeddings: false)
            try queue.write { db in
                for (index, text) in texts.enumerated() {
                    try db.execute(sql: "INSERT INTO videos(video_id, instance_domain, title, last_checked_at) VALUES (?, 'a.example', ?, 0)",
                                   arguments: ["v\(index)", text])
                }
            }
            let result = try EmbeddingStage.run(dbPath: path, embedder: embedder, options: .init(batchSize: 25), logger: quietLogger)
            #expect(result.embedded + result.withoutText == texts.count && result.embedded > 50)
            vectors[name] = try queue.read { db in
                try Data.fetchAll(db, sql: "SELECT embedding FROM video_embeddings ORDER BY CAST(substr(video_id, 2) AS INTEGER)").map(EmbeddingBlob.decode)
            }
        }
        #expect(vectors["cpu"]!.count == vectors["device"]!.count)
        let worst = zip(vectors["cpu"]!, vectors["device"]!).map(Self.cosine).min() ?? 0
        #expect(worst >= 0.9999, "worst cosine \(worst)")
    }

    @Test("a device error in the middle of the stage fails it with the error, no CPU fallback; the batches committed before stay")
    func aDeviceErrorFailsTheStageAndKeepsCommittedBatches() throws {
        let dir = try TempDir()
        let texts = Array(EmbeddingExactnessTests.texts.prefix(60))
        let limits = MiniLMDeviceEncoder.BatchLimits(rows: 1_200, paddedRows: 1_500)
        func stage(_ name: String, _ texts: [String], on device: FailingDevice) throws -> (DatabaseQueue, Swift.Result<EmbeddingStage.Result, Error>) {
            let path = dir.path("\(name).db")
            let queue = try makeDatabase(at: path, prod: false, embeddings: false)
            try queue.write { db in
                for (index, text) in texts.enumerated() {
                    try db.execute(sql: "INSERT INTO videos(video_id, instance_domain, title, last_checked_at) VALUES (?, 'a.example', ?, 0)",
                                   arguments: [String(format: "v%03d", index), text])
                }
            }
            let embedder = try SentenceEmbedder(modelDirectory: InstalledModel.directory, on: device, limits: limits)
            return (queue, Swift.Result { try EmbeddingStage.run(dbPath: path, embedder: embedder, options: .init(batchSize: 25), logger: quietLogger) })
        }
        func embeddings(_ queue: DatabaseQueue) throws -> [String: [Float]] {
            try queue.read { db in
                Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT video_id, embedding FROM video_embeddings").map {
                    ($0["video_id"] as String, EmbeddingBlob.decode($0["embedding"]))
                })
            }
        }
        // The first page alone on a device that counts its GEMMs, and the whole run for its vectors.
        let counting = FailingDevice(failingAtGEMM: .max)
        let firstPage = try stage("first-page", Array(texts.prefix(25)), on: counting).1.get()
        let (wholeQueue, whole) = try stage("whole", texts, on: FailingDevice(failingAtGEMM: .max))
        let all = try embeddings(wholeQueue)
        #expect(try whole.get().embedded == all.count && all.count > firstPage.embedded && firstPage.embedded > 0 && counting.gemms > 0)
        // The same texts on a device whose first GEMM of the second page fails.
        let (brokenQueue, broken) = try stage("broken", texts, on: FailingDevice(failingAtGEMM: counting.gemms + 1))
        #expect(throws: DeviceError.call("cublasSgemm", status: FailingDevice.status, detail: "injected")) { try broken.get() }
        let kept = try embeddings(brokenQueue)
        #expect(kept.count == firstPage.embedded, "the first page was committed before the failure; nothing of the second, nothing from a CPU fallback")
        #expect(kept.allSatisfy { all[$0.key] == $0.value }, "the committed vectors are the device's, whole")
    }
}

/// A test device on a `HostDevice`: memory and copies are the host's; the device brings the GEMMs
/// and launches it tests.
protocol HostBackedDevice: TensorDevice {
    var host: HostDevice { get }
}

extension HostBackedDevice {
    func allocate(bytes: Int) throws -> DeviceBuffer { try host.allocate(bytes: bytes) }
    func free(_ buffer: DeviceBuffer) { host.free(buffer) }
    func freeMemory() throws -> Int { try host.freeMemory() }
    func upload(_ source: UnsafeRawBufferPointer, to buffer: DeviceBuffer) throws { try host.upload(source, to: buffer) }
    func download(_ buffer: DeviceBuffer, into destination: UnsafeMutableRawBufferPointer) throws { try host.download(buffer, into: destination) }
    func zero(_ buffer: DeviceBuffer) throws { try host.zero(buffer) }
    func synchronize() throws {}
}

/// `HostDevice` that fails its `failingAtGEMM`-th GEMM (counted from 1) as cuBLAS would report a
/// failed kernel, and counts the GEMMs it ran: a device that dies in the middle of a stage.
final class FailingDevice: HostBackedDevice, @unchecked Sendable {
    static let status = "CUBLAS_STATUS_EXECUTION_FAILED"
    let host = HostDevice()
    let failingAt: Int
    private let count = Mutex(0)
    var gemms: Int { count.withLock { $0 } }
    var name: String { "host that fails GEMM \(failingAt)" }
    let embeddingsMarker = "cuda"
    let precision = GEMMPrecision.fp32

    init(failingAtGEMM: Int) { failingAt = failingAtGEMM }

    func launch(_ launch: KernelLaunch) throws { try host.launch(launch) }

    func gemm(_ product: GEMM) throws {
        let number = count.withLock { $0 += 1; return $0 }
        guard number < failingAt else { throw DeviceError.call("cublasSgemm", status: Self.status, detail: "injected") }
        try host.gemm(product)
    }
}

/// `HostDevice` whose launches run the real CUDA source of `kernels.cu`, compiled as C++ and
/// emulated on the CPU with each warp's lanes in lockstep (`CKernelEmulator`): the kernels' own
/// indexing, masking and warp reductions, checked without a GPU.
final class EmulatedDevice: HostBackedDevice, @unchecked Sendable {
    let host = HostDevice()
    var name: String { "emulated CUDA kernels on the host" }
    let embeddingsMarker = "cpu"
    let precision = GEMMPrecision.fp32

    func gemm(_ product: GEMM) throws { try host.gemm(product) }

    func launch(_ launch: KernelLaunch) throws {
        // Buffers must lie inside allocations, as on the host device.
        for case .buffer(let buffer) in launch.arguments { _ = try host.memory(buffer) }
        let slots = UnsafeMutableRawPointer.allocate(byteCount: 8 * launch.arguments.count, alignment: 8)
        defer { slots.deallocate() }
        var pointers: [UnsafeMutableRawPointer?] = []
        for (index, argument) in launch.arguments.enumerated() {
            let slot = slots + 8 * index
            switch argument {
            case .buffer(let buffer): slot.storeBytes(of: buffer.address, as: UInt64.self)
            case .int(let value): slot.storeBytes(of: value, as: Int32.self)
            case .float(let value): slot.storeBytes(of: value, as: Float.self)
            }
            pointers.append(slot)
        }
        var error = [CChar](repeating: 0, count: 256)
        let status = pointers.withUnsafeMutableBufferPointer {
            emu_launch(launch.kernel.rawValue, UInt32(launch.blocks), UInt32(launch.threads), $0.baseAddress, &error, Int32(error.count))
        }
        guard status == 0 else {
            throw DeviceError.call("emu_launch", status: String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
    }
}

/// The CUDA kernels' own code (emulated) against their host references, and the whole pipeline on it.
@Suite struct EmulatedKernelTests {
    @Test("every kernel of kernels.cu, emulated, computes what its host reference computes (the self-test, on the CPU)")
    func kernelsMatchTheirReferences() throws {
        let lines = try DeviceSelfTest.kernels(on: EmulatedDevice())
        #expect(lines.count == Kernel.allCases.count + 3, "each kernel and the three GEMM shapes")
        for line in lines { #expect(line.passed, "\(line.text)") }
    }

    @Test("a kernel that leaves its output unwritten fails the self-test (NaN-poisoned outputs)")
    func unwrittenOutputsFail() throws {
        /// A device whose gather writes nothing: the self-test must say FAIL for gather_context.
        final class Lazy: HostBackedDevice, @unchecked Sendable {
            let inner = EmulatedDevice()
            var host: HostDevice { inner.host }
            var name: String { "lazy" }
            let embeddingsMarker = "cpu", precision = GEMMPrecision.fp32
            func gemm(_ p: GEMM) throws { try inner.gemm(p) }
            func launch(_ l: KernelLaunch) throws { if l.kernel != .gatherContext { try inner.launch(l) } }
        }
        let lines = try DeviceSelfTest.kernels(on: Lazy())
        #expect(lines.first { $0.op == "gather_context" }?.passed == false)
        let others = lines.filter { $0.op != "gather_context" }
        #expect(others.allSatisfy { $0.passed })
    }

    @Test("the GPU embedding pipeline on the emulated kernels matches the CPU path")
    func pipelineOnEmulatedKernels() throws {
        let embedder = try SentenceEmbedder(modelDirectory: InstalledModel.directory, on: EmulatedDevice(),
                                            limits: .init(rows: 700, paddedRows: 900))
        let texts = Array(EmbeddingExactnessTests.texts.prefix(24))
        let cpu = try InstalledModel.embedder.get().embed(texts), device = try embedder.embed(texts)
        let worst = zip(cpu, device).map(DevicePipelineTests.cosine).min() ?? 0
        #expect(worst >= 0.9999, "worst cosine \(worst)")
    }
}
