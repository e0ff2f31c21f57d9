import Foundation
import Testing
@testable import PeerTubeUpdater

/// Files published together switch together: an index and its meta never show different generations.
struct ArtifactGenerationsTests {
    static func read(_ path: String) -> String? {
        (try? Data(contentsOf: URL(fileURLWithPath: path))).map { String(decoding: $0, as: UTF8.self) }
    }

    static func publish(_ generations: ArtifactGenerations, _ marker: String) throws {
        try generations.publish { temporaries in
            for (temporary, path) in zip(temporaries, generations.paths) {
                try Data("\(marker) \((path as NSString).lastPathComponent)".utf8).write(to: URL(fileURLWithPath: temporary))
            }
        }
    }

    static func isLink(_ path: String) -> Bool { (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) != nil }

    @Test func generationsSwitchTogetherAndKeepThePreviousOne() throws {
        let dir = try TempDir()
        let generations = ArtifactGenerations(paths: [dir.path("index.faiss"), dir.path("index.faiss.json")])
        try Self.publish(generations, "one")
        #expect(Self.read(dir.path("index.faiss")) == "one index.faiss")
        #expect(Self.read(dir.path("index.faiss.json")) == "one index.faiss.json")
        #expect(Self.isLink(dir.path("index.faiss")) && Self.isLink(dir.path("index.faiss.json")))
        // Relative links: the data folder can be moved or mounted elsewhere.
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: dir.path("index.faiss")) == ".index.faiss.generations/current/index.faiss")

        for marker in ["two", "three"] { try Self.publish(generations, marker) }
        #expect(Self.read(dir.path("index.faiss")) == "three index.faiss")
        #expect(Self.read(dir.path("index.faiss.json")) == "three index.faiss.json")
        #expect(Self.read(dir.path("index.faiss.prev")) == "two index.faiss")
        #expect(Self.read(dir.path("index.faiss.json.prev")) == "two index.faiss.json")
        // Only the current and the previous generation are kept.
        let kept = try FileManager.default.contentsOfDirectory(atPath: generations.folder).filter { $0.hasPrefix("g-") }
        #expect(kept.count == 2)
    }

    @Test func aWriteThatFailsHalfwayChangesNothing() throws {
        let dir = try TempDir()
        let generations = ArtifactGenerations(paths: [dir.path("index.faiss"), dir.path("index.faiss.json")])
        try Self.publish(generations, "one")
        struct Interrupted: Error {}
        #expect(throws: Interrupted.self) {
            try generations.publish { temporaries in
                try Data("two".utf8).write(to: URL(fileURLWithPath: temporaries[0]))
                throw Interrupted()
            }
        }
        #expect(Self.read(dir.path("index.faiss")) == "one index.faiss")
        #expect(Self.read(dir.path("index.faiss.json")) == "one index.faiss.json")
        #expect(try FileManager.default.contentsOfDirectory(atPath: generations.folder).filter { $0.contains("tmp-") }.isEmpty)
    }

    /// Files of a version before generations are adopted: the first publish keeps them as `.prev`.
    @Test func plainFilesAreAdoptedAsTheFirstGeneration() throws {
        let dir = try TempDir()
        try Data("old index".utf8).write(to: URL(fileURLWithPath: dir.path("index.faiss")))
        try Data("old meta".utf8).write(to: URL(fileURLWithPath: dir.path("index.faiss.json")))
        try Data("older index".utf8).write(to: URL(fileURLWithPath: dir.path("index.faiss.prev")))
        let generations = ArtifactGenerations(paths: [dir.path("index.faiss"), dir.path("index.faiss.json")])
        try Self.publish(generations, "new")
        #expect(Self.read(dir.path("index.faiss")) == "new index.faiss")
        #expect(Self.read(dir.path("index.faiss.prev")) == "old index")
        #expect(Self.read(dir.path("index.faiss.json.prev")) == "old meta")
    }

    /// What a killed writer leaves (its staging folder, a generation it never switched to, a link
    /// temporary) is removed by the next publish.
    @Test func leftoversOfAKilledWriterAreRemoved() throws {
        let dir = try TempDir()
        let generations = ArtifactGenerations(paths: [dir.path("index.faiss"), dir.path("index.faiss.json")])
        try Self.publish(generations, "one")
        let dead: Int32 = 2_000_000_000  // above pid_max: no such process
        try FileManager.default.createDirectory(atPath: "\(generations.folder)/tmp-\(dead)", withIntermediateDirectories: false)
        try FileManager.default.createDirectory(atPath: "\(generations.folder)/g-1-\(dead)", withIntermediateDirectories: false)
        try FileManager.default.createSymbolicLink(atPath: "\(generations.folder)/current.tmp-\(dead)", withDestinationPath: "g-1-\(dead)")
        try FileManager.default.createSymbolicLink(atPath: dir.path("index.faiss.tmp-\(dead)"), withDestinationPath: "nowhere")
        try Self.publish(generations, "two")
        let left = try FileManager.default.contentsOfDirectory(atPath: generations.folder)
        #expect(left.filter { $0.contains(String(dead)) }.isEmpty, "\(left)")
        #expect(!FileManager.default.fileExists(atPath: dir.path("index.faiss.tmp-\(dead)")))
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: dir.path("index.faiss.tmp-\(dead)"))) == nil)
        #expect(Self.read(dir.path("index.faiss.json")) == "two index.faiss.json")
    }
}
