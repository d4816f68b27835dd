import Foundation
import SkiffModelStore
import Testing

/// A model cut into three parts of 100,000 bytes, each the data member of its own wheel-like zip
/// archive (laid out as the Gemma wheels on PyPI are), served as `/p1.whl` to `/p3.whl`.
struct SplitModel {
    static let partSize = 100_000

    /// The whole model: what the parts joined in order must give.
    let model = fakeGGUF(count: 3 * partSize, seed: 11)
    /// The archives' bytes, in part order.
    let archives: [[UInt8]]

    /// Builds the archives, using `scratch` for the zip files on the way.
    init(in scratch: URL) throws {
        var archives: [[UInt8]] = []
        for part in 1...3 {
            let url = scratch.appending(component: "p\(part).whl")
            try makeZip(at: url, members: [
                ("p\(part)/__init__.py", Array("\n".utf8)),
                (Self.memberPath(part), Array(model[(part - 1) * Self.partSize..<part * Self.partSize])),
            ])
            archives.append(try #require(contents(of: url)))
            try FileManager.default.removeItem(at: url)
        }
        self.archives = archives
    }

    /// The path of part `part`'s piece of the model inside its archive.
    static func memberPath(_ part: Int) -> String {
        "p\(part)/data/split.gguf.part0\(part - 1)"
    }

    /// The server's routes; the first answer for part 2 breaks off after `cut` bytes when given.
    func routes(cuttingPart2After cut: Int? = nil) -> [String: Route] {
        [
            "/p1.whl": Route(body: archives[0]),
            "/p2.whl": Route(body: archives[1], cutFirstResponseAfter: cut),
            "/p3.whl": Route(body: archives[2]),
        ]
    }

    /// The spec that pulls the model from `server`, with every hash and size pinned; `change` can
    /// spoil the members for a test.
    func spec(on server: TestHTTPServer, changing change: (inout [ArchiveMember]) -> Void = { _ in }) -> ModelSpec {
        var members = archives.indices.map { index in
            ArchiveMember(
                archive: .remote(server.url("/p\(index + 1).whl")),
                archiveSHA256: sha256Hex(archives[index]),
                archiveByteCount: Int64(archives[index].count),
                path: Self.memberPath(index + 1)
            )
        }
        change(&members)
        return ModelSpec(
            fileName: "split.gguf",
            source: .archiveMembers(members),
            sha256: sha256Hex(model),
            byteCount: Int64(model.count)
        )
    }
}

/// "downloading 2/3" for a report on downloading part 2 of 3.
private func step(_ progress: PullProgress) -> String {
    "\(progress.phase) \(progress.part)/\(progress.partCount)"
}

@Suite("Pulling a model split over several zip archives", .timeLimit(.minutes(10)))
struct SplitArchivePullTests {
    @Test func partsAreDownloadedJoinedVerifiedAndRemoved() async throws {
        try await withTemporaryDirectory { scratch in
            let split = try SplitModel(in: scratch)
            try await TestHTTPServer.with(routes: split.routes()) { server in
                let store = scratch.appending(component: "models")
                var steps: [String] = []
                var finished: [PullProgress] = []
                let path = try await ModelPuller(store: ModelStore(directory: store)).pull(split.spec(on: server)) { progress in
                    if steps.last != step(progress) { steps.append(step(progress)) }
                    if progress.isFinished { finished.append(progress) }
                }
                #expect(path == store.appending(component: "split.gguf"))
                #expect(contents(of: path) == split.model)
                #expect(fileNames(in: store) == ["split.gguf"])
                let expectedSteps = ["downloading", "extracting"].flatMap { phase in (1...3).map { "\(phase) \($0)/3" } }
                #expect(steps == expectedSteps)
                #expect(finished.map(step) == expectedSteps)
                #expect(finished.filter { $0.phase == .downloading }.map(\.fileName) == ["p1.whl", "p2.whl", "p3.whl"])
                let extracted = finished.filter { $0.phase == .extracting }
                #expect(extracted.allSatisfy { $0.fileName == "split.gguf" && $0.completedBytes == Int64(SplitModel.partSize) })
                #expect(server.requests.map(\.path) == ["/p1.whl", "/p2.whl", "/p3.whl"])
            }
        }
    }

    @Test func pullInterruptedInPart2ResumesThere() async throws {
        try await withTemporaryDirectory { scratch in
            let split = try SplitModel(in: scratch)
            try await TestHTTPServer.with(routes: split.routes(cuttingPart2After: 40_000)) { server in
                let store = scratch.appending(component: "models")
                let puller = ModelPuller(store: ModelStore(directory: store))
                let spec = split.spec(on: server)

                let error = await #expect(throws: ModelStoreError.self) { try await puller.pull(spec) }
                #expect(error?.code == .network)
                #expect(error?.message.hasPrefix("part 2 of 3: ") == true)
                #expect(fileNames(in: store) == ["p1.whl.partial", "p2.whl.partial"])
                let kept = try #require(contents(of: store.appending(component: "p2.whl.partial")))
                #expect(kept.count > 0 && kept.count <= 40_000)
                #expect(kept == Array(split.archives[1].prefix(kept.count)))

                var steps: [String] = []
                var resumedFrom: Int64?
                let path = try await puller.pull(spec) { progress in
                    if steps.last != step(progress) { steps.append(step(progress)) }
                    if progress.phase == .downloading, progress.part == 2 { resumedFrom = progress.resumedFromBytes }
                }
                #expect(contents(of: path) == split.model)
                #expect(fileNames(in: store) == ["split.gguf"])
                // Part 1 is checked on disk without a request; part 2 goes on from its kept bytes.
                #expect(steps == [
                    "checking 1/3", "checking 2/3", "downloading 2/3", "downloading 3/3",
                    "extracting 1/3", "extracting 2/3", "extracting 3/3",
                ])
                #expect(resumedFrom == Int64(kept.count))
                #expect(server.requests.map { "\($0.path) \($0.status)" } == ["/p1.whl 200", "/p2.whl 200", "/p2.whl 206", "/p3.whl 200"])
                #expect(server.requests[2].headers.first(name: "Range") == "bytes=\(kept.count)-")
            }
        }
    }

    @Test func partWithTheWrongChecksumIsDeletedAndNoModelAppears() async throws {
        try await withTemporaryDirectory { scratch in
            let split = try SplitModel(in: scratch)
            try await TestHTTPServer.with(routes: split.routes()) { server in
                let store = scratch.appending(component: "models")
                let wrong = String(repeating: "ab", count: 32)
                let spec = split.spec(on: server) { $0[1].archiveSHA256 = wrong }
                let error = await #expect(throws: ModelStoreError.self) {
                    try await ModelPuller(store: ModelStore(directory: store)).pull(spec)
                }
                #expect(error?.code == .checksumMismatch)
                #expect(error?.message.hasPrefix("part 2 of 3: checksum mismatch for archive \(server.url("/p2.whl").absoluteString)") == true)
                #expect(error?.message.contains("expected sha256 \(wrong), got \(sha256Hex(split.archives[1]))") == true)
                // The bad part is gone and nothing after it was fetched; the good part 1 stays for a retry.
                #expect(fileNames(in: store) == ["p1.whl.partial"])
                #expect(server.requests.map(\.path) == ["/p1.whl", "/p2.whl"])
            }
        }
    }

    @Test func joinedModelWithTheWrongChecksumIsNotInstalled() async throws {
        try await withTemporaryDirectory { scratch in
            let split = try SplitModel(in: scratch)
            try await TestHTTPServer.with(routes: split.routes()) { server in
                let store = scratch.appending(component: "models")
                let puller = ModelPuller(store: ModelStore(directory: store))
                let wrong = String(repeating: "cd", count: 32)
                var spec = split.spec(on: server)
                spec.sha256 = wrong
                let error = await #expect(throws: ModelStoreError.self) { try await puller.pull(spec) }
                #expect(error?.code == .checksumMismatch)
                #expect(error?.message.hasPrefix("checksum mismatch for split.gguf (joined from 3 parts: ") == true)
                #expect(error?.message.contains("expected sha256 \(wrong), got \(sha256Hex(split.model))") == true)
                // No model and no half-written file; the verified archives stay.
                #expect(fileNames(in: store) == ["p1.whl.partial", "p2.whl.partial", "p3.whl.partial"])

                // With the right checksum the kept archives are used without another download.
                let path = try await puller.pull(split.spec(on: server))
                #expect(contents(of: path) == split.model)
                #expect(fileNames(in: store) == ["split.gguf"])
                #expect(server.requests.count == 3)
            }
        }
    }

    @Test func missingMemberInOnePartIsReportedBeforeAnythingIsExtracted() async throws {
        try await withTemporaryDirectory { scratch in
            let split = try SplitModel(in: scratch)
            try await TestHTTPServer.with(routes: split.routes()) { server in
                let store = scratch.appending(component: "models")
                let spec = split.spec(on: server) { $0[2].path = "p3/data/other.gguf.part02" }
                var extracted = false
                let error = await #expect(throws: ModelStoreError.self) {
                    try await ModelPuller(store: ModelStore(directory: store)).pull(spec) { progress in
                        if progress.phase == .extracting { extracted = true }
                    }
                }
                #expect(error?.code == .archiveMemberMissing)
                #expect(error?.message.hasPrefix("part 3 of 3: p3.whl has no member 'p3/data/other.gguf.part02'") == true)
                #expect(error?.message.contains("its .gguf members are: \(SplitModel.memberPath(3))") == true)
                #expect(!extracted)
                #expect(fileNames(in: store) == ["p1.whl.partial", "p2.whl.partial", "p3.whl.partial"])
            }
        }
    }

    @Test func specsThatCannotBePulledAreRefusedBeforeAnyDownload() async throws {
        try await withTemporaryDirectory { scratch in
            let split = try SplitModel(in: scratch)
            try await TestHTTPServer.with(routes: split.routes()) { server in
                let store = scratch.appending(component: "models")
                let puller = ModelPuller(store: ModelStore(directory: store))

                let empty = ModelSpec(fileName: "split.gguf", source: .archiveMembers([]))
                let noParts = await #expect(throws: ModelStoreError.self) { try await puller.pull(empty) }
                #expect(noParts?.code == .invalidReference)

                let sameName = split.spec(on: server) { $0[2].archive = .remote(server.url("/mirror/p1.whl")) }
                let clash = await #expect(throws: ModelStoreError.self) { try await puller.pull(sameName) }
                #expect(clash?.code == .invalidReference)
                #expect(clash?.message.contains("parts 1 and 3 of split.gguf would both be downloaded as p1.whl") == true)

                // The space check counts every part, so a huge last part fails before the first is fetched.
                let huge = split.spec(on: server) { $0[2].archiveByteCount = 1 << 55 }
                let noSpace = await #expect(throws: ModelStoreError.self) { try await puller.pull(huge) }
                #expect(noSpace?.code == .noSpaceLeft)

                #expect(server.requests.isEmpty)
                #expect(fileNames(in: store).isEmpty)
            }
        }
    }
}
