import COpenBLAS
import Foundation

/// OpenBLAS picks its kernels by the CPU's model number, and an older OpenBLAS that does not know a
/// model (a new Xeon, or a VM that hides the model, as "Intel(R) Xeon(R) Processor") falls back to
/// its generic SSE3 kernels (`Prescott`): 2-3x slower on every GEMM of the embeddings, the ANN build
/// and exact search. The CPU's feature flags tell which kernels it really runs; `OPENBLAS_CORETYPE`
/// names them, and OpenBLAS reads it once, when it loads. An operator's own `OPENBLAS_CORETYPE` is
/// always left alone.
public enum BLASCore {
    public static let environmentVariable = "OPENBLAS_CORETYPE"

    /// The core OpenBLAS chose in this process (`Haswell`, `SkylakeX`, `Prescott`, …).
    public static var current: String { String(cString: openblas_get_corename()) }

    /// Generic fallback cores: OpenBLAS chose one of these without knowing the CPU.
    static let fallbacks: Set<String> = ["prescott", "core2", "nehalem", "penryn", "dunnington", "atom", "katmai", "coppermine",
                                         "northwood", "banias", "sandybridge"]

    /// The core to ask for, when OpenBLAS fell back to a generic one while the CPU has better
    /// features: `SkylakeX` with AVX-512 (F, BW, DQ, VL), `Haswell` with AVX2 and FMA; nil otherwise,
    /// and always nil when `OPENBLAS_CORETYPE` is already set.
    public static func better(environment: [String: String] = ProcessInfo.processInfo.environment,
                              cpuFlags: Set<String> = cpuFlags(), current: String = current) -> String? {
        guard environment[environmentVariable] == nil, fallbacks.contains(current.lowercased()) else { return nil }
        if cpuFlags.isSuperset(of: ["avx512f", "avx512bw", "avx512dq", "avx512vl", "avx2", "fma"]) { return "SkylakeX" }
        if cpuFlags.isSuperset(of: ["avx2", "fma"]) { return "Haswell" }
        return nil
    }

    /// The `flags` of the first processor in `/proc/cpuinfo` (empty where there is none).
    public static func cpuFlags(cpuinfo: String? = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) -> Set<String> {
        guard let line = cpuinfo?.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let colon = line.firstIndex(of: ":") else { return [] }
        return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
    }

    /// Starts this program again with `OPENBLAS_CORETYPE` set when `better()` names a core; returns
    /// (doing nothing) otherwise or when the restart fails. Call first thing in `main`, before any
    /// thread starts.
    public static func restartWithBetterCoreIfNeeded() {
        guard let core = better() else { return }
        setenv(environmentVariable, core, 1)
        let arguments = CommandLine.arguments.map { strdup($0) } + [nil]
        execv("/proc/self/exe", arguments)
        // Still here: the restart failed; carry on with the kernels OpenBLAS chose.
        unsetenv(environmentVariable)
    }
}
