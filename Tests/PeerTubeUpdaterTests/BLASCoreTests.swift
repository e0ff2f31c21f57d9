import Testing
@testable import PeerTubeUpdater

/// Which OpenBLAS kernels to ask for when OpenBLAS fell back to generic ones.
@Suite struct BLASCoreTests {
    @Test func aFallbackCoreIsReplacedByWhatTheCPUCanRun() {
        let avx512: Set<String> = ["avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl"]
        #expect(BLASCore.better(environment: [:], cpuFlags: avx512, current: "Prescott") == "SkylakeX")
        #expect(BLASCore.better(environment: [:], cpuFlags: ["avx2", "fma", "sse4_2"], current: "Prescott") == "Haswell")
        #expect(BLASCore.better(environment: [:], cpuFlags: ["sse4_2"], current: "Prescott") == nil)
        // A core OpenBLAS recognised is kept, and an operator's own choice always wins.
        #expect(BLASCore.better(environment: [:], cpuFlags: avx512, current: "Haswell") == nil)
        #expect(BLASCore.better(environment: ["OPENBLAS_CORETYPE": "Prescott"], cpuFlags: avx512, current: "Prescott") == nil)
    }

    @Test func cpuFlagsAreReadFromCpuinfo() {
        let cpuinfo = "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor\nflags\t\t: fpu sse4_2 avx avx2 fma\n\nprocessor\t: 1\nflags\t\t: fpu\n"
        #expect(BLASCore.cpuFlags(cpuinfo: cpuinfo) == ["fpu", "sse4_2", "avx", "avx2", "fma"])
        #expect(BLASCore.cpuFlags(cpuinfo: nil).isEmpty)
    }
}
