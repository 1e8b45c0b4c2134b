extension Credentials {
    /// The session token as the form field `name`, when both exist.
    func token(named name: String?) -> SignedPostForm.Field? {
        guard let name, let securityToken else { return nil }
        return .init(name, securityToken)
    }
}
