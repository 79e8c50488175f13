package metrics

import "testing"

// The storage collector reports what its function says at each scrape.
func TestWatchStorage(t *testing.T) {
	b := New()
	s := Storage{TotalBytes: 64 << 20, FreeBytes: 1 << 20, MinFreeBytes: 3355443, Low: true, RefusedAppends: 42}
	b.WatchStorage(func() Storage { return s })
	mfs, err := b.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch {
			case m.GetGauge() != nil:
				got[mf.GetName()] = m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				got[mf.GetName()] = m.GetCounter().GetValue()
			}
		}
	}
	for name, want := range map[string]float64{
		"streamhouse_storage_volume_bytes":          64 << 20,
		"streamhouse_storage_free_bytes":            1 << 20,
		"streamhouse_storage_min_free_bytes":        3355443,
		"streamhouse_storage_disk_low":              1,
		"streamhouse_storage_refused_appends_total": 42,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (%v), want %v", name, v, ok, want)
		}
	}
	var nilB *Broker
	nilB.WatchStorage(func() Storage { return s }) // records nothing
}
