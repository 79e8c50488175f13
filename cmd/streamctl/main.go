// Command streamctl administers a StreamHouse broker over the Kafka
// protocol: topics, producing and consuming records, consumer groups,
// configs and the cluster. It is a Kafka client (franz-go's kgo and kadm)
// and imports no server package, so it drives any Kafka broker as well.
//
// Every command takes --bootstrap host:port (env STREAMHOUSE_ADDR, default
// 127.0.0.1:9092), --timeout (how long to wait for the broker) and --output
// text|json. Results go to standard output; errors are one line on standard
// error. The exit code is 0 on success, 1 on an error and 2 on a usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhouse/streamhouse/internal/cli"
)

const (
	defaultAddr = "127.0.0.1:9092"
	addrEnv     = "STREAMHOUSE_ADDR"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr))
}

// runFunc runs a command with its positional arguments, its flags having
// been parsed into the variables its setup function declared.
type runFunc func(ctx context.Context, a *app, args []string) error

// command is one streamctl command. setup declares the command's flags on
// fs and returns the function that runs it.
type command struct {
	name    string // the words that select it: "topic create"
	args    string // the synopsis after the name
	summary string
	nargs   [2]int // minimum and maximum positional arguments (-1: any)
	long    bool   // runs longer than --timeout (produce, consume): bounds its own waits
	setup   func(fs *flag.FlagSet) runFunc
}

func commands() []command {
	return []command{
		{"topic list", "", "List topics.", [2]int{0, 0}, false, topicListCmd},
		{"topic create", "NAME --partitions N [--replication-factor R] [--config k=v ...]", "Create a topic.", [2]int{1, 1}, false, topicCreateCmd},
		{"topic describe", "NAME", "Show a topic's partitions with their offsets, and its configs.", [2]int{1, 1}, false, topicDescribeCmd},
		{"topic delete", "NAME", "Delete a topic.", [2]int{1, 1}, false, topicDeleteCmd},
		{"produce", "TOPIC [--partition P] [--key K] [--value V | --key-separator SEP]", "Produce one record, or one per line of standard input.", [2]int{1, 1}, true, produceCmd},
		{"consume", "TOPIC [--partition P] [--offset N | --from-beginning] [--limit N] [--group G] [--follow]", "Print records, one per line.", [2]int{1, 1}, true, consumeCmd},
		{"group list", "", "List groups: classic, consumer (KIP-848) and share groups.", [2]int{0, 0}, false, groupListCmd},
		{"group describe", "GROUP", "Show a group's state, members, committed offsets (a share group's start offsets) and lag.", [2]int{1, 1}, false, groupDescribeCmd},
		{"group reset-offsets", "GROUP --topic T (--to-earliest | --to-latest | --to-offset N | --to-datetime T)", "Move an inactive group's committed offsets (a share group's start offsets).", [2]int{1, 1}, false, groupResetCmd},
		{"group delete", "GROUP", "Delete an inactive group and its committed offsets.", [2]int{1, 1}, false, groupDeleteCmd},
		{"config get", "topic NAME | broker [ID]", "Show the configs of a topic or a broker, with their sources.", [2]int{1, 2}, false, configGetCmd},
		{"config set", "topic NAME | broker [ID]  k=v [k=v ...]", "Change configs of a topic or a broker.", [2]int{2, -1}, false, configSetCmd},
		{"cluster info", "", "Show the cluster id, controller, brokers and topic count.", [2]int{0, 0}, false, clusterInfoCmd},
		{"user list", "", "List SCRAM users with their mechanisms and iterations.", [2]int{0, 0}, false, userListCmd},
		{"user set", "NAME [--mechanism M] [--iterations N]", "Create a SCRAM user or change its password (from " + userPasswordEnv + ", a prompt or standard input).", [2]int{1, 1}, false, userSetCmd},
		{"user delete", "NAME [--mechanism M]", "Delete a SCRAM user's credentials.", [2]int{1, 1}, false, userDeleteCmd},
		{"acl list", "[--principal P] [--topic T | --group G | --transactional-id X | --cluster] [--resource-pattern-type any|match|literal|prefixed]", "List ACLs.", [2]int{0, 0}, false, aclListCmd},
		{"acl create", "--allow-principal P | --deny-principal P --operation OP (--topic T | --group G | --transactional-id X | --cluster | --user-principal U | --delegation-token ID) [--resource-pattern-type literal|prefixed]", "Create ACLs, as kafka-acls --add.", [2]int{0, 0}, false, aclCreateCmd},
		{"acl delete", "(--topic T | --group G | --transactional-id X | --cluster | --user-principal U | --delegation-token ID) [--allow-principal P] [--deny-principal P] [--operation OP] [--resource-pattern-type ...]", "Delete the ACLs that match, as kafka-acls --remove.", [2]int{0, 0}, false, aclDeleteCmd},
		{"token create", "[--owner-principal P] [--renewer-principal P ...] [--max-life-time-period MS]", "Create a delegation token, as kafka-delegation-tokens --create; prints its ID and HMAC (the SCRAM user name and password).", [2]int{0, 0}, false, tokenCreateCmd},
		{"token renew", "--hmac H [--renew-time-period MS]", "Renew a delegation token, as kafka-delegation-tokens --renew.", [2]int{0, 0}, false, tokenExpiryCmd(true)},
		{"token expire", "--hmac H [--expiry-time-period MS]", "Expire a delegation token (at once by default), as kafka-delegation-tokens --expire.", [2]int{0, 0}, false, tokenExpiryCmd(false)},
		{"token describe", "[--owner-principal P ...]", "List the delegation tokens you may see, as kafka-delegation-tokens --describe.", [2]int{0, 0}, false, tokenDescribeCmd},
		{"schema list", "[--prefix P] [--deleted]", "List the schema registry's subjects with their latest version.", [2]int{0, 0}, false, schemaListCmd},
		{"schema get", "SUBJECT [--version V] | --id N", "Show a schema: a subject's version, or by id.", [2]int{0, 1}, false, schemaGetCmd},
		{"schema register", "SUBJECT [--schema S | --file F] [--type T] [--reference N=S:V ...]", "Register a schema under a subject (from standard input by default).", [2]int{1, 1}, false, schemaRegisterCmd},
		{"schema check", "SUBJECT [--schema S | --file F] [--type T] [--version V]", "Check a schema's compatibility with a subject; exit 1 when it is not.", [2]int{1, 1}, false, schemaCheckCmd},
		{"schema delete", "SUBJECT [--version V] [--permanent]", "Delete a subject or one of its versions (soft, or --permanent).", [2]int{1, 1}, false, schemaDeleteCmd},
	}
}

