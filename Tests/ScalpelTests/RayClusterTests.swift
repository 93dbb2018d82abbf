import Foundation
import TestSupport
import Testing

private let rayPython = TestSupport.python(with: ["ray", "scalpel_ray"])

/// scalpel-ray on a real local Ray cluster against scalpel prune on one machine
/// (python/tests/test_cluster.py: 1, 2 and 3 workers, a killed worker, a killed and resumed driver).
@Suite(
    "Ray cluster",
    .enabled(
        if: TestSupport.scalpelExecutable != nil && rayPython != nil,
        "needs the scalpel executable and python3 with ray and scalpel_ray (pip install ./python)"))
struct RayClusterTests {
    @Test("scalpel-ray writes scalpel prune's exact masks and metrics for any worker count, a killed worker and a resumed driver")
    func cluster() throws {
        let r = try TestSupport.run(
            "/usr/bin/env",
            ["python3", TestSupport.root + "/python/tests/test_cluster.py", "--scalpel", TestSupport.scalpelExecutable ?? ""],
            timeout: 1800)
        let checks = r.stdout.split(separator: "\n").filter { $0.hasPrefix("ok ") || $0.hasPrefix("FAIL ") }
        #expect(r.status == 0, "\(checks.filter { $0.hasPrefix("FAIL") }.joined(separator: "\n"))\n\(r.stderr.suffix(2000))")
        #expect(checks.count >= 18, "\(r.stdout)")
        #expect(checks.allSatisfy { $0.hasPrefix("ok ") })
    }
}
