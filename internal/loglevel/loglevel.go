// Package loglevel keeps the levels of the broker's named loggers: what
// Kafka exposes as the BROKER_LOGGER config resource (log4j loggers), so that
// kafka-configs --entity-type broker-loggers and admin clients can list the
// loggers and change a level while the broker runs. Levels are not
// persisted: a restart starts from the configured root level, as in Kafka.
//
// A logger named here logs through a handler that asks Levels whether a
// record is enabled, so a change takes effect on the next record.
package loglevel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
)

// Root is the root logger's name, as log4j names it. A logger without a
// level of its own follows it.
const Root = "root"

// Kafka's log4j level names, most verbose first, and what each means to
// slog. FATAL lets only errors through (StreamHouse has no fatal records
// separate from errors); OFF nothing.
var levels = []struct {
	name  string
	level slog.Level
}{
	{"ALL", slog.LevelDebug - 8},
	{"TRACE", slog.LevelDebug - 4},
	{"DEBUG", slog.LevelDebug},
	{"INFO", slog.LevelInfo},
	{"WARN", slog.LevelWarn},
	{"ERROR", slog.LevelError},
	{"FATAL", slog.LevelError + 4},
	{"OFF", slog.LevelError + 1000},
}

// ErrUnknownLogger and ErrInvalidLevel are what Set and Reset refuse.
var (
	ErrUnknownLogger = errors.New("loglevel: unknown logger")
	ErrInvalidLevel  = errors.New("loglevel: invalid level")
	ErrRoot          = errors.New("loglevel: the root logger's level cannot be removed")
)

// Levels is a set of named loggers' levels. The zero value is not usable;
// New makes one.
type Levels struct {
	h     slog.Handler
	mu    sync.RWMutex
	names map[string]string // logger -> level name; "" follows the root
	root  string
}

// New returns the levels of the loggers that Logger makes, writing to h
// (which must let every level through: Levels decides), every one
// following the root logger at level root.
func New(root slog.Level, h slog.Handler) *Levels {
	return &Levels{h: h, names: map[string]string{Root: ""}, root: Name(root)}
}

// Name is the level name Kafka would show for a slog level: the most
// verbose log4j level that enables it.
func Name(lv slog.Level) string {
	for i := len(levels) - 1; i >= 0; i-- {
		if levels[i].level <= lv {
			return levels[i].name
		}
	}
	return levels[0].name
}

func parse(name string) (slog.Level, bool) {
	for _, l := range levels {
		if strings.EqualFold(l.name, name) {
			return l.level, true
		}
	}
	return 0, false
}

// Names lists the loggers, sorted.
func (l *Levels) Names() []string {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]string, 0, len(l.names))
	for n := range l.names {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Level returns a logger's effective level name.
func (l *Levels) Level(name string) (string, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	v, ok := l.names[name]
	if !ok {
		return "", false
	}
	if name == Root || v == "" {
		return l.root, true
	}
	return v, true
}

// Check reports whether Set(name, level) would succeed, changing nothing.
func (l *Levels) Check(name, level string) error {
	l.mu.RLock()
	_, ok := l.names[name]
	l.mu.RUnlock()
	if !ok {
		return fmt.Errorf("%w: Logger %s does not exist!", ErrUnknownLogger, name)
	}
	if _, ok := parse(level); !ok {
		return fmt.Errorf("%w: Cannot set the log level of %s to %s as it is not a supported log level. Valid log4j levels are %s",
			ErrInvalidLevel, name, level, strings.Join(levelNames(), ", "))
	}
	return nil
}

func levelNames() []string {
	out := make([]string, len(levels))
	for i, l := range levels {
		out[i] = l.name
	}
	return out
}

// Set gives a logger its own level (Root: the level every logger without
// one follows).
func (l *Levels) Set(name, level string) error {
	if err := l.Check(name, level); err != nil {
		return err
	}
	lv, _ := parse(level)
	l.mu.Lock()
	defer l.mu.Unlock()
	if name == Root {
		l.root = Name(lv)
	} else {
		l.names[name] = Name(lv)
	}
	return nil
}

// Reset makes a logger follow the root logger again. The root logger's own
// level cannot be removed.
func (l *Levels) Reset(name string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.names[name]; !ok {
		return fmt.Errorf("%w: Logger %s does not exist!", ErrUnknownLogger, name)
	}
	if name == Root {
		return fmt.Errorf("%w: Removing the log level of the root logger is not allowed", ErrRoot)
	}
	l.names[name] = ""
	return nil
}

func (l *Levels) enabled(name string, lv slog.Level) bool {
	n, _ := l.Level(name)
	min, _ := parse(n)
	return lv >= min
}

// Logger returns the logger named name, adding it to the set if new.
func (l *Levels) Logger(name string) *slog.Logger {
	l.mu.Lock()
	if _, ok := l.names[name]; !ok {
		l.names[name] = ""
	}
	l.mu.Unlock()
	return slog.New(&handler{levels: l, name: name, next: l.h})
}

type handler struct {
	levels *Levels
	name   string
	next   slog.Handler
}

func (h *handler) Enabled(ctx context.Context, lv slog.Level) bool {
	return h.levels.enabled(h.name, lv) && h.next.Enabled(ctx, lv)
}

func (h *handler) Handle(ctx context.Context, r slog.Record) error { return h.next.Handle(ctx, r) }

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	return &handler{levels: h.levels, name: h.name, next: h.next.WithAttrs(as)}
}

func (h *handler) WithGroup(g string) slog.Handler {
	return &handler{levels: h.levels, name: h.name, next: h.next.WithGroup(g)}
}