// app is one invocation: its streams and global flags.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer

	bootstrap string
	timeout   time.Duration
	output    string
	seeds     []string // bootstrap as host:port addresses

	dials dialWatch

	sec    secFlags // security.go
	getenv func(string) string
}

// usageError is a mistake on the command line: exit code 2.
type usageError struct {
	cmd string // the command whose --help to suggest; empty: streamctl's
	msg string
}

func (e *usageError) Error() string { return e.msg }

func usagef(cmd, format string, args ...any) error {
	return &usageError{cmd: cmd, msg: fmt.Sprintf(format, args...)}
}

// run runs streamctl with args (without the program name) and returns the
// exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, bootstrap: defaultAddr, timeout: 10 * time.Second, output: "text", getenv: getenv}
	if v := getenv(addrEnv); v != "" {
		a.bootstrap = v
	}
	err := a.dispatch(ctx, args)
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		help := "streamctl --help"
		if ue.cmd != "" {
			help = "streamctl " + ue.cmd + " --help"
		}
		fmt.Fprintf(stderr, "streamctl: %s (see '%s')\n", oneLine(ue.msg), help)
		return 2
	default:
		fmt.Fprintf(stderr, "streamctl: %s\n", oneLine(a.explain(err).Error()))
		return 1
	}
}

