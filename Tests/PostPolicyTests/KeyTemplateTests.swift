import PostPolicy
import Testing

struct KeyTemplateTests {
    let values = KeyTemplate.Values(
        user: "alice", uuid: "0f8fad5b-d9cb-469f-a165-70867728950e", ext: ".jpg",
        time: Timestamp(iso8601: "2026-03-04T05:06:07Z")!, profile: "avatar")

    @Test func rendersEveryPlaceholder() throws {
        let t = try KeyTemplate("u/{user}/{yyyy}/{mm}/{dd}/{hh}/{timestamp}-{profile}-{uuid}{ext}")
        #expect(t.render(values) == "u/alice/2026/03/04/05/1772600767-avatar-0f8fad5b-d9cb-469f-a165-70867728950e.jpg")
        #expect(t.uses(.user))
        #expect(t.fixedPrefix == "u/")
    }

    @Test func templatesWithoutUserDoNotUseIt() throws {
        let t = try KeyTemplate("{uuid}{ext}")
        #expect(!t.uses(.user))
        #expect(t.fixedPrefix == "")
        #expect(t.render(values) == "0f8fad5b-d9cb-469f-a165-70867728950e.jpg")
    }

    @Test(arguments: [
        ("uploads/{name}", KeyTemplate.ParseError.unknownPlaceholder("name")),
        ("uploads/{uuid", .unbalancedBrace),
        ("uploads/uuid}", .unbalancedBrace),
        ("uploads/{{uuid}", .unbalancedBrace),
        ("", .badShape("must not be empty")),
        ("/abs/{uuid}", .badShape("must not start with '/'")),
        ("a/../{uuid}", .unsafeCharacters),
        ("a\\b/{uuid}", .unsafeCharacters),
        ("a/\n/{uuid}", .unsafeCharacters),
    ])
    func refusesBadTemplates(_ text: String, _ error: KeyTemplate.ParseError) {
        #expect(throws: error) { try KeyTemplate(text) }
    }
}
