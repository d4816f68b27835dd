@testable import SkiffModelStore
import Foundation
import Testing

@Suite("Deciding what to do with a server's answer to a range request")
struct RangeResponseTests {
    @Test func contentRangeForms() {
        func parts(_ value: String) -> [Int64?]? {
            ContentRange(value).map { [$0.first, $0.last, $0.completeLength] }
        }
        #expect(parts("bytes 100-199/200") == [100, 199, 200])
        #expect(parts("bytes */200") == [nil, nil, 200])
        #expect(parts("bytes 0-9/*") == [0, 9, nil])
        #expect(ContentRange("bytes 9-0/10") == nil)
        #expect(ContentRange("items 0-9/10") == nil)
        #expect(ContentRange("bytes 0-9") == nil)
    }

    @Test(arguments: [
        // A plain 200 restarts from zero, whatever was asked.
        (200, nil, "500", 0, RangeResponse.write(offset: 0, totalBytes: 500)),
        (200, nil, nil, 100, .write(offset: 0, totalBytes: nil)),
        // A 206 for the asked offset appends.
        (206, "bytes 100-499/500", "400", 100, .write(offset: 100, totalBytes: 500)),
        // A 206 for another offset cannot be appended.
        (206, "bytes 0-499/500", "500", 100, .restart),
        (206, "bytes 50-499/500", "450", 0, .failure(status: 206)),
        // 416: complete when the server's size is what is on disk, else start over.
        (416, "bytes */500", nil, 500, .alreadyComplete),
        (416, "bytes */400", nil, 500, .restart),
        (416, nil, nil, 0, .failure(status: 416)),
        (404, nil, nil, 0, .failure(status: 404)),
    ] as [(Int, String?, String?, Int64, RangeResponse)])
    func decisions(status: Int, contentRange: String?, contentLength: String?, offset: Int64, expected: RangeResponse) {
        #expect(
            RangeResponse(status: status, contentRange: contentRange, contentLength: contentLength, requestedOffset: offset)
                == expected
        )
    }
}
