import Foundation
import SkiffModelStore
import Testing

@Suite("Pulling over HTTP from a live local server", .timeLimit(.minutes(10)))
struct HTTPPullTests {
    let payload = fakeGGUF(count: 600_000)

    func spec(_ url: URL, sha256: String? = nil, byteCount: Int64? = nil) -> ModelSpec {
        ModelSpec(fileName: "tiny.gguf", source: .file(.remote(url)), sha256: sha256, byteCount: byteCount)
    }

    @Test func fullDownloadIsVerifiedAndRenamedIntoPlace() async throws {
        try await TestHTTPServer.with(routes: ["/tiny.gguf": Route(body: payload)]) { server in
            try await withTemporaryDirectory { directory in
                let puller = ModelPuller(store: ModelStore(directory: directory))
                var reports: [PullProgress] = []
                let path = try await puller.pull(spec(server.url("/tiny.gguf"), sha256: sha256Hex(payload))) {
                    reports.append($0)
                }
                #expect(path == directory.appending(component: "tiny.gguf"))
                #expect(contents(of: path) == payload)
                #expect(fileNames(in: directory) == ["tiny.gguf"])
                let last = try #require(reports.last { $0.phase == .downloading })
                #expect(last.isFinished)
                #expect(last.completedBytes == Int64(payload.count))
                #expect(last.totalBytes == Int64(payload.count))
                #expect(server.requests.first?.headers.first(name: "Range") == nil)
            }
        }
    }

    @Test func interruptedDownloadResumesWithRange() async throws {
        let route = Route(body: payload, cutFirstResponseAfter: 200_000)
        try await TestHTTPServer.with(routes: ["/tiny.gguf": route]) { server in
            try await withTemporaryDirectory { directory in
                let puller = ModelPuller(store: ModelStore(directory: directory))
                let model = spec(server.url("/tiny.gguf"), sha256: sha256Hex(payload))

                let error = await #expect(throws: ModelStoreError.self) { try await puller.pull(model) }
                #expect(error?.code == .network)
                #expect(fileNames(in: directory) == ["tiny.gguf.partial"])
                let kept = try #require(contents(of: directory.appending(component: "tiny.gguf.partial")))
                #expect(kept.count > 0 && kept.count <= 200_000)
                #expect(kept == Array(payload.prefix(kept.count)))

                var resumedFrom: Int64?
                let path = try await puller.pull(model) { progress in
                    if progress.phase == .downloading { resumedFrom = progress.resumedFromBytes }
                }
                #expect(contents(of: path) == payload)
                #expect(fileNames(in: directory) == ["tiny.gguf"])
                #expect(resumedFrom == Int64(kept.count))
                let second = try #require(server.requests.last)
                #expect(second.headers.first(name: "Range") == "bytes=\(kept.count)-")
                #expect(second.status == 206)
            }
        }
    }

    @Test func serverIgnoringRangeRestartsFromZero() async throws {
        let route = Route(body: payload, honorsRange: false, cutFirstResponseAfter: 250_000)
        try await TestHTTPServer.with(routes: ["/tiny.gguf": route]) { server in
            try await withTemporaryDirectory { directory in
                let puller = ModelPuller(store: ModelStore(directory: directory))
                let model = spec(server.url("/tiny.gguf"), sha256: sha256Hex(payload))
                await #expect(throws: ModelStoreError.self) { try await puller.pull(model) }

                let path = try await puller.pull(model)
                #expect(contents(of: path) == payload)
                #expect(fileNames(in: directory) == ["tiny.gguf"])
                let second = try #require(server.requests.last)
                #expect(second.headers.first(name: "Range") != nil)
                #expect(second.status == 200)
            }
        }
    }

    @Test func completePartialFileIsInstalledAfter416() async throws {
        try await TestHTTPServer.with(routes: ["/tiny.gguf": Route(body: payload)]) { server in
            try await withTemporaryDirectory { directory in
                try Data(payload).write(to: directory.appending(component: "tiny.gguf.partial"))
                let puller = ModelPuller(store: ModelStore(directory: directory))
                let path = try await puller.pull(spec(server.url("/tiny.gguf"), sha256: sha256Hex(payload)))
                #expect(contents(of: path) == payload)
                #expect(server.requests.map(\.status) == [416])
            }
        }
    }

