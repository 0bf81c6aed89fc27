package e2e

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"

	"github.com/chromedp/chromedp"
)

// The pages the checks are tried on: each broken on purpose, and the same
// page mended.
const (
	pixel = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="

	pageHead = `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">` +
		`<meta name="viewport" content="width=device-width, initial-scale=1"><title>Check</title>` +
		`<style>body{margin:0;font:15px/1.5 sans-serif;color:#1f2328;background:#fff}.scroll{max-width:100%;overflow-x:auto}</style>` +
		`</head><body><main><h1>Check</h1>`
	pageTail = `</main></body></html>`

	// An image without alt, an input without a label, and light grey text
	// on white (about 1.9:1).
	inaccessiblePage = pageHead +
		`<img src="` + pixel + `" width="40" height="40">` +
		`<form><input type="text" name="q"></form>` +
		`<p style="color:#bbbbbb">Hard to read</p>` + pageTail
	accessiblePage = pageHead +
		`<img src="` + pixel + `" width="40" height="40" alt="A grey square">` +
		`<form><label for="q">Search</label><input type="text" id="q" name="q"></form>` +
		`<p style="color:#59636e">Easy to read</p>` + pageTail

	wideTable = `<table style="width:1200px" aria-label="Wide"><tr><th scope="col">A wide table</th></tr><tr><td>1200 px</td></tr></table>`
	// The table as it is, and in a scroll region of its own.
	overflowingPage = pageHead + wideTable + pageTail
	scrollingPage   = pageHead + `<div class="scroll" role="region" aria-label="Wide" tabindex="0">` + wideTable + `</div>` + pageTail
)

// TestChecksCatchBrokenPages proves the accessibility and narrow-screen
// checks of the browser tests can fail: axe-core, as the tests run it,
// reports serious or critical violations by id on a page broken on
// purpose and none on the page mended; a 1200 px table outside a scroll
// region widens the document past a 390 px viewport, and in one it does
// not.
func TestChecksCatchBrokenPages(t *testing.T) {
	t.Parallel()
	chromium := findChromium(t)
	pages := map[string]string{
		"/inaccessible": inaccessiblePage, "/accessible": accessiblePage,
		"/overflowing": overflowingPage, "/scrolling": scrollingPage,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := pages[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(p))
	}))
	t.Cleanup(srv.Close)
	browser := startBrowser(t, chromium, filepath.Join(t.TempDir(), "chromium-profile"))
	tab, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("open tab: %v", err)
	}
	open := func(path string) context.Context {
		t.Helper()
		ctx, cancel := context.WithTimeout(tab, stepTimeout)
		t.Cleanup(cancel)
		if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+path)); err != nil {
			t.Fatalf("open %s: %v", path, err)
		}
		return ctx
	}

	t.Run("axe reports the broken page", func(t *testing.T) {
		vs, err := runAxe(open("/inaccessible"))
		if err != nil {
			t.Fatal(err)
		}
		bad := serious(vs)
		var ids []string
		for _, v := range bad {
			ids = append(ids, v.ID)
			if len(v.Nodes) == 0 {
				t.Errorf("%s is reported on no element", v.ID)
			}
		}
		for _, want := range []string{"image-alt", "label", "color-contrast"} {
			if !slices.Contains(ids, want) {
				t.Errorf("axe did not report %s as serious or critical; it reported:\n%s", want, describe(vs))
			}
		}
		t.Logf("reported:\n%s", describe(bad))
	})
	t.Run("axe passes the mended page", func(t *testing.T) {
		vs, err := runAxe(open("/accessible"))
		if err != nil {
			t.Fatal(err)
		}
		if bad := serious(vs); len(bad) > 0 {
			t.Errorf("the mended page has violations:\n%s", describe(bad))
		}
	})

	if err := chromedp.Do(tab, chromedp.EmulateViewport(390, 844)); err != nil {
		t.Fatal(err)
	}
	for path, wantOverflow := range map[string]bool{"/overflowing": true, "/scrolling": false} {
		ctx := open(path)
		w, err := chromedp.Run(ctx, documentWidth())
		if err != nil {
			t.Fatal(err)
		}
		if got := w > 390; got != wantOverflow {
			t.Errorf("%s is %d px wide at a 390 px viewport: overflows = %v, want %v", path, w, got, wantOverflow)
		}
	}
}
