import Crypto

extension Secret {
    /// base64(HMAC-SHA1(secret, message)): the signature of OSS V1, OBS and S3's SigV2 POST forms.
    func base64HMACSHA1(_ message: String) -> String {
        withBytes { HMAC.authenticationCode(.sha1, reusedKey: $0, message: message, encoded: Base64.encode) }
    }
}
