package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/store"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/web/i18n"
)

//go:embed templates/*.html
var templateFiles embed.FS

// css is inlined in every page and allowed by its hash, so the CSP needs
// neither 'unsafe-inline' nor a stylesheet route.
const css = `*{box-sizing:border-box}` +
	`body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1f2328;background:#f6f7f9}` +
	`a{color:#0b5cad}` +
	`pre{white-space:pre-wrap;overflow-wrap:anywhere}` +
	`header.top{background:#1f2a37;color:#fff}` +
	`header.top .wrap{display:flex;flex-wrap:wrap;align-items:center;gap:8px 24px;min-height:56px;padding-top:8px;padding-bottom:8px}` +
	`header.top .brand{font-weight:700;font-size:17px;color:#fff;text-decoration:none}` +
	`header.top nav{display:flex;flex-wrap:wrap;gap:4px;flex:1}` +
	`header.top nav a{color:#cfd6df;text-decoration:none;padding:6px 10px;border-radius:6px}` +
	`header.top nav a.on,header.top nav a:hover{background:#2f3d4e;color:#fff}` +
	`header.top .who{display:flex;flex-wrap:wrap;align-items:center;gap:10px;color:#cfd6df;font-size:14px}` +
	`header.top .who form{margin:0}` +
	`header.top .who button{background:transparent;border:1px solid #56657a;color:#fff;padding:4px 10px}` +
	`.wrap{max-width:1040px;margin:0 auto;padding-left:20px;padding-right:20px}` +
	`.skip{position:absolute;left:-10000px;top:0;background:#fff;color:#0b5cad;padding:8px 12px;z-index:10}.skip:focus{left:8px;top:8px}` +
	`.visually-hidden{position:absolute;width:1px;height:1px;padding:0;margin:-1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap;border:0}` +
	`.table-scroll{max-width:100%;overflow-x:auto}` +
	`.error-summary p{margin:0 0 4px;font-weight:600}.error-summary ul{margin:0;padding-left:20px}.error-summary a{color:#8a1c1c}` +
	`:focus-visible{outline:3px solid #1a73e8;outline-offset:2px}` +
	`main{padding:28px 0 48px}` +
	`h1{font-size:24px;margin:0 0 16px}h2{font-size:18px;margin:28px 0 10px}` +
	`.card{background:#fff;border:1px solid #d8dee4;border-radius:8px;padding:20px 22px;margin-bottom:18px}` +
	`.card>:first-child{margin-top:0}.card>:last-child{margin-bottom:0}` +
	`.narrow{max-width:420px;margin:48px auto}` +
	`textarea{max-width:100%;font:inherit}` +
	`.muted{color:#59636e}.small{font-size:13px}` +
	`.flash{padding:10px 14px;border-radius:6px;margin-bottom:16px;border:1px solid}` +
	`.flash-success{background:#e9f7ef;border-color:#9fd8b4;color:#14532d}` +
	`.flash-error{background:#fdecec;border-color:#f2b3b3;color:#8a1c1c}` +
	`.flash-warning{background:#fff6e0;border-color:#f0d08a;color:#6b4a00}` +
	`.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;vertical-align:middle}` +
	`.b-on{background:#dcf3e5;color:#14532d}.b-off{background:#eceff2;color:#444c56}.b-bad{background:#fdecec;color:#8a1c1c}.b-warn{background:#fff1cc;color:#6b4a00}` +
	`table{width:100%;border-collapse:collapse;background:#fff}` +
	`th,td{text-align:left;padding:9px 10px;border-bottom:1px solid #e3e7eb;vertical-align:top}` +
	`th{font-size:13px;color:#59636e;font-weight:600;background:#f9fafb}` +
	`form.inline{display:inline-flex;gap:6px;align-items:center;margin:0}form.wrapping{flex-wrap:wrap}` +
	`label{display:block;font-weight:600;margin:14px 0 4px}` +
	`label.check{display:flex;gap:8px;align-items:center;font-weight:normal}` +
	`.card form>.field:first-of-type>label{margin-top:0}` +
	`input[type=text],input[type=password],input[type=number],input[type=email],select{width:100%;max-width:460px;padding:8px 10px;border:1px solid #b9c1ca;border-radius:6px;font:inherit;background:#fff}` +
	`form.inline input[type=text]{width:170px;padding:5px 8px}` +
	`.help{font-size:13px;color:#59636e;margin:4px 0 0;max-width:620px}` +
	`.field-error{color:#b3261e;font-size:14px;margin:4px 0 0;font-weight:600}` +
	`.has-error input,.has-error select{border-color:#b3261e}` +
	`button,.button{display:inline-block;font:inherit;font-size:14px;padding:7px 14px;border-radius:6px;border:1px solid #0b5cad;background:#0b5cad;color:#fff;cursor:pointer;text-decoration:none}` +
	`button.secondary,.button.secondary{background:#fff;color:#0b5cad}` +
	`button.danger,.button.danger{background:#fff;color:#b3261e;border-color:#b3261e}` +
	`button.danger-solid{background:#b3261e;border-color:#b3261e;color:#fff}` +
	`.actions{display:flex;flex-wrap:wrap;gap:10px;align-items:center;margin-top:14px}` +
	`.actions form{margin:0}` +
	`dl.facts{display:grid;grid-template-columns:minmax(0,200px) minmax(0,1fr);gap:6px 16px;margin:12px 0 0}dl.facts dt{color:#59636e}dl.facts dd{margin:0;overflow-wrap:anywhere}` +
	`code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:13px;word-break:break-all}` +
	`ol.steps{padding-left:20px;margin:8px 0 0}` +
	`.plugin-head{display:flex;justify-content:space-between;align-items:baseline;gap:12px}` +
	`.plugin-head h2{margin:0}` +
	`.alert{border-left:4px solid #b3261e;background:#fdecec;padding:10px 14px;border-radius:4px;margin:12px 0}` +
	`.note{border-left:4px solid #d4a72c;background:#fff8e1;padding:10px 14px;border-radius:4px;margin:12px 0}` +
	`.qr{border:1px solid #d8dee4;border-radius:6px;margin:8px 0}` +
	`.filters{display:flex;flex-wrap:wrap;gap:4px 16px}.filters .field{min-width:150px}.filters label{margin-top:0}` +
	`#log-events td{font-size:13px}`

