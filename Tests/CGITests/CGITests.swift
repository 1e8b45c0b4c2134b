import CGI
import Testing

struct CGIResponseTests {
    @Test func serializesStatusHeadersLengthAndBody() {
        let r = CGIResponse(status: 404, headers: [("Content-Type", "application/json")], body: Array("{}".utf8))
        #expect(
            String(decoding: r.serialized(), as: UTF8.self)
                == "Status: 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
    }

    @Test func headRequestsGetHeadersOnly() {
        let r = CGIResponse(status: 200, body: Array("abc".utf8))
        #expect(String(decoding: r.serialized(includeBody: false), as: UTF8.self) == "Status: 200 OK\r\nContent-Length: 3\r\n\r\n")
    }

    @Test func headerValuesCannotSplitTheHeaderBlock() {
        let r = CGIResponse(status: 200, headers: [("X-A", "a\r\nSet-Cookie: x=1")])
        #expect(String(decoding: r.serialized(), as: UTF8.self).hasPrefix("Status: 200 OK\r\nX-A: aSet-Cookie: x=1\r\n"))
    }
}

struct CGIRequestTests {
    @Test func pathPrefersNginxsDocumentURI() {
        let r = CGIRequest(params: ["DOCUMENT_URI": "/upload/policy", "REQUEST_URI": "/api/x?y=1"], body: .bytes([]))
        #expect(r.path == "/upload/policy")
    }

    @Test func pathFallsBackToRequestURIThenScriptName() {
        #expect(CGIRequest(params: ["REQUEST_URI": "/upload/policy?a=b"], body: .bytes([])).path == "/upload/policy")
        #expect(CGIRequest(params: ["SCRIPT_NAME": "/cgi-bin/upsign", "PATH_INFO": "/policy"], body: .bytes([])).path == "/cgi-bin/upsign/policy")
    }

    @Test func emptyParamsCountAsAbsentAndMediaTypesAreNormalised() {
        let r = CGIRequest(params: ["UPSIGN_USER": "", "CONTENT_TYPE": " Application/JSON ; charset=utf-8"], body: .bytes([]))
        #expect(r.param("UPSIGN_USER") == nil)
        #expect(r.mediaType == "application/json")
        #expect(r.method == "GET")
    }

    @Test func aRepeatedParamGivesItsLastValue() {
        let params = CGIParams([("UPSIGN_USER", "from-include"), ("A", "1"), ("UPSIGN_USER", "override")])
        #expect(params["UPSIGN_USER"] == "override")
        #expect(params["A"] == "1")
        #expect(params["B"] == nil)
        #expect(params.count == 3)
    }
}

struct DeclaredLengthTests {
    @Test func contentLengthIsZeroWhenAbsentAndNilUnlessOneToEighteenDigits() {
        #expect(CGIRequest.Body.declaredLength(nil) == 0)
        #expect(CGIRequest.Body.declaredLength("") == 0)
        #expect(CGIRequest.Body.declaredLength("0") == 0)
        #expect(CGIRequest.Body.declaredLength("0042") == 42)
        #expect(CGIRequest.Body.declaredLength(String(repeating: "9", count: 18)) == 999_999_999_999_999_999)
        for bad in ["-1", "+1", " 1", "1 ", "1e3", "0x10", "１", String(repeating: "9", count: 19)] {
            #expect(CGIRequest.Body.declaredLength(bad) == nil, "\(bad)")
        }
    }
}