func (a *app) dispatch(ctx context.Context, args []string) error {
	top := flag.NewFlagSet("streamctl", flag.ContinueOnError)
	top.SetOutput(io.Discard)
	a.globalFlags(top)
	if err := top.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			a.usage(a.stdout)
			return err
		}
		return usagef("", "%v", err)
	}
	words := top.Args()
	if len(words) > 0 && words[0] == "help" { // help [COMMAND]
		if len(words) == 1 {
			a.usage(a.stdout)
			return flag.ErrHelp
		}
		words = append(words[1:], "--help")
	}
	if len(words) == 0 {
		a.usage(a.stderr)
		return usagef("", "no command given")
	}
	c, rest, err := lookup(words)
	if err != nil {
		return err
	}

	fs := flag.NewFlagSet("streamctl "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	a.globalFlags(fs)
	runner := c.setup(fs)
	pos, err := cli.ParseInterspersed(fs, rest)
	if errors.Is(err, flag.ErrHelp) {
		commandUsage(a.stdout, c, fs)
		return err
	}
	if err != nil {
		return usagef(c.name, "%v", err)
	}
	if err := a.checkGlobals(c.name); err != nil {
		return err
	}
	switch lo, hi := c.nargs[0], c.nargs[1]; {
	case len(pos) < lo:
		return usagef(c.name, "%s: missing argument: streamctl %s %s", c.name, c.name, c.args)
	case hi >= 0 && len(pos) > hi:
		return usagef(c.name, "%s: unexpected argument %q", c.name, pos[hi])
	}
	if !c.long {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, a.timeout)
		defer cancel()
	}
	return runner(ctx, a, pos)
}

// lookup finds the command named by the first one or two words.
func lookup(words []string) (command, []string, error) {
	all := commands()
	for _, c := range all {
		n := strings.Count(c.name, " ") + 1
		if len(words) >= n && strings.Join(words[:n], " ") == c.name {
			return c, words[n:], nil
		}
	}
	var subs []string
	for _, c := range all {
		if area, sub, ok := strings.Cut(c.name, " "); ok && area == words[0] {
			subs = append(subs, sub)
		}
	}
	switch {
	case len(subs) > 0 && (len(words) == 1 || strings.HasPrefix(words[1], "-")):
		return command{}, nil, usagef("", "%s: which one? %s", words[0], strings.Join(subs, ", "))
	case len(subs) > 0:
		return command{}, nil, usagef("", "unknown command %q; %s has %s", words[0]+" "+words[1], words[0], strings.Join(subs, ", "))
	}
	return command{}, nil, usagef("", "unknown command %q", words[0])
}

// globalFlags declares the flags every command takes, with the values so
// far as defaults, so that they may come before or after the command.
func (a *app) globalFlags(fs *flag.FlagSet) {
	fs.StringVar(&a.bootstrap, "bootstrap", a.bootstrap, "the broker's `host:port`, comma-separated for several (env "+addrEnv+"; a leading http:// is ignored)")
	fs.DurationVar(&a.timeout, "timeout", a.timeout, "how long to wait for the broker")
	fs.StringVar(&a.output, "output", a.output, "the output format: `text|json`")
	a.sec.declare(fs)
}

func (a *app) checkGlobals(cmd string) error {
	if a.output != "text" && a.output != "json" {
		return usagef(cmd, "--output must be text or json, not %q", a.output)
	}
	if a.timeout <= 0 {
		return usagef(cmd, "--timeout must be positive")
	}
	seeds, err := cli.Seeds(a.bootstrap)
	if err != nil {
		return usagef(cmd, "--bootstrap: %v", err)
	}
	a.seeds = seeds
	return nil
}

func (a *app) usage(w io.Writer) {
	fmt.Fprint(w, "Usage: streamctl COMMAND [ARGS] [FLAGS]\n\nstreamctl administers a StreamHouse (Kafka) broker over the Kafka protocol.\n\nCommands:\n")
	tw := newTable(w)
	for _, c := range commands() {
		row(tw, "  "+c.name, c.summary)
	}
	tw.Flush()
	fmt.Fprint(w, "\nGlobal flags, before or after the command:\n")
	fs := flag.NewFlagSet("streamctl", flag.ContinueOnError)
	a.globalFlags(fs)
	printFlags(w, fs, true)
	fmt.Fprint(w, "\nRun 'streamctl COMMAND --help' for a command's flags.\n")
}

func commandUsage(w io.Writer, c command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: %s\n\n%s\n", strings.TrimSpace("streamctl "+c.name+" "+c.args), c.summary)
	own := false
	fs.VisitAll(func(f *flag.Flag) { own = own || !isGlobal(f) })
	if own {
		fmt.Fprint(w, "\nFlags:\n")
		printFlags(w, fs, false)
	}
	fmt.Fprint(w, "\nGlobal flags:\n")
	printFlags(w, fs, true)
}

// isGlobal reports whether a flag is one of globalFlags'.
func isGlobal(f *flag.Flag) bool {
	return f.Name == "bootstrap" || f.Name == "timeout" || f.Name == "output" || slices.Contains(secFlagNames, f.Name)
}

