import Crypto
import PerThread
import Testing

/// RFC 2202 (HMAC-SHA1) and RFC 4231 (HMAC-SHA256) published test cases.
struct HMACTests {
    struct Vector: Sendable, CustomTestStringConvertible {
        let name: String
        let key: [UInt8]
        let data: [UInt8]
        let sha1: String?
        let sha256: String?
        var testDescription: String { name }
    }

    static let vectors: [Vector] = [
        Vector(
            name: "RFC 2202 case 1 / RFC 4231 case 1", key: [UInt8](repeating: 0x0b, count: 20), data: Array("Hi There".utf8),
            sha1: nil, sha256: "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
        Vector(
            name: "RFC 2202 case 1", key: [UInt8](repeating: 0x0b, count: 20), data: Array("Hi There".utf8),
            sha1: "b617318655057264e28bc0b6fb378c8ef146be00", sha256: nil),
        Vector(
            name: "RFC 2202 case 2 / RFC 4231 case 2", key: Array("Jefe".utf8), data: Array("what do ya want for nothing?".utf8),
            sha1: "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
            sha256: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
        Vector(
            name: "RFC 2202 case 3", key: [UInt8](repeating: 0xaa, count: 20), data: [UInt8](repeating: 0xdd, count: 50),
            sha1: "125d7342b9ac11cd91a39af48aa17b4f63f175d3", sha256: nil),
        Vector(
            name: "RFC 2202 case 6 (key longer than a block)", key: [UInt8](repeating: 0xaa, count: 80),
            data: Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8),
            sha1: "aa4ae5e15272d00e95705637ce8a3b55ed402112", sha256: nil),
    ]

    @Test(arguments: vectors)
    func matchesPublishedVector(_ v: Vector) {
        if let expected = v.sha1 { #expect(Hex.encode(HMAC.sha1(key: v.key, message: v.data)) == expected) }
        if let expected = v.sha256 { #expect(Hex.encode(HMAC.sha256(key: v.key, message: v.data)) == expected) }
    }

    @Test func stringMessagesAreSignedAsUTF8() {
        #expect(
            HMAC.sha1(key: Array("Jefe".utf8), message: "what do ya want for nothing?")
                == HMAC.sha1(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8)))
    }

    @Test func emptyKeyAndMessageStillProduceAFullLengthCode() {
        #expect(HMAC.sha1(key: [UInt8](), message: [UInt8]()).count == 20)
        #expect(Hex.encode(HMAC.sha256(key: [UInt8](), message: [UInt8]())) == "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad")
    }

    @Test(arguments: vectors)
    func keptKeyedContextsGiveThePublishedVectorsToo(_ v: Vector) {
        // Twice: the second call reuses the thread's keyed context.
        for _ in 0..<2 {
            if let expected = v.sha1 { #expect(Hex.encode(HMAC.sha1(reusedKey: v.key, message: v.data)) == expected) }
            if let expected = v.sha256 { #expect(Hex.encode(HMAC.sha256(reusedKey: v.key, message: v.data)) == expected) }
        }
    }

    @Test func keptContextsFollowEveryKeyChangeAndOverflow() {
        // More keys than a thread keeps, interleaved, in both algorithms: every MAC matches the one-shot.
        for round in 0..<3 {
            for i in 0..<40 {
                let key = Array("key-\(i)".utf8)
                let message = Array("message \(round) \(i)".utf8)
                #expect(HMAC.sha1(reusedKey: key, message: message) == HMAC.sha1(key: key, message: message))
                #expect(HMAC.sha256(reusedKey: key, message: message) == HMAC.sha256(key: key, message: message))
            }
        }
    }

    @Test func forgettingKeptKeysKeepsEveryResultRight() {
        let key = Array("rotated-secret".utf8)
        let before = HMAC.sha256(reusedKey: key, message: "m")
        KeyMaterialCaches.forgetAll()
        #expect(HMAC.sha256(reusedKey: key, message: "m") == before)
        #expect(before == HMAC.sha256(key: key, message: "m"))
    }
}
