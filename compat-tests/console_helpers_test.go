package compattests

// Helpers for the web console's browser tests (console_browser_test.go):
// Debian's chromium driven by chromedp against the real binary. Names
// start with con.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// conBrowser is a headless chromium for one test; each call of tab opens
// a new tab in it.
type conBrowser struct {
	t    *testing.T
	root context.Context
	// dialogs gets the message of every JavaScript dialog (alert,
	// confirm) a tab opened: a payload that ran would open one.
	dialogs chan string
}

// conStartBrowser starts chromium with the flags this machine needs:
// headless, no sandbox (root), and nothing reaching out to the network.
func conStartBrowser(t *testing.T) *conBrowser {
	t.Helper()
	path := requireTool(t, "chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.WindowSize(1280, 860),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	root, cancelRoot := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancelRoot(); cancelAlloc() })
	if err := chromedp.Do(root); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return &conBrowser{t: t, root: root, dialogs: make(chan string, 16)}
}

// tab opens a tab; its context ends with the test.
func (b *conBrowser) tab() context.Context {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.root)
	b.t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		b.t.Fatal(err)
	}
	err := chromedp.Listen(ctx, func(ev any) {
		if d, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			select {
			case b.dialogs <- d.Message:
			default:
			}
			go chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	})
	if err != nil {
		b.t.Fatal(err)
	}
	return ctx
}

// conRun runs actions in the tab, failing the test with what the page
// says.
func conRun(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		t.Fatalf("%s: %v\n%s", what, err, conPage(ctx))
	}
}

// conAppears waits until the page has an element sel selects (polling
// the document, so that a navigation in between does not matter).
func conAppears(sel string) chromedp.Action[chromedp.Void] {
	expr := "document.querySelector(" + strconv.Quote(sel) + ") !== null"
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for {
			if ok, err := chromedp.Evaluate[bool](expr)(ctx, t); err == nil && ok {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("waiting for %s: %w", sel, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
}

// conClick clicks the element sel selects, and conSet sets its value (as
// chromedp.SetValue does, with no events), by script once the element is
// on the page: chromedp's node-based actions can act on a node id of the
// document a navigation has just replaced (see conText). The action runs
// once: a click that submitted a form is never repeated.
func conClick(sel string) chromedp.Action[chromedp.Void] { return conOnElement(sel, "e.click()") }

func conSet(sel, value string) chromedp.Action[chromedp.Void] {
	return conOnElement(sel, "e.value = "+strconv.Quote(value))
}

func conOnElement(sel, do string) chromedp.Action[chromedp.Void] {
	wait := conAppears(sel)
	expr := `(() => { const e = document.querySelector(` + strconv.Quote(sel) + `); if (e === null) { return false; } ` + do + `; return true; })()`
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := wait(ctx, t); err != nil {
			return err
		}
		ok, err := chromedp.Evaluate[bool](expr)(ctx, t)
		if err == nil && !ok {
			err = fmt.Errorf("%s left the page before %s", sel, do)
		}
		return err
	})
}

// conPage is where the tab is and what its main part says, for failures.
func conPage(ctx context.Context) string {
	sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(sctx, chromedp.Location())
	body, _ := chromedp.Run(sctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ''`))
	if len(body) > 3000 {
		body = body[:3000]
	}
	return "at " + loc + ":\n" + body
}

// conEval evaluates a JavaScript expression, awaiting a promise.
func conEval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(sctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: %v\n%s", expr, err, conPage(ctx))
	}
	return v
}

// conText is the visible text of the element sel selects, waiting for it
// to appear. It asks the document by script, not by DOM node: a node id
// that chromedp took from the page before a navigation finished is gone
// from the page after it ("No node with given id found").
func conText(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	expr := `(() => { const e = document.querySelector(` + strconv.Quote(sel) + `); return e === null ? null : [e.innerText]; })()`
	deadline := time.Now().Add(10 * time.Second)
	for {
		ectx, cancel := context.WithTimeout(ctx, 5*time.Second)
		v, err := chromedp.Run(ectx, chromedp.Evaluate[[]string](expr))
		cancel()
		if err == nil && len(v) == 1 {
			return v[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("text of %s: not on the page after 10s (%v)\n%s", sel, err, conPage(ctx))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// conWaitJS polls expr until it is true.
func conWaitJS(t *testing.T, ctx context.Context, what, expr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ectx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ok, err := chromedp.Run(ectx, chromedp.Evaluate[bool](expr))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s still not true after %s (%v)\n%s", what, expr, timeout, err, conPage(ctx))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// conShot screenshots the tab's whole page as docs/console-name.png when
// STREAMHOUSE_SCREENSHOTS=1 (the README's pictures), else into the test's
// temporary directory: the same code runs either way.
func conShot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := t.TempDir()
	if os.Getenv("STREAMHOUSE_SCREENSHOTS") == "1" {
		dir = filepath.Join("..", "docs")
	}
	if err := os.WriteFile(filepath.Join(dir, "console-"+name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// noDialogs fails the test if any page opened a JavaScript dialog.
func (b *conBrowser) noDialogs(t *testing.T) {
	t.Helper()
	select {
	case m := <-b.dialogs:
		t.Fatalf("a page opened a JavaScript dialog: %q (a payload ran)", m)
	default:
	}
}

func conURL(httpAddr, path string) string { return "http://" + httpAddr + path }

// conRowCount is a JavaScript expression: the rows of table id.
func conRowCount(id string) string {
	return fmt.Sprintf(`document.querySelectorAll('#%s tbody tr:not(.empty)').length`, id)
}
