import Foundation
import Testing
@testable import PeerTubeUpdater

/// The similarity stage's exact search on a device (`HostDevice`, small score blocks so every
/// blocking path runs): full and incremental runs give the exact top-k of every video.
@Suite struct DeviceSimilarityTests {
    private func precompute(_ corpus: TopicCorpus, _ selection: SimilarityPrecompute.Selection) throws -> SimilarityPrecompute.Result {
        var options = SimilarityPrecompute.Options(selection: selection, device: .gpu)
        options.deviceBlocks = .init(queries: 97, columns: 333)
        options.batchSize = 250
        return try SimilarityPrecompute.run(dbPath: corpus.prod, indexPath: corpus.index, outPath: corpus.cache, options: options,
                                            logger: quietLogger, on: HostDevice())
    }

    @Test("the device search's lists hold ExactSearch's neighbours, every list (ranked by the one dot product, ties by rowid)")
    func fullRunIsExact() throws {
        let corpus = try TopicCorpus()
        try corpus.add(0..<1_300)
        try corpus.buildIndex()
        _ = try precompute(corpus, .reset)
        let cached = try corpus.lists(), exact = try corpus.exact()
        #expect(cached.count == 1_300)
        let differing = exact.filter { Set(cached[$0.key] ?? []) != Set($0.value) }
        #expect(differing.isEmpty, "\(differing.count) lists differ, e.g. \(differing.first.map { "\($0.key): \($0.value.prefix(4)) vs \(cached[$0.key]?.prefix(4) ?? [])" } ?? "")")
        try corpus.expectWellFormed(length: 20)
    }

    @Test("an incremental run adds the new videos' lists and puts each new video into every old list it beats: exact afterwards")
    func incrementalRunIsExact() throws {
        let corpus = try TopicCorpus()
        try corpus.add(0..<1_000)
        try corpus.buildIndex()
        _ = try precompute(corpus, .reset)
        try corpus.add(1_000..<1_150)
        try corpus.buildIndex()
        let result = try precompute(corpus, .incremental)
        #expect(result.newSources == 150)
        #expect(result.refreshedSources > 0, "old lists the new videos entered")
        let cached = try corpus.lists(), exact = try corpus.exact()
        #expect(cached.count == 1_150)
        let recall = TopicCorpus.recall(cached, against: exact)
        #expect(recall == 1, "recall \(recall) after the incremental run")
        try corpus.expectWellFormed(length: 20)
    }

    @Test("lists are min(top-k, N - 1) long on a tiny prod")
    func tinyProd() throws {
        let corpus = try TopicCorpus()
        try corpus.add(0..<9)
        try corpus.buildIndex(nlist: 1)
        _ = try precompute(corpus, .reset)
        try corpus.expectWellFormed(length: 8)
    }
}
