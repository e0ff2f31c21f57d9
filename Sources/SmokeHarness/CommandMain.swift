import ArgumentParser
import PeerTubeUpdater

extension AsyncParsableCommand {
    /// What argument-parser's `main()` does, after giving OpenBLAS the kernels this CPU runs
    /// (`BLASCore`), with `mapError` applied to a failure before it is printed.
    public static func mainWithBLASCore(mapError: (Error) -> Error = { $0 }) async {
        BLASCore.restartWithBetterCoreIfNeeded()
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: mapError(error))
        }
    }
}
