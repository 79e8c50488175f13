package main

// config get and config set for a topic or a broker: DescribeConfigs, and
// IncrementalAlterConfigs through kadm's AlterTopicConfigs and
// AlterBrokerConfigs. A broker that does not serve IncrementalAlterConfigs
// (or, as StreamHouse for broker resources so far, refuses it) gets a
// clear error, never a silent success.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

type resourceConfigs struct {
	Resource string        `json:"resource"` // topic or broker
	Name     string        `json:"name"`     // the topic, or the broker's node id
	Configs  []configEntry `json:"configs"`
}

// resource is the target of config get and set: "topic NAME" or "broker
// [ID]"; rest are the arguments after it.
type resource struct {
	kind string
	name string // the topic, or the broker id ("" until resolved)
}

func parseResource(cmd string, args []string) (resource, []string, error) {
	switch args[0] {
	case "topic":
		if len(args) < 2 {
			return resource{}, nil, usagef(cmd, "%s topic: missing topic name", cmd)
		}
		return resource{"topic", args[1]}, args[2:], nil
	case "broker":
		if len(args) > 1 && !strings.Contains(args[1], "=") {
			if _, err := strconv.ParseInt(args[1], 10, 32); err != nil {
				return resource{}, nil, usagef(cmd, "%s broker: %q is not a broker id", cmd, args[1])
			}
			return resource{"broker", args[1]}, args[2:], nil
		}
		return resource{"broker", ""}, args[1:], nil
	}
	return resource{}, nil, usagef(cmd, "%s: want topic NAME or broker [ID], not %q", cmd, args[0])
}

// brokerID resolves an unnamed broker to the controller (with one broker,
// the broker itself).
func (r *resource) brokerID(ctx context.Context, adm *kadm.Client) (int32, error) {
	if r.name != "" {
		id, err := strconv.ParseInt(r.name, 10, 32)
		return int32(id), err
	}
	m, err := adm.BrokerMetadata(ctx)
	if err != nil {
		return 0, fmt.Errorf("metadata: %w", err)
	}
	id := m.Controller
	if id < 0 && len(m.Brokers) > 0 {
		id = m.Brokers[0].NodeID
	}
	r.name = strconv.Itoa(int(id))
	return id, nil
}

func configGetCmd(fs *flag.FlagSet) runFunc {
	return func(ctx context.Context, a *app, args []string) error {
		res, rest, err := parseResource("config get", args)
		if err != nil {
			return err
		}
		if len(rest) > 0 {
			return usagef("config get", "config get: unexpected argument %q", rest[0])
		}
		adm, err := a.admin()
		if err != nil {
			return err
		}
		defer adm.Close()
		var rcs kadm.ResourceConfigs
		if res.kind == "topic" {
			rcs, err = adm.DescribeTopicConfigs(ctx, res.name)
		} else {
			var id int32
			if id, err = res.brokerID(ctx, adm); err == nil {
				rcs, err = adm.DescribeBrokerConfigs(ctx, id)
			}
		}
		if err != nil {
			return fmt.Errorf("describe configs of %s %q: %w", res.kind, res.name, err)
		}
		rc, err := rcs.On(res.name, nil)
		if err == nil {
			err = rc.Err
		}
		switch {
		case res.kind == "topic" && errors.Is(err, kerr.UnknownTopicOrPartition):
			return fmt.Errorf("topic %q does not exist", res.name)
		case err != nil:
			return fmt.Errorf("describe configs of %s %q: %w", res.kind, res.name, withMessage(err, rc.ErrMessage))
		}
		out := resourceConfigs{Resource: res.kind, Name: res.name, Configs: configEntries(rc.Configs)}
		return a.emit(out, func(w io.Writer) {
			tw := newTable(w)
			configTable(tw, out.Configs)
			tw.Flush()
		})
	}
}

func configSetCmd(fs *flag.FlagSet) runFunc {
	return func(ctx context.Context, a *app, args []string) error {
		res, rest, err := parseResource("config set", args)
		if err != nil {
			return err
		}
		if len(rest) == 0 {
			return usagef("config set", "config set: no k=v given")
		}
		set, order, err := parseConfigs(rest)
		if err != nil {
			return usagef("config set", "config set: %v", err)
		}
		var alter []kadm.AlterConfig
		for _, k := range order {
			alter = append(alter, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: kadm.StringPtr(set[k])})
		}
		adm, err := a.admin()
		if err != nil {
			return err
		}
		defer adm.Close()
		var resps kadm.AlterConfigsResponses
		if res.kind == "topic" {
			if _, err := lookupTopic(ctx, adm, res.name); err != nil {
				return err
			}
			resps, err = adm.AlterTopicConfigs(ctx, alter, res.name)
		} else {
			var id int32
			if id, err = res.brokerID(ctx, adm); err == nil {
				resps, err = adm.AlterBrokerConfigs(ctx, alter, id)
			}
		}
		if err == nil {
			var r kadm.AlterConfigsResponse
			if r, err = resps.On(res.name, nil); err == nil {
				err = withMessage(r.Err, r.ErrMessage)
			}
		}
		switch {
		case unsupported(err):
			return fmt.Errorf("config set %s %s: the broker does not support altering configs (IncrementalAlterConfigs): %w", res.kind, res.name, err)
		case err != nil:
			return fmt.Errorf("config set %s %s: %w", res.kind, res.name, err)
		}
		out := struct {
			Resource string            `json:"resource"`
			Name     string            `json:"name"`
			Set      map[string]string `json:"set"`
		}{res.kind, res.name, set}
		return a.emit(out, func(w io.Writer) {
			fmt.Fprintf(w, "set %s on %s %s\n", strings.Join(rest, " "), res.kind, res.name)
		})
	}
}

// unsupported reports whether err says that the broker does not serve the
// request: UNSUPPORTED_VERSION from the broker, or kgo's refusal to send a
// request that the broker's ApiVersions did not list.
func unsupported(err error) bool {
	return err != nil && (errors.Is(err, kerr.UnsupportedVersion) || strings.Contains(err.Error(), "broker is too old"))
}
