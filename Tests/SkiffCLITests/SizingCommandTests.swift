import Foundation
import Testing

/// `skiff plan` and `skiff simulate` as a user runs them.
@Suite struct SizingCommandTests {
    let cli = CommandLineTests()

    @Test func planPrintsStableJSONForTheDefaultModel() throws {
        let result = try cli.skiff(["plan", "--gpu", "cpu", "--memory-bytes", "4294967296", "--context", "4096", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(object["kv_cache_bytes_per_token"] as? Int == 23040)
        #expect(object["weights_bytes"] as? Int == 96_576_768)
        #expect((object["max_concurrency"] as? Int ?? 0) > 0)
    }

    /// `--helm-values` names Skiff's engine where it serves the model: the default model on `cpu`; a config.json's model
    /// on a GPU is vLLM's, and a `cpu` plan for a model Skiff's engine does not run has no values (the plan is still printed).
    @Test func helmValuesNameSkiffOnlyForAModelItRuns() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("skiff-helm-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let cpuFile = directory.appendingPathComponent("cpu.yaml")
        let cpu = try cli.skiff(["plan", "--gpu", "cpu", "--memory-bytes", "4294967296", "--context", "4096", "--helm-values", cpuFile.path])
        #expect(cpu.status == 0, "\(cpu.stderr)")
        let cpuValues = try String(contentsOf: cpuFile, encoding: .utf8)
        #expect(cpuValues.contains("  engine: skiff\n") && cpuValues.contains("    enabled: false\n") && !cpuValues.contains("nvidia.com"))

        let config = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("SkiffSizingTests/Fixtures/qwen2.5-7b.json").path
        let gpuFile = directory.appendingPathComponent("gpu.yaml")
        let gpu = try cli.skiff(["plan", "-m", config, "--gpu", "l4", "--context", "4096", "--peak-rps", "2", "--helm-values", gpuFile.path])
        #expect(gpu.status == 0, "\(gpu.stderr)")
        let gpuValues = try String(contentsOf: gpuFile, encoding: .utf8)
        #expect(gpuValues.contains("  engine: vllm\n") && gpuValues.contains("    warmNodes: "))

        let refusedFile = directory.appendingPathComponent("refused.yaml")
        let refused = try cli.skiff(["plan", "-m", config, "--gpu", "cpu", "--precision", "int4", "--memory-bytes", "68719476736",
                                     "--helm-values", refusedFile.path])
        #expect(refused.status != 0)
        #expect(refused.stdout.contains("none: Skiff's engine does not run this model"), "the plan is printed before the error")
        #expect(refused.stderr.contains("not a GGUF file") && refused.stderr.contains("plan for a GPU"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: refusedFile.path))
    }

    @Test func unknownGPUIsAnActionableError() throws {
        let result = try cli.skiff(["plan", "--gpu", "b300"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("unknown GPU 'b300'; known: a10g, l4"))
    }

    @Test func simulateAnHourOfOneReplica() throws {
        let svg = FileManager.default.temporaryDirectory.appendingPathComponent("skiff-sim-\(UUID().uuidString).svg")
        defer { try? FileManager.default.removeItem(at: svg) }
        let result = try cli.skiff(["simulate", "--gpu", "cpu", "--memory-bytes", "4294967296", "--context", "2048", "--rate", "1",
                                    "--replicas", "1", "--duration", "600", "--prompt-tokens", "100,300", "--output-tokens", "50",
                                    "--svg", svg.path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("0 refused (429)"))
        #expect(try String(contentsOf: svg, encoding: .utf8).hasPrefix("<svg"))
    }

    /// The committed calibration (docs/sizing/calibration) refits, and each validation row is what
    /// `skiff simulate --trace` itself prints for that run.
    @Test func calibrateRefitsTheCommittedRunsAndMatchesSimulate() throws {
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/sizing/calibration")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("skiff-calibrate-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for file in try FileManager.default.contentsOfDirectory(atPath: source.path) where file.hasSuffix(".json") && !file.hasPrefix("validation")
            && !file.hasPrefix("cpu-profile") {
            try FileManager.default.copyItem(at: source.appendingPathComponent(file), to: directory.appendingPathComponent(file))
        }
        let result = try cli.skiff(["simulate", "calibrate", directory.path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("### Poisson runs"))
        let profile = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("cpu-profile.json"))) as? [String: Any])
        let step = try #require(profile["step_time"] as? [String: Double])
        #expect((step["seconds_per_token"] ?? 0) > 0)

        let validation = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("validation.json"))) as? [[String: Any]])
        let settings = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("serve.json"))) as? [String: Any])
        let row = try #require(validation.first)
        let simulated = try #require(row["simulated"] as? [String: Double])
        let replay = try cli.skiff([
            "simulate", "--gpu", "cpu", "--cpu-profile", directory.appendingPathComponent("cpu-profile.json").path, "--replicas", "1",
            "--trace", directory.appendingPathComponent(try #require(row["trace"] as? String)).path, "--context", "\(settings["ctx"]!)",
            "--kv-cache-bytes", "\(settings["kv_cache_bytes"]!)", "--max-running", "\(settings["max_running"]!)",
            "--max-waiting", "\(settings["max_waiting"]!)", "--max-step-tokens", "\(settings["max_step_tokens"]!)",
            "--duration", "\(Int(try #require(row["simulated_seconds"] as? Double)))", "--json",
        ])
        #expect(replay.status == 0, "\(replay.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(replay.stdout.utf8)) as? [String: Any])
        for (mine, theirs) in [("ttft_p50", "time_to_first_token_p50"), ("ttft_p95", "time_to_first_token_p95"),
                               ("tpot_p95", "time_per_output_token_p95")] {
            let a = try #require(simulated[mine]), b = try #require(report[theirs] as? Double)
            #expect(abs(a - b) < 1e-9, "\(mine): calibrate \(a), simulate \(b)")
        }
    }
}
