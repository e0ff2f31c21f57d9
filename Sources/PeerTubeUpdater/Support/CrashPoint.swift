import Foundation
import Synchronization

/// Deterministic crash points for the SIGKILL sweep (issue 8). With
/// `PEERTUBE_UPDATER_KILL_AT=<point>:<n>` in the environment the process kills itself with SIGKILL
/// the n-th time it reaches `<point>`: no cleanup, no flush, exactly what a power cut or the OOM
/// killer does. Without the variable `reach` is a dictionary lookup on an empty table.
///
/// Points: `stage:<worker stage>` (a stage starts), `crawl-page` (a page of videos committed),
/// `embeddings-batch` (a batch committed), `merge-table` (a table merged, transaction still open),
/// `ann-trained`, `ann-indexWritten`, `similarity-batch` (a batch written to the side file),
/// `publish:<file name>` (an artifact complete in its temporary file, not yet renamed).
public enum CrashPoint {
    public static let environmentVariable = "PEERTUBE_UPDATER_KILL_AT"

    private static let target: (point: String, hit: Int)? = {
        guard let spec = ProcessInfo.processInfo.environment[environmentVariable],
              let colon = spec.lastIndex(of: ":"), let hit = Int(spec[spec.index(after: colon)...]), hit > 0 else { return nil }
        return (String(spec[..<colon]), hit)
    }()
    private static let hits = Mutex(0)

    public static func reach(_ point: @autoclosure () -> String) {
        guard let target, target.point == point() else { return }
        if hits.withLock({ count in
            count += 1
            return count
        }) == target.hit {
            kill(getpid(), SIGKILL)
        }
    }
}
