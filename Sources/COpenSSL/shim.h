#ifndef UPSIGN_COPENSSL_SHIM_H
#define UPSIGN_COPENSSL_SHIM_H
// The one-shot HMAC() is what we need and is the fastest path; OpenSSL 3 marks it deprecated.
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/err.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#endif