// printFlags lists the global flags of fs, or the others, as --name ARG
// with their usage and default.
func printFlags(w io.Writer, fs *flag.FlagSet, global bool) {
	tw := newTable(w)
	fs.VisitAll(func(f *flag.Flag) {
		if isGlobal(f) != global {
			return
		}
		arg, usage := flag.UnquoteUsage(f)
		name := "--" + f.Name
		if arg != "" {
			name += " " + arg
		}
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" {
			usage += " (default " + f.DefValue + ")"
		}
		row(tw, "  "+name, usage)
	})
	tw.Flush()
}

// flagSet reports whether the named flag was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// client is a kgo client of the bootstrap brokers. Produce requests wait
// for all in-sync replicas; idempotent writes are off, as the broker does
// not serve InitProducerId yet.
func (a *app) client(opts ...kgo.Opt) (*kgo.Client, error) {
	sec, err := a.security(a.getenv)
	if err != nil {
		return nil, err
	}
	secOpts, err := sec.opts()
	if err != nil {
		return nil, err
	}
	base := []kgo.Opt{
		kgo.SeedBrokers(a.seeds...),
		kgo.ClientID("streamctl"),
		kgo.DialTimeout(a.timeout),
		kgo.RetryTimeout(a.timeout),
		kgo.WithHooks(&a.dials),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DisableIdempotentWrite(),
	}
	return kgo.NewClient(append(append(base, secOpts...), opts...)...)
}

// admin is a kadm client over a new kgo client; Close closes both.
func (a *app) admin() (*kadm.Client, error) {
	cl, err := a.client()
	if err != nil {
		return nil, err
	}
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(int32(min(a.timeout, time.Minute).Milliseconds()))
	return adm, nil
}

// dialWatch remembers the last failed dial, to tell "the broker cannot be
// reached" from a broker that does not answer.
type dialWatch struct {
	mu      sync.Mutex
	addr    string
	err     error
	reached bool
}

func (d *dialWatch) OnBrokerConnect(meta kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var op *net.OpError
	switch {
	case err == nil:
		d.reached, d.err = true, nil
	case errors.As(err, &op) && op.Op == "dial":
		d.addr, d.err = net.JoinHostPort(meta.Host, fmt.Sprint(meta.Port)), op
	}
}

// explain rewrites the errors of a client that could not reach the broker
// into one sentence that says so.
func (a *app) explain(err error) error {
	a.dials.mu.Lock()
	addr, dialErr, reached := a.dials.addr, a.dials.err, a.dials.reached
	a.dials.mu.Unlock()
	var nerr net.Error
	timedOut := errors.Is(err, context.DeadlineExceeded) || errors.As(err, &nerr) && nerr.Timeout()
	switch {
	case dialErr != nil && (timedOut || errors.As(err, new(*net.OpError))):
		within := ""
		if timedOut {
			within = " within " + a.timeout.String()
		}
		if !reached {
			return fmt.Errorf("cannot reach the broker at %s%s: %v", addr, within, dialErr)
		}
		return fmt.Errorf("lost the broker at %s%s: %v", addr, within, dialErr)
	case timedOut:
		return fmt.Errorf("no answer from the broker at %s within %s (--timeout)", strings.Join(a.seeds, ","), a.timeout)
	}
	// kadm reports a failed request as "request X has 1 separate shard
	// errors, first: ..."; with one broker, the first is the error.
	var se *kadm.ShardErrors
	if errors.As(err, &se) && len(se.Errs) > 0 {
		return errors.New(strings.Replace(err.Error(), se.Error(), se.Errs[0].Err.Error(), 1))
	}
	return err
}

// brokerError is a Kafka error code with the broker's own message, which
// says more than the code's generic description.
type brokerError struct {
	code *kerr.Error
	msg  string
}

func (e *brokerError) Error() string {
	if strings.HasPrefix(e.msg, e.code.Message) {
		return e.msg
	}
	return e.code.Message + ": " + e.msg
}
func (e *brokerError) Unwrap() error { return e.code }

// withMessage attaches the broker's error message to a Kafka error code.
func withMessage(err error, msg string) error {
	var ke *kerr.Error
	if msg == "" || !errors.As(err, &ke) {
		return err
	}
	return &brokerError{ke, msg}
}

// oneLine keeps an error message on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}

// sortedKeys returns a map's keys in order.
func sortedKeys[K interface{ ~int32 | ~string }, V any](m map[K]V) []K {
	ks := make([]K, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
