package e2e

import (
	"context"
	_ "embed"
	"fmt"
	"net/url"
	"strings"

	"github.com/chromedp/chromedp"
)

//go:embed testdata/axe-core/axe.min.js
var axeSource string

// axeViolation is what axe reports of one rule a page breaks.
type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target []any `json:"target"`
	} `json:"nodes"`
}

// axeRun runs axe-core on the page with the WCAG 2.0, 2.1 and 2.2 A and
// AA rules and answers the violations.
const axeRun = `axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]}})
	.then(r => r.violations.map(v => ({id: v.id, impact: v.impact || "", help: v.help, nodes: v.nodes.map(n => ({target: n.target}))})))`

// runAxe runs axe-core on the page the context's tab shows, with the
// WCAG 2.x A and AA rules, and answers every violation it finds.
// Runtime.evaluate is not subject to the page's CSP, which allows no
// script: the page's own policy stays as served.
func runAxe(ctx context.Context) ([]axeViolation, error) {
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](axeSource+";true")); err != nil {
		return nil, fmt.Errorf("inject axe-core: %w", err)
	}
	vs, err := chromedp.Run(ctx, chromedp.Evaluate[[]axeViolation](axeRun, chromedp.EvalAwaitPromise))
	if err != nil {
		return nil, fmt.Errorf("run axe-core: %w", err)
	}
	return vs, nil
}

// serious keeps the serious and critical violations, the ones that fail a
// test.
func serious(vs []axeViolation) []axeViolation {
	var out []axeViolation
	for _, v := range vs {
		if v.Impact == "serious" || v.Impact == "critical" {
			out = append(out, v)
		}
	}
	return out
}

// describe is one line per node a violation was found on.
func describe(vs []axeViolation) string {
	var lines []string
	for _, v := range vs {
		for _, n := range v.Nodes {
			lines = append(lines, fmt.Sprintf("%s (%s) at %v: %s", v.ID, v.Impact, n.Target, v.Help))
		}
	}
	return strings.Join(lines, "\n")
}

// checkA11y runs axe-core on the current page, once per distinct path of
// the helpdesk each test visits, and fails the test on any serious or
// critical violation. Pages elsewhere (the Duo simulator) are not ours.
func (b *tab) checkA11y() {
	b.t.Helper()
	u, err := url.Parse(b.location())
	if err != nil || u.Host != b.fx.hdHost {
		return
	}
	if b.fx.a11yChecked == nil {
		b.fx.a11yChecked = map[string]bool{}
	}
	if b.fx.a11yChecked[u.Path] {
		return
	}
	b.fx.a11yChecked[u.Path] = true
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	vs, err := runAxe(ctx)
	if err != nil {
		b.fail("%v", err)
	}
	if bad := serious(vs); len(bad) > 0 {
		b.fail("accessibility of %s (axe-core, WCAG 2.x A/AA):\n%s", u.Path, describe(bad))
	}
}