    @Test func checksumMismatchLeavesNoFile() async throws {
        try await TestHTTPServer.with(routes: ["/tiny.gguf": Route(body: payload)]) { server in
            try await withTemporaryDirectory { directory in
                let puller = ModelPuller(store: ModelStore(directory: directory))
                let wrong = String(repeating: "ab", count: 32)
                let error = await #expect(throws: ModelStoreError.self) {
                    try await puller.pull(spec(server.url("/tiny.gguf"), sha256: wrong))
                }
                #expect(error?.code == .checksumMismatch)
                #expect(error?.message.contains("expected sha256 \(wrong)") == true)
                #expect(error?.message.contains("got \(sha256Hex(payload))") == true)
                #expect(fileNames(in: directory).isEmpty)
            }
        }
    }

    @Test func notFoundNamesTheStatusAndURL() async throws {
        try await TestHTTPServer.with(routes: [:]) { server in
            try await withTemporaryDirectory { directory in
                let puller = ModelPuller(store: ModelStore(directory: directory))
                let url = server.url("/missing.gguf")
                let error = await #expect(throws: ModelStoreError.self) { try await puller.pull(spec(url)) }
                #expect(error?.code == .httpStatus)
                #expect(error?.message.contains("HTTP 404") == true)
                #expect(error?.message.contains(url.absoluteString) == true)
                #expect(fileNames(in: directory).isEmpty)
            }
        }
    }

    @Test func payloadThatIsNotGGUFIsRejected() async throws {
        let page = Array("<!DOCTYPE html><html><body>Sign in</body></html>".utf8)
        try await TestHTTPServer.with(routes: ["/tiny.gguf": Route(body: page)]) { server in
            try await withTemporaryDirectory { directory in
                let puller = ModelPuller(store: ModelStore(directory: directory))
                let error = await #expect(throws: ModelStoreError.self) {
                    try await puller.pull(spec(server.url("/tiny.gguf")))
                }
                #expect(error?.code == .notGGUF)
                #expect(error?.message.contains("web page") == true)
                #expect(fileNames(in: directory).isEmpty)
            }
        }
    }

    @Test func redirectsAreFollowedAndTokenIsSent() async throws {
        let routes = [
            "/old.gguf": Route(body: [], redirectTo: "/tiny.gguf"),
            "/tiny.gguf": Route(body: payload),
        ]
        try await TestHTTPServer.with(routes: routes) { server in
            try await withTemporaryDirectory { directory in
                let puller = ModelPuller(store: ModelStore(directory: directory), bearerToken: "secret-token")
                let path = try await puller.pull(spec(server.url("/old.gguf"), sha256: sha256Hex(payload)))
                #expect(contents(of: path) == payload)
                #expect(server.requests.map(\.status) == [302, 200])
                #expect(server.requests.allSatisfy { $0.headers.first(name: "Authorization") == "Bearer secret-token" })
            }
        }
    }

    @Test func tokenIsNotSentToAnotherHostAfterARedirect() async throws {
        try await TestHTTPServer.with(routes: ["/tiny.gguf": Route(body: payload)]) { mirror in
            let routes = ["/tiny.gguf": Route(body: [], redirectTo: mirror.url("/tiny.gguf").absoluteString)]
            try await TestHTTPServer.with(routes: routes) { hub in
                try await withTemporaryDirectory { directory in
                    let puller = ModelPuller(store: ModelStore(directory: directory), bearerToken: "secret-token")
                    let path = try await puller.pull(spec(hub.url("/tiny.gguf"), sha256: sha256Hex(payload)))
                    #expect(contents(of: path) == payload)
                    #expect(hub.requests.first?.headers.first(name: "Authorization") == "Bearer secret-token")
                    #expect(mirror.requests.count == 1)
                    #expect(mirror.requests.first?.headers.first(name: "Authorization") == nil)
                }
            }
        }
    }

    @Test func presentFileOfTheRightSizeIsNotDownloaded() async throws {
        try await TestHTTPServer.with(routes: ["/tiny.gguf": Route(body: payload)]) { server in
            try await withTemporaryDirectory { directory in
                let existing = directory.appending(component: "tiny.gguf")
                try Data(payload).write(to: existing)
                let puller = ModelPuller(store: ModelStore(directory: directory))
                let model = spec(server.url("/tiny.gguf"), sha256: sha256Hex(payload), byteCount: Int64(payload.count))
                #expect(try await puller.pull(model) == existing)
                #expect(try await puller.pull(model, verifyExisting: true) == existing)
                #expect(server.requests.isEmpty)

                // A present file that fails verification is pulled again and replaced.
                try Data(fakeGGUF(count: payload.count, seed: 2)).write(to: existing)
                #expect(try await puller.pull(model, verifyExisting: true) == existing)
                #expect(contents(of: existing) == payload)
                #expect(server.requests.count == 1)
            }
        }
    }

    @Test func announcedSizeThatDiffersFailsBeforeWriting() async throws {
        try await TestHTTPServer.with(routes: ["/tiny.gguf": Route(body: payload)]) { server in
            try await withTemporaryDirectory { directory in
                let puller = ModelPuller(store: ModelStore(directory: directory))
                let error = await #expect(throws: ModelStoreError.self) {
                    try await puller.pull(spec(server.url("/tiny.gguf"), byteCount: 1234))
                }
                #expect(error?.code == .sizeMismatch)
                #expect(fileNames(in: directory).isEmpty)
            }
        }
    }
}
