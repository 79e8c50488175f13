// Package registry is StreamHouse's Confluent-compatible schema registry:
// the REST API of Confluent Schema Registry (its paths, JSON shapes,
// content types and error codes), compatibility checks for Avro, Protobuf
// and JSON Schema, and the registry's state in the compacted `_schemas`
// topic, in Confluent's record format.
//
// The registry is a Kafka client of the broker's own address (franz-go
// kgo): every change is a record produced with acks=all to partition 0 of
// `_schemas`, and every registry (this broker's after a restart, another
// broker's sharing the same storage) builds its in-memory index by
// consuming that partition from the start. Nothing else holds state, so
// a restart, a copy of the data directory or a second broker sees the same
// subjects, versions, ids, configs and soft deletes. Where a broker
// refuses compacted topics (INVALID_CONFIG; StreamHouse's cluster mode did
// before it compacted in the bucket) the registry creates the topic with
// cleanup.policy=delete and infinite retention instead: its records replay
// to the same index either way.
//
// Writes: a registry serialises its own writes, and before deciding one it
// reads `_schemas` to its end so that its index holds every other writer's
// records. Records are applied in log order by one rule, the same for every
// reader: a SCHEMA record that would give a (subject, version) another id,
// or an id another schema, is ignored (the first in the log wins). A
// writer whose record lost that race sees it when its record is applied,
// rewrites the winner's record under the key, or a tombstone when no record
// holds the key (so that compaction, which keeps the last record of a key,
// never keeps the loser alone), and tries again after a random pause. A
// tombstone removes only a soft-deleted version (permanent deletes follow
// soft ones), so such a tombstone that another registry's new version beat
// to the key loses in its turn, and that version's record is rewritten.
// While the topic's partition has no answering leader (its broker died), a
// write waits for it to move, for up to 30 s.
//
// Records (key, value; JSON, as Confluent writes them):
//
//	{"keytype":"SCHEMA","subject":S,"version":V,"magic":1}
//	    {"subject":S,"version":V,"id":I,"schemaType":T,"references":[...],"metadata":{...},"ruleSet":{...},"schema":"...","deleted":false}
//	    null: version V of S permanently deleted
//	{"keytype":"CONFIG","subject":S|null,"magic":0}   {"compatibilityLevel":"FULL","compatibilityGroup":...,
//	                                                   "defaultMetadata":...,"overrideRuleSet":...} | null
//	{"keytype":"MODE","subject":S|null,"magic":0}     {"mode":"READONLY"} | null
//	{"keytype":"DELETE_SUBJECT","subject":S,"magic":0} {"subject":S,"version":V}: versions <= V soft-deleted
//	{"keytype":"ID_WATERMARK","magic":0}               {"maxId":I}: ids up to I are taken, even once
//	                                                   their schemas are permanently deleted and compacted away
//	{"keytype":"ID_WATERMARK","context":C,"magic":0}   {"maxId":I,"context":C}: the same in context C
//	{"keytype":"CONTEXT","tenant":"default","context":C,"magic":0}
//	    {"tenant":"default","context":C}: context C listed (null: deleted)
//
// Subjects of a schema context C are written ":C:name" (contexts.go); each
// context numbers its schemas on its own.
//
// Compatibility: AVRO through github.com/hamba/avro/v2's schema
// compatibility; PROTOBUF parsed by github.com/bufbuild/protocompile and
// checked by Confluent's documented rules (normalized by jhump/protoreflect's
// protoprint); JSON Schema by Confluent's
// documented rules for the keywords it compares.
//
// Security: Config.Auth sees every request before its handler (cmd/
// streamhouse checks HTTP basic credentials against the broker's SCRAM
// users and, for writes, ALTER on the CLUSTER); without it every request
// is allowed.
//
// The package imports franz-go (kgo, kadm), the schema libraries above,
// prometheus/client_golang and the standard library; never storage/*,
// meta/* or broker/*: it knows the broker only as a Kafka address.
package registry
