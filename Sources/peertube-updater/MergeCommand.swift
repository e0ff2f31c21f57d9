import ArgumentParser
import PeerTubeUpdater

struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Merge the staging DB into prod, all tables in one transaction.",
        discussion: """
            Each table follows its rule in the rules file: INSERT_ONLY (new keys only), INSERT_OR_REPLACE (new \
            keys, and existing rows made equal to staging's, keeping their rowid) or UPSERT (new keys, and the \
            rule's update_columns). Only columns both DBs have are merged. Every rule is checked against both \
            DBs before anything is written; any error rolls the whole merge back.

            Rules file shape: {"tables": [{"name": "videos", "strategy": "INSERT_ONLY", \
            "keys": ["video_id", "instance_domain"]}, ...]}. Without --rules the built-in rules apply.
            """
    )

    @OptionGroup var prod: ProdOptions
    @OptionGroup var staging: StagingOptions
    @Option(name: [.customLong("rules"), .customLong("merge-rules")], help: ArgumentHelp("Merge rules JSON. Default: the built-in rules.", valueName: "path"))
    var rules: String?
    @Flag(name: .customLong("dry-run"), help: "Print how many new rows each table would get, and write nothing.")
    var dryRun = false
    @OptionGroup var log: LogOptions

    func run() throws {
        let logger = try log.makeLogger("merge")
        let ruleSet = try rules.map(MergeRuleSet.load(from:)) ?? .builtIn
        if dryRun {
            let counts = try StagingMerge.newRowCounts(prodPath: prod.prodPath, stagingPath: staging.stagingPath, rules: ruleSet)
            for rule in ruleSet.rules {
                print("\(rule.table)\t\(rule.strategy.rawValue)\tnew_rows=\(counts[rule.table].map(String.init) ?? "n/a")")
            }
            return
        }
        try RunLock.withLock(at: prod.lockPath, guarding: prod.prodPath, logger: logger) {
            _ = try StagingMerge.run(prodPath: prod.prodPath, stagingPath: staging.stagingPath, rules: ruleSet, logger: logger)
        }
    }
}
