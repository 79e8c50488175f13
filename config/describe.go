package config

// Entry is one config as DescribeConfigs answers it.
type Entry struct {
	Name string
	// Value is nil for null: a config with no value, or a sensitive one.
	Value     *string
	Source    Source
	ReadOnly  bool
	Sensitive bool
	Type      Type
	Doc       string
	// Synonyms are where the value could come from, in precedence order,
	// starting with the one it comes from (none when it is a default with
	// no broker synonym).
	Synonyms []Synonym
}

// Synonym is one entry of an Entry's synonyms.
type Synonym struct {
	Name   string
	Value  *string // nil for null, as for Entry.Value
	Source Source
}

// DescribeTopic returns every topic config of a topic that sets explicit, as
// DescribeConfigs (all versions) describes it, sorted by name: its effective
// value; its source, DYNAMIC_TOPIC_CONFIG when the topic sets it, else
// STATIC_BROKER_CONFIG when a broker synonym was set, else DEFAULT_CONFIG;
// and its synonyms in Kafka's order, the topic's own value first when it
// sets one, then the broker synonyms set at startup, then the defaults of
// the broker synonyms that have one. Filtering by the request's names, and
// leaving synonyms and documentation out of old versions, are the caller's.
//
// Kafka drops every synonym before its primary one (for retention.ms,
// before log.retention.ms), which empties the list, and reports
// DEFAULT_CONFIG, when only log.retention.hours is set; StreamHouse reports
// the synonym that supplies the value and STATIC_BROKER_CONFIG instead.
//
// Names that are not topic configs are ignored, as by ResolveTopic; a value
// that does not validate is an error.
func (b *Broker) DescribeTopic(explicit map[string]string) ([]Entry, error) {
	entries := make([]Entry, 0, len(topicDefs))
	for i := range topicDefs {
		d := &topicDefs[i]
		v, src, err := b.effective(d, explicit)
		if err != nil {
			return nil, err
		}
		val := render(v)
		var syns []Synonym
		if src == SourceDynamicTopic {
			syns = append(syns, Synonym{Name: d.Name, Value: ptr(val), Source: SourceDynamicTopic})
		}
		syns = append(syns, b.setSynonyms(d.Synonyms)...)
		for _, s := range d.Synonyms {
			if dv, ok := brokerDefault(s); ok {
				syns = append(syns, Synonym{Name: s, Value: ptr(dv), Source: SourceDefault})
			}
		}
		entries = append(entries, entry(d, ptr(val), src, false, syns))
	}
	return entries, nil
}

// DescribeBroker returns every broker config, as DescribeConfigs describes
// them for this broker, sorted by name: its own value (null when unset with
// a null default), STATIC_BROKER_CONFIG when set at startup, else
// DEFAULT_CONFIG, and, as Kafka, the synonyms of its group from itself on:
// log.retention.hours lists itself, set and default, while log.retention.ms
// lists log.retention.minutes and log.retention.hours after itself when set.
func (b *Broker) DescribeBroker() []Entry {
	entries := make([]Entry, 0, len(brokerDefs))
	for i := range brokerDefs {
		d := &brokerDefs[i]
		group := d.Synonyms
		if group == nil {
			group = []string{d.Name}
		}
		syns := b.setSynonyms(group)
		for _, s := range group {
			if dv, ok := brokerDefault(s); ok {
				syns = append(syns, Synonym{Name: s, Value: ptr(dv), Source: SourceDefault})
			}
		}
		// Kafka's allSynonyms.dropWhile(s => s.name != name).
		for len(syns) > 0 && syns[0].Name != d.Name {
			syns = syns[1:]
		}
		if len(syns) == 0 {
			syns = nil
		}
		var val *string
		src := SourceDefault
		if v, ok := b.set[d.Name]; ok {
			val, src = ptr(v), b.src[d.Name]
		} else if d.Default != nil {
			val = ptr(*d.Default)
		}
		entries = append(entries, entry(d, val, src, d.ReadOnly, syns))
	}
	return entries
}

// entry builds the Entry of d, hiding values if d is sensitive.
func entry(d *Def, val *string, src Source, readOnly bool, syns []Synonym) Entry {
	if d.Sensitive {
		val = nil
		for i := range syns {
			syns[i].Value = nil
		}
	}
	return Entry{
		Name: d.Name, Value: val, Source: src, ReadOnly: readOnly, Sensitive: d.Sensitive,
		Type: d.Type, Doc: d.Doc, Synonyms: syns,
	}
}

// DescribeBrokerDefault returns the cluster-wide dynamic broker configs (the
// resource with the empty name), as DescribeConfigs describes them: only
// those set, each DYNAMIC_DEFAULT_BROKER_CONFIG, with its synonyms from the
// dynamic default level down.
func (b *Broker) DescribeBrokerDefault() []Entry {
	var entries []Entry
	for i := range brokerDefs {
		d := &brokerDefs[i]
		v, ok := b.layers[1].vals[d.Name]
		if !ok {
			continue
		}
		syns := []Synonym{{Name: d.Name, Value: ptr(v), Source: SourceDynamicDefaultBroker}}
		if sv, ok := b.layers[0].vals[d.Name]; ok {
			syns = append(syns, Synonym{Name: d.Name, Value: ptr(sv), Source: SourceStaticBroker})
		}
		if dv, ok := brokerDefault(d.Name); ok {
			syns = append(syns, Synonym{Name: d.Name, Value: ptr(dv), Source: SourceDefault})
		}
		entries = append(entries, entry(d, ptr(v), SourceDynamicDefaultBroker, d.ReadOnly, syns))
	}
	return entries
}
