import BatonHTTP1
import Testing

/// The codec against SwiftNIO's decoder (llhttp), on the same bytes cut at every offset.
@Suite("HTTP/1.1 codec against SwiftNIO")
struct DifferentialTests {
    @Test(arguments: Sample.all)
    func readsAsNIOOrRefusesWhereItMust(_ sample: Sample) {
        let (whole, violation) = Reading.baton([sample.bytes])
        let reference = Reading.nio([sample.bytes])
        switch sample.outcome {
        case .asNIO:
            #expect(violation == nil)
            #expect(whole == reference, "Baton: \(whole)\nNIO: \(reference)")
        case .refused(let expected):
            #expect(violation == expected)
            #expect(reference.refused, "NIO read it: \(reference)")
        case .stricter(let expected, _):
            #expect(violation == expected)
            #expect(!reference.refused, "NIO refuses it too: say so in the sample")
        }
    }

    /// However the bytes come, the codec reads the same: every cut, and one byte at a time.
    @Test(arguments: Sample.all)
    func readsTheSameHoweverTheBytesArrive(_ sample: Sample) {
        let whole = Reading.baton([sample.bytes])
        for offset in 0...sample.bytes.count {
            let cut = Reading.baton(split(sample.bytes, at: offset))
            #expect(cut.0 == whole.0 && cut.1 == whole.1, "cut at \(offset): \(cut.0) vs \(whole.0)")
        }
        let trickle = Reading.baton(sample.bytes.map { [$0] })
        #expect(trickle.0 == whole.0 && trickle.1 == whole.1, "one byte at a time: \(trickle.0)")
    }
}
