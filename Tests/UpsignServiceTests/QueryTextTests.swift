import Testing
import UpsignService

struct QueryTextTests {
    @Test func everythingButUnreservedCharactersIsPercentEncoded() {
        #expect(QueryText.escape("AZaz09-._~") == "AZaz09-._~")
        #expect(QueryText.escape("a b&c=d/e+f") == "a%20b%26c%3Dd%2Fe%2Bf")
        #expect(QueryText.escape("é") == "%C3%A9")
    }
}
