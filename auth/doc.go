// Package auth is the broker's security: who a connection is and what it may
// do.
//
// It owns the SASL mechanisms' server sides (PLAIN, SCRAM-SHA-256 and
// SCRAM-SHA-512 per RFC 5802 and RFC 7677), principals as Kafka forms them
// (User:name; from a TLS client certificate, the subject's RFC 2253 name
// through ssl.principal.mapping.rules), the TLS configuration of listeners
// from Kafka's PEM ssl.* settings, and the authorizer: Kafka's ACL model and
// its StandardAuthorizer's decision rules over a read-only index that a
// change replaces whole (an atomic pointer swap), so that a decision is a
// few map lookups and never a scan or a lock.
//
// Everything here is pure: no sockets, no catalog. Credentials come from a
// lookup function the caller supplies (the broker reads them from its
// catalog); ACLs come as a slice the caller loads. The broker calls Authorize
// at one point per request, and the same Passwords checker serves any other
// front door (the schema registry's HTTP basic auth) against the same SCRAM
// users.
//
// auth imports the standard library only; it never imports storage, meta or
// broker.
package auth
