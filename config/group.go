package config

import (
	"regexp"
	"strconv"
	"time"
)

// groupDefs are the group configs StreamHouse acts on (Kafka's GroupConfig,
// the GROUP config resource), sorted by name: a share group's. Their
// defaults are the broker's group.share.* configs (Synonyms), and each is
// bounded by the broker's min and max configs of its kind.
var groupDefs = [...]Def{
	{
		Name: "share.auto.offset.reset", Type: TypeString, Default: ptr("latest"),
		check: shareAutoOffsetReset,
		Doc:   `The strategy to initialize the share-partition start offset: latest (the end of the partition), earliest (its start) or by_duration:<ISO 8601 duration> (the first record at most that old).`,
	},
	{
		Name: "share.delivery.count.limit", Type: TypeInt, Default: ptr("5"),
		Synonyms: []string{"group.share.delivery.count.limit"},
		Doc:      `The maximum number of delivery attempts for a record delivered to a share group.`,
	},
	{
		Name: "share.heartbeat.interval.ms", Type: TypeInt, Default: ptr("5000"),
		Synonyms: []string{"group.share.heartbeat.interval.ms"},
		Doc:      `The heartbeat interval given to the members.`,
	},
	{
		Name: "share.isolation.level", Type: TypeString, Default: ptr("read_uncommitted"),
		check: oneOf("read_committed", "read_uncommitted"),
		Doc:   `Controls how to read records written transactionally. If set to read_committed, the share group will only deliver transactional records which have been committed. If set to read_uncommitted, the share group will return all messages, even transactional messages which have been aborted.`,
	},
	{
		Name: "share.record.lock.duration.ms", Type: TypeInt, Default: ptr("30000"),
		Synonyms: []string{"group.share.record.lock.duration.ms"},
		Doc:      `The record acquisition lock duration in milliseconds for share groups.`,
	},
	{
		Name: "share.session.timeout.ms", Type: TypeInt, Default: ptr("45000"),
		Synonyms: []string{"group.share.session.timeout.ms"},
		Doc:      `The timeout to detect client failures when using the share group protocol.`,
	},
}

// GroupDefs returns the group configs.
func GroupDefs() []Def { return cloneDefs(groupDefs[:]) }

// isoDuration matches the ISO 8601 durations Java's Duration.parse takes:
// PnDTnHnMn.nS with optional parts and sign.
var isoDuration = regexp.MustCompile(`^[-+]?P(?:([-+]?[0-9]+)D)?(?:T(?:([-+]?[0-9]+)H)?(?:([-+]?[0-9]+)M)?(?:([-+]?[0-9]+)(?:[.,]([0-9]{0,9}))?S)?)?$`)

// ParseShareReset parses share.auto.offset.reset: "latest", "earliest", or
// "by_duration:" and an ISO 8601 duration, which it returns.
func ParseShareReset(v string) (kind string, d time.Duration, ok bool) {
	switch v {
	case "latest", "earliest":
		return v, 0, true
	}
	const prefix = "by_duration:"
	if len(v) <= len(prefix) || v[:len(prefix)] != prefix {
		return "", 0, false
	}
	m := isoDuration.FindStringSubmatch(v[len(prefix):])
	if m == nil || v[len(prefix):] == "P" || v[len(prefix):] == "PT" {
		return "", 0, false
	}
	num := func(s string) int64 {
		n, _ := strconv.ParseInt(s, 10, 64)
		return n
	}
	d = time.Duration(num(m[1]))*24*time.Hour + time.Duration(num(m[2]))*time.Hour +
		time.Duration(num(m[3]))*time.Minute + time.Duration(num(m[4]))*time.Second
	if m[5] != "" {
		frac := m[5] + "000000000"[len(m[5]):]
		d += time.Duration(num(frac))
	}
	if v[len(prefix)] == '-' {
		d = -d
	}
	if d < 0 {
		return "", 0, false
	}
	return "by_duration", d, true
}

func shareAutoOffsetReset(name string, v any) error {
	if _, _, ok := ParseShareReset(v.(string)); !ok {
		return invalid(name, v.(string), "the value must be 'latest', 'earliest' or 'by_duration:' followed by an ISO 8601 duration")
	}
	return nil
}