var cssHash = func() string {
	sum := sha256.Sum256([]byte(css))
	return base64.StdEncoding.EncodeToString(sum[:])
}()

// defaultCSP allows nothing but the inline stylesheet, images from the
// helpdesk itself or data: URLs (the TOTP QR code), and forms to the
// helpdesk. There is no script on any page.
var defaultCSP = "default-src 'none'; style-src 'sha256-" + cssHash + "'; img-src 'self' data:; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// loginCSP is defaultCSP for the sign-in page, whose form's answer may be a
// redirect to Duo: Chromium applies form-action to the redirects that
// follow a form post, and Duo's host is the admin's setting, so any https
// origin is allowed there.
var loginCSP = strings.Replace(defaultCSP, "form-action 'self'", "form-action 'self' https:", 1)

type pages struct {
	byName map[string]*template.Template
}

var funcs = template.FuncMap{
	"safeImg": func(s string) template.URL {
		// Only the data: PNG URLs the auth package builds reach here.
		if strings.HasPrefix(s, "data:image/png;base64,") {
			return template.URL(s)
		}
		return ""
	},
}

func parsePages() (*pages, error) {
	layoutSrc, err := fs.ReadFile(templateFiles, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("web: templates: %w", err)
	}
	layout, err := template.New("layout").Funcs(funcs).Parse(strings.Replace(string(layoutSrc), "/*CSS*/", css, 1))
	if err != nil {
		return nil, fmt.Errorf("web: templates: layout: %w", err)
	}
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("web: templates: %w", err)
	}
	p := &pages{byName: map[string]*template.Template{}}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		src, err := fs.ReadFile(templateFiles, n)
		if err != nil {
			return nil, fmt.Errorf("web: templates: %w", err)
		}
		t, err := template.Must(layout.Clone()).New("content").Parse(string(src))
		if err != nil {
			return nil, fmt.Errorf("web: templates: %s: %w", name, err)
		}
		p.byName[name] = t
	}
	return p, nil
}

// page is what every template receives. Its methods put text from the
// message catalogue on the page in the request's language: {{$.T "id"}},
// {{$.N "id" count}}, {{$.HTML "id"}} (catalogue markup, arguments
// escaped), {{$.When t}}, {{$.Ago t}}, {{$.Role r}}.
type page struct {
	L         *i18n.Localizer
	Lang      string
	Title     string
	Site      string
	Nav       string
	Op        *store.Operator
	CSRF      string
	Flash     string
	FlashKind string
	Data      any
}

// render writes a page with status. Data is the page's own data.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name, title, nav string, data any) {
	t, ok := s.pages.byName[name]
	if !ok {
		s.log.Error("render: no such template", "template", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	loc := s.loc(r)
	p := page{L: loc, Lang: loc.Lang(), Title: title, Site: s.cfg.SiteName, Nav: nav, Op: currentOperator(r), Data: data}
	if ses := currentSession(r); ses != nil {
		p.CSRF = ses.CSRFToken.Reveal()
		if ses.Flash != "" {
			p.Flash, p.FlashKind = ses.Flash, ses.FlashKind
			if err := s.st.ClearFlash(r.Context(), ses.IDHash); err != nil {
				s.log.Warn("clear flash", "error", err)
			}
		}
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		s.log.Error("render", "template", name, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

type messageData struct {
	Heading string
	Message string
	ID      string
	Link    string
	LinkTxt string
}

// renderError shows an error page: headingID and msgID are message ids.
func (s *Server) renderError(w http.ResponseWriter, r *http.Request, status int, headingID, msgID string) {
	heading := s.tr(r, headingID)
	s.render(w, r, status, "message", heading, "", messageData{Heading: heading, Message: s.tr(r, msgID), ID: "error", Link: "/", LinkTxt: s.tr(r, "error.go_home")})
}

// redirect sends a 303 to a local path.
func redirect(w http.ResponseWriter, r *http.Request, path string) {
	http.Redirect(w, r, path, http.StatusSeeOther)
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }
