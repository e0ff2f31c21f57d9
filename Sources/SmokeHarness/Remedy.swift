import PeerTubeUpdater

/// What an operator can do about an error. Library errors state facts (what went wrong, where);
/// the front ends — the CLI's one-line error and the smoke report — add the remedy from this one table.
public enum Remedy {
    /// The remedy for `error`, when there is a known one.
    public static func advice(for error: Error) -> String? {
        switch error {
        case ModelError.missing:
            "run `make model` to install all-MiniLM-L6-v2, or pass --model-dir / set PEERTUBE_UPDATER_MODEL_DIR"
        case is ModelError:
            "run `make model` to reinstall it"
        case is GPUUnavailable:
            "run with --cpu (make smoke-cpu)"
        case let error as ServiceControlError where error.systemdMissing:
            "run without --use-systemctl"
        case is OutageGateError:
            "check the network and the whitelist; --min-reached-share lowers the gate"
        case is PhaseTimeout:
            "see the run folder's smoke.log and worker logs; on a slow machine raise --time-limit-factor"
        case is RunLockError:
            "`peertube-updater lock status` shows the holder"
        default:
            nil
        }
    }

    /// `error`'s description, then its remedy after `; `.
    public static func describe(_ error: Error) -> String {
        advice(for: error).map { "\(error); \($0)" } ?? "\(error)"
    }
}
