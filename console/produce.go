package console

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

type produceData struct {
	Topic      string
	Partitions int
	Form       produceForm
	Error      string
	Produced   string // link to the message just produced
	At         string
}

type produceForm struct {
	Partition, Key, Value, Headers string
	NullKey, NullValue             bool
}

// partitionKey carries a record's chosen partition to the console's
// partitioner.
type partitionKey struct{}

// consolePartitioner puts a record where its context says, else where
// Kafka's default partitioner would (murmur2 of the key).
type consolePartitioner struct{ def kgo.Partitioner }

func (p consolePartitioner) ForTopic(t string) kgo.TopicPartitioner {
	return consoleTopicPartitioner{p.def.ForTopic(t)}
}

type consoleTopicPartitioner struct{ def kgo.TopicPartitioner }

func (consoleTopicPartitioner) RequiresConsistency(*kgo.Record) bool { return true }

func (p consoleTopicPartitioner) Partition(r *kgo.Record, n int) int {
	if r.Context != nil {
		if v, ok := r.Context.Value(partitionKey{}).(int32); ok {
			return int(v)
		}
	}
	return p.def.Partition(r, n)
}

func (c *Console) producePage(w http.ResponseWriter, r *http.Request, st *reqState) error {
	if c.cfg.ReadOnly {
		return errReadOnly
	}
	d, err := c.produceData(r, st)
	if err != nil {
		return err
	}
	if p := r.FormValue("produced"); p != "" {
		d.Produced = p
		d.At = r.FormValue("at")
	}
	c.render(w, r, st, http.StatusOK, "produce", "Produce to "+d.Topic, "topics", d)
	return nil
}

func (c *Console) produceData(r *http.Request, st *reqState) (*produceData, error) {
	topic := r.PathValue("topic")
	ctx, cancel := ctx10(r)
	defer cancel()
	d := &produceData{Topic: topic}
	err := st.pool.do(func(adm *kadm.Client) error {
		m, err := adm.Metadata(fresh(ctx), topic)
		if err != nil {
			return err
		}
		t, ok := m.Topics[topic]
		if !ok || t.Err != nil {
			if ok && isAuthErr(t.Err) {
				return t.Err
			}
			return notFound("No topic %s.", topic)
		}
		d.Partitions = len(t.Partitions)
		return nil
	})
	return d, err
}

// produce sends one record with acks=all (not idempotent: a user allowed
// to write to the topic needs no more), to the partition asked for or the
// key's.
func (c *Console) produce(w http.ResponseWriter, r *http.Request, st *reqState) error {
	d, err := c.produceData(r, st)
	if err != nil {
		return err
	}
	f := produceForm{Partition: strings.TrimSpace(r.PostFormValue("partition")), Key: r.PostFormValue("key"),
		Value: r.PostFormValue("value"), Headers: r.PostFormValue("headers"),
		NullKey: r.PostFormValue("nullkey") != "", NullValue: r.PostFormValue("nullvalue") != ""}
	d.Form = f
	fail := func(status int, msg string) error {
		d.Error = msg
		c.render(w, r, st, status, "produce", "Produce to "+d.Topic, "topics", d)
		return nil
	}
	rec := &kgo.Record{Topic: d.Topic, Context: r.Context()}
	if f.Partition != "" {
		p, err := strconv.ParseInt(f.Partition, 10, 32)
		if err != nil || p < 0 || int(p) >= d.Partitions {
			return fail(http.StatusBadRequest, "Partition: "+strconv.Quote(f.Partition)+" is not a partition of "+d.Topic+" (0 to "+strconv.Itoa(d.Partitions-1)+").")
		}
		rec.Context = context.WithValue(r.Context(), partitionKey{}, int32(p))
	}
	if !f.NullKey && f.Key != "" {
		rec.Key = []byte(f.Key)
	}
	if !f.NullValue {
		rec.Value = []byte(f.Value)
	}
	for i, line := range strings.Split(f.Headers, "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return fail(http.StatusBadRequest, "Headers, line "+strconv.Itoa(i+1)+": "+strconv.Quote(line)+" is not name=value.")
		}
		rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
	}
	ctx, cancel := ctx10(r)
	defer cancel()
	err = st.pool.with(func(cl *kgo.Client) error {
		return cl.ProduceSync(ctx, rec).FirstErr()
	})
	c.audit(r, st, "produce", d.Topic, err)
	if err != nil {
		return fail(statusOf(err), "Not produced: "+err.Error())
	}
	at := strconv.Itoa(int(rec.Partition)) + "/" + strconv.FormatInt(rec.Offset, 10)
	http.Redirect(w, r, "/topics/"+url.PathEscape(d.Topic)+"/produce?produced="+url.QueryEscape("/topics/"+url.PathEscape(d.Topic)+"/messages/"+at)+"&at="+url.QueryEscape(at), http.StatusSeeOther)
	return nil
}
