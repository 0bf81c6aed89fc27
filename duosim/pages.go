package duosim

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
)

// promptCSS is inlined and allowed by its hash, so the CSP needs neither
// 'unsafe-inline' nor a stylesheet endpoint.
const promptCSS = `body{margin:0;background:#f4f4f6;font-family:-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1c1c1e}` +
	`.frame{max-width:420px;margin:48px auto;background:#fff;border-radius:8px;box-shadow:0 2px 12px rgba(0,0,0,.12);padding:32px}` +
	`.brand{display:flex;align-items:baseline;gap:8px;margin-bottom:24px}` +
	`.logo{font-weight:800;font-size:28px;letter-spacing:1px;color:#6bbf4e}.sim{font-size:12px;color:#6b6b70;text-transform:uppercase}` +
	`h1{font-size:22px;margin:0 0 8px}h2{font-size:17px;font-weight:600;margin:0 0 16px;color:#3a3a3c}` +
	`.username{font-weight:700}.note{color:#6b6b70;font-size:14px}.error{color:#b3261e}` +
	`form{display:flex;flex-direction:column;gap:12px;margin-top:24px}` +
	`button{font-size:16px;padding:12px;border-radius:6px;border:0;background:#2b6fd6;color:#fff;cursor:pointer}` +
	`button.secondary{background:#fff;color:#b3261e;border:1px solid #b3261e}`

var promptCSSHash = func() string {
	sum := sha256.Sum256([]byte(promptCSS))
	return base64.StdEncoding.EncodeToString(sum[:])
}()

const layoutHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Duo Security</title>
<style>` + promptCSS + `</style>
</head>
<body>
<main class="frame" id="page-{{.Page}}">
<div class="brand"><span class="logo">DUO</span><span class="sim">Security &middot; local simulator</span></div>
{{template "content" .}}
</main>
</body>
</html>
`

var pageBodies = map[string]string{
	"enroll": `<h1>Protect your account</h1>
<h2>Add a device to enroll in two-factor authentication</h2>
<p>Your organization requires Duo for <span class="username" id="username">{{.Username}}</span>. Enroll a device to continue.</p>
<form method="post" action="` + pathPrompt + `">
<input type="hidden" name="txid" value="{{.TxID}}">
<button type="submit" id="enroll" name="action" value="enroll">Add a device</button>
</form>`,
	"prompt": `<h1>Check for a Duo Push</h1>
<h2>Verify it's you by approving the notification</h2>
<p>Logging in as <span class="username" id="username">{{.Username}}</span></p>
<p class="note">Sent to "Duo Simulator Phone". Answer for the phone below.</p>
<form method="post" action="` + pathPrompt + `">
<input type="hidden" name="txid" value="{{.TxID}}">
<button type="submit" id="approve" name="action" value="approve">Approve</button>
<button type="submit" id="deny" name="action" value="deny" class="secondary">Deny</button>
</form>`,
	"denied": `<h1>Login request denied</h1>
<p class="note">The login request was denied. You can close this window.</p>`,
	"error": `<h1>{{.Heading}}</h1>
<p class="error" id="error">{{.Message}}</p>`,
}

var pageTemplates = func() map[string]*template.Template {
	layout := template.Must(template.New("layout").Parse(layoutHTML))
	out := make(map[string]*template.Template, len(pageBodies))
	for name, body := range pageBodies {
		out[name] = template.Must(template.Must(layout.Clone()).New("content").Parse(body))
	}
	return out
}()

type pageData struct {
	Page     string
	Username string
	TxID     string
	Heading  string
	Message  string
}

// renderPage writes one of the prompt pages. formTarget, if non-empty, is
// the redirect_uri a form on the page may end up at: Chromium applies
// form-action to the redirect after a form post, so its origin must be
// allowed too.
func (s *Server) renderPage(w http.ResponseWriter, status int, d pageData, formTarget string) {
	var buf bytes.Buffer
	if err := pageTemplates[d.Page].ExecuteTemplate(&buf, "layout", d); err != nil {
		s.log.Error("render page", "page", d.Page, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	formAction := "'none'"
	if d.Page == "enroll" || d.Page == "prompt" {
		formAction = "'self'"
		if u, err := url.Parse(formTarget); err == nil && u.Scheme != "" && u.Host != "" {
			formAction += " " + u.Scheme + "://" + u.Host
		}
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'sha256-"+promptCSSHash+"'; img-src 'self' data:; "+
		"form-action "+formAction+"; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// refusal is a refused browser-facing request.
type refusal struct {
	status  int
	reason  FailureReason
	heading string
	message string // shown on the page; never contains secrets, codes or state
	err     error  // logged
	app     App    // the client, when known
}

func (s *Server) renderRefusal(w http.ResponseWriter, r *refusal) {
	s.renderPage(w, r.status, pageData{Page: "error", Heading: r.heading, Message: r.message}, "")
}
