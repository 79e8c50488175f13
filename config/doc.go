// Package config is StreamHouse's single source of truth for Kafka's
// topic-level configs and for the broker-level configs StreamHouse has, as
// Apache Kafka 4.2 defines them: names, types, defaults, validation,
// documentation, and the broker synonyms of each topic config.
//
// The broker validates CreateTopics and AlterConfigs input with
// [Broker.ValidateTopic], answers DescribeConfigs with [Broker.DescribeTopic]
// and [Broker.DescribeBroker], and reads typed values through
// [Broker.ResolveTopic] and the accessors of [Broker]. [TopicDefs] and
// [BrokerDefs] list the definitions themselves.
//
// # Precedence
//
// A topic config's effective value is, as in Kafka, the first of:
//
//  1. the value set on the topic (source DYNAMIC_TOPIC_CONFIG);
//  2. the value of a broker synonym set at startup (STATIC_BROKER_CONFIG),
//     most specific first: for retention.ms that is log.retention.ms, then
//     log.retention.minutes, then log.retention.hours;
//  3. Kafka's default (DEFAULT_CONFIG).
//
// StreamHouse has no dynamic broker configs yet, so DYNAMIC_BROKER_CONFIG and
// DYNAMIC_DEFAULT_BROKER_CONFIG never appear.
//
// # Values
//
// Values are parsed the way Kafka's ConfigDef parses strings (surrounding
// whitespace trimmed, booleans case-insensitive, lists split on commas) and
// rendered back the way DescribeConfigs renders them, so a DOUBLE set as "1"
// is described as "1.0" and a LIST set as "compact, delete" as
// "compact,delete".
//
// # Errors
//
// Every rejection is an [*Error] whose message is the one Kafka writes, such
// as "Invalid value 12 for configuration segment.bytes: Value must be at
// least 1048576", ready for a response's error message. It unwraps to
// [ErrUnknown] or [ErrInvalid]; the broker answers both with INVALID_CONFIG.
//
// Nothing here changes after construction: the definition tables are never
// written, every [Def] handed out is a copy, and a [Broker] is immutable, so
// one may be shared by every connection. To change a broker setting, build a
// new Broker.
package config