// Group is a group's effective configs.
type Group struct {
	RecordLockDuration time.Duration
	DeliveryCountLimit int32
	HeartbeatInterval  time.Duration
	SessionTimeout     time.Duration
	// AutoOffsetReset is "latest", "earliest" or "by_duration"; then
	// ResetDuration is the duration.
	AutoOffsetReset string
	ResetDuration   time.Duration
	ReadCommitted   bool
}

// bounded checks an int group config against the broker's bounds.
func bounded(name string, v, lo, hi int32) error {
	if v < lo {
		return invalid(name, strconv.Itoa(int(v)), "Value must be at least "+strconv.Itoa(int(lo)))
	}
	if v > hi {
		return invalid(name, strconv.Itoa(int(v)), "Value must be no more than "+strconv.Itoa(int(hi)))
	}
	return nil
}

// ResolveGroup validates a group's explicit configs as Kafka's
// GroupConfig does (types, and each int within the broker's min and max of
// its kind) and returns the effective configs, the broker's defaults for
// those not set. Unknown names are ErrUnknown.
func (b *Broker) ResolveGroup(explicit map[string]string) (Group, error) {
	sg := b.ShareGroup()
	g := Group{
		RecordLockDuration: time.Duration(sg.RecordLockDurationMs) * time.Millisecond,
		DeliveryCountLimit: sg.DeliveryCountLimit,
		HeartbeatInterval:  time.Duration(sg.HeartbeatIntervalMs) * time.Millisecond,
		SessionTimeout:     time.Duration(sg.SessionTimeoutMs) * time.Millisecond,
		AutoOffsetReset:    "latest",
	}
	for name, raw := range explicit {
		d, ok := findDef(groupDefs[:], name)
		if !ok {
			return Group{}, &Error{Name: name, Kind: ErrUnknown, Msg: "Unknown group config name: " + name}
		}
		v, err := d.parse(raw)
		if err != nil {
			return Group{}, err
		}
		switch name {
		case "share.auto.offset.reset":
			g.AutoOffsetReset, g.ResetDuration, _ = ParseShareReset(v.(string))
		case "share.isolation.level":
			g.ReadCommitted = v.(string) == "read_committed"
		case "share.delivery.count.limit":
			if err := bounded(name, v.(int32), sg.MinDeliveryCountLimit, sg.MaxDeliveryCountLimit); err != nil {
				return Group{}, err
			}
			g.DeliveryCountLimit = v.(int32)
		case "share.record.lock.duration.ms":
			if err := bounded(name, v.(int32), sg.MinRecordLockDurationMs, sg.MaxRecordLockDurationMs); err != nil {
				return Group{}, err
			}
			g.RecordLockDuration = time.Duration(v.(int32)) * time.Millisecond
		case "share.heartbeat.interval.ms":
			if err := bounded(name, v.(int32), sg.MinHeartbeatIntervalMs, sg.MaxHeartbeatIntervalMs); err != nil {
				return Group{}, err
			}
			g.HeartbeatInterval = time.Duration(v.(int32)) * time.Millisecond
		case "share.session.timeout.ms":
			if err := bounded(name, v.(int32), sg.MinSessionTimeoutMs, sg.MaxSessionTimeoutMs); err != nil {
				return Group{}, err
			}
			g.SessionTimeout = time.Duration(v.(int32)) * time.Millisecond
		}
	}
	return g, nil
}

// DescribeGroup returns every group config of a group that sets explicit,
// sorted by name, as DescribeConfigs describes a GROUP resource: the
// explicit value with source GROUP_CONFIG, else the broker synonym's value
// (STATIC_BROKER_CONFIG when set, else DEFAULT_CONFIG).
func (b *Broker) DescribeGroup(explicit map[string]string) []Entry {
	entries := make([]Entry, 0, len(groupDefs))
	for i := range groupDefs {
		d := &groupDefs[i]
		var syns []Synonym
		if v, ok := explicit[d.Name]; ok {
			syns = append(syns, Synonym{Name: d.Name, Value: ptr(v), Source: SourceGroup})
		}
		syns = append(syns, b.setSynonyms(d.Synonyms)...)
		for _, s := range d.Synonyms {
			if dv, ok := brokerDefault(s); ok {
				syns = append(syns, Synonym{Name: s, Value: ptr(dv), Source: SourceDefault})
			}
		}
		val, src := d.Default, SourceDefault
		if len(syns) > 0 {
			val, src = syns[0].Value, syns[0].Source
		}
		if len(syns) == 0 {
			syns = nil
		}
		entries = append(entries, entry(d, val, src, false, syns))
	}
	return entries
}
