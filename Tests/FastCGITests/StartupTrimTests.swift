import FastCGI
import Testing

struct StartupTrimTests {
    @Test func onlyReadOnlyFileMappingsAreTrimmed() throws {
        let text = try #require(StartupTrim.Mapping("5649b7405000-5649b8133000 r-xp 00000000 08:01 123 /usr/local/bin/upsign\n"))
        #expect(text.start == 0x5649_b740_5000 && text.end == 0x5649_b813_3000)
        #expect(text.isReadOnlyFile)
        #expect(
            StartupTrim.Mapping("7f0a0fc22000-7f0a0fc84000 r--p 00422000 08:01 9 /usr/lib/x86_64-linux-gnu/libcrypto.so.3")?.isReadOnlyFile == true)
        // Relocated data, the heap, stacks and anonymous memory hold state: never.
        #expect(StartupTrim.Mapping("5649b818b000-5649b8389000 rw-p 00d86000 08:01 123 /usr/local/bin/upsign")?.isReadOnlyFile == false)
        #expect(StartupTrim.Mapping("5649c8115000-5649c8185000 rw-p 00000000 00:00 0 [heap]")?.isReadOnlyFile == false)
        #expect(StartupTrim.Mapping("7ffc1000-7ffc2000 r--p 00000000 00:00 0 [vvar]")?.isReadOnlyFile == false)
        #expect(StartupTrim.Mapping("7f0a00000000-7f0a0003e000 r--p 00000000 00:00 0")?.isReadOnlyFile == false)
        #expect(StartupTrim.Mapping("garbage") == nil)
    }
}
