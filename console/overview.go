package console

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

type overviewData struct {
	ClusterID  string
	Controller int32
	Brokers    []kadm.BrokerDetail
	Topics     int
	Partitions int
	Version    string
	Started    time.Time
	Uptime     time.Duration
	Stats      *Stats
	Sparklines bool
}

// overview: the brokers, this broker's version and uptime, counts, disk,
// and the sparklines the page's script samples while it is open.
func (c *Console) overview(w http.ResponseWriter, r *http.Request, st *reqState) error {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	d := overviewData{Version: c.version, Started: c.cfg.Started, Uptime: time.Since(c.cfg.Started), Sparklines: c.cfg.Stats != nil}
	err := st.pool.do(func(adm *kadm.Client) error {
		m, err := adm.Metadata(fresh(ctx))
		if err != nil {
			return err
		}
		d.ClusterID, d.Controller = m.Cluster, m.Controller
		d.Brokers = slices.Clone(m.Brokers)
		slices.SortFunc(d.Brokers, func(a, b kadm.BrokerDetail) int { return int(a.NodeID - b.NodeID) })
		for _, t := range m.Topics {
			if t.Err != nil {
				continue
			}
			d.Topics++
			d.Partitions += len(t.Partitions)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if c.cfg.Stats != nil {
		s := c.cfg.Stats()
		d.Stats = &s
	}
	c.render(w, r, st, http.StatusOK, "overview", "Overview", "overview", d)
	return nil
}

// overviewStats is one sample of the broker's counters, for the
// overview's sparklines: the page's script asks every few seconds while
// it is visible, and keeps the history itself.
func (c *Console) overviewStats(w http.ResponseWriter, r *http.Request, st *reqState) error {
	if c.cfg.Stats == nil {
		return notFound("no metrics")
	}
	s := c.cfg.Stats()
	writeJSON(w, http.StatusOK, map[string]any{
		"t": time.Now().UnixMilli(), "requests": s.Requests, "bytesIn": s.BytesIn, "bytesOut": s.BytesOut,
		"recordsIn": s.RecordsIn, "recordsOut": s.RecordsOut, "connections": s.Connections,
		"diskTotal": s.DiskTotal, "diskFree": s.DiskFree, "remoteBytes": s.RemoteBytes, "uploadBacklog": s.UploadBacklog,
	})
	return nil
}
