import Foundation
import XCTest
import Kiln

final class TrainingTests: XCTestCase {
    /// The synthetic conv net learns: the mean loss of the last 10 of 80 AdamW steps is below
    /// 40% of the first loss (chance level for 4 classes is ln 4 = 1.39).
    func testConvnetSyntheticLearns() throws {
        let t = try Trainer(task: .convnetSynthetic, batchSize: 16, optimizer: OptimizerConfig(kind: .adamw, learningRate: 0.02), seed: 1, threads: 2)
        var losses: [Double] = []
        for _ in 0..<80 { losses.append(try t.trainStep()) }
        XCTAssertLessThan(losses.suffix(10).reduce(0, +) / 10, 0.4 * losses[0], "losses: \(losses)")
    }

    func testSGDAlsoLearns() throws {
        let t = try Trainer(task: .convnetSynthetic, batchSize: 16, optimizer: OptimizerConfig(kind: .sgd, learningRate: 0.2), seed: 1, threads: 2)
        var losses: [Double] = []
        for _ in 0..<80 { losses.append(try t.trainStep()) }
        XCTAssertLessThan(losses.suffix(10).reduce(0, +) / 10, 0.6 * losses[0], "losses: \(losses)")
    }

    /// A GLA block learns multi-query associative recall: after 200 steps the loss is below
    /// ln 8 (the best possible without recalling pairs from context) and below 70% of the start.
    func testGLALearnsMQAR() throws {
        let t = try Trainer(task: .glaMQAR, batchSize: 16, optimizer: OptimizerConfig(kind: .adamw, learningRate: 0.005), seed: 0, threads: 2)
        var losses: [Double] = []
        for _ in 0..<200 { losses.append(try t.trainStep()) }
        let tail = losses.suffix(20).reduce(0, +) / 20
        XCTAssertLessThan(tail, log(8.0) - 0.2, "losses: \(losses.suffix(20))")
        XCTAssertLessThan(tail, 0.7 * losses[0])
    }

    /// Compiled training follows interpreter training step for step.
    func testCompiledMatchesInterpretedTraining() throws {
        let cfg = OptimizerConfig(kind: .adamw, learningRate: 0.01)
        let a = try Trainer(task: .convnetSynthetic, batchSize: 4, optimizer: cfg, seed: 5, threads: 2)
        let b = try Trainer(task: .convnetSynthetic, batchSize: 4, optimizer: cfg, seed: 5, interpret: true)
        for s in 0..<3 {
            let (la, lb) = (try a.trainStep(), try b.trainStep())
            XCTAssertEqual(la, lb, accuracy: 1e-4 * max(1, abs(lb)), "step \(s)")
        }
        for (name, p) in a.parameters {
            let q = b.parameters[name]!
            let worst = zip(p.floats, q.floats).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThanOrEqual(worst, 1e-3, name)
        }
    }
}
