package compattests

// streamctl with share groups: group list shows their type, group describe
// their members, each partition's holders, start offset and lag, and group
// reset-offsets moves an inactive share group's start offsets as
// kafka-share-groups --reset-offsets does.

import (
	"fmt"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ctlShareOffset is a share group's partition in group describe's JSON.
type ctlShareOffset struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Committed *int64 `json:"committed"` // always null: share groups commit nothing
	Start     *int64 `json:"start_offset"`
	End       int64  `json:"end"`
	Lag       *int64 `json:"lag"`
	Member    string `json:"member"`
}

type ctlShareGroup struct {
	Group    string `json:"group"`
	Type     string `json:"type"`
	State    string `json:"state"`
	Protocol string `json:"protocol"`
	Members  []struct {
		MemberID   string  `json:"member_id"`
		InstanceID *string `json:"instance_id"`
		ClientID   string  `json:"client_id"`
		Host       string  `json:"host"`
		Assignment []struct {
			Topic      string  `json:"topic"`
			Partitions []int32 `json:"partitions"`
		} `json:"assignment"`
	} `json:"members"`
	Offsets []ctlShareOffset `json:"offsets"`
}

func TestShareStreamctl(t *testing.T) {
	t.Parallel()
	b := shBroker(t)
	addr := b.Addr()
	adm := fgAdmin(t, addr)
	fgCreateTopic(t, adm, "inbox", 2, nil)
	prod := fgClient(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	shProduce(t, prod, "inbox", 2, "a", 10) // 5 in each partition
	shSetGroupConfig(t, addr, "readers", map[string]string{"share.auto.offset.reset": "earliest"})
	log := newShLog()
	m := shStart(t, addr, "reader-1", "readers", []string{"inbox"}, log, shMemberOpts{})
	shWaitDistinct(t, log, 10)

	grWaitFor(t, "group list shows the share group", func() (bool, string) {
		groups := ctlJSON[[]ctlGroupSummary](t, addr, "group", "list")
		return slices.Contains(groups, ctlGroupSummary{Group: "readers", State: "Stable", Type: "share", ProtocolType: "share"}), fmt.Sprintf("%+v", groups)
	})
	var g ctlShareGroup
	grWaitFor(t, "group describe shows the member, start offsets at the end", func() (bool, string) {
		g = ctlJSON[ctlShareGroup](t, addr, "group", "describe", "readers")
		ok := g.Type == "share" && g.State == "Stable" && len(g.Members) == 1 && len(g.Offsets) == 2
		for _, o := range g.Offsets {
			ok = ok && o.Start != nil && *o.Start == 5 && o.End == 5 && o.Lag != nil && *o.Lag == 0 && o.Member == g.Members[0].MemberID
		}
		return ok, fmt.Sprintf("%+v", g)
	})
	if m := g.Members[0]; m.ClientID != "reader-1" || len(m.Assignment) != 1 || !slices.Equal(m.Assignment[0].Partitions, []int32{0, 1}) {
		t.Errorf("member %+v", m)
	}
	if row := ctlTableRow(t, ctl(t, addr, "group", "describe", "readers"), "inbox", "1"); !slices.Equal(row[:5], []string{"inbox", "1", "5", "5", "0"}) {
		t.Errorf("group describe: row %q", row)
	}
	ctlFail(t, addr, 1, []string{`group "readers" has 1 active member`}, "group", "reset-offsets", "readers", "--topic", "inbox", "--to-earliest")

	m.stop()
	grWaitFor(t, "the group empty", func() (bool, string) {
		g = ctlJSON[ctlShareGroup](t, addr, "group", "describe", "readers")
		return g.State == "Empty", g.State
	})
	out := ctl(t, addr, "group", "reset-offsets", "readers", "--topic", "inbox:1", "--to-offset", "2")
	if row := ctlTableRow(t, out, "inbox", "1"); !slices.Equal(row, []string{"inbox", "1", "5", "2"}) {
		t.Errorf("reset-offsets: row %q in\n%s", row, out)
	}
	g = ctlJSON[ctlShareGroup](t, addr, "group", "describe", "readers")
	for _, o := range g.Offsets {
		want := int64(5)
		if o.Partition == 1 {
			want = 2
		}
		if o.Start == nil || *o.Start != want || o.Lag == nil || *o.Lag != 5-want {
			t.Errorf("after the reset: %+v", o)
		}
	}
	// The records from 2 of partition 1 come again.
	again := newShLog()
	shStart(t, addr, "reader-2", "readers", []string{"inbox"}, again, shMemberOpts{})
	shWaitDistinct(t, again, 3)
	for _, d := range again.deliveries() {
		if d.partition != 1 || d.offset < 2 {
			t.Errorf("after the reset, delivered %+v", d)
		}
	}
}
