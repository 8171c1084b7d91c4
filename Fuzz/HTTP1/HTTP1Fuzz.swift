import BatonHTTP1
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// One thing the decoder made of the bytes; bodies as bytes, since they may be cut anywhere,
/// inside a UTF-8 sequence too.
enum Read: Equatable {
    case head(String)
    case body([UInt8])
    case end(trailers: Int)
    case refused(HTTP1Violation)
}

/// What the request decoder makes of `bytes` delivered in pieces cut at `cuts`. The same bytes
/// must read the same however they are cut.
func reading(_ bytes: [UInt8], cutAt cuts: [Int]) -> [Read] {
    var decoder = RequestDecoder(limits: HeadLimits(maxHeadBytes: 4096, maxFields: 32, maxChunkLineBytes: 64))
    var buffer = ByteBuffer()
    var reads: [Read] = []
    var start = 0
    for end in cuts + [bytes.count] where end >= start {
        buffer.writeBytes(bytes[start..<end])
        start = end
        do {
            while let part = try decoder.next(&buffer) {
                switch part {
                case .head(let head, let framing):
                    let fields = (0..<head.fields.count).map {
                        "\(head.fields.name(at: $0))=\(head.fields.value(at: $0))"
                    }
                    reads.append(.head("\(head.method) \(head.target) 1.\(head.minorVersion) \(fields) \(framing)"))
                case .body(let body):
                    // Body parts may be cut differently; only their bytes count.
                    if case .body(let earlier) = reads.last {
                        reads[reads.count - 1] = .body(earlier + Array(buffer: body))
                    } else {
                        reads.append(.body(Array(buffer: body)))
                    }
                case .end(let trailers): reads.append(.end(trailers: trailers?.count ?? 0))
                }
            }
        } catch {
            reads.append(.refused(error))
            return reads
        }
    }
    return reads
}

/// Reads `bytes` whole and cut where its first bytes say; a difference, or a crash, is a bug.
func check(_ bytes: [UInt8]) {
    let whole = reading(bytes, cutAt: [])
    guard bytes.count > 1 else { return }
    let cuts = [Int(bytes[0]) % bytes.count, Int(bytes[1]) % bytes.count].sorted()
    let cut = reading(bytes, cutAt: cuts)
    if cut != whole {
        fatalError("read differently when cut at \(cuts):\n\(whole)\n\(cut)")
    }
}

#if FUZZING
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzer(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ input: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// What libFuzzer calls with each input it makes up.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    check(size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

/// SwiftPM links an executable's entry point under this name, in place of libFuzzer's own
/// main; libFuzzer's driver runs from it.
@_cdecl("baton_fuzz_http1_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return runFuzzer(&argc, &argv, fuzzOne)
}
#else
/// Without libFuzzer: replays the files named on the command line, as the corpus test does.
@main
enum Replay {
    static func main() {
        for path in CommandLine.arguments.dropFirst() {
            guard let file = fopen(path, "rb") else { continue }
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65536)
            while case let count = fread(&chunk, 1, chunk.count, file), count > 0 { bytes += chunk[..<count] }
            fclose(file)
            check(bytes)
        }
    }
}
#endif
