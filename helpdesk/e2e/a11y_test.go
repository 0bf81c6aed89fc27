package e2e

import (
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
	// Runtime.evaluate is not subject to the page's CSP, which allows no
	// script: the page's own policy stays as served.
	query(b, "inject axe-core", chromedp.Evaluate[bool](axeSource+";true"))
	vs := query(b, "run axe-core", chromedp.Evaluate[[]axeViolation](axeRun, chromedp.EvalAwaitPromise))
	var bad []string
	for _, v := range vs {
		if v.Impact != "serious" && v.Impact != "critical" {
			continue
		}
		for _, n := range v.Nodes {
			bad = append(bad, fmt.Sprintf("%s (%s) at %v: %s", v.ID, v.Impact, n.Target, v.Help))
		}
	}
	if len(bad) > 0 {
		b.fail("accessibility of %s (axe-core, WCAG 2.x A/AA):\n%s", u.Path, strings.Join(bad, "\n"))
	}
}
