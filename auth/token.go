package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
)

// Delegation tokens (Kafka's KIP-48): a token is a random ID and its HMAC,
// HMAC-SHA512 of the ID keyed with delegation.token.secret.key, which every
// broker of a cluster shares. A client authenticates with SCRAM, the ID as
// its user name and the HMAC in base64 as its password (with the tokenauth
// extension); the broker derives the HMAC again rather than store it.

// TokenIterations is the SCRAM iteration count of a token's credential, as
// Kafka's (its ScramFormatter default).
const TokenIterations = MinIterations

// NewTokenID returns a new random token ID: 16 random bytes in unpadded
// URL-safe base64, as Kafka's (a UUID as base64).
func NewTokenID() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// TokenHMAC is the HMAC of the token id under secretKey, as Kafka computes
// it: HMAC-SHA512 keyed with the key's UTF-8 bytes over the ID's.
func TokenHMAC(secretKey, id string) []byte {
	mac := hmac.New(sha512.New, []byte(secretKey))
	mac.Write([]byte(id))
	return mac.Sum(nil)
}

// TokenPassword is the SCRAM password of a token: its HMAC in standard
// base64 (Kafka's hmacString, what kafka-delegation-tokens.sh prints).
func TokenPassword(hmac []byte) string {
	return base64.StdEncoding.EncodeToString(hmac)
}

// TokenCredential derives the SCRAM credential of the token id for m. Its
// salt comes from the key and the ID, so that every broker sharing the key
// derives the same credential without storing it.
func TokenCredential(m Mechanism, secretKey, id string) (Credential, error) {
	mac := hmac.New(sha256.New, []byte(secretKey))
	mac.Write([]byte("streamhouse delegation token scram salt\x00"))
	mac.Write([]byte(id))
	return NewCredential(m, TokenPassword(TokenHMAC(secretKey, id)), mac.Sum(nil), TokenIterations)
}
